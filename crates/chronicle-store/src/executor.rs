//! The write path, once for every backend. A backend opens a database transaction, hands this
//! module a [`LedgerTxn`] over it and the ledger's current state, and commits when
//! [`execute`] returns. Group commit runs several requests through `execute` in one
//! transaction, each inside a savepoint: a request whose `keep` is false is rolled back to its
//! savepoint (and its [`LedgerState`] restored) without disturbing the others.
//!
//! With a [`Sealer`] (a master key is configured), sensitive values are opened before
//! planning (validation and the diff see plaintext, so writing the same value again changes
//! nothing) and sealed before the entry is hashed and the entity saved. Unchanged values keep
//! their envelope; a subject's data key is created in the same transaction the first time
//! something of theirs is sealed. The caller gets the plaintext back.

use crate::error::StoreError;
use crate::model::{Erasure, OpOutcome, SubjectKey, WriteKind, WriteRequest, WriteResponse};
use crate::seal::{self, DataKey, Sealer, Side};
use chronicle_core::canonical;
use chronicle_core::entry::{Operation, RequestContext, Severity};
use chronicle_core::merkle::{Frontier, Hash, Node};
use chronicle_core::schema::{FieldError, Schema};
use chronicle_core::write::{EntityOp, EntryDraft, Links, OpError, plan};
use chronicle_core::{EntityState, Entry, Impact, limits, timefmt};
use serde_json::{Value, json};
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// What the executor needs from a backend's open transaction. Reads must see the
/// transaction's own earlier writes.
#[allow(async_fn_in_trait)]
pub trait LedgerTxn {
    async fn load_entity(
        &mut self,
        entity_type: &str,
        id: &str,
    ) -> Result<Option<EntityState>, StoreError>;
    async fn save_entity(&mut self, state: &EntityState) -> Result<(), StoreError>;
    /// Appends the entry row (canonical bytes and leaf hash) and the interior tree nodes the
    /// append completed.
    async fn append_entry(
        &mut self,
        entry: &Entry,
        canonical: &[u8],
        leaf: &Hash,
        nodes: &[Node],
    ) -> Result<(), StoreError>;
    /// The subject's key row, as this transaction sees it.
    async fn subject_key(&mut self, subject: &str) -> Result<Option<SubjectKey>, StoreError>;
    /// Stores the subject's (new) wrapped key, replacing an erased row.
    async fn insert_subject_key(&mut self, key: &SubjectKey) -> Result<(), StoreError>;
    /// Destroys the subject's wrapped key: the row keeps only the subject and the times.
    async fn erase_subject_key(
        &mut self,
        subject: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;
}

/// The ledger's state at the start of a request: the tree's frontier (its size is the last
/// seq) and the newest timestamp, which no later entry may precede.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LedgerState {
    pub frontier: Frontier,
    pub last_timestamp: Option<OffsetDateTime>,
}

impl LedgerState {
    /// Serialized form kept in the backend's head row: frontier bytes, then the timestamp.
    pub fn encode(&self) -> (Vec<u8>, Option<String>) {
        (
            self.frontier.to_bytes(),
            self.last_timestamp.map(timefmt::format),
        )
    }

    pub fn decode(
        frontier: &[u8],
        last_timestamp: Option<&str>,
    ) -> Result<LedgerState, StoreError> {
        let frontier = Frontier::from_bytes(frontier)
            .map_err(|e| StoreError::Corrupt(format!("ledger head frontier: {e}")))?;
        let last_timestamp = last_timestamp
            .map(timefmt::parse)
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("ledger head timestamp: {e}")))?;
        Ok(LedgerState {
            frontier,
            last_timestamp,
        })
    }

    /// The time for a request's entries: now (or the context's backdated time), never before
    /// the previous entry, so that time order and seq order agree.
    fn timestamp(&self, ctx: &RequestContext) -> OffsetDateTime {
        let t = ctx.at.map(timefmt::truncate).unwrap_or_else(timefmt::now);
        match self.last_timestamp {
            Some(last) if last > t => last,
            _ => t,
        }
    }
}

/// The outcome of one request. When `keep` is false the caller must roll the request back
/// (to its savepoint) and restore the ledger state it had before.
#[derive(Debug)]
pub struct Executed {
    pub response: WriteResponse,
    pub keep: bool,
}

/// What the write path needs besides the transaction: the schema, and the sealer when
/// sensitive values are to be encrypted.
#[derive(Clone, Copy)]
pub struct WriteEnv<'a> {
    pub schema: &'a Schema,
    pub sealer: Option<&'a Sealer>,
}

pub async fn execute<T: LedgerTxn>(
    txn: &mut T,
    ledger: &mut LedgerState,
    env: WriteEnv<'_>,
    req: WriteRequest,
) -> Result<Executed, StoreError> {
    let ctx = req.context;
    let now = ledger.timestamp(&ctx);
    let schema = env.schema;
    let mut w = Writer {
        txn,
        ledger,
        schema,
        sealer: env.sealer,
        keys: HashMap::new(),
        ctx: &ctx,
        now,
    };
    match req.kind {
        WriteKind::Single(op) => {
            let result = w.op(op, 0, Links::default()).await?;
            Ok(Executed {
                response: WriteResponse::Single(result),
                keep: true,
            })
        }
        WriteKind::Event(event) => {
            let mut draft = event.draft(schema);
            let plain = draft.clone();
            if let (Some(ty), Some(id)) = (&draft.entity_type, &draft.entity_id) {
                let data = draft.new_values.as_ref().or(draft.old_values.as_ref());
                let subject = schema.subject_of(ty, id, data.unwrap_or(&Value::Null));
                let subjects = (subject.clone(), subject);
                w.seal_entry(&mut draft, &subjects, &HashMap::new()).await?;
            }
            let entry = w.append(draft, Links::default(), None).await?;
            Ok(Executed {
                response: WriteResponse::Event(with_plaintext(entry, plain)),
                keep: true,
            })
        }
        WriteKind::Erase { subject } => w.erase(subject).await,
        WriteKind::Bulk { ops, atomic } => w.batch(ops, atomic, false).await,
        WriteKind::Transaction { ops } => w.batch(ops, true, true).await,
    }
}

struct Writer<'a, T> {
    txn: &'a mut T,
    ledger: &'a mut LedgerState,
    schema: &'a Schema,
    sealer: Option<&'a Sealer>,
    /// Data keys unwrapped during this request (None: the subject has no usable key). They
    /// live no longer than the request, so an erasure is never undone by a stale copy.
    keys: HashMap<String, Option<DataKey>>,
    ctx: &'a RequestContext,
    now: OffsetDateTime,
}

/// The plaintext an envelope of the current state holds, per sensitive field, so that an
/// unchanged value keeps its envelope.
type Originals = HashMap<String, (Value, Value)>;

/// The entry as stored (sealed, hashed) with the plaintext values the caller wrote.
fn with_plaintext(mut entry: Entry, plain: EntryDraft) -> Entry {
    entry.old_values = plain.old_values;
    entry.new_values = plain.new_values;
    entry.change_set = plain.change_set;
    entry
}

impl<T: LedgerTxn> Writer<'_, T> {
    async fn op(
        &mut self,
        mut op: EntityOp,
        index: usize,
        links: Links,
    ) -> Result<Result<OpOutcome, OpError>, StoreError> {
        if let Err(e) = check_identifiers(&mut op, self.ctx.system) {
            return Ok(Err(e));
        }
        let id = op.id_or_assign().to_owned();
        let ty = op.entity_type().to_owned();
        let current = self.txn.load_entity(&ty, &id).await?;
        let sealing = self.sealer.is_some()
            && !ty.starts_with('_')
            && !self.schema.sensitive_fields(&ty).is_empty();
        let (current, originals) = match current {
            Some(c) if sealing => {
                let (c, originals) = self.open_entity(c).await?;
                (Some(c), originals)
            }
            other => (other, Originals::new()),
        };
        let planned = match plan(&op, current.as_ref(), self.schema, self.now) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let mut state = planned.state;
        let mut draft = planned.draft;
        if let (Some(d), Some(m)) = (&mut draft, self.ctx.op_metadata.get(index)) {
            d.metadata = m.clone();
        }
        let entry = match draft {
            Some(mut draft) if sealing => {
                let plain = draft.clone();
                let new_subject = self.schema.subject_of(&ty, &id, &state.data);
                let old_subject = current
                    .as_ref()
                    .map(|c| self.schema.subject_of(&ty, &id, &c.data))
                    .unwrap_or_else(|| new_subject.clone());
                let subjects = (old_subject, new_subject);
                self.seal_entry(&mut draft, &subjects, &originals).await?;
                let mut sealed = state.clone();
                self.seal_data(&mut sealed, &subjects.1, &originals).await?;
                let entry = self.append(draft, links, None).await?;
                state.last_seq = entry.seq;
                sealed.last_seq = entry.seq;
                self.txn.save_entity(&sealed).await?;
                Some(with_plaintext(entry, plain))
            }
            Some(draft) => {
                let entry = self.append(draft, links, None).await?;
                state.last_seq = entry.seq;
                self.txn.save_entity(&state).await?;
                Some(entry)
            }
            None => None,
        };
        Ok(Ok(OpOutcome {
            entity: state,
            created: planned.created,
            entry,
        }))
    }

    async fn batch(
        &mut self,
        ops: Vec<EntityOp>,
        atomic: bool,
        transaction: bool,
    ) -> Result<Executed, StoreError> {
        let id = Uuid::now_v7();
        let links = if transaction {
            Links {
                parent_id: None,
                transaction_id: Some(id),
            }
        } else {
            Links {
                parent_id: Some(id),
                transaction_id: None,
            }
        };
        let requested = ops.len();
        let mut results = Vec::with_capacity(requested);
        for (index, op) in ops.into_iter().enumerate() {
            let result = self.op(op, index, links).await?;
            let failed = result.is_err();
            results.push(result);
            if failed && atomic {
                return Ok(Executed {
                    response: WriteResponse::Batch {
                        id,
                        results,
                        committed: false,
                        entry: None,
                    },
                    keep: false,
                });
            }
        }
        let succeeded = results.iter().filter(|r| r.is_ok()).count();
        let changed = results
            .iter()
            .filter(|r| matches!(r, Ok(o) if o.entry.is_some()))
            .count();
        let (operation, noun) = if transaction {
            (Operation::Transaction, "transaction")
        } else {
            (Operation::Bulk, "bulk")
        };
        let severity = if succeeded < requested {
            Severity::Warning
        } else {
            Severity::Info
        };
        let draft = EntryDraft::about_no_entity(
            operation,
            Impact::None,
            format!("{noun} of {requested} operations: {succeeded} succeeded, {changed} changed"),
            json!({
                "requested": requested,
                "succeeded": succeeded,
                "failed": requested - succeeded,
                "changed": changed,
                "atomic": atomic,
            }),
            severity,
            Vec::new(),
        );
        let entry = self.append(draft, links, Some(id)).await?;
        Ok(Executed {
            response: WriteResponse::Batch {
                id,
                results,
                committed: true,
                entry: Some(entry),
            },
            keep: true,
        })
    }

    /// Destroys the subject's key and records the erasure.
    async fn erase(&mut self, subject: String) -> Result<Executed, StoreError> {
        let response = |e| Executed {
            response: WriteResponse::Erase(e),
            keep: true,
        };
        let Some(row) = self.txn.subject_key(&subject).await? else {
            return Ok(response(Erasure::Unknown));
        };
        if let (None, Some(erased_at)) = (&row.wrapped, row.erased_at) {
            return Ok(response(Erasure::AlreadyErased { erased_at }));
        }
        // Hook for legal hold (retention, a later issue): a subject under hold must be refused
        // here, before the key is destroyed.
        self.txn.erase_subject_key(&subject, self.now).await?;
        self.keys.insert(subject.clone(), None);
        let draft = EntryDraft::about_no_entity(
            Operation::Erasure,
            Impact::High,
            format!("erasure of subject {subject}"),
            json!({
                "subject": subject,
                "erased_at": timefmt::format(self.now),
                "key_created_at": timefmt::format(row.created_at),
            }),
            Severity::Warning,
            vec!["gdpr".to_owned()],
        );
        let entry = self.append(draft, Links::default(), None).await?;
        Ok(response(Erasure::Erased(Box::new(entry))))
    }

    /// The subject's data key for opening values: None when it has none (never had, or
    /// erased). A wrapped key the master key does not open is an error, not an erasure: the
    /// wrong master key must not make writes re-seal what it cannot read.
    async fn key_to_open(&mut self, subject: &str) -> Result<Option<DataKey>, StoreError> {
        if let Some(known) = self.keys.get(subject) {
            return Ok(known.clone());
        }
        let sealer = self
            .sealer
            .ok_or_else(|| StoreError::internal_msg("no sealer"))?;
        let key = match self.txn.subject_key(subject).await?.and_then(|r| r.wrapped) {
            Some(wrapped) => Some(unwrap_key(sealer, subject, &wrapped)?),
            None => None,
        };
        self.keys.insert(subject.to_owned(), key.clone());
        Ok(key)
    }

    /// The subject's data key for sealing, created (and stored wrapped) when it has none.
    async fn key_to_seal(&mut self, subject: &str) -> Result<DataKey, StoreError> {
        if let Some(key) = self.key_to_open(subject).await? {
            return Ok(key);
        }
        let sealer = self
            .sealer
            .ok_or_else(|| StoreError::internal_msg("no sealer"))?;
        let key = sealer.new_data_key().map_err(seal_failure)?;
        let wrapped = sealer.wrap(subject, &key).map_err(seal_failure)?;
        // An erased subject that gets new personal data gets a new key: the erased values
        // stay unreadable (the new key does not open them), the new ones are readable.
        self.txn
            .insert_subject_key(&SubjectKey {
                subject: subject.to_owned(),
                wrapped: Some(wrapped),
                created_at: self.now,
                erased_at: None,
            })
            .await?;
        self.keys.insert(subject.to_owned(), Some(key.clone()));
        Ok(key)
    }

    /// The entity with its sealed values opened (an erased one reads as [`ERASED`]), and the
    /// envelopes they came from.
    async fn open_entity(
        &mut self,
        mut state: EntityState,
    ) -> Result<(EntityState, Originals), StoreError> {
        let Some(sealer) = self.sealer else {
            return Ok((state, Originals::new()));
        };
        let mut originals = Originals::new();
        let mut data = std::mem::take(&mut state.data);
        for (field, value) in seal::sensitive_data(self.schema, &state.entity_type, &mut data) {
            let Some(subject) = seal::sealed_subject(value).map(str::to_owned) else {
                // Written before encryption was on: plaintext, sealed at the next write.
                continue;
            };
            let key = self.key_to_open(&subject).await?;
            let opened = sealer.open_or_erased(key.as_ref(), &field, value);
            let envelope = std::mem::replace(value, opened.clone());
            originals.insert(field, (opened, envelope));
        }
        state.data = data;
        Ok((state, originals))
    }

    /// Seals one value for `subject`, reusing the current envelope when the value is unchanged.
    async fn seal_value(
        &mut self,
        subject: &str,
        field: &str,
        value: &mut Value,
        originals: &Originals,
    ) -> Result<(), StoreError> {
        if let Some((plain, envelope)) = originals.get(field)
            && plain == value
            && seal::sealed_subject(envelope) == Some(subject)
        {
            *value = envelope.clone();
            return Ok(());
        }
        let key = self.key_to_seal(subject).await?;
        let sealer = self
            .sealer
            .ok_or_else(|| StoreError::internal_msg("no sealer"))?;
        *value = sealer
            .seal(&key, subject, field, value)
            .map_err(seal_failure)?;
        Ok(())
    }

    async fn seal_data(
        &mut self,
        state: &mut EntityState,
        subject: &str,
        originals: &Originals,
    ) -> Result<(), StoreError> {
        let mut data = std::mem::take(&mut state.data);
        for (field, value) in seal::sensitive_data(self.schema, &state.entity_type, &mut data) {
            self.seal_value(subject, &field, value, originals).await?;
        }
        state.data = data;
        Ok(())
    }

    /// Seals the draft's sensitive values: old ones for `subjects.0`, new ones for `subjects.1`.
    async fn seal_entry(
        &mut self,
        draft: &mut EntryDraft,
        subjects: &(String, String),
        originals: &Originals,
    ) -> Result<(), StoreError> {
        if self.sealer.is_none() {
            return Ok(());
        }
        let targets = seal::sensitive_values(
            self.schema,
            draft.entity_type.as_deref(),
            &mut draft.old_values,
            &mut draft.new_values,
            &mut draft.change_set,
        );
        for (side, field, value) in targets {
            let subject = match side {
                Side::Old => &subjects.0,
                Side::New => &subjects.1,
            };
            self.seal_value(subject, &field, value, originals).await?;
        }
        Ok(())
    }

    /// Gives the draft its seq, id, time and hash, and appends it.
    async fn append(
        &mut self,
        draft: EntryDraft,
        links: Links,
        id: Option<Uuid>,
    ) -> Result<Entry, StoreError> {
        let seq = self.ledger.frontier.size() + 1;
        let mut entry = draft.into_entry(
            self.ctx,
            id.unwrap_or_else(Uuid::now_v7),
            seq,
            self.now,
            links,
        );
        let (bytes, leaf) =
            canonical::seal(&mut entry).map_err(|e| StoreError::internal_msg(e.to_string()))?;
        let nodes = self.ledger.frontier.append(leaf);
        self.txn.append_entry(&entry, &bytes, &leaf, &nodes).await?;
        self.ledger.last_timestamp = Some(self.now);
        Ok(entry)
    }
}

pub(crate) fn seal_failure(e: seal::SealError) -> StoreError {
    StoreError::internal("sealing a sensitive value", e)
}

pub(crate) fn unwrap_key(
    sealer: &Sealer,
    subject: &str,
    wrapped: &[u8],
) -> Result<DataKey, StoreError> {
    sealer
        .unwrap(subject, wrapped)
        .map_err(|_| StoreError::Internal {
            message: format!(
                "the master key does not open the data key of subject {subject:?}: \
                 is this the ledger's master key?"
            ),
            source: None,
        })
}

fn check_identifiers(op: &mut EntityOp, system: bool) -> Result<(), OpError> {
    let mut errors = Vec::new();
    // Reserved types (`_rollback`, `_snapshot`) are Chronicle's own records: only system
    // writes may touch them, and they follow the same naming rule after the underscore.
    let type_check = match op.entity_type().strip_prefix('_') {
        Some(rest) if system => limits::check_type_name(rest),
        _ => limits::check_type_name(op.entity_type()),
    };
    if let Err(m) = type_check {
        errors.push(FieldError::new("/type", m));
    }
    let explicit_id = match op {
        EntityOp::Create { id, .. } => id.as_deref(),
        EntityOp::Update { id, .. }
        | EntityOp::Replace { id, .. }
        | EntityOp::Delete { id, .. }
        | EntityOp::Restore { id, .. } => Some(id.as_str()),
    };
    if let Some(id) = explicit_id
        && let Err(m) = limits::check_id(id)
    {
        errors.push(FieldError::new("/id", m));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(OpError::Invalid(errors))
    }
}
