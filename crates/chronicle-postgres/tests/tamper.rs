//! The tamper matrix on PostgreSQL: the ledger edited directly in the database, behind the
//! store's back; `verify` names the first bad seq and why.

mod common;

use chronicle_core::RequestContext;
use chronicle_core::schema::Schema;
use chronicle_core::write::EntityOp;
use chronicle_postgres::PgStore;
use chronicle_store::verify::{FailureKind, verify};
use chronicle_store::{Store, WriteKind, WriteRequest};
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
