//! Start-up migrations: idempotent, safe when nodes start together, and an older schema is
//! upgraded in place with its data.

mod common;

use chronicle_core::schema::Schema;
use chronicle_core::write::EntityOp;
use chronicle_core::{Actor, RequestContext};
use chronicle_postgres::{Migrated, PgStore};
use chronicle_store::verify::verify;
use chronicle_store::{EntryQuery, Store, WriteKind, WriteRequest};
use serde_json::json;
use sqlx::{AssertSqlSafe, Connection};

fn update(id: &str, patch: serde_json::Value) -> WriteRequest {
    WriteRequest {
        context: RequestContext {
            actor: Actor {
                via: None,
                id: Some("ann".into()),
                ..Actor::default()
            },
            ..RequestContext::default()
        },
        kind: WriteKind::Single(EntityOp::Replace {
            entity_type: "shipment".into(),
            id: id.into(),
            data: patch,
            expected_version: None,
        }),
    }
}

async fn versions(config: &chronicle_postgres::PgConfig) -> Vec<i32> {
    let mut admin = common::admin().await.unwrap();
    let schema = config.search_path.as_deref().unwrap();
    let v = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT version FROM \"{schema}\".chronicle_migrations ORDER BY version"
    )))
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let _ = admin.close().await;
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_twice_migrates_once_and_keeps_the_data() {
    let Some(config) = common::fresh_config("mig", Schema::default()).await else {
        return;
    };
    let latest = PgStore::schema_version();
    let first = PgStore::connect(config.clone()).await.unwrap();
    assert_eq!(
        first.migrated(),
        Migrated {
            from: 0,
            to: latest
        }
    );
    first.write(update("s1", json!({"a": 1}))).await.unwrap();
    let second = PgStore::connect(config.clone()).await.unwrap();
    assert_eq!(
        second.migrated(),
        Migrated {
            from: latest,
            to: latest
        }
    );
    assert_eq!(second.head().await.unwrap().tree_size, 1);
    assert_eq!(versions(&config).await, (1..=latest).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_take_turns_migrating() {
    let Some(config) = common::fresh_config("mig", Schema::default()).await else {
        return;
    };
    let connects: Vec<_> = (0..6)
        .map(|_| tokio::spawn(PgStore::connect(config.clone())))
        .collect();
    let mut fresh = 0;
    for c in connects {
        let store = c.await.unwrap().expect("every node starts");
        if store.migrated().from == 0 {
            fresh += 1;
        }
        assert_eq!(store.migrated().to, PgStore::schema_version());
    }
    assert_eq!(fresh, 1, "exactly one node ran the migrations");
    assert_eq!(
        versions(&config).await,
        (1..=PgStore::schema_version()).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_database_is_upgraded_in_place_and_its_entries_become_searchable() {
    let Some(config) = common::fresh_config("mig", Schema::default()).await else {
        return;
    };
    let old = PgStore::connect_at_version(config.clone(), 1)
        .await
        .unwrap();
    assert_eq!(old.migrated(), Migrated { from: 0, to: 1 });
    old.write(update("s1", json!({"address": {"city": "Oslo"}})))
        .await
        .unwrap();
    old.write(update("s1", json!({"address": {"city": "Rome"}})))
        .await
        .unwrap();
    old.close().await;
    drop(old);

    let new = PgStore::connect(config.clone()).await.unwrap();
    assert_eq!(
        new.migrated(),
        Migrated {
            from: 1,
            to: PgStore::schema_version()
        }
    );
    let found = new
        .search(&EntryQuery {
            field: Some("/address/city".into()),
            limit: 10,
            ..EntryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(found.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    new.write(update("s1", json!({"address": {"city": "Bergen"}})))
        .await
        .unwrap();
    let report = verify(&new, |_, _| {}).await.unwrap();
    assert!(report.ok(), "{:?}", report.failure);
    assert_eq!(report.tree_size, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_newer_than_the_build_is_refused() {
    let Some(config) = common::fresh_config("mig", Schema::default()).await else {
        return;
    };
    PgStore::connect(config.clone()).await.unwrap();
    let mut admin = common::admin().await.unwrap();
    let schema = config.search_path.as_deref().unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!(
        "INSERT INTO \"{schema}\".chronicle_migrations (version, name) VALUES (99, 'future')"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    let err = PgStore::connect(config).await.err().expect("refused");
    assert!(err.to_string().contains("schema version 99"), "{err}");
}
