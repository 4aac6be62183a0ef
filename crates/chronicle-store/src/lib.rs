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
///
/// A decorator (logging, fault injection, unsealing) forwards sealing or does not compile:
/// `seal_states` and `open_states` have no default. This one forgot them:
///
/// ```compile_fail
/// # use chronicle_store::*;
/// # use chronicle_core::{EntityState, Entry, merkle::Hash};
/// # use std::sync::Arc;
/// # use uuid::Uuid;
/// struct Logged(Arc<dyn Store>);
///
/// #[async_trait::async_trait]
/// impl Store for Logged {
///     async fn write(&self, req: WriteRequest) -> Result<WriteResponse, StoreError> {
///         println!("writing");
///         self.0.write(req).await
///     }
/// #   async fn entity(&self, t: &str, id: &str) -> Result<Option<EntityState>, StoreError> {
/// #       self.0.entity(t, id).await
/// #   }
/// #   async fn list_entities(
/// #       &self,
/// #       t: &str,
/// #       after: Option<&str>,
/// #       limit: usize,
/// #   ) -> Result<Vec<EntityState>, StoreError> {
/// #       self.0.list_entities(t, after, limit).await
/// #   }
/// #   async fn entry(&self, id: Uuid) -> Result<Option<Entry>, StoreError> {
/// #       self.0.entry(id).await
/// #   }
/// #   async fn search(&self, q: &EntryQuery) -> Result<Vec<Entry>, StoreError> {
/// #       self.0.search(q).await
/// #   }
/// #   async fn summary(&self, q: &EntryQuery, by: GroupBy) -> Result<Vec<Group>, StoreError> {
/// #       self.0.summary(q, by).await
/// #   }
/// #   async fn head(&self) -> Result<LedgerHead, StoreError> {
/// #       self.0.head().await
/// #   }
/// #   async fn rows(&self, a: u64, b: u64) -> Result<Vec<RawRow>, StoreError> {
/// #       self.0.rows(a, b).await
/// #   }
/// #   async fn seq_extent(&self, after: u64) -> Result<SeqExtent, StoreError> {
/// #       self.0.seq_extent(after).await
/// #   }
/// #   async fn node(&self, level: u8, index: u64) -> Result<Option<Hash>, StoreError> {
/// #       self.0.node(level, index).await
/// #   }
/// #   async fn stats(&self) -> Result<StoreStats, StoreError> {
/// #       self.0.stats().await
/// #   }
/// #   async fn ping(&self) -> Result<(), StoreError> {
/// #       self.0.ping().await
/// #   }
/// }
/// ```
///
/// and this one, the same with them forwarded, compiles:
///
/// ```
/// # use chronicle_store::*;
/// # use chronicle_core::{EntityState, Entry, merkle::Hash};
/// # use std::sync::Arc;
/// # use uuid::Uuid;
/// struct Logged(Arc<dyn Store>);
///
/// #[async_trait::async_trait]
/// impl Store for Logged {
///     async fn write(&self, req: WriteRequest) -> Result<WriteResponse, StoreError> {
///         println!("writing");
///         self.0.write(req).await
///     }
/// #   async fn entity(&self, t: &str, id: &str) -> Result<Option<EntityState>, StoreError> {
/// #       self.0.entity(t, id).await
/// #   }
/// #   async fn list_entities(
/// #       &self,
/// #       t: &str,
/// #       after: Option<&str>,
/// #       limit: usize,
/// #   ) -> Result<Vec<EntityState>, StoreError> {
/// #       self.0.list_entities(t, after, limit).await
/// #   }
/// #   async fn entry(&self, id: Uuid) -> Result<Option<Entry>, StoreError> {
/// #       self.0.entry(id).await
/// #   }
/// #   async fn search(&self, q: &EntryQuery) -> Result<Vec<Entry>, StoreError> {
/// #       self.0.search(q).await
/// #   }
/// #   async fn summary(&self, q: &EntryQuery, by: GroupBy) -> Result<Vec<Group>, StoreError> {
/// #       self.0.summary(q, by).await
/// #   }
/// #   async fn head(&self) -> Result<LedgerHead, StoreError> {
/// #       self.0.head().await
/// #   }
/// #   async fn rows(&self, a: u64, b: u64) -> Result<Vec<RawRow>, StoreError> {
/// #       self.0.rows(a, b).await
/// #   }
/// #   async fn seq_extent(&self, after: u64) -> Result<SeqExtent, StoreError> {
/// #       self.0.seq_extent(after).await
/// #   }
/// #   async fn node(&self, level: u8, index: u64) -> Result<Option<Hash>, StoreError> {
/// #       self.0.node(level, index).await
/// #   }
/// #   async fn stats(&self) -> Result<StoreStats, StoreError> {
/// #       self.0.stats().await
/// #   }
/// #   async fn ping(&self) -> Result<(), StoreError> {
/// #       self.0.ping().await
/// #   }
///     async fn seal_states(
///         &self,
///         states: Vec<(String, String, serde_json::Value)>,
///     ) -> Result<Vec<serde_json::Value>, StoreError> {
///         self.0.seal_states(states).await
///     }
///     async fn open_states(
///         &self,
///         states: Vec<(String, String, serde_json::Value)>,
///     ) -> Result<Vec<serde_json::Value>, StoreError> {
///         self.0.open_states(states).await
///     }
/// }
/// ```
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

    /// The entry with this id, if its row lies within `1..=head` ([`WITHIN_HEAD_SQL`]).
    async fn entry(&self, id: Uuid) -> Result<Option<Entry>, StoreError>;

    /// Entries matching every filter of the query, in the query's order, at most `limit`;
    /// never a row outside `1..=head` ([`WITHIN_HEAD_SQL`]).
    async fn search(&self, query: &EntryQuery) -> Result<Vec<Entry>, StoreError>;

    /// Counts of matching entries per group, largest first.
    async fn summary(&self, query: &EntryQuery, by: GroupBy) -> Result<Vec<Group>, StoreError>;

    /// The ledger head as stored: tree size and root.
    async fn head(&self) -> Result<LedgerHead, StoreError>;

    /// Stored rows with seq in `[start, end]` (inclusive), ascending, for verifiers. Raw:
    /// rows past the head are returned too, so that a verifier sees them; read paths that
    /// serve rows to clients clamp `end` to the head.
    async fn rows(&self, start: u64, end: u64) -> Result<Vec<RawRow>, StoreError>;

    /// The lowest and highest seq of every stored row, and the lowest above `after`: how a
    /// verifier finds rows outside `1..=head` without reading them all. Required, so that a
    /// decorator cannot forget to forward it and make verification blind.
    async fn seq_extent(&self, after: u64) -> Result<SeqExtent, StoreError>;

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
