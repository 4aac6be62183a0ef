//! Requests larger than one insert statement's chunk: their rows leave while they are still
//! being computed, inside a savepoint, and a late failure must still undo all of them, also
//! when other requests share the group.

mod common;

use chronicle_core::schema::Schema;
use chronicle_core::write::{EntityOp, OpError};
use chronicle_core::{Actor, RequestContext};
use chronicle_store::verify::verify;
use chronicle_store::{Store, WriteKind, WriteRequest, WriteResponse};
use serde_json::json;
use std::sync::Arc;

fn ctx() -> RequestContext {
    RequestContext {
        actor: Actor {
            via: None,
            id: Some("loader".into()),
            ..Actor::default()
        },
        ..RequestContext::default()
    }
}

fn create(id: String) -> EntityOp {
    EntityOp::Create {
        entity_type: "item".into(),
        id: Some(id),
        data: json!({"v": 1}),
    }
}

/// `n` creates named `<prefix>-<i>`, and when `fail_last`, an update of a missing entity at
/// the end.
fn ops(prefix: &str, n: usize, fail_last: bool) -> Vec<EntityOp> {
    let mut ops: Vec<EntityOp> = (0..n).map(|i| create(format!("{prefix}-{i}"))).collect();
    if fail_last {
        ops.push(EntityOp::Update {
            entity_type: "item".into(),
            id: "missing".into(),
            patch: json!({"v": 2}),
            expected_version: None,
        });
    }
    ops
}

async fn batch(store: &dyn Store, kind: WriteKind) -> (bool, Vec<Result<(), OpError>>) {
    let req = WriteRequest {
        context: ctx(),
        kind,
    };
    match store.write(req).await.unwrap() {
        WriteResponse::Batch {
            committed, results, ..
        } => (
            committed,
            results.into_iter().map(|r| r.map(|_| ())).collect(),
        ),
        other => panic!("unexpected {other:?}"),
    }
}

async fn count(store: &dyn Store, prefix: &str, n: usize) -> usize {
    let mut found = 0;
    for i in 0..n {
        if store
            .entity("item", &format!("{prefix}-{i}"))
            .await
            .unwrap()
            .is_some()
        {
            found += 1;
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_atomic_batch_failing_at_its_end_writes_nothing() {
    let Some((store, _)) = common::fresh_store("large", Schema::default()).await else {
        return;
    };
    let s = &store;
    let (committed, _) = batch(
        s,
        WriteKind::Bulk {
            ops: ops("ok", 10, false),
            atomic: true,
        },
    )
    .await;
    assert!(committed);
    let head = s.head().await.unwrap();
    let (committed, results) = batch(
        s,
        WriteKind::Bulk {
            ops: ops("bad", 700, true),
            atomic: true,
        },
    )
    .await;
    assert!(!committed);
    assert!(matches!(
        results.last(),
        Some(Err(OpError::NotFound { .. }))
    ));
    assert_eq!(s.head().await.unwrap(), head);
    assert_eq!(count(s, "bad", 700).await, 0);
    let (committed, _) = batch(
        s,
        WriteKind::Transaction {
            ops: ops("tx", 600, true),
        },
    )
    .await;
    assert!(!committed);
    assert_eq!(s.head().await.unwrap(), head);

    let (committed, _) = batch(
        s,
        WriteKind::Bulk {
            ops: ops("big", 700, false),
            atomic: true,
        },
    )
    .await;
    assert!(committed);
    assert_eq!(count(s, "big", 700).await, 700);
    let report = verify(s, |_, _| {}).await.unwrap();
    assert!(report.ok(), "{:?}", report.failure);
    assert_eq!(report.tree_size, 11 + 701);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_and_small_requests_sharing_groups_keep_exactly_what_succeeded() {
    let Some((store, _)) = common::fresh_store("large", Schema::default()).await else {
        return;
    };
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for round in 0..3 {
        for k in 0..20 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let id = format!("single{round}-{k}");
                let req = WriteRequest {
                    context: ctx(),
                    kind: WriteKind::Single(create(id)),
                };
                assert!(matches!(
                    store.write(req).await.unwrap(),
                    WriteResponse::Single(Ok(_))
                ));
            }));
        }
        for (name, fail, atomic) in [
            ("fail", true, true),
            ("pass", false, true),
            ("loose", true, false),
        ] {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let prefix = format!("{name}{round}");
                let kind = WriteKind::Bulk {
                    ops: ops(&prefix, 300, fail),
                    atomic,
                };
                let (committed, _) = batch(store.as_ref(), kind).await;
                assert_eq!(committed, !(fail && atomic), "{prefix}");
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    for round in 0..3 {
        assert_eq!(count(store.as_ref(), &format!("fail{round}"), 300).await, 0);
        assert_eq!(
            count(store.as_ref(), &format!("pass{round}"), 300).await,
            300
        );
        assert_eq!(
            count(store.as_ref(), &format!("loose{round}"), 300).await,
            300
        );
        assert_eq!(
            count(store.as_ref(), &format!("single{round}"), 20).await,
            20
        );
    }
    let report = verify(store.as_ref(), |_, _| {}).await.unwrap();
    assert!(report.ok(), "{:?}", report.failure);
    // Per round: 20 singles, two bulks of 300 children and a parent each.
    assert_eq!(report.tree_size, 3 * (20 + 2 * 301));
    assert_eq!(store.stats().await.unwrap().entities, 3 * (20 + 600));
}
