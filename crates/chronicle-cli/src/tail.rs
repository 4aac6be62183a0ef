//! `chronicle tail`: follows the audit stream of a running server (`GET /v1/stream`, Server-Sent
//! Events), printing each entry (and alert) as it commits. On a dropped connection it
//! reconnects with `Last-Event-ID`, so nothing is missed or repeated.

use anyhow::{Context, Result, bail};
use clap::Args;
use futures::StreamExt;
use serde_json::Value;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct TailArgs {
    /// The server [default: http://127.0.0.1:8080; CHRONICLE_URL].
    #[arg(long, env = "CHRONICLE_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The bearer token [CHRONICLE_TOKEN].
    #[arg(
        long,
        env = "CHRONICLE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// A filter as `name=value` (repeatable): actor, entity_type, entity_id, operation, field,
    /// severity, tag, correlation_id, transaction_id, parent_id, rollback_id.
    #[arg(long = "filter", value_name = "NAME=VALUE")]
    pub filters: Vec<String>,
    /// Start after this seq (replaying what came since) instead of at the next commit.
    #[arg(long, value_name = "SEQ")]
    pub after_seq: Option<u64>,
    /// Stop after this many events.
    #[arg(long, value_name = "N")]
    pub max_events: Option<u64>,
    /// One JSON object per line: `{"event": ..., "id": ..., "data": ...}`.
    #[arg(long)]
    pub json: bool,
}

/// One parsed Server-Sent Event.
#[derive(Debug, Default)]
struct Event {
    name: Option<String>,
    id: Option<String>,
    data: Vec<String>,
}

pub async fn run(args: TailArgs) -> Result<()> {
    let mut query: Vec<(String, String)> = Vec::new();
    for f in &args.filters {
        let Some((k, v)) = f.split_once('=') else {
            bail!("--filter takes NAME=VALUE, got {f:?}")
        };
        query.push((k.to_owned(), v.to_owned()));
    }
    let client = reqwest::Client::new();
    let base = format!("{}/v1/stream", args.url.trim_end_matches('/'));
    let url = reqwest::Url::parse_with_params(&base, &query)
        .with_context(|| format!("invalid server URL {}", args.url))?;
    let mut last_id: Option<String> = args.after_seq.map(|s| s.to_string());
    let mut seen = 0u64;
    let mut failures = 0u32;
    loop {
        let mut req = client.get(url.clone());
        if let Some(t) = &args.token {
            req = req.bearer_auth(t);
        }
        if let Some(id) = &last_id {
            req = req.header("Last-Event-ID", id);
        }
        let res = match req.send().await {
            Ok(r) => r,
            Err(e) if failures < 10 => {
                failures += 1;
                eprintln!("warning: {e}; reconnecting");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(failures))).await;
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("cannot reach {url}")),
        };
        let status = res.status();
        if status.is_client_error() {
            let body = res.text().await.unwrap_or_default();
            bail!("the server refused the stream ({status}): {body}");
        }
        if !status.is_success() {
            failures += 1;
            if failures > 10 {
                bail!("the server keeps answering {status}");
            }
            tokio::time::sleep(Duration::from_millis(500 * u64::from(failures))).await;
            continue;
        }
        failures = 0;
        let mut body = res.bytes_stream();
        // Bytes, split on newlines before decoding: a character may span two chunks.
        let mut buf: Vec<u8> = Vec::new();
        let mut event = Event::default();
        while let Some(chunk) = body.next().await {
            let Ok(chunk) = chunk else { break };
            let chunk: &[u8] = chunk.as_ref();
            buf.extend_from_slice(chunk);
            while let Some(at) = buf.iter().position(|b| *b == b'\n') {
                let raw: Vec<u8> = buf.drain(..=at).collect();
                let text = String::from_utf8_lossy(&raw);
                let line = text.trim_end_matches(['\n', '\r']);
                if line.is_empty() {
                    if !event.data.is_empty() {
                        if let Some(id) = &event.id {
                            last_id = Some(id.clone());
                        }
                        print_event(&event, args.json)?;
                        seen += 1;
                        if args.max_events.is_some_and(|m| seen >= m) {
                            return Ok(());
                        }
                    }
                    event = Event::default();
                    continue;
                }
                if line.starts_with(':') {
                    continue; // a heartbeat comment
                }
                let (field, value) = line
                    .split_once(':')
                    .map_or((line, ""), |(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)));
                match field {
                    "event" => event.name = Some(value.to_owned()),
                    "id" => event.id = Some(value.to_owned()),
                    "data" => event.data.push(value.to_owned()),
                    _ => {}
                }
            }
        }
        // The stream ended (server restart, network): resume from the last event seen.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn print_event(e: &Event, json: bool) -> Result<()> {
    let data: Value = serde_json::from_str(&e.data.join("\n")).unwrap_or(Value::Null);
    let name = e.name.as_deref().unwrap_or("message");
    if json {
        println!(
            "{}",
            serde_json::json!({"event": name, "id": e.id, "data": data})
        );
        return Ok(());
    }
    let s = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    if name == "alert" {
        println!(
            "ALERT {} {}",
            s(&data["new_values"]["severity"]),
            data["new_values"]
        );
    } else {
        let target = match (data["entity_type"].as_str(), data["entity_id"].as_str()) {
            (Some(t), Some(i)) => format!("{t}/{i}"),
            (Some(t), None) => t.to_owned(),
            _ => "-".to_owned(),
        };
        println!(
            "{:>8} {} {:<12} {:<15} {:<30} {}",
            data["seq"],
            s(&data["timestamp"]),
            s(&data["actor"]["id"]),
            s(&data["operation"]),
            target,
            s(&data["summary"])
        );
    }
    Ok(())
}
