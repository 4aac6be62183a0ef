//! `chronicle subject erase SUBJECT`: GDPR erasure on a running server (docs/API.md
//! "Sensitive data and erasure"). The reason (`--reason`) is recorded in the erasure entry.

use crate::remote::{Remote, encode, show};
use anyhow::Result;
use clap::Subcommand;
use reqwest::Method;
use serde_json::json;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum SubjectCommand {
    /// Destroy the subject's data key (`<type>:<id>`, e.g. customer:c7): every sensitive value
    /// of theirs reads as "[erased]" from then on. This cannot be undone.
    Erase { subject: String },
}

pub async fn run(remote: &Remote, cmd: SubjectCommand) -> Result<ExitCode> {
    match cmd {
        SubjectCommand::Erase { subject } => {
            let path = format!("/v1/subjects/{}/erase", encode(&subject));
            let ans = remote.send(Method::POST, &path, Some(&json!({}))).await?;
            show(remote, &ans, |entry| {
                println!(
                    "erased {} (entry seq {}, {})",
                    entry["metadata"]["subject"].as_str().unwrap_or(&subject),
                    entry["seq"],
                    entry["id"].as_str().unwrap_or("")
                )
            })
        }
    }
}
