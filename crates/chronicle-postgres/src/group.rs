//! One group commit's writes: the [`LedgerTxn`] the shared executor runs on.
//!
//! Entry rows and tree nodes collect in memory and go to PostgreSQL in multi-row statements
//! (`UNNEST` of arrays) of [`SEND_AT`] to [`CHUNK`] rows, through the [`Pipe`], so that PostgreSQL
//! stores one chunk while the writer computes the next. Entity states stay in an overlay
//! (which also answers loads, after one prefetch for the whole group) and are written once,
//! at the end, in their final state.
//!
//! A request that must not be kept (a failed atomic batch, or data PostgreSQL cannot store)
//! is undone: rows not sent yet are dropped, the overlay is restored from a journal, and rows
//! that were already sent are rolled back to the savepoint that opened before the request's
//! first chunk left. Requests small enough to fit in a chunk never need a savepoint.

use crate::pipe::{EntryColumns, Finish, FinishError, Key, Pipe, Rows};
use crate::rows::int;
use chronicle_core::merkle::{Hash, Node};
use chronicle_core::{EntityState, Entry};
use chronicle_store::executor::{LedgerState, LedgerTxn};
use chronicle_store::{StoreError, SubjectKey};
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// Rows of one request that make it send them before it ends (inside a savepoint).
pub(crate) const CHUNK: usize = 256;
/// Rows of finished requests that are sent at once rather than collected further: small
/// enough that PostgreSQL starts on a group's first requests while later ones are computed,
/// large enough that statements are few.
pub(crate) const SEND_AT: usize = 32;

impl EntryColumns {
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

/// One undoable change to the subject keys the group holds.
struct KeyUndo {
    subject: String,
    before: Option<Option<SubjectKey>>,
    newly_dirty: bool,
}

/// Where the current request started.
#[derive(Clone, Copy, Debug, Default)]
struct Mark {
    /// Unsent entry rows and nodes that belong to earlier requests.
    entries: usize,
    nodes: usize,
    journal: usize,
    key_journal: usize,
    /// The request's first rows have left, inside a savepoint.
    streamed: bool,
}

pub(crate) struct Group {
    pipe: Pipe,
    /// Entity states as the group sees them. `Some(None)`: known to be absent.
    overlay: HashMap<Key, Option<EntityState>>,
    /// Keys the group wrote, in the order first written.
    dirty: Vec<Key>,
    is_dirty: HashMap<Key, ()>,
    journal: Vec<Undo>,
    /// Subject keys as the group sees them (`Some(None)`: known to be absent), written at the
    /// end like the entities; the ones written, in order; their undo journal.
    keys: HashMap<String, Option<SubjectKey>>,
    dirty_keys: Vec<String>,
    key_journal: Vec<KeyUndo>,
    /// Rows not sent yet.
    entries: EntryColumns,
    nodes: Vec<Node>,
    mark: Mark,
    /// (seq, id) of the current request's last entry.
    current_last: Option<(i64, Uuid)>,
    /// (seq, id) of the last entry of a kept request.
    last_kept: Option<(i64, Uuid)>,
    /// Set when the last error came from this request's own data rather than from the
    /// database: the request fails alone and the group goes on.
    request_error: bool,
}

impl Group {
    pub(crate) fn new(pipe: Pipe) -> Self {
        Group {
            pipe,
            overlay: HashMap::new(),
            dirty: Vec::new(),
            is_dirty: HashMap::new(),
            journal: Vec::new(),
            keys: HashMap::new(),
            dirty_keys: Vec::new(),
            key_journal: Vec::new(),
            entries: EntryColumns::default(),
            nodes: Vec::new(),
            mark: Mark::default(),
            current_last: None,
            last_kept: None,
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
        for state in self.pipe.prefetch(keys.clone()).await? {
            self.overlay
                .insert((state.entity_type.clone(), state.id.clone()), Some(state));
        }
        for key in keys {
            self.overlay.entry(key).or_insert(None);
        }
        Ok(())
    }

    /// Starts a request: what is buffered so far belongs to earlier, kept requests.
    pub(crate) fn begin_request(&mut self) {
        self.mark = Mark {
            entries: self.entries.len(),
            nodes: self.nodes.len(),
            journal: self.journal.len(),
            key_journal: self.key_journal.len(),
            streamed: false,
        };
        self.current_last = None;
        self.request_error = false;
    }

    /// (seq, id) of the group's last entry, to find out after a lost COMMIT whether it took
    /// effect; None when the group appended nothing.
    pub(crate) fn last_entry(&self) -> Option<(i64, Uuid)> {
        self.last_kept
    }

    /// Ends a request, keeping its writes or undoing them.
    pub(crate) async fn end_request(&mut self, keep: bool) {
        if keep {
            if self.current_last.is_some() {
                self.last_kept = self.current_last;
            }
            if self.entries.len() >= SEND_AT || self.mark.streamed {
                self.send_all().await;
            }
            if self.mark.streamed {
                self.pipe.send_sql("RELEASE SAVEPOINT chronicle_request");
            }
        } else {
            self.entries.split_off(self.mark.entries);
            self.nodes.truncate(self.mark.nodes);
            if self.mark.streamed {
                self.pipe
                    .send_sql("ROLLBACK TO SAVEPOINT chronicle_request");
                self.pipe.send_sql("RELEASE SAVEPOINT chronicle_request");
            }
            self.undo_overlay();
        }
        self.mark = Mark {
            entries: self.entries.len(),
            nodes: self.nodes.len(),
            journal: self.journal.len(),
            key_journal: self.key_journal.len(),
            streamed: false,
        };
    }

    fn undo_overlay(&mut self) {
        while self.journal.len() > self.mark.journal {
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
        while self.key_journal.len() > self.mark.key_journal {
            let undo = self
                .key_journal
                .pop()
                .expect("journal is longer than the mark");
            if undo.newly_dirty {
                let popped = self.dirty_keys.pop();
                debug_assert_eq!(popped.as_ref(), Some(&undo.subject));
            }
            match undo.before {
                Some(before) => self.keys.insert(undo.subject, before),
                None => self.keys.remove(&undo.subject),
            };
        }
    }

    fn put_key(&mut self, key: SubjectKey) {
        let newly_dirty = !self.dirty_keys.contains(&key.subject);
        if newly_dirty {
            self.dirty_keys.push(key.subject.clone());
        }
        let subject = key.subject.clone();
        let before = self.keys.insert(subject.clone(), Some(key));
        self.key_journal.push(KeyUndo {
            subject,
            before,
            newly_dirty,
        });
    }

    async fn send_all(&mut self) {
        let rows = Rows {
            entries: self.entries.split_off(0),
            nodes: std::mem::take(&mut self.nodes),
        };
        if rows.entries.len() > 0 || !rows.nodes.is_empty() {
            self.pipe.send_rows(rows).await;
        }
    }

    /// The current request has a chunk's worth of rows of its own: send the earlier requests'
    /// rows as they are, then this request's inside a savepoint it can roll back to.
    async fn stream(&mut self) {
        if self.mark.entries > 0 || self.mark.nodes > 0 {
            let entries = self.entries.split_off(self.mark.entries);
            let nodes = self.nodes.split_off(self.mark.nodes);
            let earlier = Rows {
                entries: std::mem::replace(&mut self.entries, entries),
                nodes: std::mem::replace(&mut self.nodes, nodes),
            };
            self.pipe.send_rows(earlier).await;
            self.mark.entries = 0;
            self.mark.nodes = 0;
        }
        if !self.mark.streamed {
            self.pipe.send_sql("SAVEPOINT chronicle_request");
            self.mark.streamed = true;
        }
        self.send_all().await;
    }

    /// Whether the error just returned by the executor was the request's own (and the group
    /// can go on without it).
    pub(crate) fn take_request_error(&mut self) -> bool {
        std::mem::take(&mut self.request_error)
    }

    /// Sends the remaining rows, the entities and the head, and commits.
    /// `head` is the new ledger head, None when the group appended nothing (then there is
    /// nothing to write either, and the commit only releases the head lock).
    pub(crate) async fn finish(mut self, head: Option<LedgerState>) -> Result<(), FinishError> {
        self.send_all().await;
        let mut entities = Vec::with_capacity(self.dirty.len());
        for key in std::mem::take(&mut self.dirty) {
            match self.overlay.remove(&key) {
                Some(Some(state)) => entities.push(state),
                // Only `save_entity` makes a key dirty, and it stores a state.
                _ => {
                    return Err(FinishError::Before(StoreError::internal_msg(format!(
                        "entity {} {} was written but has no state",
                        key.0, key.1
                    ))));
                }
            }
        }
        let mut subject_keys = Vec::with_capacity(self.dirty_keys.len());
        for subject in std::mem::take(&mut self.dirty_keys) {
            if let Some(Some(key)) = self.keys.remove(&subject) {
                subject_keys.push(key);
            }
        }
        self.pipe
            .finish(Finish {
                entities,
                subject_keys,
                head,
            })
            .await
    }

    /// Abandons the group: nothing more is sent, and the connection is to be discarded.
    pub(crate) fn abort(self) {
        self.pipe.abort();
    }

    fn refuse(&mut self, message: String) -> StoreError {
        self.request_error = true;
        StoreError::internal_msg(message)
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

impl LedgerTxn for Group {
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
        let state = self.pipe.load(key.clone()).await?;
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
        self.current_last = Some((int(entry.seq), entry.id));
        self.nodes.extend_from_slice(nodes);
        if self.entries.len() - self.mark.entries >= CHUNK {
            self.stream().await;
        }
        Ok(())
    }

    async fn subject_key(&mut self, subject: &str) -> Result<Option<SubjectKey>, StoreError> {
        if let Some(known) = self.keys.get(subject) {
            return Ok(known.clone());
        }
        let key = self.pipe.subject_key(subject.to_owned()).await?;
        self.keys.insert(subject.to_owned(), key.clone());
        Ok(key)
    }

    async fn insert_subject_key(&mut self, key: &SubjectKey) -> Result<(), StoreError> {
        self.put_key(key.clone());
        Ok(())
    }

    async fn erase_subject_key(
        &mut self,
        subject: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let Some(mut key) = self.subject_key(subject).await? else {
            return Ok(());
        };
        key.wrapped = None;
        key.erased_at = Some(at);
        self.put_key(key);
        Ok(())
    }
}
