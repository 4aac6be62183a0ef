//! What crosses the storage boundary.

use chronicle_core::entry::{Operation, RequestContext, Severity};
use chronicle_core::merkle::Hash;
use chronicle_core::write::{EntityOp, EventInput, OpError};
use chronicle_core::{EntityState, Entry};
use time::OffsetDateTime;
use uuid::Uuid;

/// One request's writes: they commit together or (for atomic kinds) not at all.
#[derive(Clone, Debug)]
pub struct WriteRequest {
    pub context: RequestContext,
    pub kind: WriteKind,
}

#[derive(Clone, Debug)]
pub enum WriteKind {
    /// One entity operation.
    Single(EntityOp),
    /// Many operations under one `bulk` parent entry. `atomic`: all or nothing; otherwise each
    /// operation stands alone.
    Bulk { ops: Vec<EntityOp>, atomic: bool },
    /// All or nothing; every entry carries the transaction id, and a closing `transaction`
    /// entry (whose id is the transaction id) summarises it.
    Transaction { ops: Vec<EntityOp> },
    /// An event that changes no entity (read, system, config, security, ...).
    Event(EventInput),
    /// GDPR erasure: destroys the subject's data key (so every value sealed under it reads as
    /// erased) and records an `erasure` entry that names the subject and nothing else.
    Erase { subject: String },
}

/// The result of one operation that was applied (or, in a failed atomic batch, would have been).
#[derive(Clone, Debug, PartialEq)]
pub struct OpOutcome {
    pub entity: EntityState,
    /// True when the entity did not exist (or was deleted) before.
    pub created: bool,
    /// None when the operation changed nothing.
    pub entry: Option<Entry>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum WriteResponse {
    Single(Result<OpOutcome, OpError>),
    /// Bulk or transaction. `id` is the bulk id or transaction id. When `committed` is false
    /// nothing of the batch was written (an atomic batch with a failing operation): results
    /// then still say which operation failed and why.
    Batch {
        id: Uuid,
        results: Vec<Result<OpOutcome, OpError>>,
        committed: bool,
        entry: Option<Entry>,
    },
    Event(Entry),
    Erase(Erasure),
}

/// The answer to [`WriteKind::Erase`].
#[derive(Clone, Debug, PartialEq)]
pub enum Erasure {
    /// The key was destroyed and this entry records it.
    Erased(Box<Entry>),
    /// No key was ever created for the subject: nothing of theirs is sealed, nothing written.
    Unknown,
    /// The key was already destroyed then; nothing written.
    AlreadyErased { erased_at: OffsetDateTime },
}

/// A subject's row in `subject_keys` (not part of the ledger). `wrapped` is the data key
/// encrypted under the master key; None once erased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectKey {
    pub subject: String,
    pub wrapped: Option<Vec<u8>>,
    pub created_at: OffsetDateTime,
    pub erased_at: Option<OffsetDateTime>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    #[default]
    Asc,
    Desc,
}

/// Filters over entries; every field that is set must match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EntryQuery {
    /// Matches the actor's id or email.
    pub actor: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub operation: Option<Operation>,
    /// Inclusive lower bound on the timestamp.
    pub from: Option<OffsetDateTime>,
    /// Exclusive upper bound on the timestamp.
    pub to: Option<OffsetDateTime>,
    pub correlation_id: Option<String>,
    pub transaction_id: Option<Uuid>,
    pub parent_id: Option<Uuid>,
    pub rollback_id: Option<Uuid>,
    /// A JSON Pointer: entries whose change set touches it or a field beneath it.
    pub field: Option<String>,
    pub severity: Option<Severity>,
    pub tag: Option<String>,
    /// Case-insensitive text in reason or summary.
    pub q: Option<String>,
    /// Provenance: `metadata.source.system`, `.record_id` and `.import_id` (see
    /// `chronicle_core::source`).
    pub source_system: Option<String>,
    pub source_record_id: Option<String>,
    pub import_id: Option<String>,
    /// Keyset cursor: entries after this seq in the query's order.
    pub cursor: Option<u64>,
    /// Only entries with seq <= this (as-of reads by version).
    pub max_seq: Option<u64>,
    pub order: Order,
    pub limit: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Actor,
    Operation,
    EntityType,
    Hour,
    Day,
}

impl GroupBy {
    pub fn parse(s: &str) -> Option<GroupBy> {
        Some(match s {
            "actor" => GroupBy::Actor,
            "operation" => GroupBy::Operation,
            "entity_type" => GroupBy::EntityType,
            "hour" => GroupBy::Hour,
            "day" => GroupBy::Day,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// The actor id, operation, entity type, or the hour (`2026-11-27T13:00:00Z`) or day
    /// (`2026-11-27`). Entries without one group under the empty string.
    pub key: String,
    pub count: u64,
}

/// The ledger head as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerHead {
    pub tree_size: u64,
    pub root: Hash,
}

/// One stored ledger row, as it is on disk, for verifiers: the canonical bytes, the stored
/// leaf hash, and the copies of entry fields the backend keeps in columns for searching.
#[derive(Clone, Debug, PartialEq)]
pub struct RawRow {
    pub seq: u64,
    pub id: String,
    pub canonical: Vec<u8>,
    pub leaf_hash: Vec<u8>,
    pub columns: IndexedColumns,
}

/// Where the stored rows' seqs lie, as stored. A ledger's rows are exactly `1..=head`, so a
/// row outside that range was put there behind the writer's back (verify names it), and no
/// read path serves one (see [`WITHIN_HEAD_SQL`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeqExtent {
    /// The lowest seq of any row; a forged row may hold 0 or a negative seq.
    pub min: Option<i64>,
    /// The highest seq of any row.
    pub max: Option<i64>,
    /// The lowest seq above the one asked about.
    pub first_after: Option<i64>,
}

/// The condition every entry read (search, summary, entry by id) adds, in both backends'
/// SQL: only rows within the head stored at the moment of the read, in the same statement
/// and so the same snapshot (the head and the rows it covers commit together). A row forged
/// past the head, or at a seq below 1, is never served, whatever its bytes say.
pub const WITHIN_HEAD_SQL: &str =
    "seq BETWEEN 1 AND (SELECT tree_size FROM ledger_head WHERE id = 1)";

/// Entry fields that backends duplicate into columns. `verify` checks that they agree with
/// the canonical bytes, so that editing a column (which changes search results) is caught.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexedColumns {
    pub timestamp: String,
    pub actor_id: Option<String>,
    pub actor_email: Option<String>,
    pub operation: String,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub entity_version: Option<u64>,
    pub correlation_id: Option<String>,
    pub parent_id: Option<String>,
    pub transaction_id: Option<String>,
    pub rollback_id: Option<String>,
    pub severity: String,
}

impl IndexedColumns {
    /// The columns an entry should have.
    pub fn of(entry: &Entry) -> IndexedColumns {
        IndexedColumns {
            timestamp: chronicle_core::timefmt::format(entry.timestamp),
            actor_id: entry.actor.id.clone(),
            actor_email: entry.actor.email.clone(),
            operation: entry.operation.as_str().to_owned(),
            entity_type: entry.entity_type.clone(),
            entity_id: entry.entity_id.clone(),
            entity_version: entry.entity_version,
            correlation_id: entry.correlation_id.clone(),
            parent_id: entry.parent_id.map(|u| u.to_string()),
            transaction_id: entry.transaction_id.map(|u| u.to_string()),
            rollback_id: entry.rollback_id.map(|u| u.to_string()),
            severity: entry.severity.as_str().to_owned(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub entries: u64,
    pub entities: u64,
    /// Bytes the database occupies on disk.
    pub bytes: u64,
}
