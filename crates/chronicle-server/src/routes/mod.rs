//! Route families, and what their handlers share: the one write call, optimistic concurrency
//! headers, and the automatic `read` entries of read-audited types.

pub mod alerts;
pub mod audit;
pub mod batch;
pub mod checkpoints;
pub mod entities;
pub mod ledger;
pub mod lineage;
pub mod ops;
pub mod rollbacks;
pub mod snapshots;
pub mod stream;
pub mod subjects;
pub mod tokens;
pub mod whoami;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Code};
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chronicle_core::entry::{Operation, RequestContext};
use chronicle_core::write::EventInput;
use chronicle_core::{EntityState, Entry};
use chronicle_store::{WriteKind, WriteRequest, WriteResponse};
use serde_json::Value;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .merge(entities::routes())
        .merge(batch::routes())
        .merge(audit::routes())
        .merge(ledger::routes())
        .merge(checkpoints::routes())
        .merge(ops::routes())
        .merge(rollbacks::routes())
        .merge(snapshots::routes())
        .merge(stream::routes())
        .merge(alerts::routes())
        .merge(tokens::routes())
        .merge(subjects::routes())
        .merge(whoami::routes())
        .merge(lineage::routes())
        // Every routed request (and only those: the fallbacks answer anyone) passes the guard.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::guard::guard,
        ))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Inner to outer: a panic becomes a 500 problem, which metrics then count.
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn(crate::metrics::track))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        Code::MethodNotAllowed,
        "this route does not accept that method",
    )
}

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "handler panicked");
    ApiError::internal().into_response()
}

/// The one way handlers (and the alert evaluator) write: a single store call, counted in the
/// metrics, after which the stream's tailer is woken to publish what was committed.
pub(crate) async fn write(
    state: &AppState,
    mut context: RequestContext,
    mut kind: WriteKind,
) -> ApiResult<WriteResponse> {
    redact(&state.config.redactor, &mut context, &mut kind);
    let response = state.store.write(WriteRequest { context, kind }).await?;
    state.hub.wake();
    crate::metrics::record_write(&response);
    Ok(response)
}

/// The context of a single entity write carrying the client's `metadata` (checked: an
/// object, with a well-formed `source` if any).
pub(crate) fn with_metadata(
    mut context: RequestContext,
    metadata: Option<Value>,
) -> ApiResult<RequestContext> {
    if let Some(m) = metadata {
        let errors = chronicle_core::source::check_metadata(&m, "/metadata");
        if !errors.is_empty() {
            return Err(ApiError::invalid(errors));
        }
        context.op_metadata = vec![m];
    }
    Ok(context)
}

/// Records an event (an entry that changes no entity) through [`write`].
pub(crate) async fn write_event(
    state: &AppState,
    context: RequestContext,
    event: EventInput,
) -> ApiResult<Entry> {
    match write(state, context, WriteKind::Event(event)).await? {
        WriteResponse::Event(entry) => Ok(entry),
        _ => Err(unexpected("event write")),
    }
}

/// Applies the redaction rules to everything a request would store: its values and its
/// free text. Runs in [`write`], the one door to the store, so no path skips it.
fn redact(
    redactor: &chronicle_core::redact::Redactor,
    context: &mut RequestContext,
    kind: &mut WriteKind,
) {
    if redactor.is_empty() {
        return;
    }
    for text in [
        &mut context.reason,
        &mut context.user_agent,
        &mut context.session_id,
        &mut context.correlation_id,
    ]
    .into_iter()
    .flatten()
    {
        redactor.string(text);
    }
    let op_value = |op: &mut chronicle_core::write::EntityOp| {
        use chronicle_core::write::EntityOp as Op;
        match op {
            Op::Create { data, .. } | Op::Replace { data, .. } | Op::Restore { data, .. } => {
                redactor.value(data)
            }
            Op::Update { patch, .. } => redactor.value(patch),
            Op::Delete { .. } => {}
        }
    };
    // Metadata is client input stored in the entry like the data it describes.
    context
        .op_metadata
        .iter_mut()
        .for_each(|m| redactor.value(m));
    match kind {
        WriteKind::Single(op) => op_value(op),
        WriteKind::Bulk { ops, .. } | WriteKind::Transaction { ops } => {
            ops.iter_mut().for_each(op_value)
        }
        WriteKind::Event(e) => {
            for v in [&mut e.old_values, &mut e.new_values, &mut e.metadata]
                .into_iter()
                .flatten()
            {
                redactor.value(v);
            }
            if let Some(s) = &mut e.summary {
                redactor.string(s);
            }
            for t in e.tags.iter_mut().flatten() {
                redactor.string(t);
            }
        }
        // A subject id is an identifier the caller chose; it is checked, not rewritten.
        WriteKind::Erase { .. } => {}
    }
}

/// A response kind the store must not give for this request kind: a bug, not bad input.
pub(crate) fn unexpected(what: &str) -> ApiError {
    tracing::error!(what, "store answered a write with the wrong response kind");
    ApiError::internal()
}

/// `If-Match: "N"` (a bare `N` is accepted too).
fn if_match(headers: &HeaderMap) -> ApiResult<Option<u64>> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::invalid_field(
            "/headers/if-match",
            "must be an entity version such as \"3\"",
        )
    };
    let text = value.to_str().map_err(|_| bad())?.trim();
    let inner = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    inner.parse::<u64>().map(Some).map_err(|_| bad())
}

/// The expected version from `If-Match` and/or the request; both must agree when both are given.
pub(crate) fn expected_version(
    headers: &HeaderMap,
    given: Option<u64>,
    pointer: &str,
) -> ApiResult<Option<u64>> {
    match (if_match(headers)?, given) {
        (Some(a), Some(b)) if a != b => Err(ApiError::invalid_field(
            pointer,
            format!("is {b} but If-Match says {a}; give one or make them agree"),
        )),
        (a, b) => Ok(a.or(b)),
    }
}

/// `ETag: "N"` for an entity at version N, usable as `If-Match`.
pub(crate) fn etag(version: u64) -> (header::HeaderName, HeaderValue) {
    let value = HeaderValue::from_str(&format!("\"{version}\""))
        .expect("digits and quotes are a valid header value");
    (header::ETAG, value)
}

/// Records a `read` entry when the schema says reads of this type are audited. Runs before
/// the data is returned: a read that cannot be recorded is not served.
pub(crate) async fn audit_read(
    state: &AppState,
    context: RequestContext,
    entity_type: &str,
    entity_id: Option<&str>,
    metadata: Value,
) -> ApiResult<()> {
    if !state.schema.is_read_audited(entity_type) {
        return Ok(());
    }
    let summary = match entity_id {
        Some(id) => format!("read {entity_type} {id}"),
        None => format!("list {entity_type}"),
    };
    let event = EventInput {
        operation: Some(Operation::Read),
        entity_type: Some(entity_type.to_owned()),
        entity_id: entity_id.map(str::to_owned),
        summary: Some(summary),
        metadata: Some(metadata),
        ..EventInput::default()
    };
    write_event(state, context, event).await.map(drop)
}

/// Masks what a caller without unmask rights must not see: the sensitive fields of an entity.
pub(crate) fn mask_entity(state: &AppState, caller: &Caller, entity: &mut EntityState) {
    if !caller.unmasked(&state.config.auth) {
        chronicle_core::mask::mask_data(&state.schema, &entity.entity_type, &mut entity.data);
    }
}

/// Masks the sensitive values of entries for a caller without unmask rights.
pub(crate) fn mask_entries<'a>(
    state: &AppState,
    caller: &Caller,
    entries: impl IntoIterator<Item = &'a mut Entry>,
) {
    if !caller.unmasked(&state.config.auth) {
        for entry in entries {
            chronicle_core::mask::mask_entry(&state.schema, entry);
        }
    }
}
