//! `chronicle snapshot ...`: snapshots on a running server, over HTTP (docs/API.md
//! "Snapshots"). A snapshot is restored with `chronicle rollback apply --snapshot ID`.

use crate::remote::{Remote, show};
use crate::rollback::type_slash_id;
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Capture entity types and/or chosen entities (zstd-compressed, SHA-256 checksummed).
    Create(SnapshotArgs),
    /// List every snapshot, oldest first.
    List,
    /// Show one snapshot.
    Show { id: String },
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// Entity types to capture, every entity of each.
    #[arg(long, value_delimiter = ',', value_name = "T1,T2")]
    pub types: Vec<String>,
    /// An entity to capture (repeatable).
    #[arg(long = "entity", value_name = "TYPE/ID")]
    pub entities: Vec<String>,
    /// A name to know it by.
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,
    /// Keep it this many days [server default].
    #[arg(long, value_name = "DAYS")]
    pub retention_days: Option<u32>,
}

pub async fn run(remote: &Remote, cmd: SnapshotCommand) -> Result<ExitCode> {
    match cmd {
        SnapshotCommand::Create(a) => {
            if a.types.is_empty() && a.entities.is_empty() {
                bail!("name what to capture: --types T1,T2 and/or --entity TYPE/ID");
            }
            let mut entities = Vec::new();
            for e in &a.entities {
                let (ty, id) = type_slash_id(e, "--entity")?;
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
                .send(Method::POST, "/v1/snapshots", Some(&body))
                .await?;
            show(remote, &ans, print)
        }
        SnapshotCommand::List => {
            let ans = remote.list_all("/v1/snapshots", "snapshots").await?;
            show(remote, &ans, |b| {
                let all = b["snapshots"].as_array().cloned().unwrap_or_default();
                if all.is_empty() {
                    println!("no snapshots");
                }
                all.iter().for_each(print_line)
            })
        }
        SnapshotCommand::Show { id } => {
            let ans = remote
                .send(Method::GET, &format!("/v1/snapshots/{id}"), None)
                .await?;
            show(remote, &ans, print)
        }
    }
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// One snapshot, in full.
fn print(s: &Value) {
    let types = s["entity_types"]
        .as_array()
        .map(|a| a.iter().map(text).collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    println!("snapshot       {}", text(&s["id"]));
    println!("label          {}", text(&s["label"]));
    let by = match text(&s["created_by"]["id"]) {
        "" => String::new(),
        id => format!(" by {id}"),
    };
    println!(
        "taken          {}{by} (ledger size {})",
        text(&s["timestamp"]),
        s["ledger_size"]
    );
    println!("entities       {} ({types})", s["entity_count"]);
    println!(
        "size           {} bytes compressed, {} raw (ratio {:.1})",
        s["size"],
        s["raw_size"],
        s["compression_ratio"].as_f64().unwrap_or(0.0)
    );
    println!("sha256         {}", text(&s["checksum"]));
    println!("keep until     {}", text(&s["retention_date"]));
    println!(
        "restore with   chronicle rollback apply --snapshot {}",
        text(&s["id"])
    );
}

/// One snapshot, on one line of a list.
fn print_line(s: &Value) {
    println!(
        "{}  {}  {:>6} entities  {:>10} bytes  {}",
        text(&s["id"]),
        text(&s["timestamp"]),
        s["entity_count"],
        s["size"],
        text(&s["label"])
    );
}
