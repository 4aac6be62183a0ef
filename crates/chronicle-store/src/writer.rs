//! [`Writer`]: the one door every write passes, whoever makes it — HTTP handlers, the rollback
//! engine, snapshots, checkpoints, tokens, alerts. It applies the redaction rules to what would
//! be stored, calls [`Store::write`], and tells an observer (the server's stream wake-up and
//! write metrics) what was committed. Callers get typed answers, one method per kind of write,
//! so none of them matches on a response kind that cannot happen.
//!
//! *Invariant:* outside tests and the command line's own bookkeeping, nothing calls
//! [`Store::write`] except [`Writer`]; so no client text reaches storage unredacted and no
//! committed entry escapes the stream or the metrics.

use crate::{Erasure, OpOutcome, Store, StoreError, WriteKind, WriteRequest, WriteResponse};
use chronicle_core::Entry;
use chronicle_core::entry::{Actor, RequestContext};
use chronicle_core::redact::Redactor;
use chronicle_core::write::{EntityOp, EventInput, OpError};
use std::sync::Arc;
use uuid::Uuid;

/// Told of every write that committed something. The server wakes the stream's tailer and
/// counts the entries; tests and tools that need neither pass `()`.
pub trait WriteObserver: Send + Sync + 'static {
    /// `entries` is every entry the write committed (at least one).
    fn committed(&self, entries: &[&Entry]);
}

impl WriteObserver for () {
    fn committed(&self, _: &[&Entry]) {}
}

/// One entity operation and what of it is client text to redact.
#[derive(Clone, Debug)]
pub struct Op {
    op: EntityOp,
    text: Text,
}

#[derive(Clone, Debug)]
enum Text {
    /// Client data: every string (and object key) in it.
    All,
    /// One of Chronicle's own records, whose data is structure the system built (ids, hashes,
    /// sealed envelopes, plans): only the values at these JSON Pointers are client text.
    /// Redacting the rest could turn a UUID whose digits pass the Luhn check into
    /// `[redacted:card]` and leave a record that no longer parses.
    At(Vec<String>),
}

impl From<EntityOp> for Op {
    /// A client's operation: all of its data is redacted.
    fn from(op: EntityOp) -> Op {
        Op {
            op,
            text: Text::All,
        }
    }
}

impl Op {
    /// An operation on a system record (`_rollback`, `_snapshot`, `_token`, ...) whose client
    /// text lives at `free_text` (JSON Pointers into the data; absent ones are skipped).
    pub fn record(op: EntityOp, free_text: Vec<String>) -> Op {
        Op {
            op,
            text: Text::At(free_text),
        }
    }

    fn redact(mut self, redactor: &Redactor) -> EntityOp {
        let data = match &mut self.op {
            EntityOp::Create { data, .. }
            | EntityOp::Replace { data, .. }
            | EntityOp::Restore { data, .. } => data,
            EntityOp::Update { patch, .. } => patch,
            EntityOp::Delete { .. } => return self.op,
        };
        match &self.text {
            Text::All => redactor.value(data),
            Text::At(pointers) => {
                for p in pointers {
                    if let Some(v) = data.pointer_mut(p) {
                        redactor.value(v);
                    }
                }
            }
        }
        self.op
    }
}

/// A bulk write's or a transaction's answer. `id` is the bulk id or transaction id. When
/// `committed` is false nothing of it was written (an atomic batch with a failing operation):
/// `results` still say which operation failed and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub id: Uuid,
    pub results: Vec<Result<OpOutcome, OpError>>,
    pub committed: bool,
    /// The parent `bulk` or closing `transaction` entry, when committed.
    pub entry: Option<Entry>,
}

/// The write service. Cheap to clone: every clone is the same door.
#[derive(Clone)]
pub struct Writer {
    store: Arc<dyn Store>,
    redactor: Arc<Redactor>,
    observer: Arc<dyn WriteObserver>,
}

impl Writer {
    pub fn new(
        store: Arc<dyn Store>,
        redactor: Redactor,
        observer: Arc<dyn WriteObserver>,
    ) -> Writer {
        Writer {
            store,
            redactor: Arc::new(redactor),
            observer,
        }
    }

    /// The store written to, for reads.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// One entity operation. The inner error is the operation's refusal (validation,
    /// version conflict, not found, ...), an answer rather than a failure.
    pub async fn apply(
        &self,
        context: RequestContext,
        op: impl Into<Op>,
    ) -> Result<Result<OpOutcome, OpError>, StoreError> {
        let op = op.into().redact(&self.redactor);
        match self.send(context, WriteKind::Single(op)).await? {
            WriteResponse::Single(result) => Ok(result),
            other => Err(mismatch("a single operation", &other)),
        }
    }

    /// Many operations under one `bulk` parent entry; `atomic`: all or nothing.
    pub async fn bulk(
        &self,
        context: RequestContext,
        ops: Vec<impl Into<Op>>,
        atomic: bool,
    ) -> Result<Batch, StoreError> {
        let ops = self.redact_ops(ops);
        self.batch(context, WriteKind::Bulk { ops, atomic }).await
    }

    /// All or nothing, closed by a `transaction` entry.
    pub async fn transaction(
        &self,
        context: RequestContext,
        ops: Vec<impl Into<Op>>,
    ) -> Result<Batch, StoreError> {
        let ops = self.redact_ops(ops);
        self.batch(context, WriteKind::Transaction { ops }).await
    }

    /// An entry that changes no entity (read, access, security, system, ...).
    pub async fn record_event(
        &self,
        context: RequestContext,
        mut event: EventInput,
    ) -> Result<Entry, StoreError> {
        for v in [
            &mut event.old_values,
            &mut event.new_values,
            &mut event.metadata,
        ]
        .into_iter()
        .flatten()
        {
            self.redactor.value(v);
        }
        for s in event
            .summary
            .iter_mut()
            .chain(event.tags.iter_mut().flatten())
        {
            self.redactor.string(s);
        }
        match self.send(context, WriteKind::Event(event)).await? {
            WriteResponse::Event(entry) => Ok(entry),
            other => Err(mismatch("an event", &other)),
        }
    }

    /// GDPR erasure of a subject's data key. The subject id is an identifier the caller
    /// chose: it is checked where it is parsed, not rewritten here.
    pub async fn erase(
        &self,
        context: RequestContext,
        subject: String,
    ) -> Result<Erasure, StoreError> {
        match self.send(context, WriteKind::Erase { subject }).await? {
            WriteResponse::Erase(erasure) => Ok(erasure),
            other => Err(mismatch("an erasure", &other)),
        }
    }

    fn redact_ops(&self, ops: Vec<impl Into<Op>>) -> Vec<EntityOp> {
        ops.into_iter()
            .map(|op| op.into().redact(&self.redactor))
            .collect()
    }

    async fn batch(&self, context: RequestContext, kind: WriteKind) -> Result<Batch, StoreError> {
        match self.send(context, kind).await? {
            WriteResponse::Batch {
                id,
                results,
                committed,
                entry,
            } => Ok(Batch {
                id,
                results,
                committed,
                entry,
            }),
            other => Err(mismatch("a batch", &other)),
        }
    }

    /// The store call every method makes: the request's free text redacted first, the
    /// observer told afterwards of what committed.
    async fn send(
        &self,
        mut context: RequestContext,
        kind: WriteKind,
    ) -> Result<WriteResponse, StoreError> {
        for text in [
            &mut context.reason,
            &mut context.user_agent,
            &mut context.session_id,
            &mut context.correlation_id,
        ]
        .into_iter()
        .flatten()
        {
            self.redactor.string(text);
        }
        // Each operation's `metadata` is client input stored in its entry like the data.
        context
            .op_metadata
            .iter_mut()
            .for_each(|m| self.redactor.value(m));
        let response = self.store.write(WriteRequest { context, kind }).await?;
        let entries = committed(&response);
        if !entries.is_empty() {
            self.observer.committed(&entries);
        }
        Ok(response)
    }
}

/// Every entry a response says was committed.
fn committed(response: &WriteResponse) -> Vec<&Entry> {
    match response {
        WriteResponse::Single(Ok(outcome)) => outcome.entry.iter().collect(),
        WriteResponse::Single(Err(_)) => Vec::new(),
        WriteResponse::Batch {
            results,
            committed: true,
            entry,
            ..
        } => results
            .iter()
            .filter_map(|r| r.as_ref().ok()?.entry.as_ref())
            .chain(entry)
            .collect(),
        WriteResponse::Batch { .. } => Vec::new(),
        WriteResponse::Event(e) => vec![e],
        WriteResponse::Erase(Erasure::Erased(e)) => vec![e],
        WriteResponse::Erase(_) => Vec::new(),
    }
}

/// A backend answered a request with another kind's response: a bug in the backend.
fn mismatch(asked: &str, got: &WriteResponse) -> StoreError {
    StoreError::internal_msg(format!(
        "the store answered {asked} with another kind of response: {got:?}"
    ))
}

/// The context of a write Chronicle makes for itself on behalf of a request (a rollback's
/// record, a snapshot, a token): the request's identity and text, allowed to write the
/// reserved `_` types. The one place a context is marked `system`.
pub fn system_context(on_behalf_of: &RequestContext) -> RequestContext {
    RequestContext {
        system: true,
        ..on_behalf_of.clone()
    }
}

/// The context of a write a background process of Chronicle's makes (checkpoints, alerts),
/// under the given actor id and reason.
pub fn process_context(actor_id: Option<&str>, reason: Option<&str>) -> RequestContext {
    system_context(&RequestContext {
        actor: Actor {
            id: actor_id.map(str::to_owned),
            ..Actor::default()
        },
        reason: reason.map(str::to_owned),
        ..RequestContext::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chronicle_core::redact::RedactionRule;
    use serde_json::json;

    fn redactor() -> Redactor {
        Redactor::new(&RedactionRule::builtin()).unwrap()
    }

    fn create(data: serde_json::Value) -> EntityOp {
        EntityOp::Create {
            entity_type: "_rollback".into(),
            id: Some("r1".into()),
            data,
        }
    }

    fn data(op: EntityOp) -> serde_json::Value {
        match op {
            EntityOp::Create { data, .. } => data,
            other => panic!("a create, not {other:?}"),
        }
    }

    /// The last two groups of this UUID are sixteen digits that pass the Luhn check: the
    /// card rule matches them, which is why a system record is redacted only where it holds
    /// client text.
    const LUHN_UUID: &str = "0193a1b2-c3d4-7e5f-8000-000000000003";

    #[test]
    fn a_uuid_can_look_like_a_card_number() {
        assert_ne!(redactor().text(LUHN_UUID), LUHN_UUID);
    }

    #[test]
    fn a_system_record_is_redacted_only_at_its_free_text_fields() {
        let record = json!({
            "id": LUHN_UUID,
            "reason": "card 4111111111111111",
            "approvals": [{"justification": "ok 4111 1111 1111 1111", "at": "x"}],
        });
        let pointers = vec![
            "/reason".into(),
            "/approvals/0/justification".into(),
            "/gone".into(),
        ];
        let out = data(Op::record(create(record), pointers).redact(&redactor()));
        assert_eq!(
            out,
            json!({
                "id": LUHN_UUID,
                "reason": "card [redacted:card]",
                "approvals": [{"justification": "ok [redacted:card]", "at": "x"}],
            })
        );
    }

    #[test]
    fn a_client_operation_is_redacted_everywhere_keys_included() {
        let op = create(json!({"a": {"4111111111111111": ["x 4111111111111111"]}}));
        let out = data(Op::from(op).redact(&redactor()));
        assert_eq!(
            out,
            json!({"a": {"[redacted:card]": ["x [redacted:card]"]}})
        );
    }
}
