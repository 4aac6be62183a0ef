//! Where benchmark requests go: a server over HTTP (remote, or started here on a random port),
//! or the store directly. The payload is a shipment-sized JSON object so that the database
//! size per entry means something.

use anyhow::{Context, Result, bail};
use chronicle_core::entry::{Actor, RequestContext};
use chronicle_core::write::EntityOp;
use chronicle_server::auth::{ConfiguredToken, Role};
use chronicle_server::{AppState, ServerConfig, metrics};
use chronicle_store::{Store, WriteKind, WriteRequest, WriteResponse};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const ENTITY_TYPE: &str = "bench_item";

pub enum Target {
    Http {
        client: reqwest::Client,
        base: String,
        server: Mutex<Option<Server>>,
    },
    Store(Arc<dyn Store>),
}

/// A server this process started, and how to stop it.
pub struct Server {
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Target {
    /// A server at `base`, authenticating with `token` when given.
    pub fn http(base: &str, clients: u64, token: Option<&str>) -> Result<Target> {
        if !base.starts_with("http://") && !base.starts_with("https://") {
            bail!("--url must start with http:// (got {base:?})");
        }
        Ok(Target::Http {
            client: client(clients, token)?,
            base: base.to_owned(),
            server: Mutex::new(None),
        })
    }

    /// Starts a server over `store` on `127.0.0.1:0` in this process.
    pub async fn in_process(
        store: Arc<dyn Store>,
        mut config: ServerConfig,
        clients: u64,
    ) -> Result<Target> {
        // Requests authenticate as a configured `service` token, as an application's backend
        // would (a configured token is checked in memory; one made through the API costs a
        // read of its record per request).
        config
            .auth
            .tokens
            .push(ConfiguredToken::new("bench", Role::Service, BENCH_TOKEN));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot bind 127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let state = AppState::new(
            store,
            Arc::new(chronicle_core::schema::Schema::default()),
            config,
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(chronicle_server::run(listener, state, async {
            stopped.await.ok();
        }));
        Ok(Target::Http {
            client: client(clients, Some(BENCH_TOKEN))?,
            base: format!("http://{addr}"),
            server: Mutex::new(Some(Server { stop, task })),
        })
    }

    pub fn url(&self) -> Option<String> {
        match self {
            Target::Http { base, .. } => Some(base.clone()),
            Target::Store(_) => None,
        }
    }

    /// Database bytes and ledger entries: from the store, or from a server's `/metrics`
    /// (None when it does not publish them).
    pub async fn stats(&self) -> Result<Option<(u64, u64)>> {
        match self {
            Target::Store(store) => {
                let s = store.stats().await?;
                Ok(Some((s.bytes, s.entries)))
            }
            Target::Http { client, base, .. } => {
                let resp = client
                    .get(format!("{base}/metrics"))
                    .send()
                    .await
                    .context("cannot read /metrics")?;
                if !resp.status().is_success() {
                    return Ok(None);
                }
                let text = resp.text().await.context("cannot read /metrics")?;
                Ok(gauge(&text, metrics::DB_SIZE).zip(gauge(&text, metrics::LEDGER_ENTRIES)))
            }
        }
    }

    pub async fn shutdown(&self) {
        let server = match self {
            Target::Http { server, .. } => server.lock().map(|mut s| s.take()).unwrap_or(None),
            Target::Store(_) => None,
        };
        if let Some(s) = server {
            s.stop.send(()).ok();
            match s.task.await {
                Ok(Err(e)) => tracing::warn!("the benchmark server stopped with an error: {e}"),
                Err(e) => tracing::warn!("the benchmark server task failed: {e}"),
                Ok(Ok(())) => {}
            }
        }
    }

    /// One atomic bulk request of `batch` creates; `n` numbers the request.
    pub async fn bulk(&self, n: u64, batch: u64) -> Result<()> {
        let items = (0..batch).map(|i| item(n * batch + i));
        match self {
            Target::Http { client, base, .. } => {
                let operations: Vec<Value> = items
                    .map(|data| json!({"op": "create", "type": ENTITY_TYPE, "data": data}))
                    .collect();
                let body = json!({"operations": operations, "atomic": true});
                send(client.post(format!("{base}/v1/bulk")).json(&body)).await
            }
            Target::Store(store) => {
                let ops = items
                    .map(|data| EntityOp::Create {
                        entity_type: ENTITY_TYPE.into(),
                        id: None,
                        data,
                    })
                    .collect();
                match store
                    .write(request(WriteKind::Bulk { ops, atomic: true }))
                    .await?
                {
                    WriteResponse::Batch {
                        committed: true, ..
                    } => Ok(()),
                    other => bail!("bulk request {n} was not committed: {other:?}"),
                }
            }
        }
    }

    /// One create; `n` numbers the request.
    pub async fn single(&self, n: u64) -> Result<()> {
        let data = item(n);
        match self {
            Target::Http { client, base, .. } => {
                send(
                    client
                        .post(format!("{base}/v1/entities/{ENTITY_TYPE}"))
                        .json(&json!({"data": data})),
                )
                .await
            }
            Target::Store(store) => {
                let op = EntityOp::Create {
                    entity_type: ENTITY_TYPE.into(),
                    id: None,
                    data,
                };
                match store.write(request(WriteKind::Single(op))).await? {
                    WriteResponse::Single(Ok(_)) => Ok(()),
                    other => bail!("request {n} was refused: {other:?}"),
                }
            }
        }
    }
}

/// The value of an unlabelled gauge in Prometheus text.
fn gauge(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' '))
        })
        .find_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(|v| v as u64)
}

/// The benchmark's own service token (in memory only, for a throwaway server).
const BENCH_TOKEN: &str = "chronicle-bench-service-token-0000";

fn client(clients: u64, token: Option<&str>) -> Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .context("the token is not a valid header value")?,
        );
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(clients as usize)
        .user_agent(concat!("chronicle-bench/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build the HTTP client")
}

/// Sends with the benchmark's request context and reads the whole answer, as a client would.
async fn send(req: reqwest::RequestBuilder) -> Result<()> {
    let resp = req
        .header("X-Actor-Id", "bench")
        .header("X-Actor-Role", "service")
        .header("X-Reason", "ingest benchmark")
        .send()
        .await
        .context("request failed")?;
    let status = resp.status();
    let body = resp.bytes().await.context("cannot read the response")?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        bail!(
            "the server answered {status}: {}",
            text.chars().take(500).collect::<String>()
        );
    }
    Ok(())
}

fn request(kind: WriteKind) -> WriteRequest {
    WriteRequest {
        context: RequestContext {
            actor: Actor {
                via: None,
                id: Some("bench".into()),
                email: None,
                role: Some("service".into()),
            },
            user_agent: Some(concat!("chronicle-bench/", env!("CARGO_PKG_VERSION")).into()),
            reason: Some("ingest benchmark".into()),
            ..RequestContext::default()
        },
        kind,
    }
}

/// The `i`th benchmark entity: about the size of a demo shipment.
pub fn item(i: u64) -> Value {
    const DESTINATIONS: [&str; 5] = ["WH-KIN", "WH-POS", "WH-BGI", "WH-GEO", "WH-NAS"];
    json!({
        "tracking_number": format!("QCSB{i:010}"),
        "customer_id": format!("CUS-{:05}", 10_001 + i % 5_000),
        "origin_warehouse_id": "WH-MIA",
        "destination_warehouse_id": DESTINATIONS[(i % 5) as usize],
        "service": "air",
        "status": "pending",
        "weight_kg": (i % 300) as f64 / 10.0 + 0.5,
        "declared_value": (i % 2_500) as f64 + 0.99,
        "notes": "benchmark item",
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn gauges_are_read_from_prometheus_text() {
        let text = "# HELP chronicle_db_size_bytes Bytes\n# TYPE chronicle_db_size_bytes gauge\nchronicle_db_size_bytes 4096\nchronicle_db_size_bytes_other 1\nchronicle_ledger_entries 12\n";
        assert_eq!(super::gauge(text, "chronicle_db_size_bytes"), Some(4096));
        assert_eq!(super::gauge(text, "chronicle_ledger_entries"), Some(12));
        assert_eq!(super::gauge(text, "chronicle_entities"), None);
    }
}
