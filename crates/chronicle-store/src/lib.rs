//! The storage boundary. Every backend implements [`Store`]; the logic that is the same for all
//! of them lives here, written once:
//!
//! # Layout
//! - [`model`]: requests, responses and queries that cross the boundary.
//! - [`error`]: [`StoreError`], which classifies failures without leaking a driver's types.
//! - [`executor`]: the write path inside one database transaction (load, plan, append, save),
//!   generic over a backend's [`executor::LedgerTxn`].
//! - [`verify`]: recomputes every leaf, the tree and the head from stored rows.
//! - [`proofs`]: inclusion and consistency proofs from stored nodes, O(log n) reads.
//! - `suite`: the conformance suite each backend's tests run unchanged; `sealing_suite`:
//!   encryption at rest and erasure, run by each backend with its raw bytes. Both only with
//!   the `testing` feature, which backends enable in their dev-dependencies, so neither is in
//!   a release build.
//! - [`seal`]: encryption at rest of sensitive values (master key, per-subject data keys,
//!   the sealed-value envelope) and the rule of which values are sensitive.
//! - [`unseal`]: [`unseal::Unsealing`], the [`Store`] decorator that opens sealed values on
//!   reads (and shows erased ones as `"[erased]"`); `rows()` stays raw.
//! - [`writer`]: [`Writer`], the one door every write passes (redaction, then the store,
//!   then the observer that wakes the stream and counts the write), with typed answers.
//!
//! *Invariant:* an entity change and its entry are written in the same database transaction
//! by [`executor::execute`]; no other code path writes either.
//!
//! *Invariant:* with a master key configured, sensitive values are sealed by the executor
//! before the entry is hashed: canonical bytes and leaf hashes cover ciphertext only.

pub mod error;
pub mod executor;
pub mod model;
pub mod proofs;
pub mod seal;
#[cfg(feature = "testing")]
pub mod sealing_suite;
#[cfg(feature = "testing")]
pub mod suite;
pub mod unseal;
pub mod verify;
pub mod writer;

pub use error::StoreError;
pub use model::*;
pub use writer::{Batch, Op, WriteObserver, Writer};

use async_trait::async_trait;
use chronicle_core::merkle::Hash;
use chronicle_core::{EntityState, Entry};
use uuid::Uuid;

/// A Chronicle backend: one ledger, the entities' current state, and the queries over them.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Executes one write request in one transaction (possibly shared with other requests by
    /// group commit) and returns only once it is durable.
    async fn write(&self, req: WriteRequest) -> Result<WriteResponse, StoreError>;

    /// The entity's current state, deleted or not.
    async fn entity(&self, entity_type: &str, id: &str) -> Result<Option<EntityState>, StoreError>;

    /// Live (not deleted) entities of a type ordered by id, after `after_id`.
    async fn list_entities(
        &self,
        entity_type: &str,
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<EntityState>, StoreError>;

    async fn entry(&self, id: Uuid) -> Result<Option<Entry>, StoreError>;

    /// Entries matching every filter of the query, in the query's order, at most `limit`.
    async fn search(&self, query: &EntryQuery) -> Result<Vec<Entry>, StoreError>;

    /// Counts of matching entries per group, largest first.
    async fn summary(&self, query: &EntryQuery, by: GroupBy) -> Result<Vec<Group>, StoreError>;

    /// The ledger head as stored: tree size and root.
    async fn head(&self) -> Result<LedgerHead, StoreError>;

    /// Stored rows with seq in `[start, end]` (inclusive), ascending, for verifiers.
    async fn rows(&self, start: u64, end: u64) -> Result<Vec<RawRow>, StoreError>;

    /// A stored interior node of the tree (level >= 1), or a leaf hash (level 0).
    async fn node(&self, level: u8, index: u64) -> Result<Option<Hash>, StoreError>;

    /// Many nodes at once, in the order asked (a proof's O(log n) of them in one round trip
    /// where the backend can). The default asks one by one.
    async fn nodes(&self, wanted: &[(u8, u64)]) -> Result<Vec<Option<Hash>>, StoreError> {
        let mut out = Vec::with_capacity(wanted.len());
        for &(level, index) in wanted {
            out.push(self.node(level, index).await?);
        }
        Ok(out)
    }

    async fn stats(&self) -> Result<StoreStats, StoreError>;

    /// Cheap check that the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// The subject's key row (wrapped data key, or its erasure). The default answers None:
    /// a store without `subject_keys` has sealed nothing.
    async fn subject_key(&self, subject: &str) -> Result<Option<SubjectKey>, StoreError> {
        let _ = subject;
        Ok(None)
    }

    /// The store beneath a read decorator, whose reads return what is stored (sealed values
    /// sealed). `None`: this store's reads already do.
    fn stored(&self) -> Option<&dyn Store> {
        None
    }

    /// Seals the sensitive fields of entity states that an engine record embeds (a rollback
    /// plan's before and after), each under its subject's key, so that the record holds no
    /// plaintext of them; an erased subject's fields become `"[erased]"`. Each state is
    /// (entity type, id, data); the answer is the data, in order.
    ///
    /// Required, with no default: a decorator that forgot to forward it would otherwise
    /// store plaintext silently. A store that seals nothing at rest answers
    /// [`unsealed_states`].
    async fn seal_states(
        &self,
        states: Vec<(String, String, serde_json::Value)>,
    ) -> Result<Vec<serde_json::Value>, StoreError>;

    /// Opens sealed fields of entity states (those [`Store::seal_states`] sealed, and entity
    /// data read through [`Store::stored`]); erased ones read `"[erased]"`. Required for the
    /// same reason as `seal_states`.
    async fn open_states(
        &self,
        states: Vec<(String, String, serde_json::Value)>,
    ) -> Result<Vec<serde_json::Value>, StoreError>;
}

/// The states' data as they are: the answer of [`Store::seal_states`] and
/// [`Store::open_states`] for a store whose reads and records hold no sealed values (a backend
/// read raw; sealing at rest is the [`unseal::Unsealing`] decorator's).
pub fn unsealed_states(states: Vec<(String, String, serde_json::Value)>) -> Vec<serde_json::Value> {
    states.into_iter().map(|(_, _, data)| data).collect()
}
