//! The conformance suite: the behaviour every backend must have, written once. A backend's
//! tests run it with
//! ```ignore
//! async fn make_store(schema: Schema) -> Option<Arc<dyn Store>> { ... } // None: skip
//! chronicle_store::conformance_suite!(make_store);
//! ```
//! which expands to one `#[tokio::test]` per case below, each on a fresh, empty store.

use crate::Store;
use crate::model::*;
use crate::verify::verify;
use chronicle_core::entry::{Operation, RequestContext, Severity};
use chronicle_core::schema::Schema;
use chronicle_core::write::{EntityOp, EventInput, OpError};
use chronicle_core::{Actor, timefmt};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;

/// Expands to one test per suite case. `$make` is an `async fn(Schema) -> Option<Arc<dyn Store>>`.
#[macro_export]
macro_rules! conformance_suite {
    ($make:path) => {
        $crate::conformance_suite!(@cases $make;
            crud_round_trip_keeps_versions_and_entries,
            every_change_commits_with_its_entry,
            a_write_that_changes_nothing_writes_no_entry,
            refused_writes_change_nothing,
            atomic_bulk_with_a_failing_operation_writes_nothing,
            non_atomic_bulk_keeps_the_operations_that_succeed,
            transactions_are_all_or_nothing_and_link_their_entries,
            events_are_recorded_with_their_context,
            seq_is_dense_and_the_ledger_verifies,
            search_filters_each_match_exactly,
            search_pages_cover_everything_once_in_both_orders,
            summary_groups_and_counts,
            list_entities_pages_live_entities_by_id,
            concurrent_writers_never_lose_an_update,
            concurrent_distinct_writes_keep_one_dense_ledger,
            schema_validation_refuses_bad_data,
            rows_and_nodes_expose_what_verifiers_need,
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::suite::$case($make).await;
            }
        )*
    };
}

async fn fresh<F, Fut>(make: F, schema: Schema) -> Option<Arc<dyn Store>>
where
    F: Fn(Schema) -> Fut,
    Fut: Future<Output = Option<Arc<dyn Store>>>,
{
    let store = make(schema).await;
    if store.is_none() {
        println!("SKIPPED: backend unavailable");
    }
    store
}

macro_rules! store_or_skip {
    ($make:expr) => {
        store_or_skip!($make, Schema::default())
    };
    ($make:expr, $schema:expr) => {
        match fresh($make, $schema).await {
            Some(s) => s,
            None => return,
        }
    };
}

fn ctx(actor: &str) -> RequestContext {
    RequestContext {
        actor: Actor {
            via: None,
            id: Some(actor.into()),
            email: Some(format!("{actor}@example.com")),
            role: Some("admin".into()),
        },
        session_id: Some("sess-1".into()),
        ip: Some("10.0.0.1".into()),
        user_agent: Some("suite".into()),
        reason: Some(format!("because {actor} said so")),
        correlation_id: Some(format!("corr-{actor}")),
        ..RequestContext::default()
    }
}

fn create(ty: &str, id: &str, data: Value) -> EntityOp {
    EntityOp::Create {
        entity_type: ty.into(),
        id: Some(id.into()),
        data,
    }
}

fn update(ty: &str, id: &str, patch: Value, expected: Option<u64>) -> EntityOp {
    EntityOp::Update {
        entity_type: ty.into(),
        id: id.into(),
        patch,
        expected_version: expected,
    }
}

fn delete(ty: &str, id: &str) -> EntityOp {
    EntityOp::Delete {
        entity_type: ty.into(),
        id: id.into(),
        expected_version: None,
    }
}

async fn single(store: &dyn Store, actor: &str, op: EntityOp) -> Result<OpOutcome, OpError> {
    match store
        .write(WriteRequest {
            context: ctx(actor),
            kind: WriteKind::Single(op),
        })
        .await
        .expect("store works")
    {
        WriteResponse::Single(r) => r,
        other => panic!("unexpected response {other:?}"),
    }
}

async fn batch(
    store: &dyn Store,
    kind: WriteKind,
) -> (uuid::Uuid, Vec<Result<OpOutcome, OpError>>, bool) {
    match store
        .write(WriteRequest {
            context: ctx("bulk"),
            kind,
        })
        .await
        .expect("store works")
    {
        WriteResponse::Batch {
            id,
            results,
            committed,
            ..
        } => (id, results, committed),
        other => panic!("unexpected response {other:?}"),
    }
}

fn all() -> EntryQuery {
    EntryQuery {
        limit: 10_000,
        ..EntryQuery::default()
    }
}

async fn assert_verifies(store: &dyn Store) -> u64 {
    let report = verify(store, |_, _| {}).await.expect("verify runs");
    assert!(report.ok(), "verify failed: {:?}", report.failure);
    report.tree_size
}

pub async fn crud_round_trip_keeps_versions_and_entries<F, Fut>(make: F)
where
    F: Fn(Schema) -> Fut,
    Fut: Future<Output = Option<Arc<dyn Store>>>,
{
    let store = store_or_skip!(make);
    let s = store.as_ref();
    let created = single(
        s,
        "ann",
        create(
            "shipment",
            "s1",
            json!({"status": "pending", "address": {"city": "Oslo"}}),
        ),
    )
    .await
    .unwrap();
    assert!(created.created);
    assert_eq!(created.entity.version, 1);
    let entry = created.entry.unwrap();
    assert_eq!((entry.seq, entry.operation), (1, Operation::Create));
    assert_eq!(entry.actor.id.as_deref(), Some("ann"));
    assert_eq!(entry.reason.as_deref(), Some("because ann said so"));
    assert_eq!(entry.ip.as_deref(), Some("10.0.0.1"));
    assert_eq!(entry.session_id.as_deref(), Some("sess-1"));
    assert_eq!(entry.correlation_id.as_deref(), Some("corr-ann"));

    let updated = single(
        s,
        "bob",
        update(
            "shipment",
            "s1",
            json!({"address": {"city": "Bergen"}}),
            Some(1),
        ),
    )
    .await
    .unwrap();
    assert_eq!(updated.entity.version, 2);
    assert_eq!(
        updated.entity.data,
        json!({"status": "pending", "address": {"city": "Bergen"}})
    );
    let e2 = updated.entry.unwrap();
    assert_eq!(e2.change_set.field_changes.len(), 1);
    assert_eq!(e2.change_set.field_changes[0].path, "/address/city");
    assert_eq!(e2.change_set.field_changes[0].old, Some(json!("Oslo")));

    let read = s.entity("shipment", "s1").await.unwrap().unwrap();
    assert_eq!(read, updated.entity);

    let deleted = single(s, "bob", delete("shipment", "s1")).await.unwrap();
    assert!(deleted.entity.deleted);
    let stored = s.entity("shipment", "s1").await.unwrap().unwrap();
    assert!(stored.deleted);
    assert_eq!(stored.version, 3);
    assert_eq!(s.entry(e2.id).await.unwrap(), Some(e2));
    assert_eq!(s.entity("shipment", "nope").await.unwrap(), None);
    assert_eq!(s.entry(uuid::Uuid::now_v7()).await.unwrap(), None);
}

pub async fn every_change_commits_with_its_entry<F, Fut>(make: F)
where
    F: Fn(Schema) -> Fut,
    Fut: Future<Output = Option<Arc<dyn Store>>>,
{
    let store = store_or_skip!(make);
    let s = store.as_ref();
    for i in 0..5 {
        single(
            s,
            "ann",
            create("customer", &format!("c{i}"), json!({"n": i})),
        )
        .await
        .unwrap();
    }
    single(s, "ann", update("customer", "c1", json!({"n": 10}), None))
        .await
        .unwrap();
    for i in 0..5 {
        let e = s
            .entity("customer", &format!("c{i}"))
            .await
            .unwrap()
            .unwrap();
        let entry = s
            .search(&EntryQuery {
                entity_id: Some(e.id.clone()),
                order: Order::Desc,
                limit: 1,
                ..all()
            })
            .await
            .unwrap();
        assert_eq!(
            entry[0].seq, e.last_seq,
            "entity {} points at its latest entry",
            e.id
        );
        assert_eq!(entry[0].entity_version, Some(e.version));
    }
    let stats = s.stats().await.unwrap();
    assert_eq!((stats.entries, stats.entities), (6, 5));
    assert!(stats.bytes > 0);
}

pub async fn a_write_that_changes_nothing_writes_no_entry<F, Fut>(make: F)
where
    F: Fn(Schema) -> Fut,
    Fut: Future<Output = Option<Arc<dyn Store>>>,
{
    let store = store_or_skip!(make);
    let s = store.as_ref();
    single(s, "ann", create("shipment", "s1", json!({"a": 1})))
        .await
        .unwrap();
    let same = single(s, "ann", update("shipment", "s1", json!({"a": 1}), None))
        .await
        .unwrap();
    assert!(same.entry.is_none());
    assert_eq!(same.entity.version, 1);
    let replace = EntityOp::Replace {
        entity_type: "shipment".into(),
        id: "s1".into(),
        data: json!({"a": 1}),
        expected_version: None,
    };
    assert!(single(s, "ann", replace).await.unwrap().entry.is_none());
    assert_eq!(s.head().await.unwrap().tree_size, 1);
}

pub async fn refused_writes_change_nothing<F, Fut>(make: F)
where
    F: Fn(Schema) -> Fut,
    Fut: Future<Output = Option<Arc<dyn Store>>>,
{
    let store = store_or_skip!(make);
    let s = store.as_ref();
    single(s, "ann", create("shipment", "s1", json!({"a": 1})))
        .await
        .unwrap();
    let head = s.head().await.unwrap();
    assert_eq!(
        single(s, "ann", update("shipment", "s1", json!({"a": 2}), Some(7))).await,
        Err(OpError::VersionConflict {
            expected: 7,
            actual: 1
        })
    );
    assert!(matches!(
        single(s, "ann", create("shipment", "s1", json!({}))).await,
        Err(OpError::AlreadyExists { .. })
    ));
    assert!(matches!(
        single(s, "ann", update("shipment", "zz", json!({}), None)).await,
        Err(OpError::NotFound { .. })
    ));
    assert!(matches!(
        single(s, "ann", create("Bad Type", "x", json!({}))).await,
        Err(OpError::Invalid(_))
    ));
    assert!(matches!(
        single(s, "ann", create("shipment", &"x".repeat(300), json!({}))).await,
        Err(OpError::Invalid(_))
    ));
    assert_eq!(s.head().await.unwrap(), head);
    assert_eq!(
        s.entity("shipment", "s1").await.unwrap().unwrap().data,
        json!({"a": 1})
    );
}

pub async fn atomic_bulk_with_a_failing_operation_writes_nothing<F, Fut>(make: F)
where
    F: Fn(Schema) -> Fut,
    Fut: Future<Output = Option<Arc<dyn Store>>>,
{
    let store = store_or_skip!(make);
    let s = store.as_ref();
    single(s, "ann", create("shipment", "s0", json!({"a": 0})))
        .await
        .unwrap();
    let head = s.head().await.unwrap();
    let ops = vec![
        create("shipment", "s1", json!({"a": 1})),
        update("shipment", "s0", json!({"a": 5}), None),
        update("shipment", "missing", json!({"a": 2}), None),
        create("shipment", "s3", json!({"a": 3})),
    ];
    let (_, results, committed) = batch(s, WriteKind::Bulk { ops, atomic: true }).await;
    assert!(!committed);
    assert!(matches!(results[2], Err(OpError::NotFound { .. })));
    assert_eq!(s.head().await.unwrap(), head);
    assert_eq!(s.entity("shipment", "s1").await.unwrap(), None);
    assert_eq!(
        s.entity("shipment", "s0").await.unwrap().unwrap().data,
        json!({"a": 0})
    );
    assert_verifies(s).await;
}

pub async fn non_atomic_bulk_keeps_the_operations_that_succeed<F, Fut>(make: F)
where
    F: Fn(Schema) -> Fut,
    Fut: Future<Output = Option<Arc<dyn Store>>>,
{
    let store = store_or_skip!(make);
    let s = store.as_ref();
    let ops = vec![
        create("shipment", "s1", json!({"a": 1})),
        update("shipment", "missing", json!({"a": 2}), None),
        create("shipment", "s2", json!({"a": 2})),
    ];
    let (bulk_id, results, committed) = batch(s, WriteKind::Bulk { ops, atomic: false }).await;
    assert!(committed);
    assert!(results[0].is_ok() && results[1].is_err() && results[2].is_ok());
    let children = s
        .search(&EntryQuery {
            parent_id: Some(bulk_id),
            ..all()
        })
        .await
        .unwrap();
    // Two children and the bulk parent itself, which carries its own id as parent.
    let parent = s
        .entry(bulk_id)
        .await
        .unwrap()
        .expect("the bulk entry exists");
    assert_eq!(parent.operation, Operation::Bulk);
    assert_eq!(parent.metadata["failed"], json!(1));
    assert_eq!(
        children
            .iter()
            .filter(|e| e.operation == Operation::Create)
            .count(),
        2
    );
    assert_eq!(s.head().await.unwrap().tree_size, 3);
    assert_verifies(s).await;
}

pub async fn transactions_are_all_or_nothing_and_link_their_entries<F, Fut>(make: F)
where
    F: Fn(Schema) -> Fut,
    Fut: Future<Output = Option<Arc<dyn Store>>>,
{
    let store = store_or_skip!(make);
    let s = store.as_ref();
    let ops = vec![
        create("customer", "c1", json!({"name": "Ada"})),
        create("shipment", "s1", json!({"customer_id": "c1"})),
        update("shipment", "s1", json!({"status": "packed"}), Some(1)),
    ];
    let (tx, results, committed) = batch(s, WriteKind::Transaction { ops }).await;
    assert!(committed && results.iter().all(|r| r.is_ok()));
    let linked = s
        .search(&EntryQuery {
            transaction_id: Some(tx),
            ..all()
        })
        .await
        .unwrap();
    assert_eq!(linked.len(), 4, "three changes and the transaction entry");
    assert_eq!(linked.last().unwrap().operation, Operation::Transaction);
    assert_eq!(linked.last().unwrap().id, tx);
    assert_eq!(
        s.entity("shipment", "s1").await.unwrap().unwrap().version,
        2
    );

    let head = s.head().await.unwrap();
    let failing = vec![
        create("customer", "c2", json!({})),
        create("customer", "c1", json!({})),
    ];
    let (_, results, committed) = batch(s, WriteKind::Transaction { ops: failing }).await;
    assert!(!committed);
    assert!(matches!(results[1], Err(OpError::AlreadyExists { .. })));
    assert_eq!(s.entity("customer", "c2").await.unwrap(), None);
    assert_eq!(s.head().await.unwrap(), head);
}

pub async fn events_are_recorded_with_their_context<F, Fut>(make: F)
where
    F: Fn(Schema) -> Fut,
    Fut: Future<Output = Option<Arc<dyn Store>>>,
{
    let store = store_or_skip!(make);
    let s = store.as_ref();
    let event = EventInput {
        operation: Some(Operation::Config),
        entity_type: Some("setting".into()),
        entity_id: Some("currency".into()),
        summary: Some("currency changed".into()),
        old_values: Some(json!({"currency": "NOK"})),
        new_values: Some(json!({"currency": "EUR"})),
        tags: Some(vec!["finance".into()]),
        ..EventInput::default()
    };
    let WriteResponse::Event(entry) = s
        .write(WriteRequest {
            context: ctx("ops"),
            kind: WriteKind::Event(event),
        })
        .await
        .unwrap()
    else {
        panic!("event response expected")
    };
    assert_eq!(entry.operation, Operation::Config);
    assert_eq!(entry.change_set.field_changes[0].path, "/currency");
    assert_eq!(s.entry(entry.id).await.unwrap(), Some(entry.clone()));
    let found = s
        .search(&EntryQuery {
            tag: Some("finance".into()),
            ..all()
        })
        .await
        .unwrap();
    assert_eq!(found, vec![entry]);
    // An event changes no entity.
    assert_eq!(s.entity("setting", "currency").await.unwrap(), None);
}

pub async fn seq_is_dense_and_the_ledger_verifies<F, Fut>(make: F)
where
    F: Fn(Schema) -> Fut,
    Fut: Future<Output = Option<Arc<dyn Store>>>,
{
    let store = store_or_skip!(make);
    let s = store.as_ref();
    assert_eq!(s.head().await.unwrap().tree_size, 0);
    assert_eq!(
        s.head().await.unwrap().root,
        chronicle_core::merkle::empty_root()
    );
    assert_verifies(s).await;
    let mut leaves = Vec::new();
    for i in 0..37 {
        let out = single(s, "ann", create("item", &format!("i{i}"), json!({"i": i})))
            .await
            .unwrap();
        let e = out.entry.unwrap();
        assert_eq!(e.seq, i + 1);
        leaves.push(<[u8; 32]>::try_from(hex_decode(&e.leaf_hash)).unwrap());
    }
    let head = s.head().await.unwrap();
    assert_eq!(head.tree_size, 37);
    assert_eq!(head.root, chronicle_core::merkle::root_from_leaves(&leaves));
    assert_eq!(assert_verifies(s).await, 37);
}

fn hex_decode(s: &str) -> Vec<u8> {
    hex::decode(s).expect("leaf hash is hex")
}

pub async fn search_filters_each_match_exactly<F, Fut>(make: F)
where
    F: Fn(Schema) -> Fut,
    Fut: Future<Output = Option<Arc<dyn Store>>>,
{
    let store = store_or_skip!(make);
    let s = store.as_ref();
    single(
        s,
        "ann",
        create(
            "shipment",
            "s1",
            json!({"status": "new", "address": {"city": "Oslo"}}),
        ),
    )
    .await
    .unwrap();
    let mid = timefmt::now();
    single(
        s,
        "bob",
        update("shipment", "s1", json!({"address": {"city": "Rome"}}), None),
    )
    .await
    .unwrap();
    single(s, "bob", create("customer", "c1", json!({"name": "Ada"})))
        .await
        .unwrap();
    single(s, "ann", delete("shipment", "s1")).await.unwrap();
    let (bulk_id, _, _) = batch(
        s,
        WriteKind::Bulk {
            ops: vec![create("customer", "c2", json!({}))],
            atomic: true,
        },
    )
    .await;
    let event = EventInput {
        operation: Some(Operation::Security),
        summary: Some("Too many logins".into()),
        tags: Some(vec!["auth".into()]),
        ..EventInput::default()
    };
    s.write(WriteRequest {
        context: ctx("sec"),
        kind: WriteKind::Event(event),
    })
    .await
    .unwrap();

    let seqs = |q: EntryQuery| async move {
        s.search(&q)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        seqs(EntryQuery {
            actor: Some("bob".into()),
            ..all()
        })
        .await,
        [2, 3]
    );
    assert_eq!(
        seqs(EntryQuery {
            actor: Some("ann@example.com".into()),
            ..all()
        })
        .await,
        [1, 4]
    );
    assert_eq!(
        seqs(EntryQuery {
            entity_type: Some("customer".into()),
            ..all()
        })
        .await,
        [3, 5]
    );
    assert_eq!(
        seqs(EntryQuery {
            entity_type: Some("shipment".into()),
            entity_id: Some("s1".into()),
            ..all()
        })
        .await,
        [1, 2, 4]
    );
    assert_eq!(
        seqs(EntryQuery {
            operation: Some(Operation::Delete),
            ..all()
        })
        .await,
        [4]
    );
    assert_eq!(
        seqs(EntryQuery {
            parent_id: Some(bulk_id),
            ..all()
        })
        .await,
        [5, 6]
    );
    assert_eq!(
        seqs(EntryQuery {
            field: Some("/address".into()),
            ..all()
        })
        .await,
        [1, 2, 4]
    );
    assert_eq!(
        seqs(EntryQuery {
            field: Some("/address/city".into()),
            ..all()
        })
        .await,
        [1, 2, 4]
    );
    assert_eq!(
        seqs(EntryQuery {
            field: Some("/addr".into()),
            ..all()
        })
        .await,
        Vec::<u64>::new()
    );
    assert_eq!(
        seqs(EntryQuery {
            severity: Some(Severity::Warning),
            ..all()
        })
        .await,
        [4, 7]
    );
    assert_eq!(
        seqs(EntryQuery {
            tag: Some("auth".into()),
            ..all()
        })
        .await,
        [7]
    );
    assert_eq!(
        seqs(EntryQuery {
            q: Some("too MANY".into()),
            ..all()
        })
        .await,
        [7]
    );
    assert_eq!(
        seqs(EntryQuery {
            q: Some("BOB said".into()),
            ..all()
        })
        .await,
        [2, 3]
    );
    assert_eq!(
        seqs(EntryQuery {
            correlation_id: Some("corr-bob".into()),
            ..all()
        })
        .await,
        [2, 3]
    );
    assert_eq!(
        seqs(EntryQuery {
            max_seq: Some(2),
            ..all()
        })
        .await,
        [1, 2]
    );
    assert_eq!(
        seqs(EntryQuery {
            q: Some("100%_".into()),
            ..all()
        })
        .await,
        Vec::<u64>::new()
    );
    let after_mid = seqs(EntryQuery {
        from: Some(mid),
        ..all()
    })
    .await;
    assert!(
        !after_mid.contains(&1) && after_mid.contains(&7),
        "{after_mid:?}"
    );
    let before_mid = seqs(EntryQuery {
        to: Some(mid),
        ..all()
    })
    .await;
    assert!(
        before_mid.contains(&1) && !before_mid.contains(&2),
        "{before_mid:?}"
    );
    assert_eq!(
        seqs(EntryQuery {
            actor: Some("nobody".into()),
            ..all()
        })
        .await,
        Vec::<u64>::new()
    );
}

pub async fn search_pages_cover_everything_once_in_both_orders<F, Fut>(make: F)
where
    F: Fn(Schema) -> Fut,
    Fut: Future<Output = Option<Arc<dyn Store>>>,
{
    let store = store_or_skip!(make);
    let s = store.as_ref();
    for i in 0..23 {
        single(s, "ann", create("item", &format!("i{i:02}"), json!({})))
            .await
            .unwrap();
    }
    for order in [Order::Asc, Order::Desc] {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = s
                .search(&EntryQuery {
                    order,
                    cursor,
                    limit: 5,
                    ..EntryQuery::default()
                })
                .await
                .unwrap();
            if page.is_empty() {
                break;
            }
            cursor = Some(page.last().unwrap().seq);
            seen.extend(page.into_iter().map(|e| e.seq));
        }
        let mut want: Vec<u64> = (1..=23).collect();
        if order == Order::Desc {
            want.reverse();
        }
        assert_eq!(seen, want);
    }
}

pub async fn summary_groups_and_counts<F, Fut>(make: F)
where
    F: Fn(Schema) -> Fut,
    Fut: Future<Output = Option<Arc<dyn Store>>>,
{
    let store = store_or_skip!(make);
    let s = store.as_ref();
    for i in 0..3 {
        single(s, "ann", create("shipment", &format!("s{i}"), json!({})))
            .await
            .unwrap();
    }
    single(s, "bob", create("customer", "c1", json!({})))
        .await
        .unwrap();
    single(s, "bob", delete("shipment", "s0")).await.unwrap();
    let by = |g| async move { s.summary(&all(), g).await.unwrap() };
    let g = |k: &str, c| Group {
        key: k.into(),
        count: c,
    };
    assert_eq!(by(GroupBy::Actor).await, vec![g("ann", 3), g("bob", 2)]);
    assert_eq!(
        by(GroupBy::Operation).await,
        vec![g("create", 4), g("delete", 1)]
    );
    assert_eq!(
        by(GroupBy::EntityType).await,
        vec![g("shipment", 4), g("customer", 1)]
    );
    let days = by(GroupBy::Day).await;
    assert_eq!(days.iter().map(|g| g.count).sum::<u64>(), 5);
    assert!(days.iter().all(|g| g.key.len() == 10), "{days:?}");
    let hours = by(GroupBy::Hour).await;
    assert!(
        hours
            .iter()
            .all(|g| g.key.len() == 20 && g.key.ends_with(":00:00Z")),
        "{hours:?}"
    );
    let filtered = s
        .summary(
            &EntryQuery {
                actor: Some("bob".into()),
                ..all()
            },
            GroupBy::Operation,
        )
        .await
        .unwrap();
    assert_eq!(filtered, vec![g("create", 1), g("delete", 1)]);
}

pub async fn list_entities_pages_live_entities_by_id<F, Fut>(make: F)
where
    F: Fn(Schema) -> Fut,
    Fut: Future<Output = Option<Arc<dyn Store>>>,
{
    let store = store_or_skip!(make);
    let s = store.as_ref();
    for id in ["b", "a", "d", "c", "e"] {
        single(s, "ann", create("customer", id, json!({"id": id})))
            .await
            .unwrap();
    }
    single(s, "ann", create("shipment", "x", json!({})))
        .await
        .unwrap();
    single(s, "ann", delete("customer", "c")).await.unwrap();
    let page1 = s.list_entities("customer", None, 2).await.unwrap();
    assert_eq!(
        page1.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let page2 = s.list_entities("customer", Some("b"), 10).await.unwrap();
    assert_eq!(
        page2.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["d", "e"]
    );
}

pub async fn concurrent_writers_never_lose_an_update<F, Fut>(make: F)
where
    F: Fn(Schema) -> Fut,
    Fut: Future<Output = Option<Arc<dyn Store>>>,
{
    let store = store_or_skip!(make);
    single(
        store.as_ref(),
        "ann",
        create("counter", "c", json!({"n": 0})),
    )
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for w in 0..64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let cur = store.entity("counter", "c").await.unwrap().unwrap();
                let n = cur.data["n"].as_i64().unwrap();
                let op = update("counter", "c", json!({"n": n + 1}), Some(cur.version));
                match single(store.as_ref(), &format!("w{w}"), op).await {
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
    let end = store.entity("counter", "c").await.unwrap().unwrap();
    assert_eq!(end.data["n"], json!(64));
    assert_eq!(end.version, 65);
    assert_eq!(assert_verifies(store.as_ref()).await, 65);
}

pub async fn concurrent_distinct_writes_keep_one_dense_ledger<F, Fut>(make: F)
where
    F: Fn(Schema) -> Fut,
    Fut: Future<Output = Option<Arc<dyn Store>>>,
{
    let store = store_or_skip!(make);
    let mut tasks = Vec::new();
    for w in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                single(
                    store.as_ref(),
                    "ann",
                    create("item", &format!("w{w}-{i}"), json!({"w": w, "i": i})),
                )
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let entries = store.search(&all()).await.unwrap();
    assert_eq!(
        entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=160).collect::<Vec<_>>()
    );
    assert!(
        entries.windows(2).all(|w| w[0].timestamp <= w[1].timestamp),
        "time never goes backwards"
    );
    assert_eq!(assert_verifies(store.as_ref()).await, 160);
}

pub async fn schema_validation_refuses_bad_data<F, Fut>(make: F)
where
    F: Fn(Schema) -> Fut,
    Fut: Future<Output = Option<Arc<dyn Store>>>,
{
    let schema = Schema::parse(
        r#"
        strict_types = true
        [types.customer]
        [types.shipment.fields.status]
        type = "string"
        required = true
        enum = ["pending", "delivered"]
        [types.shipment.fields.customer_id]
        type = "string"
        references = "customer"
        "#,
    )
    .unwrap();
    let store = store_or_skip!(make, schema);
    let s = store.as_ref();
    let Err(OpError::Invalid(errors)) = single(
        s,
        "ann",
        create("shipment", "s1", json!({"status": "lost"})),
    )
    .await
    else {
        panic!("expected invalid")
    };
    assert_eq!(errors[0].pointer, "/data/status");
    assert!(matches!(
        single(s, "ann", create("planet", "p", json!({}))).await,
        Err(OpError::Invalid(_))
    ));
    assert_eq!(s.head().await.unwrap().tree_size, 0);
    let ok = single(
        s,
        "ann",
        create(
            "shipment",
            "s1",
            json!({"status": "pending", "customer_id": "c9"}),
        ),
    )
    .await
    .unwrap();
    let rel = &ok.entry.unwrap().change_set.relationship_changes;
    assert_eq!(rel[0].target_type, "customer");
    assert_eq!(rel[0].new_id.as_deref(), Some("c9"));
    assert!(matches!(
        single(
            s,
            "ann",
            update("shipment", "s1", json!({"status": null}), None)
        )
        .await,
        Err(OpError::Invalid(_))
    ));
}

pub async fn rows_and_nodes_expose_what_verifiers_need<F, Fut>(make: F)
where
    F: Fn(Schema) -> Fut,
    Fut: Future<Output = Option<Arc<dyn Store>>>,
{
    let store = store_or_skip!(make);
    let s = store.as_ref();
    for i in 0..9 {
        single(s, "ann", create("item", &format!("i{i}"), json!({"i": i})))
            .await
            .unwrap();
    }
    let rows = s.rows(3, 5).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 4, 5]);
    for row in &rows {
        let leaf = chronicle_core::canonical::leaf_of(&row.canonical);
        assert_eq!(row.leaf_hash, leaf.to_vec());
        let entry = chronicle_core::canonical::from_canonical(&row.canonical, &leaf).unwrap();
        assert_eq!(row.columns, IndexedColumns::of(&entry));
        assert_eq!(s.node(0, row.seq - 1).await.unwrap(), Some(leaf));
    }
    // Level 3, index 0 covers leaves 0..8: a complete subtree the store must keep.
    let leaves: Vec<_> = s
        .rows(1, 8)
        .await
        .unwrap()
        .iter()
        .map(|r| chronicle_core::canonical::leaf_of(&r.canonical))
        .collect();
    assert_eq!(
        s.node(3, 0).await.unwrap(),
        Some(chronicle_core::merkle::root_from_leaves(&leaves))
    );
    assert_eq!(s.node(3, 1).await.unwrap(), None);
    // Many at once: the same answers, in the order asked, missing ones included.
    let wanted = [(3, 0), (0, 8), (3, 1), (1, 2), (0, 0), (0, 99), (2, 1)];
    let mut one_by_one = Vec::new();
    for &(level, index) in &wanted {
        one_by_one.push(s.node(level, index).await.unwrap());
    }
    assert_eq!(s.nodes(&wanted).await.unwrap(), one_by_one);
    assert!(one_by_one[0].is_some() && one_by_one[1].is_some() && one_by_one[2].is_none());
    assert!(one_by_one[5].is_none() && one_by_one[6].is_some());
    assert_eq!(s.nodes(&[]).await.unwrap(), Vec::new());
}
