//! Rollback benchmark on the embedded default: one bulk operation of N updates, rolled back;
//! and N entities restored to a time. Plan and execution are timed separately.
//!
//! `cargo run --release -p chronicle-engine --example rollback_bench -- [N]` (default 100000).

use chronicle_core::RequestContext;
use chronicle_core::rollback::Strategy;
use chronicle_core::schema::Schema;
use chronicle_core::write::EntityOp;
use chronicle_engine::record::Mode;
use chronicle_engine::{ApprovalPolicy, Engine, RollbackRequest, Status, Target};
use chronicle_sqlite::{SqliteConfig, SqliteStore};
use chronicle_store::{Store, WriteKind, WriteRequest, WriteResponse};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

async fn bulk(store: &dyn Store, ops: Vec<EntityOp>) -> uuid::Uuid {
    match store
        .write(WriteRequest {
            context: RequestContext::default(),
            kind: WriteKind::Bulk { ops, atomic: true },
        })
        .await
        .unwrap()
    {
        WriteResponse::Batch {
            id,
            committed: true,
            ..
        } => id,
        other => panic!("bulk failed: {other:?}"),
    }
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::default());
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(SqliteConfig::new(dir.path().join("b.db"), schema.clone()))
            .await
            .unwrap(),
    );
    let t = Instant::now();
    for chunk in 0..n.div_ceil(1000) {
        let ops = (chunk * 1000..((chunk + 1) * 1000).min(n))
            .map(|i| EntityOp::Create {
                entity_type: "shipment".into(),
                id: Some(format!("s{i:07}")),
                data: json!({"status": "new", "n": i}),
            })
            .collect();
        bulk(store.as_ref(), ops).await;
    }
    println!("setup: {n} creates in {:.1} s", t.elapsed().as_secs_f64());
    let as_of = chronicle_core::timefmt::now();
    let t = Instant::now();
    let edits = (0..n)
        .map(|i| EntityOp::Update {
            entity_type: "shipment".into(),
            id: format!("s{i:07}"),
            patch: json!({"status": "lost"}),
            expected_version: None,
        })
        .collect();
    let bulk_id = bulk(store.as_ref(), edits).await;
    println!(
        "setup: one bulk of {n} updates in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let engine = Engine::new(
        chronicle_store::Writer::new(store.clone(), Default::default(), Arc::new(())),
        schema.clone(),
        ApprovalPolicy::default(),
    );
    let req = |target| RollbackRequest {
        target,
        strategy: Strategy::Strict,
        reason: None,
        mode: Mode::Staged,
        stage_size: Some(5000),
    };
    let t = Instant::now();
    let preview = engine
        .preview(&req(Target::Bulk { bulk_id }))
        .await
        .unwrap();
    let plan_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let r = engine
        .request(req(Target::Bulk { bulk_id }), &RequestContext::default())
        .await
        .unwrap();
    let done = engine.wait(r.id).await.unwrap();
    let total_s = t.elapsed().as_secs_f64();
    assert_eq!(done.status, Status::Completed);
    assert!(done.verification.as_ref().unwrap().passed);
    println!(
        "bulk rollback of {n}: plan {plan_s:.1} s ({} ops); request (plan again + execute + verify) {total_s:.1} s",
        preview.plan.operations.len()
    );

    let edits = (0..n)
        .map(|i| EntityOp::Update {
            entity_type: "shipment".into(),
            id: format!("s{i:07}"),
            patch: json!({"status": "damaged"}),
            expected_version: None,
        })
        .collect();
    bulk(store.as_ref(), edits).await;
    let t = Instant::now();
    let scope = Target::ScopeTime {
        entity_types: Some(vec!["shipment".into()]),
        entities: None,
        as_of,
    };
    let preview = engine.preview(&req(scope.clone())).await.unwrap();
    let plan_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let r = engine
        .request(req(scope), &RequestContext::default())
        .await
        .unwrap();
    let done = engine.wait(r.id).await.unwrap();
    assert_eq!(done.status, Status::Completed);
    println!(
        "restore {n} entities to a time: plan {plan_s:.1} s ({} ops); request (plan again + execute + verify) {:.1} s",
        preview.plan.operations.len(),
        t.elapsed().as_secs_f64()
    );
}
