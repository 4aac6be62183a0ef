//! `chronicle rollback ...`: the rollback engine of a running server, over HTTP (see
//! docs/API.md "Rollbacks"). The server plans, approves, runs and verifies; this module builds
//! the requests, follows a running rollback with a progress bar, and prints what came back.

mod print;

use crate::progress;
use crate::remote::{Answer, Remote, show};
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use print::{print_list, print_plan, print_record};
use reqwest::Method;
use serde_json::{Value, json};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum RollbackCommand {
    /// Show the plan (each operation, conflicts, skips, whether approval is needed); writes
    /// nothing.
    Preview(TargetArgs),
    /// Request the rollback. It runs at once, or waits for approval when the server's policy
    /// says so; a staged one is followed with a progress bar until it ends (exit 1 when it
    /// fails or is stopped).
    Apply(ApplyArgs),
    /// Show a rollback: status, plan counts, progress, approvals, verification.
    Status { id: String },
    /// List every rollback, oldest first.
    List,
    /// Approve a rollback awaiting approval (role approver, never its requester).
    Approve(Decision),
    /// Reject a rollback awaiting approval (role approver).
    Reject(Decision),
    /// Pause a running staged rollback after its current stage.
    Pause { id: String },
    /// Resume a paused rollback from its last committed stage, and follow it to the end.
    Resume {
        id: String,
        /// Return as soon as the server accepted it.
        #[arg(long)]
        no_wait: bool,
    },
    /// Emergency stop: no further stage starts (committed stages stay; undo them with
    /// `apply --rollback ID`).
    Stop { id: String },
}

#[derive(Debug, Args)]
pub struct Decision {
    pub id: String,
    /// Why: recorded with the decision.
    #[arg(long, value_name = "TEXT")]
    pub justification: String,
}

/// What to roll back: exactly one target.
#[derive(Debug, Args)]
#[command(next_help_heading = "Target (exactly one)")]
pub struct TargetArgs {
    /// One entry (a bulk or transaction entry stands for the whole batch).
    #[arg(long, value_name = "ID")]
    pub entry: Option<String>,
    /// Every change of a bulk request (its bulk_id).
    #[arg(long, value_name = "ID")]
    pub bulk: Option<String>,
    /// Every change of a transaction.
    #[arg(long, value_name = "ID")]
    pub transaction: Option<String>,
    /// Every change made under a correlation id.
    #[arg(long, value_name = "ID")]
    pub correlation: Option<String>,
    /// One entity, back to --version N or to --as-of TIME.
    #[arg(long, value_name = "TYPE/ID")]
    pub entity: Option<String>,
    /// The version of --entity to bring back.
    #[arg(long, value_name = "N", requires = "entity")]
    pub version: Option<u64>,
    /// RFC 3339 time, for --entity or --types.
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// Entity types to bring back to --as-of.
    #[arg(long, value_delimiter = ',', value_name = "T1,T2")]
    pub types: Vec<String>,
    /// Undo chosen fields (--fields) of this entry.
    #[arg(long, value_name = "ENTRY", requires = "fields")]
    pub fields_of: Option<String>,
    /// JSON Pointers of the fields to undo, with --fields-of.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "/A,/B",
        requires = "fields_of"
    )]
    pub fields: Vec<String>,
    /// Restore a snapshot: captured entities return to their captured data, entities of
    /// captured types created since are deleted.
    #[arg(long, value_name = "ID")]
    pub snapshot: Option<String>,
    /// Undo what another rollback did.
    #[arg(long, value_name = "ID")]
    pub rollback: Option<String>,
    /// What to do with later changes to the same entities [server default: strict, which
    /// refuses when there are any].
    #[arg(long, value_parser = ["strict", "cascade", "non_conflicting", "force"], help_heading = "How")]
    pub strategy: Option<String>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Run in stages, each committed together with the progress (pausable, resumable,
    /// resumed after a crash).
    #[arg(long, help_heading = "How")]
    pub staged: bool,
    /// Operations per stage, with --staged [server default].
    #[arg(long, value_name = "N", requires = "staged", help_heading = "How")]
    pub stage_size: Option<usize>,
    /// Return as soon as the server accepted it.
    #[arg(long, help_heading = "How")]
    pub no_wait: bool,
}

impl TargetArgs {
    /// The target as the API spells it (docs/API.md "Rollbacks").
    fn target(&self) -> Result<Value> {
        let mut targets = Vec::new();
        if let Some(id) = &self.entry {
            targets.push(json!({"kind": "entry", "entry_id": id}));
        }
        if let Some(id) = &self.bulk {
            targets.push(json!({"kind": "bulk", "bulk_id": id}));
        }
        if let Some(id) = &self.transaction {
            targets.push(json!({"kind": "transaction", "transaction_id": id}));
        }
        if let Some(id) = &self.correlation {
            targets.push(json!({"kind": "correlation", "correlation_id": id}));
        }
        if let Some(e) = &self.entity {
            let (ty, id) = type_slash_id(e, "--entity")?;
            match (self.version, &self.as_of) {
                (Some(v), None) => targets
                    .push(json!({"kind": "entity_version", "type": ty, "id": id, "version": v})),
                (None, Some(t)) => {
                    targets.push(json!({"kind": "entity_time", "type": ty, "id": id, "as_of": t}))
                }
                _ => bail!("--entity takes either --version N or --as-of TIME"),
            }
        }
        if !self.types.is_empty() {
            let Some(t) = &self.as_of else {
                bail!("--types takes --as-of TIME")
            };
            targets.push(json!({"kind": "scope_time", "entity_types": self.types, "as_of": t}));
        }
        if self.as_of.is_some() && self.entity.is_none() && self.types.is_empty() {
            bail!("--as-of goes with --entity TYPE/ID or --types T1,T2");
        }
        if let Some(id) = &self.fields_of {
            targets.push(json!({"kind": "fields", "entry_id": id, "fields": self.fields}));
        }
        if let Some(id) = &self.snapshot {
            targets.push(json!({"kind": "snapshot", "snapshot_id": id}));
        }
        if let Some(id) = &self.rollback {
            targets.push(json!({"kind": "rollback", "rollback_id": id}));
        }
        match targets.len() {
            1 => Ok(targets.remove(0)),
            0 => bail!(
                "name what to roll back: --entry, --bulk, --transaction, --correlation, \
                 --entity, --types, --fields-of, --snapshot or --rollback"
            ),
            _ => bail!("name one target only"),
        }
    }

    fn body(&self, remote: &Remote) -> Result<Value> {
        let mut b = json!({"target": self.target()?});
        if let Some(s) = &self.strategy {
            b["strategy"] = json!(s);
        }
        if let Some(r) = &remote.reason {
            b["reason"] = json!(r);
        }
        Ok(b)
    }
}

/// `TYPE/ID` (the id may itself hold slashes).
pub fn type_slash_id<'a>(s: &'a str, flag: &str) -> Result<(&'a str, &'a str)> {
    match s.split_once('/') {
        Some((ty, id)) if !ty.is_empty() && !id.is_empty() => Ok((ty, id)),
        _ => bail!("{flag} takes TYPE/ID, such as shipment/SH-1"),
    }
}

pub async fn run(remote: &Remote, cmd: RollbackCommand) -> Result<ExitCode> {
    match cmd {
        RollbackCommand::Preview(t) => {
            let body = t.body(remote)?;
            let a = remote
                .send(Method::POST, "/v1/rollbacks/preview", Some(&body))
                .await?;
            show(remote, &a, print_plan)
        }
        RollbackCommand::Apply(args) => {
            let mut body = args.target.body(remote)?;
            if args.staged {
                body["mode"] = json!("staged");
                if let Some(n) = args.stage_size {
                    body["stage_size"] = json!(n);
                }
            }
            let a = remote
                .send(Method::POST, "/v1/rollbacks", Some(&body))
                .await?;
            finish(remote, a, args.no_wait).await
        }
        RollbackCommand::Status { id } => {
            let a = remote.send(Method::GET, &path(&id, ""), None).await?;
            show(remote, &a, print_record)
        }
        RollbackCommand::List => {
            let a = remote.list_all("/v1/rollbacks", "rollbacks").await?;
            show(remote, &a, print_list)
        }
        RollbackCommand::Approve(d) | RollbackCommand::Reject(d)
            if d.justification.trim().is_empty() =>
        {
            bail!("--justification must say why")
        }
        RollbackCommand::Approve(d) => {
            let body = json!({"justification": d.justification});
            let a = step(remote, &d.id, "approve", Some(&body)).await?;
            // Enough approvals start it: follow it like `apply`.
            finish(remote, a, false).await
        }
        RollbackCommand::Reject(d) => {
            let body = json!({"justification": d.justification});
            let a = step(remote, &d.id, "reject", Some(&body)).await?;
            show(remote, &a, print_record)
        }
        RollbackCommand::Pause { id } => {
            let a = step(remote, &id, "pause", None).await?;
            show(remote, &a, print_record)
        }
        RollbackCommand::Resume { id, no_wait } => {
            let a = step(remote, &id, "resume", None).await?;
            finish(remote, a, no_wait).await
        }
        RollbackCommand::Stop { id } => {
            let a = step(remote, &id, "stop", None).await?;
            show(remote, &a, print_record)
        }
    }
}

fn path(id: &str, step: &str) -> String {
    format!("/v1/rollbacks/{id}{step}")
}

/// A step of the rollback's life (approve, reject, pause, resume, stop). The server changes
/// the record with optimistic concurrency and, when a running stage keeps winning, answers
/// 409 "... try again": the step is sent again, a bounded number of times.
async fn step(remote: &Remote, id: &str, step: &str, body: Option<&Value>) -> Result<Answer> {
    let path = path(id, &format!("/{step}"));
    let mut a = remote.send(Method::POST, &path, body).await?;
    for _ in 0..4 {
        let again = a.status == 409
            && a.body["detail"]
                .as_str()
                .is_some_and(|d| d.ends_with("try again"));
        if !again {
            break;
        }
        a = remote.send(Method::POST, &path, body).await?;
    }
    Ok(a)
}

/// Shows the answer to a request that starts a rollback (apply, approve, resume): a refusal
/// at once; a rollback that runs is followed to its end unless `no_wait`. Exit 1 when it ends
/// failed, stopped or rejected.
async fn finish(remote: &Remote, a: Answer, no_wait: bool) -> Result<ExitCode> {
    if !a.ok() || no_wait || settled(&a.body) {
        return show_ended(remote, &a);
    }
    let id = a.body["id"].as_str().unwrap_or_default().to_owned();
    let total = a.body["progress"]["total"].as_u64().unwrap_or(0);
    let done = follow(remote, &id, total).await?;
    show_ended(remote, &done)
}

fn show_ended(remote: &Remote, a: &Answer) -> Result<ExitCode> {
    let code = show(remote, a, print_record)?;
    let status = a.body["status"].as_str().unwrap_or("");
    let passed = a.body["verification"]["passed"].as_bool() != Some(false);
    if a.ok() && (matches!(status, "failed" | "stopped" | "rejected") || !passed) {
        return Ok(ExitCode::from(1));
    }
    Ok(code)
}

/// Whether nothing will change without someone acting: ended (and, when completed,
/// verified), waiting for approval, or paused.
fn settled(record: &Value) -> bool {
    match record["status"].as_str() {
        Some("completed") => record["verification"].is_object(),
        Some("failed" | "stopped" | "rejected" | "awaiting_approval" | "paused") => true,
        _ => false,
    }
}

/// Polls the rollback until it settles, with a progress bar. Bounded: 18,000 polls 200 ms
/// apart, about an hour; then it says how to look again.
async fn follow(remote: &Remote, id: &str, total: u64) -> Result<Answer> {
    let bar = progress::bar(total, "rollback", remote.json);
    for _ in 0..18_000 {
        let a = remote.send(Method::GET, &path(id, ""), None).await?;
        if !a.ok() {
            bar.finish_and_clear();
            return Ok(a);
        }
        bar.set_length(a.body["progress"]["total"].as_u64().unwrap_or(0));
        bar.set_position(a.body["progress"]["done"].as_u64().unwrap_or(0));
        if settled(&a.body) {
            bar.finish_and_clear();
            return Ok(a);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    bar.finish_and_clear();
    bail!("rollback {id} is still running; see `chronicle rollback status {id}`")
}
