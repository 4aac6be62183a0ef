//! Commands that talk to a running server (`chronicle rollback ...`, `chronicle snapshot ...`):
//! the connection flags, the request, and how answers and problems are shown.
//!
//! Exit status: 0 when the server did what was asked; 1 when it refused (a problem answer:
//! conflict, forbidden, not found, invalid input...); 2 when it could not be reached.

use anyhow::{Context, Result};
use clap::Args;
use reqwest::Method;
use serde_json::Value;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Duration;

/// Where the server is and who is asking.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Server and asker")]
pub struct Remote {
    /// The server.
    #[arg(
        long,
        env = "CHRONICLE_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// The bearer token to authenticate with (`chronicle token create` makes one; the first
    /// start of a server prints an admin token).
    #[arg(
        long,
        env = "CHRONICLE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        global = true
    )]
    pub token: Option<String>,
    /// Who is asking (sent as X-Actor-Id; recorded in every entry the request writes only
    /// when the server runs without authentication or the token is a `service` token).
    #[arg(long, value_name = "ID", global = true)]
    pub actor: Option<String>,
    /// The asker's role (sent as X-Actor-Role); approving takes `approver`.
    #[arg(long, value_name = "ROLE", global = true)]
    pub role: Option<String>,
    /// Why (sent as X-Reason; also the rollback's reason for preview and apply).
    #[arg(long, value_name = "TEXT", global = true)]
    pub reason: Option<String>,
    /// Print the server's JSON answer verbatim (problems too), and no progress bar.
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

/// One client for the process, so that polling reuses its connection.
fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("chronicle-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default()
    })
}

impl Remote {
    /// Sends a request with the actor headers; a problem answer is an `Answer` too, only a
    /// server that cannot be reached (or answers garbage) is an error.
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Answer> {
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        let mut req = client().request(method, url);
        for (name, value) in [
            ("X-Actor-Id", &self.actor),
            ("X-Actor-Role", &self.role),
            ("X-Reason", &self.reason),
        ] {
            if let Some(v) = value {
                req = req.header(name, v);
            }
        }
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
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
            .with_context(|| format!("cannot read the answer of the server at {}", self.url))?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer { status, body })
    }

    /// Every item of a paginated list (`{<key>: [...], next_cursor}`), page after page. A
    /// refused page is returned as the answer.
    pub async fn list_all(&self, path: &str, key: &str) -> Result<Answer> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        // Bounded: a million items at 1000 a page.
        for _ in 0..1000 {
            let page_path = match &cursor {
                Some(c) => format!("{path}?limit=1000&cursor={}", encode(c)),
                None => format!("{path}?limit=1000"),
            };
            let a = self.send(Method::GET, &page_path, None).await?;
            if !a.ok() {
                return Ok(a);
            }
            items.extend(a.body[key].as_array().cloned().unwrap_or_default());
            match a.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let mut body = serde_json::Map::new();
        body.insert(key.to_owned(), Value::Array(items));
        body.insert("next_cursor".to_owned(), Value::Null);
        Ok(Answer {
            status: 200,
            body: Value::Object(body),
        })
    }
}

/// Percent-encodes a query value (cursors are opaque text) or a path segment.
pub(crate) fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Prints a problem document (RFC 9457) for a person: status, title and code, detail, field
/// errors, conflicts.
pub fn print_problem(a: &Answer) {
    let b = &a.body;
    let title = b["title"].as_str().unwrap_or("error");
    let code = b["type"]
        .as_str()
        .and_then(|t| t.strip_prefix("urn:chronicle:problem:"))
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    eprintln!("error {}: {title}{code}", a.status);
    let errors = b["errors"].as_array().map_or(&[][..], Vec::as_slice);
    let only_error = match errors {
        [e] => Some(format!("{}: {}", text(&e["pointer"]), text(&e["message"]))),
        _ => None,
    };
    match (b["detail"].as_str(), b.as_str()) {
        // A detail that only repeats the one field error is shown once, below.
        (Some(d), _) if only_error.as_deref() == Some(d) => {}
        (Some(d), _) => eprintln!("  {d}"),
        // Not a problem document (a proxy's page, say): show what came.
        (None, Some(text)) if !text.trim().is_empty() => eprintln!("  {}", text.trim()),
        _ => {}
    }
    for e in errors {
        eprintln!("  {}: {}", text(&e["pointer"]), text(&e["message"]));
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
    if let Some(n) = b["conflicts"].as_array().map(Vec::len).filter(|n| *n > 0) {
        eprintln!(
            "  {n} conflict(s); nothing was written. See them with `rollback preview`, or choose \
             --strategy cascade, non_conflicting or force."
        );
    }
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// Shows an answer: JSON verbatim with `--json`, else through `human` (a problem through
/// [`print_problem`]). Exit status: 0 for success, 1 for a refusal by the server.
pub fn show(remote: &Remote, a: &Answer, human: impl FnOnce(&Value)) -> Result<ExitCode> {
    if remote.json {
        println!("{}", serde_json::to_string_pretty(&a.body)?);
    } else if a.ok() {
        human(&a.body);
    } else {
        print_problem(a);
    }
    Ok(if a.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
