//! Two nodes (two `PgStore`s, each with its own writer and pool) on one database and schema:
//! concurrent writers on both keep one dense ledger with one tree, and both see everything.

mod common;

use chronicle_core::schema::Schema;
use chronicle_core::write::{EntityOp, OpError};
use chronicle_core::{Actor, RequestContext};
use chronicle_postgres::PgStore;
use chronicle_store::verify::verify;
use chronicle_store::{EntryQuery, Order, Store, WriteKind, WriteRequest, WriteResponse};
use serde_json::json;
use std::sync::Arc;

fn ctx(actor: &str) -> RequestContext {
    RequestContext {
        actor: Actor {
            via: None,
            id: Some(actor.into()),
            email: Some(format!("{actor}@example.com")),
            role: None,
        },
        reason: Some(format!("written by {actor}")),
        ..RequestContext::default()
    }
}

async fn single(store: &dyn Store, actor: &str, op: EntityOp) -> Result<u64, OpError> {
    let req = WriteRequest {
        context: ctx(actor),
        kind: WriteKind::Single(op),
    };
    match store.write(req).await.expect("the store answers") {
        WriteResponse::Single(r) => r.map(|o| o.entity.version),
        other => panic!("unexpected {other:?}"),
    }
}

fn all() -> EntryQuery {
    EntryQuery {
        limit: 100_000,
        ..EntryQuery::default()
    }
}

/// Two stores on one schema; None when PostgreSQL is not reachable.
async fn two_nodes() -> Option<(Arc<PgStore>, Arc<PgStore>)> {
    let config = common::fresh_config("mn", Schema::default()).await?;
    let mut a = config.clone();
    a.application_name = format!("{}_a", config.application_name);
    let mut b = config;
    b.application_name = format!("{}_b", b.application_name);
    let (a, b) = tokio::join!(PgStore::connect(a), PgStore::connect(b));
    Some((Arc::new(a.unwrap()), Arc::new(b.unwrap())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_writers_on_two_nodes_keep_one_dense_verifiable_ledger() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    let mut tasks = Vec::new();
    for w in 0..64usize {
        let node: Arc<dyn Store> = if w % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let actor = format!("w{w}");
            for i in 0..6 {
                let id = format!("w{w}-{i}");
                let create = EntityOp::Create {
                    entity_type: "item".into(),
                    id: Some(id.clone()),
                    data: json!({"w": w, "i": i, "status": "new"}),
                };
                single(node.as_ref(), &actor, create).await.unwrap();
                let update = EntityOp::Update {
                    entity_type: "item".into(),
                    id,
                    patch: json!({"status": "packed"}),
                    expected_version: Some(1),
                };
                assert_eq!(single(node.as_ref(), &actor, update).await, Ok(2));
            }
            // One bulk per writer as well, so groups mix kinds.
            let ops = (0..5)
                .map(|k| EntityOp::Create {
                    entity_type: "part".into(),
                    id: Some(format!("w{w}-p{k}")),
                    data: json!({"k": k}),
                })
                .collect();
            let req = WriteRequest {
                context: ctx(&actor),
                kind: WriteKind::Bulk { ops, atomic: true },
            };
            match node.write(req).await.unwrap() {
                WriteResponse::Batch { committed, .. } => assert!(committed),
                other => panic!("unexpected {other:?}"),
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // 64 writers × (6 creates + 6 updates + 5 bulk children + 1 bulk parent).
    let n = 64 * (12 + 6);
    for node in [&a, &b] {
        let seqs: Vec<u64> = node
            .search(&all())
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, (1..=n).collect::<Vec<u64>>(), "dense seq 1..={n}");
        let report = verify(node.as_ref(), |_, _| {}).await.unwrap();
        assert!(report.ok(), "{:?}", report.failure);
        assert_eq!(report.tree_size, n);
    }
    assert_eq!(a.head().await.unwrap(), b.head().await.unwrap());
    let q = EntryQuery {
        actor: Some("w7@example.com".into()),
        order: Order::Desc,
        ..all()
    };
    let on_a = a.search(&q).await.unwrap();
    assert_eq!(on_a.len(), 18);
    assert_eq!(
        on_a,
        b.search(&q).await.unwrap(),
        "both nodes answer the same"
    );
    let entries = a.search(&all()).await.unwrap();
    assert!(
        entries.windows(2).all(|w| w[0].timestamp <= w[1].timestamp),
        "time never goes backwards across nodes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optimistic_updates_through_two_nodes_never_lose_one() {
    let Some((a, b)) = two_nodes().await else {
        return;
    };
    let create = EntityOp::Create {
        entity_type: "counter".into(),
        id: Some("c".into()),
        data: json!({"n": 0}),
    };
    single(a.as_ref(), "init", create).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..32usize {
        let node: Arc<dyn Store> = if w % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            loop {
                let cur = node.entity("counter", "c").await.unwrap().unwrap();
                let n = cur.data["n"].as_i64().unwrap();
                let op = EntityOp::Update {
                    entity_type: "counter".into(),
                    id: "c".into(),
                    patch: json!({"n": n + 1}),
                    expected_version: Some(cur.version),
                };
                match single(node.as_ref(), &format!("w{w}"), op).await {
                    Ok(_) => break,
                    Err(OpError::VersionConflict { .. }) => continue,
                    Err(e) => panic!("unexpected {e}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let end = b.entity("counter", "c").await.unwrap().unwrap();
    assert_eq!((end.data["n"].as_i64(), end.version), (Some(32), 33));
    assert!(verify(a.as_ref(), |_, _| {}).await.unwrap().ok());
}
