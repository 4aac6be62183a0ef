//! Reading and writing single rows: the ledger head, entities, entries, tree nodes. Shared by
//! the writer (inside its transaction) and the readers.

use crate::error::Context;
use chronicle_core::canonical;
use chronicle_core::merkle::{Hash, Node};
use chronicle_core::{EntityState, Entry, timefmt};
use chronicle_store::executor::LedgerState;
use chronicle_store::{
    IndexedColumns, LedgerHead, RawRow, SeqExtent, StoreError, StoreStats, SubjectKey,
};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::path::Path;
use time::OffsetDateTime;
use uuid::Uuid;

/// SQLite integers are signed; seqs, versions and limits never come near 2^63, and a larger
/// request bound saturates rather than wraps.
pub(crate) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn uint(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} is negative ({v})")))
}

fn hash(bytes: &[u8], what: &str) -> Result<Hash, StoreError> {
    bytes.try_into().map_err(|_| {
        StoreError::Corrupt(format!(
            "{what} is {} bytes, not a 32-byte hash",
            bytes.len()
        ))
    })
}

fn time(text: &str, what: &str) -> Result<time::OffsetDateTime, StoreError> {
    timefmt::parse(text).map_err(|e| StoreError::Corrupt(format!("{what} {text:?}: {e}")))
}

// ---- The ledger head.

pub(crate) fn read_head(conn: &Connection) -> Result<LedgerState, StoreError> {
    let (size, frontier, last_ts): (i64, Vec<u8>, Option<String>) = conn
        .prepare_cached("SELECT tree_size, frontier, last_ts FROM ledger_head WHERE id = 1")
        .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))))
        .optional()
        .ctx("reading the ledger head")?
        .ok_or_else(|| StoreError::Corrupt("the ledger head row is missing".into()))?;
    let state = LedgerState::decode(&frontier, last_ts.as_deref())?;
    if state.frontier.size() != uint(size, "the ledger head's tree size")? {
        return Err(StoreError::Corrupt(format!(
            "the ledger head says {size} entries but its frontier covers {}",
            state.frontier.size()
        )));
    }
    Ok(state)
}

pub(crate) fn write_head(conn: &Connection, state: &LedgerState) -> Result<(), StoreError> {
    let (frontier, last_ts) = state.encode();
    let changed = conn
        .prepare_cached(
            "UPDATE ledger_head SET tree_size = ?1, frontier = ?2, last_ts = ?3 WHERE id = 1",
        )
        .and_then(|mut s| s.execute(params![int(state.frontier.size()), frontier, last_ts]))
        .ctx("writing the ledger head")?;
    if changed != 1 {
        return Err(StoreError::Corrupt("the ledger head row is missing".into()));
    }
    Ok(())
}

pub(crate) fn head(conn: &Connection) -> Result<LedgerHead, StoreError> {
    let state = read_head(conn)?;
    Ok(LedgerHead {
        tree_size: state.frontier.size(),
        root: state.frontier.root(),
    })
}

// ---- Entities.

const ENTITY_COLUMNS: &str =
    "entity_type, id, version, data, deleted, created_at, updated_at, last_seq";

struct EntityRow {
    entity_type: String,
    id: String,
    version: i64,
    data: String,
    deleted: bool,
    created_at: String,
    updated_at: String,
    last_seq: i64,
}

impl EntityRow {
    fn read(r: &Row<'_>) -> rusqlite::Result<EntityRow> {
        Ok(EntityRow {
            entity_type: r.get(0)?,
            id: r.get(1)?,
            version: r.get(2)?,
            data: r.get(3)?,
            deleted: r.get(4)?,
            created_at: r.get(5)?,
            updated_at: r.get(6)?,
            last_seq: r.get(7)?,
        })
    }

    fn state(self) -> Result<EntityState, StoreError> {
        let what = format!("entity {} {}", self.entity_type, self.id);
        Ok(EntityState {
            version: uint(self.version, &format!("{what}: version"))?,
            data: serde_json::from_str(&self.data)
                .map(chronicle_core::entity::in_key_order)
                .map_err(|e| StoreError::Corrupt(format!("{what}: data: {e}")))?,
            deleted: self.deleted,
            created_at: time(&self.created_at, &format!("{what}: created_at"))?,
            updated_at: time(&self.updated_at, &format!("{what}: updated_at"))?,
            last_seq: uint(self.last_seq, &format!("{what}: last_seq"))?,
            entity_type: self.entity_type,
            id: self.id,
        })
    }
}

pub(crate) fn load_entity(
    conn: &Connection,
    entity_type: &str,
    id: &str,
) -> Result<Option<EntityState>, StoreError> {
    let sql = format!("SELECT {ENTITY_COLUMNS} FROM entities WHERE entity_type = ?1 AND id = ?2");
    conn.prepare_cached(&sql)
        .and_then(|mut s| {
            s.query_row(params![entity_type, id], EntityRow::read)
                .optional()
        })
        .ctx("reading an entity")?
        .map(EntityRow::state)
        .transpose()
}

pub(crate) fn list_entities(
    conn: &Connection,
    entity_type: &str,
    after_id: Option<&str>,
    limit: usize,
) -> Result<Vec<EntityState>, StoreError> {
    // Two statements rather than `(?2 IS NULL OR id > ?2)`, which would keep SQLite from
    // seeking straight to `after_id` in the primary key.
    let (sql, after) = match after_id {
        Some(after) => (
            format!(
                "SELECT {ENTITY_COLUMNS} FROM entities \
                 WHERE entity_type = ?1 AND id > ?2 AND deleted = 0 ORDER BY id LIMIT ?3"
            ),
            after,
        ),
        None => (
            format!(
                "SELECT {ENTITY_COLUMNS} FROM entities \
                 WHERE entity_type = ?1 AND ?2 = '' AND deleted = 0 ORDER BY id LIMIT ?3"
            ),
            "",
        ),
    };
    let limit = int(limit as u64);
    let rows = conn
        .prepare_cached(&sql)
        .and_then(|mut s| {
            s.query_map(params![entity_type, after, limit], EntityRow::read)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .ctx("listing entities")?;
    rows.into_iter().map(EntityRow::state).collect()
}

pub(crate) fn save_entity(conn: &Connection, state: &EntityState) -> Result<(), StoreError> {
    let data = serde_json::to_string(&state.data)
        .map_err(|e| StoreError::internal("encoding entity data", e))?;
    conn.prepare_cached(
        "INSERT INTO entities (entity_type, id, version, data, deleted, created_at, updated_at, last_seq) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (entity_type, id) DO UPDATE SET version = excluded.version, \
           data = excluded.data, deleted = excluded.deleted, created_at = excluded.created_at, \
           updated_at = excluded.updated_at, last_seq = excluded.last_seq",
    )
    .and_then(|mut s| {
        s.execute(params![
            state.entity_type,
            state.id,
            int(state.version),
            data,
            state.deleted,
            timefmt::format(state.created_at),
            timefmt::format(state.updated_at),
            int(state.last_seq),
        ])
    })
    .ctx("saving an entity")?;
    Ok(())
}

// ---- Entries.

pub(crate) fn append_entry(
    conn: &Connection,
    entry: &Entry,
    canonical: &[u8],
    leaf: &Hash,
    nodes: &[Node],
) -> Result<(), StoreError> {
    let text = std::str::from_utf8(canonical)
        .map_err(|e| StoreError::internal("canonical bytes are not UTF-8", e))?;
    let c = IndexedColumns::of(entry);
    conn.prepare_cached(
        "INSERT INTO entries (seq, id, ts, actor_id, actor_email, operation, entity_type, \
           entity_id, entity_version, correlation_id, parent_id, transaction_id, rollback_id, \
           severity, canonical, leaf_hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )
    .and_then(|mut s| {
        s.execute(params![
            int(entry.seq),
            entry.id.to_string(),
            c.timestamp,
            c.actor_id,
            c.actor_email,
            c.operation,
            c.entity_type,
            c.entity_id,
            c.entity_version.map(int),
            c.correlation_id,
            c.parent_id,
            c.transaction_id,
            c.rollback_id,
            c.severity,
            text,
            leaf.as_slice(),
        ])
    })
    .map_err(|e| match e.sqlite_error_code() {
        // The head says this seq is next, yet a row holds it: someone wrote past the head.
        Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Corrupt(format!(
            "cannot append entry {}: a row for seq {} or id {} already exists ({e})",
            entry.id, entry.seq, entry.id
        )),
        _ => crate::error::map("appending an entry", e),
    })?;
    let mut insert = conn
        .prepare_cached("INSERT INTO merkle_nodes (level, idx, hash) VALUES (?1, ?2, ?3)")
        .ctx("appending tree nodes")?;
    for node in nodes {
        insert
            .execute(params![node.level, int(node.index), node.hash.as_slice()])
            .ctx("appending a tree node")?;
    }
    Ok(())
}

/// Parses a stored row's canonical bytes; the stored leaf hash is what the entry reports. A
/// row whose bytes hold another seq's entry is refused rather than served under that seq.
fn entry_of(seq: i64, canonical: &[u8], leaf: &[u8]) -> Result<Entry, StoreError> {
    let leaf = hash(leaf, &format!("entry {seq}: leaf hash"))?;
    let entry = canonical::from_canonical(canonical, &leaf)
        .map_err(|e| StoreError::Corrupt(format!("entry {seq}: {e}")))?;
    chronicle_store::verify::same_seq(seq, entry)
}

/// Reads `seq, canonical, leaf_hash` (columns 0..3) of a result row.
pub(crate) fn entry_from_row(r: &Row<'_>) -> rusqlite::Result<(i64, Vec<u8>, Vec<u8>)> {
    Ok((r.get(0)?, bytes(r, 1)?, bytes(r, 2)?))
}

pub(crate) fn entries_from_rows(
    rows: Vec<(i64, Vec<u8>, Vec<u8>)>,
) -> Result<Vec<Entry>, StoreError> {
    rows.iter()
        .map(|(seq, c, l)| entry_of(*seq, c, l))
        .collect()
}

pub(crate) fn entry(conn: &Connection, id: Uuid) -> Result<Option<Entry>, StoreError> {
    let sql = format!(
        "SELECT seq, canonical, leaf_hash FROM entries WHERE id = ?1 AND {}",
        chronicle_store::WITHIN_HEAD_SQL
    );
    conn.prepare_cached(&sql)
        .and_then(|mut s| {
            s.query_row(params![id.to_string()], entry_from_row)
                .optional()
        })
        .ctx("reading an entry")?
        .map(|(seq, c, l)| entry_of(seq, &c, &l))
        .transpose()
}

/// A column's bytes whatever its storage class, so that a row edited to hold a BLOB where
/// text belongs (or the reverse) still reaches the verifier instead of failing the read.
fn bytes(r: &Row<'_>, i: usize) -> rusqlite::Result<Vec<u8>> {
    Ok(match r.get_ref(i)? {
        ValueRef::Text(b) | ValueRef::Blob(b) => b.to_vec(),
        ValueRef::Integer(v) => v.to_string().into_bytes(),
        ValueRef::Real(v) => v.to_string().into_bytes(),
        ValueRef::Null => Vec::new(),
    })
}

/// A column as text whatever its storage class (see [`bytes`]).
fn text(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<String>> {
    Ok(match r.get_ref(i)? {
        ValueRef::Null => None,
        ValueRef::Text(b) | ValueRef::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
        ValueRef::Integer(v) => Some(v.to_string()),
        ValueRef::Real(v) => Some(v.to_string()),
    })
}

/// An integer column. A value that is no version at all reads as `u64::MAX`, which no entry
/// has, so the verifier reports the row rather than the read failing.
fn version(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<u64>> {
    Ok(match r.get_ref(i)? {
        ValueRef::Null => None,
        ValueRef::Integer(v) => Some(u64::try_from(v).unwrap_or(u64::MAX)),
        _ => Some(u64::MAX),
    })
}

pub(crate) fn raw_rows(conn: &Connection, start: u64, end: u64) -> Result<Vec<RawRow>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, id, canonical, leaf_hash, ts, actor_id, actor_email, operation, \
               entity_type, entity_id, entity_version, correlation_id, parent_id, \
               transaction_id, rollback_id, severity \
             FROM entries WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq",
        )
        .ctx("reading ledger rows")?;
    let rows = stmt
        .query_map(params![int(start), int(end)], |r| {
            Ok(RawRow {
                // seq is the rowid: always an integer, and positive for every row we wrote.
                seq: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                id: text(r, 1)?.unwrap_or_default(),
                canonical: bytes(r, 2)?,
                leaf_hash: bytes(r, 3)?,
                columns: IndexedColumns {
                    timestamp: text(r, 4)?.unwrap_or_default(),
                    actor_id: text(r, 5)?,
                    actor_email: text(r, 6)?,
                    operation: text(r, 7)?.unwrap_or_default(),
                    entity_type: text(r, 8)?,
                    entity_id: text(r, 9)?,
                    entity_version: version(r, 10)?,
                    correlation_id: text(r, 11)?,
                    parent_id: text(r, 12)?,
                    transaction_id: text(r, 13)?,
                    rollback_id: text(r, 14)?,
                    severity: text(r, 15)?.unwrap_or_default(),
                },
            })
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .ctx("reading ledger rows")?;
    Ok(rows)
}

/// See [`chronicle_store::Store::seq_extent`]; each part is one seek in the primary key.
pub(crate) fn seq_extent(conn: &Connection, after: u64) -> Result<SeqExtent, StoreError> {
    conn.prepare_cached(
        "SELECT (SELECT min(seq) FROM entries), (SELECT max(seq) FROM entries), \
           (SELECT min(seq) FROM entries WHERE seq > ?1)",
    )
    .and_then(|mut s| {
        s.query_row(params![int(after)], |r| {
            Ok(SeqExtent {
                min: r.get(0)?,
                max: r.get(1)?,
                first_after: r.get(2)?,
            })
        })
    })
    .ctx("reading the ledger's seq extent")
}

// ---- Tree nodes.

pub(crate) fn node(conn: &Connection, level: u8, index: u64) -> Result<Option<Hash>, StoreError> {
    let found: Option<Vec<u8>> = if level == 0 {
        let Some(seq) = index.checked_add(1).and_then(|s| i64::try_from(s).ok()) else {
            return Ok(None);
        };
        conn.prepare_cached("SELECT leaf_hash FROM entries WHERE seq = ?1")
            .and_then(|mut s| s.query_row(params![seq], |r| bytes(r, 0)).optional())
            .ctx("reading a leaf hash")?
    } else {
        let Ok(index) = i64::try_from(index) else {
            return Ok(None);
        };
        conn.prepare_cached("SELECT hash FROM merkle_nodes WHERE level = ?1 AND idx = ?2")
            .and_then(|mut s| {
                s.query_row(params![level, index], |r| bytes(r, 0))
                    .optional()
            })
            .ctx("reading a tree node")?
    };
    found
        .map(|b| hash(&b, &format!("tree node ({level}, {index})")))
        .transpose()
}

// ---- Statistics.

pub(crate) fn stats(conn: &Connection, path: &Path) -> Result<StoreStats, StoreError> {
    // The head's size is the number of entries (the ledger is dense and append-only) and
    // costs one row instead of a scan.
    let entries = read_head(conn)?.frontier.size();
    let entities: i64 = conn
        .prepare_cached("SELECT count(*) FROM entities WHERE deleted = 0")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .ctx("counting entities")?;
    let pages: i64 = conn
        .pragma_query_value(None, "page_count", |r| r.get(0))
        .ctx("page_count")?;
    let page_size: i64 = conn
        .pragma_query_value(None, "page_size", |r| r.get(0))
        .ctx("page_size")?;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal_bytes = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    Ok(StoreStats {
        entries,
        entities: uint(entities, "entity count")?,
        bytes: uint(pages.saturating_mul(page_size), "database size")? + wal_bytes,
    })
}

/// A subject's key row (see `migrations/0002_subject_keys.sql`).
pub(crate) fn subject_key(
    conn: &Connection,
    subject: &str,
) -> Result<Option<SubjectKey>, StoreError> {
    type KeyRow = (Option<Vec<u8>>, String, Option<String>);
    let row: Option<KeyRow> = conn
        .prepare_cached(
            "SELECT wrapped, created_at, erased_at FROM subject_keys WHERE subject = ?1",
        )
        .and_then(|mut s| {
            s.query_row(params![subject], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })
        .ctx("reading a subject key")?;
    let Some((wrapped, created_at, erased_at)) = row else {
        return Ok(None);
    };
    let what = format!("subject key {subject:?}");
    Ok(Some(SubjectKey {
        subject: subject.to_owned(),
        wrapped,
        created_at: time(&created_at, &format!("{what}: created_at"))?,
        erased_at: erased_at
            .map(|t| time(&t, &format!("{what}: erased_at")))
            .transpose()?,
    }))
}

pub(crate) fn insert_subject_key(conn: &Connection, key: &SubjectKey) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO subject_keys (subject, wrapped, created_at, erased_at) \
         VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (subject) DO UPDATE SET wrapped = excluded.wrapped, \
           created_at = excluded.created_at, erased_at = excluded.erased_at",
    )
    .and_then(|mut s| {
        s.execute(params![
            key.subject,
            key.wrapped,
            timefmt::format(key.created_at),
            key.erased_at.map(timefmt::format),
        ])
    })
    .ctx("storing a subject key")?;
    Ok(())
}

/// Overwrites the wrapped key with zeros first, then with NULL, so that the bytes do not
/// survive in the row's old image (`secure_delete` zeroes the freed space on the page).
pub(crate) fn erase_subject_key(
    conn: &Connection,
    subject: &str,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE subject_keys SET wrapped = zeroblob(length(wrapped)) WHERE subject = ?1",
    )
    .and_then(|mut s| s.execute(params![subject]))
    .ctx("erasing a subject key")?;
    conn.prepare_cached(
        "UPDATE subject_keys SET wrapped = NULL, erased_at = ?2 WHERE subject = ?1",
    )
    .and_then(|mut s| s.execute(params![subject, timefmt::format(at)]))
    .ctx("erasing a subject key")?;
    Ok(())
}
