//! `chronicle rollback ...` and `chronicle snapshot ...`: the rollback engine of a running
//! server, over HTTP (see docs/API.md "Rollbacks" and "Snapshots").

use crate::progress;
use crate::remote::{Answer, Remote, show};
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum RollbackCommand {
    /// Show the plan (what changes, conflicts, skips, approval needed); writes nothing.
    Preview(TargetArgs),
    /// Request the rollback; a staged one shows a progress bar until it ends.
    Apply(ApplyArgs),
    /// Show a rollback: status, progress, verification.
    Status { id: String },
    /// List rollbacks, oldest first.
    List,
    /// Approve (role approver, never the requester).
    Approve(Decision),
    /// Reject (role approver).
    Reject(Decision),
    /// Pause a running staged rollback after its current stage.
    Pause { id: String },
    /// Resume a paused rollback from its last checkpoint.
    Resume { id: String },
    /// Emergency stop: no further stage starts.
    Stop { id: String },
}

#[derive(Debug, Args)]
pub struct Decision {
    pub id: String,
    #[arg(long)]
    pub justification: String,
}

/// What to roll back: exactly one target.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// One entry (a bulk or transaction entry stands for the whole batch).
    #[arg(long, value_name = "ID")]
    pub entry: Option<String>,
    #[arg(long, value_name = "ID")]
    pub bulk: Option<String>,
    #[arg(long, value_name = "ID")]
    pub transaction: Option<String>,
    #[arg(long, value_name = "ID")]
    pub correlation: Option<String>,
    /// One entity, with --version N or --as-of TIME.
    #[arg(long, value_name = "TYPE/ID")]
    pub entity: Option<String>,
    #[arg(long, value_name = "N")]
    pub version: Option<u64>,
    /// RFC 3339 time, for --entity or --types.
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// Entity types to bring back to --as-of.
    #[arg(long, value_delimiter = ',', value_name = "T1,T2")]
    pub types: Vec<String>,
    /// Undo chosen fields of this entry (with --fields).
    #[arg(long, value_name = "ENTRY")]
    pub fields_of: Option<String>,
    #[arg(long, value_delimiter = ',', value_name = "/A,/B")]
    pub fields: Vec<String>,
    #[arg(long, value_name = "ID")]
    pub snapshot: Option<String>,
    /// Undo what another rollback did.
    #[arg(long, value_name = "ID")]
    pub rollback: Option<String>,
    /// strict | cascade | non_conflicting | force
    #[arg(long, default_value = "strict")]
    pub strategy: String,
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Run in stages, each committed with a checkpoint of progress.
    #[arg(long)]
    pub staged: bool,
    #[arg(long, value_name = "N")]
    pub stage_size: Option<usize>,
    /// Return as soon as the server accepted it.
    #[arg(long)]
    pub no_wait: bool,
}

impl TargetArgs {
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
            let Some((ty, id)) = e.split_once('/') else {
                bail!("--entity takes TYPE/ID")
            };
            match (self.version, &self.as_of) {
                (Some(v), None) => targets
                    .push(json!({"kind": "entity_version", "type": ty, "id": id, "version": v})),
                (None, Some(t)) => {
                    targets.push(json!({"kind": "entity_time", "type": ty, "id": id, "as_of": t}))
                }
                _ => bail!("--entity takes --version N or --as-of TIME"),
            }
        }
        if !self.types.is_empty() {
            let Some(t) = &self.as_of else {
                bail!("--types takes --as-of TIME")
            };
            targets.push(json!({"kind": "scope_time", "entity_types": self.types, "as_of": t}));
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
                "name what to roll back: --entry, --bulk, --transaction, --correlation, --entity, --types, --fields-of, --snapshot or --rollback"
            ),
            _ => bail!("name one target only"),
        }
    }

    fn body(&self) -> Result<Value> {
        let mut b = json!({"target": self.target()?, "strategy": self.strategy});
        if let Some(r) = &self.reason {
            b["reason"] = json!(r);
        }
        Ok(b)
    }
}

pub async fn run(remote: &Remote, cmd: RollbackCommand) -> Result<ExitCode> {
    match cmd {
        RollbackCommand::Preview(t) => {
            let a = remote
                .send(
                    Method::POST,
                    "/v1/rollbacks/preview",
                    Some(&t.body()?),
                    t.reason.as_deref(),
                )
                .await?;
            show(remote, &a, print_plan)
        }
        RollbackCommand::Apply(args) => {
            let mut body = args.target.body()?;
            if args.staged {
                body["mode"] = json!("staged");
                if let Some(n) = args.stage_size {
                    body["stage_size"] = json!(n);
                }
            }
            let a = remote
                .send(
                    Method::POST,
                    "/v1/rollbacks",
                    Some(&body),
                    args.target.reason.as_deref(),
                )
                .await?;
            if !a.ok() || args.no_wait || is_final_or_waiting(&a.body) {
                return show(remote, &a, print_record);
            }
            let id = a.body["id"].as_str().unwrap_or_default().to_owned();
            let done = follow(remote, &id).await?;
            show(remote, &done, print_record)
        }
        RollbackCommand::Status { id } => {
            let a = remote
                .send(Method::GET, &format!("/v1/rollbacks/{id}"), None, None)
                .await?;
            show(remote, &a, print_record)
        }
        RollbackCommand::List => {
            let a = remote
                .send(Method::GET, "/v1/rollbacks?limit=1000", None, None)
                .await?;
            show(remote, &a, |b| {
                for r in b["rollbacks"].as_array().into_iter().flatten() {
                    println!(
                        "{}  {:<17} {}/{}  {}",
                        r["id"].as_str().unwrap_or(""),
                        r["status"].as_str().unwrap_or(""),
                        r["progress"]["done"],
                        r["progress"]["total"],
                        r["target"]["kind"].as_str().unwrap_or("")
                    );
                }
            })
        }
        RollbackCommand::Approve(d) | RollbackCommand::Reject(d)
            if d.justification.trim().is_empty() =>
        {
            bail!("--justification must say why")
        }
        RollbackCommand::Approve(d) => {
            step(
                remote,
                &d.id,
                "approve",
                Some(json!({"justification": d.justification})),
            )
            .await
        }
        RollbackCommand::Reject(d) => {
            step(
                remote,
                &d.id,
                "reject",
                Some(json!({"justification": d.justification})),
            )
            .await
        }
        RollbackCommand::Pause { id } => step(remote, &id, "pause", None).await,
        RollbackCommand::Resume { id } => step(remote, &id, "resume", None).await,
        RollbackCommand::Stop { id } => step(remote, &id, "stop", None).await,
    }
}

async fn step(remote: &Remote, id: &str, what: &str, body: Option<Value>) -> Result<ExitCode> {
    let a = remote
        .send(
            Method::POST,
            &format!("/v1/rollbacks/{id}/{what}"),
            body.as_ref(),
            None,
        )
        .await?;
    show(remote, &a, print_record)
}

fn is_final_or_waiting(record: &Value) -> bool {
    matches!(
        record["status"].as_str(),
        Some("completed" | "failed" | "stopped" | "rejected" | "awaiting_approval" | "paused")
    ) && (record["status"] != "completed" || record["verification"].is_object())
}

/// Polls the rollback until it ends, with a progress bar. Bounded: about an hour.
async fn follow(remote: &Remote, id: &str) -> Result<Answer> {
    let bar = progress::bar(0, "rollback", remote.json);
    for _ in 0..18_000 {
        let a = remote
            .send(Method::GET, &format!("/v1/rollbacks/{id}"), None, None)
            .await?;
        if !a.ok() {
            bar.finish_and_clear();
            return Ok(a);
        }
        bar.set_length(a.body["progress"]["total"].as_u64().unwrap_or(0));
        bar.set_position(a.body["progress"]["done"].as_u64().unwrap_or(0));
        if is_final_or_waiting(&a.body) {
            bar.finish_and_clear();
            return Ok(a);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    bar.finish_and_clear();
    bail!("rollback {id} is still running; see `chronicle rollback status {id}`")
}

fn print_plan(p: &Value) {
    let feasible = p["feasible"].as_bool().unwrap_or(false);
    let c = &p["counts"];
    println!(
        "plan           {}",
        if feasible {
            "feasible"
        } else {
            "REFUSED: strict found conflicts"
        }
    );
    println!(
        "entities       {} ({} update, {} delete, {} restore, {} create); entries undone {}",
        c["entities"], c["updates"], c["deletes"], c["restores"], c["creates"], c["entries_undone"]
    );
    for op in p["operations"].as_array().into_iter().flatten() {
        println!(
            "  {:<8} {}/{}",
            op["action"].as_str().unwrap_or(""),
            op["type"].as_str().unwrap_or(""),
            op["id"].as_str().unwrap_or("")
        );
    }
    for x in p["conflicts"].as_array().into_iter().flatten() {
        println!(
            "  conflict {} on {}/{} by seq {} ({})",
            x["kind"].as_str().unwrap_or(""),
            x["type"].as_str().unwrap_or(""),
            x["id"].as_str().unwrap_or(""),
            x["seq"],
            x["fields"]
        );
    }
    for s in p["skipped"].as_array().into_iter().flatten() {
        println!(
            "  skipped  entry {}: {}",
            s["entry_id"].as_str().unwrap_or(""),
            s["reason"].as_str().unwrap_or("")
        );
    }
    for o in p["overwritten"].as_array().into_iter().flatten() {
        println!(
            "  overwrites {}/{} {}: {} -> {}",
            o["type"].as_str().unwrap_or(""),
            o["id"].as_str().unwrap_or(""),
            o["path"].as_str().unwrap_or(""),
            o["current"],
            o["restored"]
        );
    }
    if p["requires_approval"].as_bool() == Some(true) {
        println!(
            "approval       {} needed: {}",
            p["required_approvals"], p["approval_reasons"]
        );
    }
}

fn print_record(r: &Value) {
    println!("rollback       {}", r["id"].as_str().unwrap_or(""));
    println!("status         {}", r["status"].as_str().unwrap_or(""));
    println!(
        "progress       {}/{} ({} stages)",
        r["progress"]["done"], r["progress"]["total"], r["progress"]["stages_done"]
    );
    if let Some(e) = r["result"]["error"].as_str() {
        println!("error          {e}");
    }
    if r["verification"].is_object() {
        let v = &r["verification"];
        println!(
            "verification   {} ({} checked, {} mismatches)",
            if v["passed"] == true {
                "passed"
            } else {
                "FAILED"
            },
            v["checked"],
            v["mismatches"].as_array().map_or(0, Vec::len)
        );
    }
    if r["status"] == "awaiting_approval" {
        println!(
            "approvals      {} of {} ({})",
            r["approvals"].as_array().map_or(0, Vec::len),
            r["required_approvals"],
            r["approval_reasons"]
        );
    }
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Capture entity types or chosen entities (zstd, SHA-256).
    Create(SnapshotArgs),
    List,
    Show {
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    #[arg(long, value_delimiter = ',', value_name = "T1,T2")]
    pub types: Vec<String>,
    /// An entity to capture (repeatable).
    #[arg(long = "entity", value_name = "TYPE/ID")]
    pub entities: Vec<String>,
    #[arg(long)]
    pub label: Option<String>,
    #[arg(long, value_name = "DAYS")]
    pub retention_days: Option<u32>,
}

pub async fn snapshot(remote: &Remote, cmd: SnapshotCommand) -> Result<ExitCode> {
    let print = |s: &Value| {
        println!(
            "snapshot {}  {} entities  {} bytes (ratio {:.1})  sha256 {}  keep until {}",
            s["id"].as_str().unwrap_or(""),
            s["entity_count"],
            s["size"],
            s["compression_ratio"].as_f64().unwrap_or(0.0),
            s["checksum"].as_str().unwrap_or(""),
            s["retention_date"].as_str().unwrap_or("")
        )
    };
    match cmd {
        SnapshotCommand::Create(a) => {
            let mut entities = Vec::new();
            for e in &a.entities {
                let Some((ty, id)) = e.split_once('/') else {
                    bail!("--entity takes TYPE/ID")
                };
                entities.push(json!({"type": ty, "id": id}));
            }
            let mut body = json!({});
            if !a.types.is_empty() {
                body["entity_types"] = json!(a.types);
            }
            if !entities.is_empty() {
                body["entities"] = json!(entities);
            }
            if let Some(l) = &a.label {
                body["label"] = json!(l);
            }
            if let Some(d) = a.retention_days {
                body["retention_days"] = json!(d);
            }
            let ans = remote
                .send(Method::POST, "/v1/snapshots", Some(&body), None)
                .await?;
            show(remote, &ans, print)
        }
        SnapshotCommand::List => {
            let ans = remote
                .send(Method::GET, "/v1/snapshots?limit=1000", None, None)
                .await?;
            show(remote, &ans, |b| {
                b["snapshots"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .for_each(print)
            })
        }
        SnapshotCommand::Show { id } => {
            let ans = remote
                .send(Method::GET, &format!("/v1/snapshots/{id}"), None, None)
                .await?;
            show(remote, &ans, print)
        }
    }
}
