//! Route families, and what their handlers share: optimistic concurrency headers, masking,
//! and the automatic `read` and `access` entries. Every handler writes through
//! `AppState::writer` ([`chronicle_store::Writer`]), the one door to the store.

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

/// An answer the store must not give (a delete without an entry, an uncommitted batch
/// without a failed operation): a bug, not bad input.
pub(crate) fn unexpected(what: &str) -> ApiError {
    tracing::error!(what, "store answered a write with an impossible answer");
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
    state.writer.record_event(context, event).await?;
    Ok(())
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
