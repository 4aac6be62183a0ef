//! Commands that talk to a running server (`chronicle rollback ...`, `chronicle snapshot ...`):
//! the connection flags, the request, and how answers and problems are shown.

use anyhow::{Context, Result};
use clap::Args;
use reqwest::Method;
use serde_json::Value;

/// Where the server is and who is asking.
#[derive(Debug, Clone, Args)]
pub struct Remote {
    /// The server [default: http://127.0.0.1:8080; CHRONICLE_URL].
    #[arg(
        long,
        env = "CHRONICLE_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// Sent as X-Actor-Id.
    #[arg(long, value_name = "ID", global = true)]
    pub actor: Option<String>,
    /// Sent as X-Actor-Role (e.g. approver).
    #[arg(long, value_name = "ROLE", global = true)]
    pub role: Option<String>,
    /// Print the server's JSON answer as it is.
    #[arg(long, global = true)]
    pub json: bool,
}

/// A server's answer: the status and the JSON body.
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl Remote {
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        reason: Option<&str>,
    ) -> Result<Answer> {
        let client = reqwest::Client::new();
        let mut req = client.request(method, format!("{}{path}", self.url.trim_end_matches('/')));
        if let Some(a) = &self.actor {
            req = req.header("X-Actor-Id", a);
        }
        if let Some(r) = &self.role {
            req = req.header("X-Actor-Role", r);
        }
        if let Some(r) = reason {
            req = req.header("X-Reason", r);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {}", self.url))?;
        let status = res.status().as_u16();
        let text = res
            .text()
            .await
            .context("cannot read the server's answer")?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer { status, body })
    }
}

/// Prints a problem document (RFC 9457) for a person: title, detail, field errors, conflicts.
pub fn print_problem(a: &Answer) {
    let b = &a.body;
    let title = b["title"].as_str().unwrap_or("error");
    eprintln!("error {}: {title}", a.status);
    if let Some(d) = b["detail"].as_str() {
        eprintln!("  {d}");
    }
    for e in b["errors"].as_array().into_iter().flatten() {
        eprintln!(
            "  {}: {}",
            e["pointer"].as_str().unwrap_or(""),
            e["message"].as_str().unwrap_or("")
        );
    }
    for c in b["conflicts"].as_array().into_iter().flatten() {
        eprintln!(
            "  conflict: {} {} {} (seq {}) {}",
            c["kind"].as_str().unwrap_or(""),
            c["type"].as_str().unwrap_or(""),
            c["id"].as_str().unwrap_or(""),
            c["seq"],
            c["fields"]
                .as_array()
                .map(|f| f
                    .iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(","))
                .unwrap_or_default(),
        );
    }
}

/// Shows an answer: JSON verbatim with `--json`, else through `human`. Exit status: 0 for
/// success, 1 for a refusal by the server.
pub fn show(
    remote: &Remote,
    a: &Answer,
    human: impl FnOnce(&Value),
) -> Result<std::process::ExitCode> {
    if remote.json {
        println!("{}", serde_json::to_string_pretty(&a.body)?);
    } else if a.ok() {
        human(&a.body);
    }
    if a.ok() {
        Ok(std::process::ExitCode::SUCCESS)
    } else {
        if !remote.json {
            print_problem(a);
        }
        Ok(std::process::ExitCode::from(1))
    }
}
