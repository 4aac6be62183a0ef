//! The audit log: recording external events, searching entries, one entry, and counts.

use super::mask_entries;
use crate::AppState;
use crate::access::{self, Access};
use crate::auth::{Caller, Role};
use crate::context::Ctx;
use crate::dto::{EntryList, EventRequest, Problem, Summary, SummaryGroup};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, LedgerCursor, Params, Path, ledger_cursor};
use crate::filter::EntryFilter;
use crate::routes::entities::next_page;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chronicle_core::schema::FieldError;
use chronicle_core::write::EventInput;
use chronicle_core::{Entry, limits};
use chronicle_store::{EntryQuery, GroupBy, Order};
use uuid::Uuid;

/// Most tags on one event.
const MAX_TAGS: usize = 64;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/audit/events", post(record_event))
        .route("/v1/audit/entries", get(search))
        .route("/v1/audit/entries/{id}", get(entry))
        .route("/v1/audit/summary", get(summary))
}

/// Records an event that changes no entity. Only `read`, `system`, `config`,
/// `user_management` and `security` may be recorded this way: the engine writes the others
/// itself, and accepting them here would let a client forge them.
#[utoipa::path(post, path = "/v1/audit/events", tag = "audit",
    request_body = EventRequest,
    responses((status = 201, description = "The recorded entry", body = Entry)))]
pub async fn record_event(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    caller: Caller,
    params: Params,
    Json(body): Json<EventRequest>,
) -> ApiResult<Response> {
    params.finish()?;
    // A security event can take every node out of readiness (a failed verification is one):
    // only an admin or a service may record one.
    if body.operation == chronicle_core::entry::Operation::Security
        && caller
            .role()
            .is_some_and(|r| !matches!(r, Role::Admin | Role::Service))
    {
        return Err(ApiError::new(
            crate::error::Code::Forbidden,
            "only the admin and service roles may record security events",
        ));
    }
    let event = check_event(&state, body)?;
    let mut entry = state.writer.record_event(ctx, event).await?;
    mask_entries(&state, &caller, [&mut entry]);
    Ok((StatusCode::CREATED, axum::Json(entry)).into_response())
}

fn check_event(state: &AppState, body: EventRequest) -> ApiResult<EventInput> {
    let mut errors = Vec::new();
    let mut err = |pointer: &str, message: String| errors.push(FieldError::new(pointer, message));
    if !body.operation.is_external_event() {
        err(
            "/operation",
            format!(
                "{} entries are written by the engine itself",
                body.operation.as_str()
            ),
        );
    }
    if let Some(ty) = &body.entity_type {
        if let Err(m) = limits::check_type_name(ty) {
            err("/entity_type", m);
        } else if let Err(e) = state.schema.check_type(ty) {
            err("/entity_type", e.message);
        }
    }
    if let Some(Err(m)) = body.entity_id.as_deref().map(limits::check_id) {
        err("/entity_id", m);
    }
    if let Some(Err(m)) = body.summary.as_deref().map(limits::check_text) {
        err("/summary", m);
    }
    if body.metadata.as_ref().is_some_and(|m| !m.is_object()) {
        err("/metadata", "must be a JSON object".into());
    }
    let tags = body.tags.unwrap_or_default();
    if tags.len() > MAX_TAGS {
        err("/tags", format!("must have at most {MAX_TAGS} tags"));
    }
    for (i, tag) in tags.iter().enumerate() {
        if let Err(m) = limits::check_id(tag) {
            err(&format!("/tags/{i}"), m);
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    Ok(EventInput {
        operation: Some(body.operation),
        entity_type: body.entity_type,
        entity_id: body.entity_id,
        summary: body.summary,
        severity: body.severity,
        old_values: body.old_values,
        new_values: body.new_values,
        metadata: body.metadata,
        tags: Some(tags),
    })
}

/// The filters shared by search and summary: the exact-match ones the stream also takes, and
/// the time range and text search.
fn filters(p: &mut Params) -> EntryQuery {
    let mut query = EntryFilter::from_params(p).query();
    query.from = p.time("from");
    query.to = p.time("to");
    query.q = p.text("q");
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from > to
    {
        p.error("from", "must not be after to");
    }
    query
}

/// Entries matching every given filter, by seq in either order, a page at a time.
#[utoipa::path(get, path = "/v1/audit/entries", tag = "audit",
    params(
        ("actor" = Option<String>, Query, description = "Actor id or email"),
        ("entity_type" = Option<String>, Query), ("entity_id" = Option<String>, Query),
        ("operation" = Option<String>, Query, description = "create, update, delete, read, bulk, ..."),
        ("from" = Option<String>, Query, description = "RFC 3339, inclusive"),
        ("to" = Option<String>, Query, description = "RFC 3339, exclusive"),
        ("correlation_id" = Option<String>, Query), ("transaction_id" = Option<String>, Query),
        ("parent_id" = Option<String>, Query), ("rollback_id" = Option<String>, Query),
        ("field" = Option<String>, Query, description = "JSON Pointer of a changed field"),
        ("severity" = Option<String>, Query, description = "info, warning, error, critical"),
        ("tag" = Option<String>, Query), ("q" = Option<String>, Query, description = "Text in reason or summary"),
        ("order" = Option<String>, Query, description = "asc (default) or desc"),
        ("limit" = Option<usize>, Query, description = "Page size"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, description = "A page of entries", body = EntryList)))]
pub async fn search(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    caller: Caller,
    uri: axum::http::Uri,
    mut params: Params,
) -> ApiResult<axum::Json<EntryList>> {
    let mut query = filters(&mut params);
    query.order = params
        .parse("order", |s| match s {
            "asc" => Ok(Order::Asc),
            "desc" => Ok(Order::Desc),
            _ => Err("must be asc or desc".into()),
        })
        .unwrap_or_default();
    let limit = params.limit(state.config.default_page_size, state.config.max_page_size);
    let cursor = params.ledger_cursor();
    params.finish()?;
    let (mut entries, next_cursor) = entry_page(&state, query, limit, cursor).await?;
    let read = Access::new("/v1/audit/entries", &uri, "searched entries")
        .returned(entries.len())
        .about(access::entities_of(&entries));
    access::record(&state, ctx, read).await?;
    mask_entries(&state, &caller, &mut entries);
    Ok(axum::Json(EntryList {
        entries,
        next_cursor,
    }))
}

/// One page of entries matching `query` in its order: `limit` of them after the cursor, and
/// the cursor of the next page. The listing is bounded by the head the first page saw (read
/// here when there is no cursor, carried in every cursor after), so a client paging through
/// the whole log reaches its end even while entries keep arriving — its own reads' `access`
/// entries among them.
pub(crate) async fn entry_page(
    state: &AppState,
    mut query: EntryQuery,
    limit: usize,
    cursor: Option<LedgerCursor>,
) -> ApiResult<(Vec<Entry>, Option<String>)> {
    let bound = match cursor {
        Some(c) => c.bound,
        None => state.store.head().await?.tree_size,
    };
    query.cursor = cursor.map(|c| c.after);
    query.max_seq = Some(query.max_seq.map_or(bound, |m| m.min(bound)));
    query.limit = limit + 1;
    let mut entries = state.store.search(&query).await?;
    let next = next_page(&mut entries, limit, |e| {
        ledger_cursor(LedgerCursor {
            after: e.seq,
            bound,
        })
    });
    Ok((entries, next))
}

/// One entry by id.
#[utoipa::path(get, path = "/v1/audit/entries/{id}", tag = "audit",
    params(("id" = String, Path, description = "Entry id (UUID)")),
    responses((status = 200, description = "The entry", body = Entry),
              (status = 404, description = "No such entry", body = Problem)))]
pub async fn entry(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    caller: Caller,
    uri: axum::http::Uri,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<axum::Json<Entry>> {
    params.finish()?;
    let id =
        Uuid::parse_str(&id).map_err(|_| ApiError::invalid_field("/path/id", "must be a UUID"))?;
    let mut entry = state
        .store
        .entry(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("entry {id} not found")))?;
    let read = Access::new("/v1/audit/entries/{id}", &uri, format!("read entry {id}"))
        .returned(1)
        .about(access::entities_of([&entry]));
    access::record(&state, ctx, read).await?;
    mask_entries(&state, &caller, [&mut entry]);
    Ok(axum::Json(entry))
}

/// Counts of matching entries per actor, operation, entity type, hour or day, largest first.
#[utoipa::path(get, path = "/v1/audit/summary", tag = "audit",
    params(("group_by" = String, Query, description = "actor, operation, entity_type, hour or day"),
           ("actor" = Option<String>, Query), ("entity_type" = Option<String>, Query),
           ("entity_id" = Option<String>, Query), ("operation" = Option<String>, Query),
           ("from" = Option<String>, Query), ("to" = Option<String>, Query),
           ("correlation_id" = Option<String>, Query), ("transaction_id" = Option<String>, Query),
           ("parent_id" = Option<String>, Query), ("rollback_id" = Option<String>, Query),
           ("field" = Option<String>, Query), ("severity" = Option<String>, Query),
           ("tag" = Option<String>, Query), ("q" = Option<String>, Query)),
    responses((status = 200, description = "Groups", body = Summary)))]
pub async fn summary(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    uri: axum::http::Uri,
    mut params: Params,
) -> ApiResult<axum::Json<Summary>> {
    let query = filters(&mut params);
    let by = params.parse("group_by", |s| {
        GroupBy::parse(s).ok_or_else(|| "must be actor, operation, entity_type, hour or day".into())
    });
    if !params.has("group_by") {
        params.error("group_by", "is required");
    }
    params.finish()?;
    let by = by.ok_or_else(|| ApiError::invalid_field("/query/group_by", "is required"))?;
    let groups = state.store.summary(&query, by).await?;
    let groups: Vec<SummaryGroup> = groups
        .into_iter()
        .map(|g| SummaryGroup {
            key: g.key,
            count: g.count,
        })
        .collect();
    let read = Access::new("/v1/audit/summary", &uri, "summarised entries").returned(groups.len());
    access::record(&state, ctx, read).await?;
    Ok(axum::Json(Summary { groups }))
}
