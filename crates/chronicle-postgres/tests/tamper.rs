//! The tamper matrix on PostgreSQL: the ledger edited directly in the database, behind the
//! store's back; `verify` names the first bad seq and why.

mod common;

use chronicle_core::RequestContext;
use chronicle_core::schema::Schema;
use chronicle_core::write::EntityOp;
use chronicle_postgres::PgStore;
use chronicle_store::verify::{FailureKind, verify};
use chronicle_store::{EntryQuery, GroupBy, Order, Store, WriteKind, WriteRequest};
use serde_json::json;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// A store with `n` entries and a direct connection to its schema.
async fn ledger(n: usize) -> Option<(PgStore, PgConnection)> {
    let (store, config) = common::fresh_store("tamper", Schema::default()).await?;
    for i in 0..n {
        let op = EntityOp::Create {
            entity_type: "item".into(),
            id: Some(format!("i{i}")),
            data: json!({"i": i}),
        };
        store
            .write(WriteRequest {
                context: RequestContext::default(),
                kind: WriteKind::Single(op),
            })
            .await
            .unwrap();
    }
    let mut conn = common::admin().await?;
    let schema = config.search_path.expect("a schema of its own");
    sqlx::raw_sql(AssertSqlSafe(format!("SET search_path TO \"{schema}\"")))
        .execute(&mut conn)
        .await
        .unwrap();
    Some((store, conn))
}

async fn tamper(conn: &mut PgConnection, sql: &str) {
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(&mut *conn)
        .await
        .unwrap();
}

async fn assert_fails_at(store: &PgStore, seq: u64, kind: FailureKind) {
    let report = verify(store, |_, _| {}).await.unwrap();
    let failure = report
        .failure
        .unwrap_or_else(|| panic!("tampering at {seq} went undetected"));
    assert_eq!(
        (failure.seq, failure.kind),
        (seq, kind),
        "{}",
        failure.detail
    );
}

#[tokio::test]
async fn an_edited_field_is_named_by_seq() {
    let Some((store, mut conn)) = ledger(6).await else {
        return;
    };
    tamper(
        &mut conn,
        r#"UPDATE entries SET canonical = replace(canonical, '"i":3', '"i":30') WHERE seq = 4"#,
    )
    .await;
    assert_fails_at(&store, 4, FailureKind::ContentChanged).await;
}

#[tokio::test]
async fn an_edited_search_column_is_named_by_seq() {
    let Some((store, mut conn)) = ledger(6).await else {
        return;
    };
    tamper(
        &mut conn,
        "UPDATE entries SET entity_id = 'forged' WHERE seq = 2",
    )
    .await;
    assert_fails_at(&store, 2, FailureKind::ContentChanged).await;
}

#[tokio::test]
async fn a_deleted_row_is_named_by_seq() {
    let Some((store, mut conn)) = ledger(6).await else {
        return;
    };
    tamper(&mut conn, "DELETE FROM entries WHERE seq = 3").await;
    assert_fails_at(&store, 3, FailureKind::RowMissing).await;
}

#[tokio::test]
async fn an_inserted_row_is_named_by_seq() {
    let Some((store, mut conn)) = ledger(6).await else {
        return;
    };
    tamper(
        &mut conn,
        "INSERT INTO entries SELECT seq + 1, gen_random_uuid(), ts, actor_id, actor_email, operation, entity_type, \
         entity_id, entity_version, correlation_id, parent_id, transaction_id, rollback_id, severity, canonical, leaf_hash \
         FROM entries WHERE seq = 6",
    )
    .await;
    assert_fails_at(&store, 7, FailureKind::RowInserted).await;
}

/// Copies the row of `from` to seq `to`, keeping its id (PostgreSQL has no unique index on
/// it: the partitioned table cannot), and returns that id.
async fn forge_copy(conn: &mut PgConnection, from: u64, to: i64) -> uuid::Uuid {
    sqlx::query(
        "INSERT INTO entries SELECT $2, id, ts, actor_id, actor_email, operation, entity_type, \
         entity_id, entity_version, correlation_id, parent_id, transaction_id, rollback_id, \
         severity, canonical, leaf_hash FROM entries WHERE seq = $1",
    )
    .bind(from as i64)
    .bind(to)
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query_scalar("SELECT id FROM entries WHERE seq = $1")
        .bind(from as i64)
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

async fn all_seqs(store: &PgStore) -> Vec<u64> {
    let q = EntryQuery {
        limit: 10_000,
        ..EntryQuery::default()
    };
    store
        .search(&q)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect()
}

#[tokio::test]
async fn a_copy_forged_far_past_the_head_with_the_same_id_fails_verify_and_is_not_served() {
    let Some((store, mut conn)) = ledger(60).await else {
        return;
    };
    let id = forge_copy(&mut conn, 5, 100_000).await;
    assert_fails_at(&store, 100_000, FailureKind::RowInserted).await;
    // Reads stop at the head: the copy is served neither under its seq nor under the one
    // its bytes claim, and the entry by id is the original.
    assert_eq!(all_seqs(&store).await, (1..=60).collect::<Vec<u64>>());
    let newest = store
        .search(&EntryQuery {
            order: Order::Desc,
            limit: 1,
            ..EntryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(newest[0].seq, 60);
    assert_eq!(store.entry(id).await.unwrap().unwrap().seq, 5);
    let counted: u64 = store
        .summary(&EntryQuery::default(), GroupBy::Operation)
        .await
        .unwrap()
        .iter()
        .map(|g| g.count)
        .sum();
    assert_eq!(counted, 60);
    assert_eq!(store.rows(100_000, 100_000).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_second_row_for_a_seq_is_named_as_a_duplicate() {
    let Some((store, mut conn)) = ledger(6).await else {
        return;
    };
    // The primary key is (seq, ts): another timestamp makes room for a second seq 3.
    tamper(
        &mut conn,
        "INSERT INTO entries SELECT seq, gen_random_uuid(), ts + interval '1 second', actor_id, \
         actor_email, operation, entity_type, entity_id, entity_version, correlation_id, \
         parent_id, transaction_id, rollback_id, severity, canonical, leaf_hash \
         FROM entries WHERE seq = 3",
    )
    .await;
    assert_fails_at(&store, 3, FailureKind::RowDuplicated).await;
}

#[tokio::test]
async fn a_row_forged_at_seq_zero_or_below_fails_verify_and_is_not_served() {
    let Some((store, mut conn)) = ledger(4).await else {
        return;
    };
    forge_copy(&mut conn, 2, -3).await;
    let failure = verify(&store, |_, _| {})
        .await
        .unwrap()
        .failure
        .expect("verify must fail");
    assert_eq!(failure.kind, FailureKind::RowInserted, "{}", failure.detail);
    assert!(failure.detail.contains("-3"), "{}", failure.detail);
    assert_eq!(all_seqs(&store).await, [1, 2, 3, 4]);
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 8, ..proptest::test_runner::Config::default() })]
    /// Copies (same id) forged at random seqs past the head, right after it or far beyond,
    /// one or several: verify names the lowest, and no search serves any of them.
    #[test]
    fn rows_forged_anywhere_past_the_head_are_named_and_never_served(
        n in 1u64..20,
        forged in proptest::collection::vec((0u64..1000, 1i64..200_000), 1..4),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let Some((store, mut conn)) = ledger(n as usize).await else {
                return;
            };
            let mut at: Vec<i64> = forged.iter().map(|&(_, gap)| n as i64 + gap).collect();
            at.sort_unstable();
            at.dedup();
            for (&seq, &(from, _)) in at.iter().zip(&forged) {
                forge_copy(&mut conn, from % n + 1, seq).await;
            }
            assert_fails_at(&store, at[0] as u64, FailureKind::RowInserted).await;
            assert_eq!(all_seqs(&store).await, (1..=n).collect::<Vec<_>>());
            store.close().await;
            let _ = conn.close().await;
        });
    }
}

#[tokio::test]
async fn swapped_rows_are_named_by_the_first_seq() {
    let Some((store, mut conn)) = ledger(6).await else {
        return;
    };
    tamper(
        &mut conn,
        "UPDATE entries SET seq = CASE seq WHEN 2 THEN 5 ELSE 2 END WHERE seq IN (2, 5)",
    )
    .await;
    assert_fails_at(&store, 2, FailureKind::OrderChanged).await;
}

#[tokio::test]
async fn a_truncated_tail_is_named_where_it_begins() {
    let Some((store, mut conn)) = ledger(8).await else {
        return;
    };
    tamper(&mut conn, "DELETE FROM entries WHERE seq > 5").await;
    assert_fails_at(&store, 6, FailureKind::RowMissing).await;
    let _ = conn.close().await;
}
