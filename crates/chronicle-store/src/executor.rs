//! The write path, once for every backend. A backend opens a database transaction, hands this
//! module a [`LedgerTxn`] over it and the ledger's current state, and commits when
//! [`execute`] returns. Group commit runs several requests through `execute` in one
//! transaction, each inside a savepoint: a request whose `keep` is false is rolled back to its
//! savepoint (and its [`LedgerState`] restored) without disturbing the others.

use crate::error::StoreError;
use crate::model::{OpOutcome, WriteKind, WriteRequest, WriteResponse};
use chronicle_core::canonical;
use chronicle_core::entry::{Operation, RequestContext, Severity};
use chronicle_core::merkle::{Frontier, Hash, Node};
use chronicle_core::schema::{FieldError, Schema};
use chronicle_core::write::{EntityOp, EntryDraft, Links, OpError, plan};
use chronicle_core::{ChangeSet, EntityState, Entry, Impact, limits, timefmt};
use serde_json::json;
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

pub async fn execute<T: LedgerTxn>(
    txn: &mut T,
    ledger: &mut LedgerState,
    schema: &Schema,
    req: WriteRequest,
) -> Result<Executed, StoreError> {
    let ctx = req.context;
    let now = ledger.timestamp(&ctx);
    let mut w = Writer {
        txn,
        ledger,
        schema,
        ctx: &ctx,
        now,
    };
    match req.kind {
        WriteKind::Single(op) => {
            let result = w.op(op, Links::default()).await?;
            Ok(Executed {
                response: WriteResponse::Single(result),
                keep: true,
            })
        }
        WriteKind::Event(event) => {
            let draft = event.draft(schema);
            let entry = w.append(draft, Links::default(), None).await?;
            Ok(Executed {
                response: WriteResponse::Event(entry),
                keep: true,
            })
        }
        WriteKind::Bulk { ops, atomic } => w.batch(ops, atomic, false).await,
        WriteKind::Transaction { ops } => w.batch(ops, true, true).await,
    }
}

struct Writer<'a, T> {
    txn: &'a mut T,
    ledger: &'a mut LedgerState,
    schema: &'a Schema,
    ctx: &'a RequestContext,
    now: OffsetDateTime,
}

impl<T: LedgerTxn> Writer<'_, T> {
    async fn op(
        &mut self,
        mut op: EntityOp,
        links: Links,
    ) -> Result<Result<OpOutcome, OpError>, StoreError> {
        if let Err(e) = check_identifiers(&mut op, self.ctx.system) {
            return Ok(Err(e));
        }
        let id = op.id_or_assign().to_owned();
        let current = self.txn.load_entity(op.entity_type(), &id).await?;
        let planned = match plan(&op, current.as_ref(), self.schema, self.now) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let mut state = planned.state;
        let entry = match planned.draft {
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
        for op in ops {
            let result = self.op(op, links).await?;
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
        let draft = EntryDraft {
            operation,
            entity_type: None,
            entity_id: None,
            entity_version: None,
            old_values: None,
            new_values: None,
            change_set: ChangeSet {
                impact: Impact::None,
                ..ChangeSet::default()
            },
            summary: Some(format!(
                "{noun} of {requested} operations: {succeeded} succeeded, {changed} changed"
            )),
            metadata: json!({
                "requested": requested,
                "succeeded": succeeded,
                "failed": requested - succeeded,
                "changed": changed,
                "atomic": atomic,
            }),
            severity: if succeeded < requested {
                Severity::Warning
            } else {
                Severity::Info
            },
            tags: Vec::new(),
        };
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
