//! The ledger's month partitions: created ahead of the writes that need them (backdated ones
//! included), with the default partition catching what has none, so no write ever fails for
//! lack of a partition.

mod common;

use chronicle_core::schema::Schema;
use chronicle_core::write::EntityOp;
use chronicle_core::{RequestContext, timefmt};
use chronicle_postgres::PgConfig;
use chronicle_store::verify::verify;
use chronicle_store::{EntryQuery, Store, WriteKind, WriteRequest};
use serde_json::json;
use sqlx::AssertSqlSafe;
use time::{Duration, OffsetDateTime};

fn create_at(id: &str, at: Option<OffsetDateTime>) -> WriteRequest {
    WriteRequest {
        context: RequestContext {
            at,
            ..RequestContext::default()
        },
        kind: WriteKind::Single(EntityOp::Create {
            entity_type: "item".into(),
            id: Some(id.into()),
            data: json!({}),
        }),
    }
}

/// (partition name, rows) of every partition of the test's `entries`, by name.
async fn partitions(config: &PgConfig) -> Vec<(String, i64)> {
    let schema = config.search_path.as_deref().unwrap();
    let mut admin = common::admin().await.unwrap();
    let names: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = '\"{schema}\".entries'::regclass ORDER BY 1"
    )))
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let mut out = Vec::new();
    for name in names {
        let rows: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT count(*) FROM \"{schema}\".{name}"
        )))
        .fetch_one(&mut admin)
        .await
        .unwrap();
        out.push((name, rows));
    }
    out
}

fn month_name(t: OffsetDateTime) -> String {
    format!("entries_y{:04}m{:02}", t.year(), t.month() as u8)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backdated_and_current_writes_land_in_their_month_partitions() {
    let Some((store, config)) = common::fresh_store("part", Schema::default()).await else {
        return;
    };
    let now = timefmt::now();
    let old = now - Duration::days(70);
    store.write(create_at("old", Some(old))).await.unwrap();
    store.write(create_at("new", None)).await.unwrap();
    let parts = partitions(&config).await;
    let rows = |name: &str| parts.iter().find(|(n, _)| n == name).map(|(_, r)| *r);
    assert_eq!(rows(&month_name(old)), Some(1), "{parts:?}");
    assert_eq!(rows(&month_name(now)), Some(1), "{parts:?}");
    assert_eq!(rows("entries_default"), Some(0), "{parts:?}");
    // Next month's exists before anything is written into it.
    let next = now.replace_day(1).unwrap() + Duration::days(32);
    assert_eq!(rows(&month_name(next)), Some(0), "{parts:?}");
    let found = store
        .search(&EntryQuery {
            from: Some(old - Duration::days(1)),
            to: Some(old + Duration::days(1)),
            limit: 10,
            ..EntryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_with_no_partition_for_its_month_lands_in_the_default_one() {
    let Some((store, config)) = common::fresh_store("part", Schema::default()).await else {
        return;
    };
    // Year 9999 gets no partition (only four-digit years before it do).
    let far = timefmt::parse("9999-06-01T00:00:00Z").unwrap();
    store.write(create_at("far", Some(far))).await.unwrap();
    // Later entries may not precede it, so they land there too; every write still works.
    store.write(create_at("after", None)).await.unwrap();
    let parts = partitions(&config).await;
    assert!(
        parts.contains(&("entries_default".to_owned(), 2)),
        "{parts:?}"
    );
    let report = verify(&store, |_, _| {}).await.unwrap();
    assert!(report.ok(), "{:?}", report.failure);
    assert_eq!(store.stats().await.unwrap().entries, 2);
}
