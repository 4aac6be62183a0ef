//! Decoding stored rows: the ledger head, entities, entries, raw rows for verifiers.

use crate::error::Context;
use chronicle_core::canonical;
use chronicle_core::merkle::Hash;
use chronicle_core::{EntityState, Entry, timefmt};
use chronicle_store::executor::LedgerState;
use chronicle_store::{IndexedColumns, RawRow, StoreError, SubjectKey};
use sqlx::postgres::PgRow;
use sqlx::{PgExecutor, Row};
use time::OffsetDateTime;

/// PostgreSQL integers are signed; seqs, versions and limits never come near 2^63, and a
/// larger request bound saturates rather than wraps.
pub(crate) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn uint(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} is negative ({v})")))
}

pub(crate) fn hash(bytes: &[u8], what: &str) -> Result<Hash, StoreError> {
    bytes.try_into().map_err(|_| {
        StoreError::Corrupt(format!(
            "{what} is {} bytes, not a 32-byte hash",
            bytes.len()
        ))
    })
}

// ---- The ledger head.

pub(crate) const HEAD_SQL: &str =
    "SELECT tree_size, frontier, last_ts FROM ledger_head WHERE id = 1";

pub(crate) fn head_of(row: Option<PgRow>) -> Result<LedgerState, StoreError> {
    let row = row.ok_or_else(|| StoreError::Corrupt("the ledger head row is missing".into()))?;
    let size: i64 = row.try_get(0).ctx("reading the ledger head")?;
    let frontier: Vec<u8> = row.try_get(1).ctx("reading the ledger head")?;
    let last_ts: Option<OffsetDateTime> = row.try_get(2).ctx("reading the ledger head")?;
    head_from(size, &frontier, last_ts)
}

/// The head as the writer reads it: in the simple-query protocol, whose rows are text, with
/// the timestamp as microseconds since the Unix epoch. (sqlx 0.9 misreads a TIMESTAMPTZ in
/// text form that has no fractional second, and ignores a session time zone other than UTC.)
pub(crate) const BEGIN_AND_LOCK_HEAD: &str = "BEGIN; \
    SELECT tree_size, frontier, (extract(epoch FROM last_ts) * 1000000)::int8 \
    FROM ledger_head WHERE id = 1 FOR UPDATE";

pub(crate) fn locked_head_of(row: Option<PgRow>) -> Result<LedgerState, StoreError> {
    let row = row.ok_or_else(|| StoreError::Corrupt("the ledger head row is missing".into()))?;
    let size: i64 = row.try_get(0).ctx("reading the ledger head")?;
    let frontier: Vec<u8> = row.try_get(1).ctx("reading the ledger head")?;
    let micros: Option<i64> = row.try_get(2).ctx("reading the ledger head")?;
    let last_ts = micros
        .map(|us| OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("the ledger head's timestamp: {e}")))?;
    head_from(size, &frontier, last_ts)
}

fn head_from(
    size: i64,
    frontier: &[u8],
    last_ts: Option<OffsetDateTime>,
) -> Result<LedgerState, StoreError> {
    let last_ts = last_ts.map(timefmt::format);
    let state = LedgerState::decode(frontier, last_ts.as_deref())?;
    if state.frontier.size() != uint(size, "the ledger head's tree size")? {
        return Err(StoreError::Corrupt(format!(
            "the ledger head says {size} entries but its frontier covers {}",
            state.frontier.size()
        )));
    }
    Ok(state)
}

pub(crate) async fn read_head<'e>(conn: impl PgExecutor<'e>) -> Result<LedgerState, StoreError> {
    let row = sqlx::query(HEAD_SQL)
        .fetch_optional(conn)
        .await
        .ctx("reading the ledger head")?;
    head_of(row)
}

// ---- Entities.

pub(crate) const ENTITY_COLUMNS: &str =
    "entity_type, id, version, data, deleted, created_at, updated_at, last_seq";

pub(crate) fn entity_of(row: &PgRow) -> Result<EntityState, StoreError> {
    let entity_type: String = row.try_get(0).ctx("reading an entity")?;
    let id: String = row.try_get(1).ctx("reading an entity")?;
    let what = format!("entity {entity_type} {id}");
    let version: i64 = row.try_get(2).ctx(&what)?;
    let data: serde_json::Value = row.try_get(3).ctx(&what)?;
    let deleted: bool = row.try_get(4).ctx(&what)?;
    let created_at: OffsetDateTime = row.try_get(5).ctx(&what)?;
    let updated_at: OffsetDateTime = row.try_get(6).ctx(&what)?;
    let last_seq: i64 = row.try_get(7).ctx(&what)?;
    Ok(EntityState {
        version: uint(version, &format!("{what}: version"))?,
        // `jsonb` keeps keys in an order of its own: give them back in Chronicle's.
        data: chronicle_core::entity::in_key_order(data),
        deleted,
        created_at: timefmt::truncate(created_at),
        updated_at: timefmt::truncate(updated_at),
        last_seq: uint(last_seq, &format!("{what}: last_seq"))?,
        entity_type,
        id,
    })
}

// ---- Entries.

/// Parses a stored row's canonical text; the stored leaf hash is what the entry reports. A
/// row whose text holds another seq's entry is refused rather than served under that seq.
pub(crate) fn entry_of(row: &PgRow) -> Result<Entry, StoreError> {
    let seq: i64 = row.try_get(0).ctx("reading an entry")?;
    let text: String = row.try_get(1).ctx("reading an entry")?;
    let leaf: Vec<u8> = row.try_get(2).ctx("reading an entry")?;
    let leaf = hash(&leaf, &format!("entry {seq}: leaf hash"))?;
    let entry = canonical::from_canonical(text.as_bytes(), &leaf)
        .map_err(|e| StoreError::Corrupt(format!("entry {seq}: {e}")))?;
    chronicle_store::verify::same_seq(seq, entry)
}

/// See [`chronicle_store::Store::seq_extent`]; each part is a seek in every partition's
/// primary key.
pub(crate) const SEQ_EXTENT_SQL: &str = "SELECT (SELECT min(seq) FROM entries), \
    (SELECT max(seq) FROM entries), (SELECT min(seq) FROM entries WHERE seq > $1)";

pub(crate) const RAW_ROWS_SQL: &str = "SELECT seq, id, canonical, leaf_hash, ts, actor_id, \
    actor_email, operation, entity_type, entity_id, entity_version, correlation_id, parent_id, \
    transaction_id, rollback_id, severity \
    FROM entries WHERE seq BETWEEN $1 AND $2 ORDER BY seq";

/// A row as stored, for verifiers: nothing is interpreted beyond what the column types force.
pub(crate) fn raw_row_of(r: &PgRow) -> Result<RawRow, StoreError> {
    let what = "reading a ledger row";
    let uuid = |i: usize| -> Result<Option<String>, StoreError> {
        Ok(r.try_get::<Option<uuid::Uuid>, _>(i)
            .ctx(what)?
            .map(|u| u.to_string()))
    };
    let text = |i: usize| -> Result<Option<String>, StoreError> { r.try_get(i).ctx(what) };
    let seq: i64 = r.try_get(0).ctx(what)?;
    let ts: OffsetDateTime = r.try_get(4).ctx(what)?;
    let version: Option<i64> = r.try_get(10).ctx(what)?;
    Ok(RawRow {
        // A negative seq reads as 0, which no entry has, so the verifier reports the row.
        seq: u64::try_from(seq).unwrap_or(0),
        id: uuid(1)?.unwrap_or_default(),
        canonical: text(2)?.unwrap_or_default().into_bytes(),
        leaf_hash: r.try_get(3).ctx(what)?,
        columns: IndexedColumns {
            timestamp: timefmt::format(ts),
            actor_id: text(5)?,
            actor_email: text(6)?,
            operation: text(7)?.unwrap_or_default(),
            entity_type: text(8)?,
            entity_id: text(9)?,
            // A negative version is no version any entry has: it reads as u64::MAX so that the
            // verifier reports the row rather than the read failing.
            entity_version: version.map(|v| u64::try_from(v).unwrap_or(u64::MAX)),
            correlation_id: text(11)?,
            parent_id: uuid(12)?,
            transaction_id: uuid(13)?,
            rollback_id: uuid(14)?,
            severity: text(15)?.unwrap_or_default(),
        },
    })
}

// ---- Subject keys.

/// A subject's key row (see `migrations/0003_subject_keys.sql`).
pub(crate) async fn subject_key<'e>(
    db: impl PgExecutor<'e>,
    subject: &str,
) -> Result<Option<SubjectKey>, StoreError> {
    type KeyRow = (Option<Vec<u8>>, OffsetDateTime, Option<OffsetDateTime>);
    let row: Option<KeyRow> = sqlx::query_as(
        "SELECT wrapped, created_at, erased_at FROM subject_keys WHERE subject = $1",
    )
    .bind(subject)
    .fetch_optional(db)
    .await
    .ctx("reading a subject key")?;
    Ok(row.map(|(wrapped, created_at, erased_at)| SubjectKey {
        subject: subject.to_owned(),
        wrapped,
        created_at,
        erased_at,
    }))
}
