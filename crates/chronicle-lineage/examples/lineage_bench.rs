//! Lineage benchmark: an entity with 10,000 related entries, on the embedded default or on
//! PostgreSQL. In-process (no HTTP), release build.
//!
//! `cargo run --release -p chronicle-lineage --example lineage_bench -- [sqlite | postgres URL]`
//!
//! Data: customer `c1`; 10,000 shipments referencing it, created in ten bulks of 1,000, each
//! with a `metadata.source`; and counter `k1` with 10,000 updates of its own. Each query runs
//! once to warm up, then 20 times; the median and the slowest are printed. The reference in
//! the same run is the rollback planner's own referrer scan (`facts::referrers`) of `c1`.

use chronicle_core::RequestContext;
use chronicle_core::rollback::EntityRef;
use chronicle_core::schema::Schema;
use chronicle_core::write::EntityOp;
use chronicle_engine::{ApprovalPolicy, Engine};
use chronicle_lineage::{Direction, Options};
use chronicle_store::{Store, WriteKind, WriteRequest, WriteResponse};
use serde_json::json;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SCHEMA: &str = r#"
    [types.customer]
    [types.counter]
    [types.shipment.fields.customer_id]
    type = "string"
    references = "customer"
"#;
const N: usize = 10_000;
const RUNS: usize = 20;

async fn bulk(store: &dyn Store, ops: Vec<EntityOp>, metadata: Vec<serde_json::Value>) {
    let context = RequestContext {
        op_metadata: metadata,
        ..RequestContext::default()
    };
    let kind = WriteKind::Bulk { ops, atomic: true };
    match store.write(WriteRequest { context, kind }).await.unwrap() {
        WriteResponse::Batch {
            committed: true, ..
        } => {}
        other => panic!("bulk failed: {other:?}"),
    }
}

async fn seed(store: &dyn Store) {
    let t = Instant::now();
    let customer = EntityOp::Create {
        entity_type: "customer".into(),
        id: Some("c1".into()),
        data: json!({"name": "Ada"}),
    };
    let counter = EntityOp::Create {
        entity_type: "counter".into(),
        id: Some("k1".into()),
        data: json!({"n": 0}),
    };
    bulk(store, vec![customer, counter], Vec::new()).await;
    for chunk in 0..N / 1000 {
        let range = chunk * 1000..(chunk + 1) * 1000;
        let ops = range
            .clone()
            .map(|i| EntityOp::Create {
                entity_type: "shipment".into(),
                id: Some(format!("s{i:05}")),
                data: json!({"customer_id": "c1", "n": i}),
            })
            .collect();
        let metadata = range
            .map(|i| json!({"source": {"system": "wms", "record_id": format!("w{i}"), "import_id": format!("imp-{chunk}")}}))
            .collect();
        bulk(store, ops, metadata).await;
        let updates = (chunk * 1000..(chunk + 1) * 1000)
            .map(|i| EntityOp::Update {
                entity_type: "counter".into(),
                id: "k1".into(),
                patch: json!({"n": i + 1}),
                expected_version: None,
            })
            .collect();
        bulk(store, updates, Vec::new()).await;
    }
    println!(
        "setup: {N} shipments referencing customer c1 and {N} updates of counter k1 in {:.1} s",
        t.elapsed().as_secs_f64()
    );
}

/// Runs `f` once to warm up, then RUNS times; prints the median and the slowest.
async fn time<F, Fut, T>(what: &str, f: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = T>,
    T: std::fmt::Display,
{
    let shown = f().await;
    let mut runs: Vec<Duration> = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        std::hint::black_box(f().await);
        runs.push(t.elapsed());
    }
    runs.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| {what} | {shown} | {:.1} ms | {:.1} ms |",
        ms(runs[RUNS / 2]),
        ms(runs[RUNS - 1])
    );
}

async fn run(store: Arc<dyn Store>, schema: Arc<Schema>) {
    seed(store.as_ref()).await;
    let s: &dyn Store = store.as_ref();
    let c1 = EntityRef::new("customer", "c1");
    let k1 = EntityRef::new("counter", "k1");
    let s0 = EntityRef::new("shipment", "s00000");
    let opts = |direction, depth| Options {
        direction,
        depth,
        ..Options::default()
    };
    let graph = |r: EntityRef, o: Options| {
        let (schema, r) = (schema.clone(), r);
        async move {
            let g = chronicle_lineage::lineage(s, &schema, &r, &o)
                .await
                .unwrap();
            format!("{} nodes, {} edges", g.nodes.len(), g.edges.len())
        }
    };
    println!("| query | answer | median | slowest |");
    println!("|---|---|---|---|");
    time(
        "reference: planner's referrer scan of c1 (`facts::referrers`)",
        || async {
            let n = chronicle_engine::facts::referrers(s, &schema, &c1)
                .await
                .unwrap()
                .len();
            format!("{n} referrers")
        },
    )
    .await;
    time("lineage customer/c1, downstream, depth 1", || {
        graph(c1.clone(), opts(Direction::Downstream, 1))
    })
    .await;
    time("lineage customer/c1, both, depth 2", || {
        graph(c1.clone(), opts(Direction::Both, 2))
    })
    .await;
    time("lineage shipment/s00000, both, depth 2", || {
        graph(s0.clone(), opts(Direction::Both, 2))
    })
    .await;
    time(
        "lineage counter/k1 (10,000 own entries), both, depth 2",
        || graph(k1.clone(), opts(Direction::Both, 2)),
    )
    .await;
    time("provenance counter/k1 /n (10,000 links)", || async {
        let p = chronicle_lineage::provenance(s, &k1, "/n", None)
            .await
            .unwrap();
        format!("{} links", p.chain.len())
    })
    .await;
    let writer = chronicle_store::Writer::new(store.clone(), Default::default(), Arc::new(()));
    let engine = Engine::new(writer, schema.clone(), ApprovalPolicy::default());
    time("impact customer/c1 (cascade preview)", || async {
        let i = chronicle_lineage::impact(&engine, &c1, None).await.unwrap();
        format!("{} touched", i.touched.len())
    })
    .await;
}

#[tokio::main]
async fn main() {
    let schema = Arc::new(Schema::parse(SCHEMA).unwrap());
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("sqlite") => {
            let dir = tempfile::tempdir().unwrap();
            let config =
                chronicle_sqlite::SqliteConfig::new(dir.path().join("l.db"), schema.clone());
            let store = chronicle_sqlite::SqliteStore::open(config).await.unwrap();
            println!("backend: SQLite (embedded)");
            run(Arc::new(store), schema).await;
        }
        Some("postgres") => {
            let url = args
                .get(1)
                .cloned()
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let name = format!("lineage_bench_{}", std::process::id());
            let mut config = chronicle_postgres::PgConfig::new(url.clone(), schema.clone());
            config.search_path = Some(name.clone());
            let store = chronicle_postgres::PgStore::connect(config).await.unwrap();
            println!("backend: PostgreSQL (schema {name}, dropped at the end)");
            run(Arc::new(store), schema).await;
            use sqlx::{ConnectOptions, Executor};
            let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
            let mut conn = options.connect().await.unwrap();
            conn.execute(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA \"{name}\" CASCADE"
            )))
            .await
            .unwrap();
        }
        Some(other) => panic!("unknown backend {other}: sqlite, or postgres [URL]"),
    }
}
