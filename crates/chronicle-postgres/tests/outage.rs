//! PostgreSQL going away mid-write: the store's connections are terminated by the server
//! (`pg_terminate_backend`, what a restart or failover does to them). The write in flight gets
//! a clear `Unavailable` or succeeds entirely, nothing is half-written, and the next write
//! succeeds by itself.

mod common;

use chronicle_core::schema::Schema;
use chronicle_core::write::EntityOp;
use chronicle_core::{Actor, RequestContext};
use chronicle_postgres::{PgConfig, PgStore};
use chronicle_store::verify::verify;
use chronicle_store::{EntryQuery, Store, StoreError, WriteKind, WriteRequest, WriteResponse};
use serde_json::json;
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::sync::Arc;
use std::time::Duration;

fn create(id: &str) -> WriteRequest {
    WriteRequest {
        context: RequestContext {
            actor: Actor {
                via: None,
                id: Some("ops".into()),
                ..Actor::default()
            },
            ..RequestContext::default()
        },
        kind: WriteKind::Single(EntityOp::Create {
            entity_type: "item".into(),
            id: Some(id.into()),
            data: json!({"id": id}),
        }),
    }
}

fn bulk(prefix: &str, n: usize) -> WriteRequest {
    WriteRequest {
        context: RequestContext::default(),
        kind: WriteKind::Bulk {
            ops: (0..n)
                .map(|i| EntityOp::Create {
                    entity_type: "item".into(),
                    id: Some(format!("{prefix}-{i}")),
                    data: json!({"i": i, "pad": "x".repeat(200)}),
                })
                .collect(),
            atomic: true,
        },
    }
}

fn created(r: &WriteResponse) -> bool {
    match r {
        WriteResponse::Single(r) => r.is_ok(),
        WriteResponse::Batch { committed, .. } => *committed,
        WriteResponse::Event(_) => true,
        WriteResponse::Erase(e) => matches!(e, chronicle_store::Erasure::Erased(_)),
    }
}

/// An admin session in the store's schema, outside the store's own connections.
async fn admin(config: &PgConfig) -> PgConnection {
    let mut conn = common::admin()
        .await
        .expect("reachable: the store connected");
    let schema = config.search_path.as_deref().unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!("SET search_path = \"{schema}\"")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

/// Terminates every backend of this test's store (and only those).
async fn terminate(admin: &mut PgConnection, app: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
           AND application_name = $1",
    )
    .bind(app)
    .fetch_one(admin)
    .await
    .unwrap()
}

/// Waits (polling the server's own view, bounded) until one of the store's backends is
/// blocked on a lock, and returns its pid.
async fn blocked_backend(admin: &mut PgConnection, app: &str, not: Option<i32>) -> i32 {
    for _ in 0..500 {
        let pid: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1 \
               AND wait_event_type = 'Lock' AND pid <> coalesce($2, 0) LIMIT 1",
        )
        .bind(app)
        .bind(not)
        .fetch_optional(&mut *admin)
        .await
        .unwrap();
        if let Some(pid) = pid {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the store's writer never blocked on the lock");
}

/// Every entity has the entry that made its current version, and every entity entry has its
/// entity: nothing half-written. Also the whole ledger verifies.
async fn assert_consistent(store: &dyn Store) {
    let report = verify(store, |_, _| {}).await.unwrap();
    assert!(report.ok(), "{:?}", report.failure);
    let entries = store
        .search(&EntryQuery {
            entity_type: Some("item".into()),
            limit: 1_000_000,
            ..EntryQuery::default()
        })
        .await
        .unwrap();
    let by_seq: std::collections::HashMap<u64, &chronicle_core::Entry> =
        entries.iter().map(|e| (e.seq, e)).collect();
    let mut entities = 0;
    let mut after = None;
    loop {
        let page = store
            .list_entities("item", after.as_deref(), 500)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        for e in &page {
            entities += 1;
            let entry = by_seq
                .get(&e.last_seq)
                .unwrap_or_else(|| panic!("entity {} has no entry {}", e.id, e.last_seq));
            assert_eq!(entry.entity_id.as_deref(), Some(e.id.as_str()));
            assert_eq!(entry.entity_version, Some(e.version));
        }
    }
    for entry in &entries {
        let id = entry.entity_id.as_deref().unwrap();
        assert!(
            store.entity("item", id).await.unwrap().is_some(),
            "entry {} has no entity",
            entry.seq
        );
    }
    assert_eq!(entities, entries.len(), "one create entry per entity");
}

async fn setup() -> Option<(Arc<PgStore>, PgConfig)> {
    let (store, config) = common::fresh_store("out", Schema::default()).await?;
    Some((Arc::new(store), config))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_cut_off_mid_commit_is_unavailable_and_leaves_nothing_behind() {
    let Some((store, config)) = setup().await else {
        return;
    };
    let app = config.application_name.clone();
    assert!(created(&store.write(create("before")).await.unwrap()));
    // Hold a not-yet-committed row with the key the write will create: the writer gets as
    // far as appending its entries and then waits for this transaction on the unique index.
    let mut blocker = admin(&config).await;
    sqlx::raw_sql(
        "BEGIN; INSERT INTO entities VALUES ('item', 'victim', 1, '{}', false, now(), now(), 99)",
    )
    .execute(&mut blocker)
    .await
    .unwrap();
    let write = tokio::spawn({
        let store = store.clone();
        async move { store.write(create("victim")).await }
    });
    let mut killer = admin(&config).await;
    blocked_backend(&mut killer, &app, None).await;
    assert!(terminate(&mut killer, &app).await >= 1);
    let result = write.await.unwrap();
    assert!(
        matches!(result, Err(StoreError::Unavailable { .. })),
        "{result:?}"
    );
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut blocker)
        .await
        .unwrap();
    // Nothing of the cut-off write is there, and the next write works by itself.
    assert_eq!(store.head().await.unwrap().tree_size, 1);
    assert!(store.entity("item", "victim").await.unwrap().is_none());
    assert!(created(&store.write(create("victim")).await.unwrap()));
    assert_consistent(store.as_ref()).await;
    assert_eq!(store.head().await.unwrap().tree_size, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_cannot_reach_the_ledger_head_twice_is_unavailable() {
    let Some((store, config)) = setup().await else {
        return;
    };
    let app = config.application_name.clone();
    let mut blocker = admin(&config).await;
    sqlx::raw_sql("BEGIN; SELECT * FROM ledger_head FOR UPDATE")
        .execute(&mut blocker)
        .await
        .unwrap();
    let write = tokio::spawn({
        let store = store.clone();
        async move { store.write(create("a")).await }
    });
    let mut killer = admin(&config).await;
    // The first cut is retried on a new connection (nothing of the group had run yet); the
    // second is reported.
    let first = blocked_backend(&mut killer, &app, None).await;
    terminate(&mut killer, &app).await;
    blocked_backend(&mut killer, &app, Some(first)).await;
    terminate(&mut killer, &app).await;
    let result = write.await.unwrap();
    assert!(
        matches!(result, Err(StoreError::Unavailable { .. })),
        "{result:?}"
    );
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut blocker)
        .await
        .unwrap();
    assert!(created(&store.write(create("a")).await.unwrap()));
    assert_consistent(store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_cut_while_idle_are_replaced_without_an_error() {
    let Some((store, config)) = setup().await else {
        return;
    };
    assert!(created(&store.write(create("a")).await.unwrap()));
    store.ping().await.unwrap();
    let mut killer = admin(&config).await;
    assert!(terminate(&mut killer, &config.application_name).await >= 1);
    assert!(created(&store.write(create("b")).await.unwrap()));
    store.ping().await.unwrap();
    assert_eq!(
        store
            .search(&EntryQuery {
                limit: 10,
                ..EntryQuery::default()
            })
            .await
            .unwrap()
            .len(),
        2
    );
    let _ = killer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_racing_repeated_cuts_either_commit_whole_or_report_unavailable() {
    let Some((store, config)) = setup().await else {
        return;
    };
    let app = config.application_name.clone();
    let mut killer = admin(&config).await;
    let (mut ok, mut unavailable) = (0, 0);
    for round in 0..12 {
        let writers: Vec<_> = (0..4)
            .map(|k| {
                let store = store.clone();
                tokio::spawn(async move { store.write(bulk(&format!("r{round}-{k}"), 300)).await })
            })
            .collect();
        // Cut at a different point of the group each round.
        tokio::time::sleep(Duration::from_millis(3 * round)).await;
        terminate(&mut killer, &app).await;
        for w in writers {
            match w.await.unwrap() {
                Ok(r) => {
                    assert!(created(&r), "{r:?}");
                    ok += 1;
                }
                Err(StoreError::Unavailable { .. }) => unavailable += 1,
                Err(e) => panic!("neither success nor unavailable: {e}"),
            }
        }
    }
    println!("{ok} writes committed, {unavailable} reported unavailable");
    assert!(created(&store.write(create("after")).await.unwrap()));
    assert_consistent(store.as_ref()).await;
}
