//! Ingest throughput of the PostgreSQL store, in-process (no HTTP), durable commits.
//!
//! ```text
//! cargo run --release -p chronicle-postgres --example ingest -- \
//!     [--url postgres://postgres@127.0.0.1:5432/postgres] [--nodes 1|2] \
//!     [--bulk-requests 60] [--bulk-size 1000] [--bulk-clients 4] \
//!     [--single-requests 20000] [--clients 64]
//! ```
//! Runs in (and first empties) the schema `chronicle_bench`. Prints entries/s for bulk
//! requests and requests/s for single-operation requests from concurrent clients, spread
//! over `--nodes` stores (each with its own writer and pool, as separate server processes
//! would have), then verifies the ledger.

use chronicle_core::schema::Schema;
use chronicle_core::write::EntityOp;
use chronicle_core::{Actor, RequestContext};
use chronicle_postgres::{PgConfig, PgStore};
use chronicle_store::{Store, WriteKind, WriteRequest, WriteResponse};
use serde_json::json;
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

// The write path allocates many small JSON values; glibc's allocator spends a fifth of the
// writer's time on them, mimalloc much less. Binaries choose their allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    url: String,
    nodes: usize,
    bulk_requests: usize,
    bulk_size: usize,
    bulk_clients: usize,
    single_requests: usize,
    clients: usize,
}

fn args() -> Args {
    let mut a = Args {
        url: std::env::var("CHRONICLE_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        nodes: 1,
        bulk_requests: 60,
        bulk_size: 1000,
        bulk_clients: 4,
        single_requests: 20_000,
        clients: 64,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        let n = || value.parse::<usize>().expect("a number");
        match flag.as_str() {
            "--url" => a.url = value.clone(),
            "--nodes" => a.nodes = n().max(1),
            "--bulk-requests" => a.bulk_requests = n(),
            "--bulk-size" => a.bulk_size = n(),
            "--bulk-clients" => a.bulk_clients = n().max(1),
            "--single-requests" => a.single_requests = n(),
            "--clients" => a.clients = n().max(1),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn context(client: usize) -> RequestContext {
    RequestContext {
        actor: Actor {
            via: None,
            id: Some(format!("user-{}", client % 50)),
            email: Some(format!("user-{}@example.com", client % 50)),
            role: Some("admin".into()),
        },
        session_id: Some(format!("sess-{client}")),
        ip: Some("10.1.2.3".into()),
        user_agent: Some("bench".into()),
        reason: Some("bench load".into()),
        correlation_id: Some(format!("corr-{client}")),
        ..RequestContext::default()
    }
}

fn shipment(id: String, i: usize) -> EntityOp {
    EntityOp::Create {
        entity_type: "shipment".into(),
        id: Some(id),
        data: json!({
            "status": "pending",
            "weight_kg": 1.5 + (i % 40) as f64,
            "customer_id": format!("c{}", i % 997),
            "address": {"street": "Storgata 1", "city": "Oslo", "zip": "0150"},
            "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}],
        }),
    }
}

async fn bulk(nodes: &[Arc<PgStore>], a: &Args) -> f64 {
    let per_client = a.bulk_requests.div_ceil(a.bulk_clients);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..a.bulk_clients {
        let store = nodes[c % nodes.len()].clone();
        let size = a.bulk_size;
        tasks.push(tokio::spawn(async move {
            let mut entries = 0usize;
            for r in 0..per_client {
                let ops = (0..size)
                    .map(|i| shipment(format!("b{c}-{r}-{i}"), i))
                    .collect();
                let req = WriteRequest {
                    context: context(c),
                    kind: WriteKind::Bulk { ops, atomic: true },
                };
                match store.write(req).await.expect("bulk write") {
                    WriteResponse::Batch { committed, .. } => assert!(committed),
                    other => panic!("unexpected {other:?}"),
                }
                entries += size + 1;
            }
            entries
        }));
    }
    let mut entries = 0;
    for t in tasks {
        entries += t.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    let rate = entries as f64 / secs;
    println!(
        "bulk:   {entries} entries in {secs:.2}s = {rate:.0} entries/s \
         ({} requests of {} ops, {} clients, {} node(s))",
        per_client * a.bulk_clients,
        a.bulk_size,
        a.bulk_clients,
        nodes.len()
    );
    rate
}

async fn single(nodes: &[Arc<PgStore>], a: &Args) -> f64 {
    let per_client = a.single_requests.div_ceil(a.clients);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..a.clients {
        let store = nodes[c % nodes.len()].clone();
        tasks.push(tokio::spawn(async move {
            for r in 0..per_client {
                let req = WriteRequest {
                    context: context(c),
                    kind: WriteKind::Single(shipment(format!("s{c}-{r}"), r)),
                };
                match store.write(req).await.expect("single write") {
                    WriteResponse::Single(Ok(_)) => {}
                    other => panic!("unexpected {other:?}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    let n = per_client * a.clients;
    let rate = n as f64 / secs;
    println!(
        "single: {n} requests in {secs:.2}s = {rate:.0} requests/s ({} clients, {} node(s))",
        a.clients,
        nodes.len()
    );
    rate
}

#[tokio::main]
async fn main() {
    // RUST_LOG=chronicle_postgres=debug shows each group commit's timings.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let a = args();
    let schema = "chronicle_bench";
    let mut admin = sqlx::postgres::PgConnectOptions::from_str(&a.url)
        .expect("a database URL")
        .connect()
        .await
        .expect("PostgreSQL answers");
    sqlx::raw_sql("DROP SCHEMA IF EXISTS chronicle_bench CASCADE")
        .execute(&mut admin)
        .await
        .unwrap();
    let sync: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    let _ = admin.close().await;
    println!("server default synchronous_commit = {sync}; the store sets it on for its sessions");

    let mut nodes = Vec::new();
    for n in 0..a.nodes {
        let mut config = PgConfig::new(a.url.clone(), Arc::new(Schema::default()));
        config.search_path = Some(schema.into());
        config.application_name = format!("chronicle-bench-{n}");
        nodes.push(Arc::new(PgStore::connect(config).await.expect("connect")));
    }
    if a.bulk_requests > 0 {
        bulk(&nodes, &a).await;
    }
    if a.single_requests > 0 {
        single(&nodes, &a).await;
    }
    let started = Instant::now();
    let report = chronicle_store::verify::verify(nodes[0].as_ref(), |_, _| {})
        .await
        .expect("verify runs");
    let stats = nodes[0].stats().await.unwrap();
    println!(
        "verify: {} ({} entries in {:.2}s); database {} MiB",
        if report.ok() { "ok" } else { "FAILED" },
        report.entries_checked,
        started.elapsed().as_secs_f64(),
        stats.bytes / (1 << 20)
    );
    assert!(report.ok(), "{:?}", report.failure);
}
