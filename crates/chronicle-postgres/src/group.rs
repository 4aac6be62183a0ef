//! One group commit's writes, buffered: the [`LedgerTxn`] the shared executor runs on.
//!
//! Nothing a request writes is sent to PostgreSQL while the group executes. Entries, tree
//! nodes and entity states collect in memory and go out at the end in three multi-row
//! statements (`UNNEST` of arrays), so a group of a thousand requests costs a handful of round
//! trips, not thousands. Loads see the group's own earlier writes through an overlay of entity
//! states, which also caches what the group read (everything it will touch is prefetched in
//! one query once the ledger head is locked). A request that must not be kept (a failed
//! atomic batch) is undone with [`Group::rollback_to`]: since none of its writes reached the
//! database, undoing it is truncating buffers and restoring the overlay from a journal, which
//! is what a savepoint would have done, without its round trips.

use crate::error::Context;
use crate::rows::{self, ENTITY_COLUMNS, int};
use chronicle_core::merkle::{Hash, Node};
use chronicle_core::{EntityState, Entry};
use chronicle_store::StoreError;
use chronicle_store::executor::{LedgerState, LedgerTxn};
use sqlx::{AssertSqlSafe, PgConnection};
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

type Key = (String, String);

/// The entry columns of the buffered rows, one vector per column (the shape `UNNEST` takes).
#[derive(Default)]
struct EntryColumns {
    seq: Vec<i64>,
    id: Vec<Uuid>,
    ts: Vec<OffsetDateTime>,
    actor_id: Vec<Option<String>>,
    actor_email: Vec<Option<String>>,
    operation: Vec<&'static str>,
    entity_type: Vec<Option<String>>,
    entity_id: Vec<Option<String>>,
    entity_version: Vec<Option<i64>>,
    correlation_id: Vec<Option<String>>,
    parent_id: Vec<Option<Uuid>>,
    transaction_id: Vec<Option<Uuid>>,
    rollback_id: Vec<Option<Uuid>>,
    severity: Vec<&'static str>,
    canonical: Vec<String>,
    leaf_hash: Vec<Vec<u8>>,
}

impl EntryColumns {
    fn len(&self) -> usize {
        self.seq.len()
    }

    fn truncate(&mut self, n: usize) {
        self.seq.truncate(n);
        self.id.truncate(n);
        self.ts.truncate(n);
        self.actor_id.truncate(n);
        self.actor_email.truncate(n);
        self.operation.truncate(n);
        self.entity_type.truncate(n);
        self.entity_id.truncate(n);
        self.entity_version.truncate(n);
        self.correlation_id.truncate(n);
        self.parent_id.truncate(n);
        self.transaction_id.truncate(n);
        self.rollback_id.truncate(n);
        self.severity.truncate(n);
        self.canonical.truncate(n);
        self.leaf_hash.truncate(n);
    }

    fn push(&mut self, entry: &Entry, canonical: String, leaf: &Hash) {
        self.seq.push(int(entry.seq));
        self.id.push(entry.id);
        self.ts.push(entry.timestamp);
        self.actor_id.push(entry.actor.id.clone());
        self.actor_email.push(entry.actor.email.clone());
        self.operation.push(entry.operation.as_str());
        self.entity_type.push(entry.entity_type.clone());
        self.entity_id.push(entry.entity_id.clone());
        self.entity_version.push(entry.entity_version.map(int));
        self.correlation_id.push(entry.correlation_id.clone());
        self.parent_id.push(entry.parent_id);
        self.transaction_id.push(entry.transaction_id);
        self.rollback_id.push(entry.rollback_id);
        self.severity.push(entry.severity.as_str());
        self.canonical.push(canonical);
        self.leaf_hash.push(leaf.to_vec());
    }
}

/// One undoable change to the overlay.
struct Undo {
    key: Key,
    /// What the overlay held for the key before (None: nothing, not even "absent").
    before: Option<Option<EntityState>>,
    /// Whether this change made the key dirty (so undoing it pops `dirty`).
    newly_dirty: bool,
}

/// Where a request started, to roll back to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mark {
    entries: usize,
    nodes: usize,
    journal: usize,
}

pub(crate) struct Group<'c> {
    conn: &'c mut PgConnection,
    /// Entity states as the group sees them. `Some(None)`: known to be absent.
    overlay: HashMap<Key, Option<EntityState>>,
    /// Keys the group wrote, in the order first written.
    dirty: Vec<Key>,
    is_dirty: HashMap<Key, ()>,
    journal: Vec<Undo>,
    entries: EntryColumns,
    nodes: Vec<Node>,
    /// Set when the last error came from this request's own data rather than from the
    /// database: the request fails alone and the group goes on.
    request_error: bool,
}

impl<'c> Group<'c> {
    pub(crate) fn new(conn: &'c mut PgConnection) -> Self {
        Group {
            conn,
            overlay: HashMap::new(),
            dirty: Vec::new(),
            is_dirty: HashMap::new(),
            journal: Vec::new(),
            entries: EntryColumns::default(),
            nodes: Vec::new(),
            request_error: false,
        }
    }

    /// Loads every listed entity that exists into the overlay, and marks the others absent:
    /// one query for a whole group. Must run after the ledger head is locked, since only the
    /// holder of that lock writes entities.
    pub(crate) async fn prefetch(&mut self, keys: Vec<Key>) -> Result<(), StoreError> {
        let keys: Vec<Key> = keys
            .into_iter()
            .filter(|k| !self.overlay.contains_key(k))
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        let (types, ids): (Vec<&str>, Vec<&str>) =
            keys.iter().map(|(t, i)| (t.as_str(), i.as_str())).unzip();
        let sql = format!(
            "SELECT {ENTITY_COLUMNS} FROM entities \
             WHERE (entity_type, id) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))"
        );
        let found = sqlx::query(AssertSqlSafe(sql))
            .bind(types)
            .bind(ids)
            .fetch_all(&mut *self.conn)
            .await
            .ctx("prefetching entities")?;
        for row in &found {
            let state = rows::entity_of(row)?;
            self.overlay
                .insert((state.entity_type.clone(), state.id.clone()), Some(state));
        }
        for key in keys {
            self.overlay.entry(key).or_insert(None);
        }
        Ok(())
    }

    pub(crate) fn mark(&self) -> Mark {
        Mark {
            entries: self.entries.len(),
            nodes: self.nodes.len(),
            journal: self.journal.len(),
        }
    }

    /// Undoes everything buffered since `mark`.
    pub(crate) fn rollback_to(&mut self, mark: Mark) {
        self.entries.truncate(mark.entries);
        self.nodes.truncate(mark.nodes);
        while self.journal.len() > mark.journal {
            let undo = self.journal.pop().expect("journal is longer than the mark");
            if undo.newly_dirty {
                let popped = self.dirty.pop();
                debug_assert_eq!(popped.as_ref(), Some(&undo.key));
                self.is_dirty.remove(&undo.key);
            }
            match undo.before {
                Some(before) => self.overlay.insert(undo.key, before),
                None => self.overlay.remove(&undo.key),
            };
        }
        self.request_error = false;
    }

    /// Whether the error just returned by the executor was the request's own (and the group
    /// can go on without it).
    pub(crate) fn take_request_error(&mut self) -> bool {
        std::mem::take(&mut self.request_error)
    }

    pub(crate) fn appended(&self) -> usize {
        self.entries.len()
    }

    /// The (seq, id) of the last buffered entry, to find out after a lost COMMIT whether it
    /// took effect.
    pub(crate) fn last_entry(&self) -> Option<(i64, Uuid)> {
        Some((*self.entries.seq.last()?, *self.entries.id.last()?))
    }

    fn refuse(&mut self, message: String) -> StoreError {
        self.request_error = true;
        StoreError::internal_msg(message)
    }

    /// Sends every buffered row and the new head. The caller commits.
    pub(crate) async fn flush(&mut self, ledger: &LedgerState) -> Result<(), StoreError> {
        let e = std::mem::take(&mut self.entries);
        if !e.seq.is_empty() {
            sqlx::query(
                "INSERT INTO entries (seq, id, ts, actor_id, actor_email, operation, entity_type, \
                   entity_id, entity_version, correlation_id, parent_id, transaction_id, \
                   rollback_id, severity, canonical, leaf_hash) \
                 SELECT * FROM UNNEST($1::int8[], $2::uuid[], $3::timestamptz[], $4::text[], \
                   $5::text[], $6::text[], $7::text[], $8::text[], $9::int8[], $10::text[], \
                   $11::uuid[], $12::uuid[], $13::uuid[], $14::text[], $15::text[], $16::bytea[])",
            )
            .bind(e.seq)
            .bind(e.id)
            .bind(e.ts)
            .bind(e.actor_id)
            .bind(e.actor_email)
            .bind(e.operation)
            .bind(e.entity_type)
            .bind(e.entity_id)
            .bind(e.entity_version)
            .bind(e.correlation_id)
            .bind(e.parent_id)
            .bind(e.transaction_id)
            .bind(e.rollback_id)
            .bind(e.severity)
            .bind(e.canonical)
            .bind(e.leaf_hash)
            .execute(&mut *self.conn)
            .await
            .ctx("appending entries")?;
        }
        let nodes = std::mem::take(&mut self.nodes);
        if !nodes.is_empty() {
            let level: Vec<i16> = nodes.iter().map(|n| i16::from(n.level)).collect();
            let idx: Vec<i64> = nodes.iter().map(|n| int(n.index)).collect();
            let hash: Vec<Vec<u8>> = nodes.iter().map(|n| n.hash.to_vec()).collect();
            sqlx::query(
                "INSERT INTO merkle_nodes (level, idx, hash) \
                 SELECT * FROM UNNEST($1::int2[], $2::int8[], $3::bytea[])",
            )
            .bind(level)
            .bind(idx)
            .bind(hash)
            .execute(&mut *self.conn)
            .await
            .ctx("appending tree nodes")?;
        }
        if !self.dirty.is_empty() {
            self.flush_entities().await?;
        }
        let (frontier, _) = ledger.encode();
        let changed = sqlx::query(
            "UPDATE ledger_head SET tree_size = $1, frontier = $2, last_ts = $3 WHERE id = 1",
        )
        .bind(int(ledger.frontier.size()))
        .bind(frontier)
        .bind(ledger.last_timestamp)
        .execute(&mut *self.conn)
        .await
        .ctx("writing the ledger head")?
        .rows_affected();
        if changed != 1 {
            return Err(StoreError::Corrupt("the ledger head row is missing".into()));
        }
        Ok(())
    }

    async fn flush_entities(&mut self) -> Result<(), StoreError> {
        let n = self.dirty.len();
        let mut entity_type = Vec::with_capacity(n);
        let mut id = Vec::with_capacity(n);
        let mut version = Vec::with_capacity(n);
        let mut data = Vec::with_capacity(n);
        let mut deleted = Vec::with_capacity(n);
        let mut created_at = Vec::with_capacity(n);
        let mut updated_at = Vec::with_capacity(n);
        let mut last_seq = Vec::with_capacity(n);
        for key in std::mem::take(&mut self.dirty) {
            let Some(Some(state)) = self.overlay.get(&key) else {
                // Only `save_entity` makes a key dirty, and it stores a state.
                return Err(StoreError::internal_msg(format!(
                    "entity {} {} was written but has no state",
                    key.0, key.1
                )));
            };
            let text = serde_json::to_string(&state.data)
                .map_err(|e| StoreError::internal("encoding entity data", e))?;
            version.push(int(state.version));
            data.push(text);
            deleted.push(state.deleted);
            created_at.push(state.created_at);
            updated_at.push(state.updated_at);
            last_seq.push(int(state.last_seq));
            entity_type.push(key.0);
            id.push(key.1);
        }
        self.is_dirty.clear();
        sqlx::query(
            "INSERT INTO entities (entity_type, id, version, data, deleted, created_at, \
               updated_at, last_seq) \
             SELECT t, i, v, d::jsonb, x, c, u, s FROM UNNEST($1::text[], $2::text[], \
               $3::int8[], $4::text[], $5::bool[], $6::timestamptz[], $7::timestamptz[], \
               $8::int8[]) AS r(t, i, v, d, x, c, u, s) \
             ON CONFLICT (entity_type, id) DO UPDATE SET version = excluded.version, \
               data = excluded.data, deleted = excluded.deleted, \
               created_at = excluded.created_at, updated_at = excluded.updated_at, \
               last_seq = excluded.last_seq",
        )
        .bind(entity_type)
        .bind(id)
        .bind(version)
        .bind(data)
        .bind(deleted)
        .bind(created_at)
        .bind(updated_at)
        .bind(last_seq)
        .execute(&mut *self.conn)
        .await
        .ctx("saving entities")?;
        Ok(())
    }
}

/// PostgreSQL's text and JSONB cannot hold U+0000.
fn has_nul(s: Option<&str>) -> bool {
    s.is_some_and(|s| s.contains('\0'))
}

fn json_has_nul(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(a) => a.iter().any(json_has_nul),
        serde_json::Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || json_has_nul(v)),
        _ => false,
    }
}

impl LedgerTxn for Group<'_> {
    async fn load_entity(
        &mut self,
        entity_type: &str,
        id: &str,
    ) -> Result<Option<EntityState>, StoreError> {
        let key = (entity_type.to_owned(), id.to_owned());
        if let Some(known) = self.overlay.get(&key) {
            return Ok(known.clone());
        }
        // Not prefetched (the writer prefetches every key it can see in the requests).
        let sql =
            format!("SELECT {ENTITY_COLUMNS} FROM entities WHERE entity_type = $1 AND id = $2");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(entity_type)
            .bind(id)
            .fetch_optional(&mut *self.conn)
            .await
            .ctx("reading an entity")?;
        let state = row.as_ref().map(rows::entity_of).transpose()?;
        self.overlay.insert(key, state.clone());
        Ok(state)
    }

    async fn save_entity(&mut self, state: &EntityState) -> Result<(), StoreError> {
        if has_nul(Some(&state.entity_type))
            || has_nul(Some(&state.id))
            || json_has_nul(&state.data)
        {
            return Err(self.refuse(format!(
                "entity {} {}: PostgreSQL cannot store the character U+0000",
                state.entity_type.escape_debug(),
                state.id.escape_debug()
            )));
        }
        let key = (state.entity_type.clone(), state.id.clone());
        let newly_dirty = self.is_dirty.insert(key.clone(), ()).is_none();
        if newly_dirty {
            self.dirty.push(key.clone());
        }
        let before = self.overlay.insert(key.clone(), Some(state.clone()));
        self.journal.push(Undo {
            key,
            before,
            newly_dirty,
        });
        Ok(())
    }

    async fn append_entry(
        &mut self,
        entry: &Entry,
        canonical: &[u8],
        leaf: &Hash,
        nodes: &[Node],
    ) -> Result<(), StoreError> {
        let text = match String::from_utf8(canonical.to_vec()) {
            Ok(text) => text,
            Err(e) => return Err(StoreError::internal("canonical bytes are not UTF-8", e)),
        };
        if [
            entry.actor.id.as_deref(),
            entry.actor.email.as_deref(),
            entry.entity_type.as_deref(),
            entry.entity_id.as_deref(),
            entry.correlation_id.as_deref(),
        ]
        .into_iter()
        .any(has_nul)
        {
            return Err(self.refuse(format!(
                "entry {}: PostgreSQL cannot store the character U+0000 in a searchable field",
                entry.id
            )));
        }
        self.entries.push(entry, text, leaf);
        self.nodes.extend_from_slice(nodes);
        Ok(())
    }
}
