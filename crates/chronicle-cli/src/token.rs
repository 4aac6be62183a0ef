//! `chronicle token create|list|revoke`: tokens on a running server, over HTTP (admin only;
//! docs/API.md "Authentication").

use crate::remote::{Remote, show};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token; it is printed once and cannot be shown again.
    Create {
        /// admin, operator, approver, auditor, viewer or service.
        #[arg(long)]
        role: String,
        /// Who holds it; recorded as the actor of everything it writes.
        #[arg(long, value_name = "NAME")]
        name: String,
        /// Recorded as the actor email.
        #[arg(long, value_name = "EMAIL")]
        email: Option<String>,
        /// Lifetime in days [default: until revoked].
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
    },
    /// The live tokens (never their secrets).
    List,
    /// Revoke a token at once.
    Revoke {
        /// The token id (`chr_<id>_...`; `token list` shows it).
        id: String,
    },
}

pub async fn run(remote: &Remote, cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TokenCommand::Create {
            role,
            name,
            email,
            expires_in_days,
        } => {
            let mut body = json!({"name": name, "role": role});
            if let Some(e) = email {
                body["email"] = json!(e);
            }
            if let Some(d) = expires_in_days {
                body["expires_in_days"] = json!(d);
            }
            let ans = remote.send(Method::POST, "/v1/tokens", Some(&body)).await?;
            show(remote, &ans, |t| {
                println!("token    {}", text(&t["token"]));
                println!("id       {}", text(&t["id"]));
                println!("role     {} ({})", text(&t["role"]), text(&t["name"]));
                println!("shown once: keep it now, the server stores only its hash");
            })
        }
        TokenCommand::List => {
            let ans = remote.send(Method::GET, "/v1/tokens", None).await?;
            show(remote, &ans, |b| {
                let all = b["tokens"].as_array().cloned().unwrap_or_default();
                if all.is_empty() {
                    println!("no tokens (besides any given in configuration)");
                }
                for t in &all {
                    let expires = match text(&t["expires_at"]) {
                        "" => String::new(),
                        at => format!("  expires {at}"),
                    };
                    println!(
                        "{:<18} {:<9} {}  created {}{expires}",
                        text(&t["id"]),
                        text(&t["role"]),
                        text(&t["name"]),
                        text(&t["created_at"]),
                    );
                }
            })
        }
        TokenCommand::Revoke { id } => {
            let ans = remote
                .send(Method::DELETE, &format!("/v1/tokens/{id}"), None)
                .await?;
            show(remote, &ans, |t| {
                println!("revoked {} ({})", text(&t["id"]), text(&t["name"]));
            })
        }
    }
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}
