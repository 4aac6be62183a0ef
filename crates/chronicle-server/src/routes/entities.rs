//! Entities: create, read (now, at a version, at a time), merge-patch, replace, delete, list,
//! and history.
//!
//! A deleted entity is still answered by `GET` (with `deleted: true` and its last data) so
//! that its version stays visible; writes other than create and replace answer 404 for it.

use super::{
    audit_read, etag, expected_version, mask_entity, mask_entries, unexpected, with_metadata,
};
use crate::AppState;
use crate::auth::Caller;
use crate::context::Ctx;
use crate::dto::{
    CreateEntity, DeleteResponse, EntityList, EntityResponse, EntryList, WriteEntity,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Params, Path, check_entity_path, text_cursor};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chronicle_core::write::EntityOp;
use chronicle_core::{EntityState, limits, replay};
use chronicle_store::{EntryQuery, OpOutcome, Order};
use serde_json::json;
use time::{Duration, OffsetDateTime};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/entities/{type}", post(create).get(list))
        .route(
            "/v1/entities/{type}/{id}",
            get(read).patch(update).put(replace).delete(delete),
        )
        .route("/v1/entities/{type}/{id}/history", get(history))
}

/// Creates an entity; 409 when the id exists.
#[utoipa::path(post, path = "/v1/entities/{type}", tag = "entities",
    params(("type" = String, Path, description = "Entity type")),
    request_body = CreateEntity,
    responses((status = 201, description = "Created, with its entry", body = EntityResponse),
              (status = 409, description = "The id exists", body = crate::dto::Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    caller: Caller,
    Path(entity_type): Path<String>,
    params: Params,
    Json(body): Json<CreateEntity>,
) -> ApiResult<Response> {
    params.finish()?;
    check_entity_path(&entity_type, None)?;
    if let Some(Err(m)) = body.id.as_deref().map(limits::check_id) {
        return Err(ApiError::invalid_field("/id", m));
    }
    let ctx = with_metadata(ctx, body.metadata)?;
    let op = EntityOp::Create {
        entity_type,
        id: body.id,
        data: body.data,
    };
    let outcome = write_one(&state, ctx, op).await?;
    Ok(written(
        &state,
        &caller,
        StatusCode::CREATED,
        outcome,
        false,
    ))
}

/// The entity now, at a version (`version`) or at a time (`as_of`).
#[utoipa::path(get, path = "/v1/entities/{type}/{id}", tag = "entities",
    params(("type" = String, Path, description = "Entity type"), ("id" = String, Path, description = "Entity id"),
           ("version" = Option<u64>, Query, description = "The entity as it was at this version"),
           ("as_of" = Option<String>, Query, description = "The entity as it was at this RFC 3339 time")),
    responses((status = 200, description = "The entity", body = EntityResponse),
              (status = 404, description = "No such entity (at that point)", body = crate::dto::Problem)))]
pub async fn read(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    caller: Caller,
    Path((entity_type, id)): Path<(String, String)>,
    mut params: Params,
) -> ApiResult<Response> {
    let version = params.parse("version", |s| match s.parse::<u64>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err("must be a positive integer".into()),
    });
    let as_of = params.time("as_of");
    if version.is_some() && as_of.is_some() {
        params.error("as_of", "cannot be combined with version");
    }
    params.finish()?;
    check_entity_path(&entity_type, Some(&id))?;
    let found = match (version, as_of) {
        (Some(v), _) => entity_at(&state, &entity_type, &id, Bound::Version(v)).await?,
        (None, Some(t)) => entity_at(&state, &entity_type, &id, Bound::Time(t)).await?,
        (None, None) => state.store.entity(&entity_type, &id).await?,
    };
    let Some(mut entity) = found else {
        let when = match (version, as_of) {
            (Some(v), _) => format!(" at version {v}"),
            (None, Some(t)) => format!(" at {}", chronicle_core::timefmt::format(t)),
            _ => String::new(),
        };
        return Err(ApiError::not_found(format!(
            "{entity_type} {id} not found{when}"
        )));
    };
    let meta = json!({ "version": entity.version });
    audit_read(&state, ctx, &entity_type, Some(&id), meta).await?;
    mask_entity(&state, &caller, &mut entity);
    let tag = etag(entity.version);
    Ok((
        [tag],
        axum::Json(EntityResponse {
            entity,
            changed: None,
            entry: None,
        }),
    )
        .into_response())
}

/// Applies a JSON Merge Patch (RFC 7396) to the entity's data.
#[utoipa::path(patch, path = "/v1/entities/{type}/{id}", tag = "entities",
    params(("type" = String, Path, description = "Entity type"), ("id" = String, Path, description = "Entity id"),
           ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\"")),
    request_body = WriteEntity,
    responses((status = 200, description = "The entity, whether it changed, and the entry when it did", body = EntityResponse),
              (status = 404, description = "No such entity", body = crate::dto::Problem),
              (status = 409, description = "Version conflict", body = crate::dto::Problem)))]
pub async fn update(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    caller: Caller,
    Path((entity_type, id)): Path<(String, String)>,
    headers: HeaderMap,
    params: Params,
    Json(body): Json<WriteEntity>,
) -> ApiResult<Response> {
    params.finish()?;
    check_entity_path(&entity_type, Some(&id))?;
    let expected = expected_version(&headers, body.expected_version, "/expected_version")?;
    let ctx = with_metadata(ctx, body.metadata)?;
    let op = EntityOp::Update {
        entity_type,
        id,
        patch: body.data,
        expected_version: expected,
    };
    let outcome = write_one(&state, ctx, op).await?;
    Ok(written(&state, &caller, StatusCode::OK, outcome, true))
}

/// Replaces the entity's data; creates the entity (201) when it does not exist.
#[utoipa::path(put, path = "/v1/entities/{type}/{id}", tag = "entities",
    params(("type" = String, Path, description = "Entity type"), ("id" = String, Path, description = "Entity id"),
           ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\"")),
    request_body = WriteEntity,
    responses((status = 200, description = "Replaced", body = EntityResponse),
              (status = 201, description = "Created", body = EntityResponse),
              (status = 409, description = "Version conflict", body = crate::dto::Problem)))]
pub async fn replace(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    caller: Caller,
    Path((entity_type, id)): Path<(String, String)>,
    headers: HeaderMap,
    params: Params,
    Json(body): Json<WriteEntity>,
) -> ApiResult<Response> {
    params.finish()?;
    check_entity_path(&entity_type, Some(&id))?;
    let expected = expected_version(&headers, body.expected_version, "/expected_version")?;
    let ctx = with_metadata(ctx, body.metadata)?;
    let op = EntityOp::Replace {
        entity_type,
        id,
        data: body.data,
        expected_version: expected,
    };
    let outcome = write_one(&state, ctx, op).await?;
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(written(&state, &caller, status, outcome, true))
}

/// Deletes the entity (it keeps its data and history; create or PUT brings the id back).
#[utoipa::path(delete, path = "/v1/entities/{type}/{id}", tag = "entities",
    params(("type" = String, Path, description = "Entity type"), ("id" = String, Path, description = "Entity id"),
           ("expected_version" = Option<u64>, Query, description = "Refuse with 409 unless at this version"),
           ("If-Match" = Option<String>, Header, description = "Expected version, e.g. \"3\"")),
    responses((status = 200, description = "Deleted", body = DeleteResponse),
              (status = 404, description = "No such entity", body = crate::dto::Problem),
              (status = 409, description = "Version conflict", body = crate::dto::Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    caller: Caller,
    Path((entity_type, id)): Path<(String, String)>,
    headers: HeaderMap,
    mut params: Params,
) -> ApiResult<Response> {
    let given = params.u64("expected_version");
    params.finish()?;
    check_entity_path(&entity_type, Some(&id))?;
    let expected = expected_version(&headers, given, "/query/expected_version")?;
    let op = EntityOp::Delete {
        entity_type,
        id,
        expected_version: expected,
    };
    let outcome = write_one(&state, ctx, op).await?;
    let mut entry = outcome
        .entry
        .ok_or_else(|| unexpected("a delete without an entry"))?;
    mask_entries(&state, &caller, [&mut entry]);
    Ok(axum::Json(DeleteResponse { entry }).into_response())
}

/// Live entities of a type, ordered by id.
#[utoipa::path(get, path = "/v1/entities/{type}", tag = "entities",
    params(("type" = String, Path, description = "Entity type"),
           ("limit" = Option<usize>, Query, description = "Page size"),
           ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, description = "A page of entities", body = EntityList)))]
pub async fn list(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    caller: Caller,
    Path(entity_type): Path<String>,
    mut params: Params,
) -> ApiResult<Response> {
    let limit = params.limit(state.config.default_page_size, state.config.max_page_size);
    let after = params.text_cursor();
    params.finish()?;
    check_entity_path(&entity_type, None)?;
    let mut entities = state
        .store
        .list_entities(&entity_type, after.as_deref(), limit + 1)
        .await?;
    let next_cursor = next_page(&mut entities, limit, |e| text_cursor(&e.id));
    audit_read(
        &state,
        ctx,
        &entity_type,
        None,
        json!({ "count": entities.len() }),
    )
    .await?;
    for e in &mut entities {
        mask_entity(&state, &caller, e);
    }
    Ok(axum::Json(EntityList {
        entities,
        next_cursor,
    })
    .into_response())
}

/// The entity's entries, oldest first; `field` keeps those that changed a JSON Pointer.
#[utoipa::path(get, path = "/v1/entities/{type}/{id}/history", tag = "entities",
    params(("type" = String, Path, description = "Entity type"), ("id" = String, Path, description = "Entity id"),
           ("field" = Option<String>, Query, description = "JSON Pointer, e.g. /status"),
           ("limit" = Option<usize>, Query, description = "Page size"),
           ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    responses((status = 200, description = "A page of entries", body = EntryList),
              (status = 404, description = "No such entity", body = crate::dto::Problem)))]
pub async fn history(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    caller: Caller,
    uri: axum::http::Uri,
    Path((entity_type, id)): Path<(String, String)>,
    mut params: Params,
) -> ApiResult<Response> {
    let access_ctx = ctx.clone();
    let field = params.pointer("field");
    let limit = params.limit(state.config.default_page_size, state.config.max_page_size);
    let cursor = params.ledger_cursor();
    params.finish()?;
    check_entity_path(&entity_type, Some(&id))?;
    if state.store.entity(&entity_type, &id).await?.is_none() {
        return Err(ApiError::not_found(format!("{entity_type} {id} not found")));
    }
    let query = EntryQuery {
        entity_type: Some(entity_type.clone()),
        entity_id: Some(id.clone()),
        field,
        order: Order::Asc,
        ..EntryQuery::default()
    };
    let (mut entries, next_cursor) = super::audit::entry_page(&state, query, limit, cursor).await?;
    audit_read(
        &state,
        ctx,
        &entity_type,
        Some(&id),
        json!({ "history": true }),
    )
    .await?;
    let what = format!("history of {entity_type} {id}");
    let read = crate::access::Access::new("/v1/entities/{type}/{id}/history", &uri, what)
        .returned(entries.len())
        .about(vec![format!("{entity_type}/{id}")]);
    crate::access::record(&state, access_ctx, read).await?;
    mask_entries(&state, &caller, &mut entries);
    Ok(axum::Json(EntryList {
        entries,
        next_cursor,
    })
    .into_response())
}

/// Cuts a page fetched with `limit + 1` rows to `limit`, and gives the cursor of its last
/// row when there is more.
pub(crate) fn next_page<T>(
    rows: &mut Vec<T>,
    limit: usize,
    cursor: impl Fn(&T) -> String,
) -> Option<String> {
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last().map(cursor)
}

async fn write_one(
    state: &AppState,
    ctx: chronicle_core::RequestContext,
    op: EntityOp,
) -> ApiResult<OpOutcome> {
    state
        .writer
        .apply(ctx, op)
        .await?
        .map_err(|e| ApiError::from_op(e, ""))
}

fn written(
    state: &AppState,
    caller: &Caller,
    status: StatusCode,
    mut outcome: OpOutcome,
    with_changed: bool,
) -> Response {
    mask_entity(state, caller, &mut outcome.entity);
    mask_entries(state, caller, outcome.entry.as_mut());
    let tag = etag(outcome.entity.version);
    let changed = with_changed.then_some(outcome.entry.is_some());
    let body = EntityResponse {
        entity: outcome.entity,
        changed,
        entry: outcome.entry,
    };
    (status, [tag], axum::Json(body)).into_response()
}

enum Bound {
    Version(u64),
    Time(OffsetDateTime),
}

/// Rebuilds the entity from its entries up to a version or a time.
async fn entity_at(
    state: &AppState,
    entity_type: &str,
    id: &str,
    bound: Bound,
) -> ApiResult<Option<EntityState>> {
    const PAGE: usize = 1000;
    let mut query = EntryQuery {
        entity_type: Some(entity_type.to_owned()),
        entity_id: Some(id.to_owned()),
        order: Order::Asc,
        limit: PAGE,
        ..EntryQuery::default()
    };
    if let Bound::Time(t) = bound {
        // `to` is exclusive and times have microsecond precision: this includes entries at `t`.
        // At the end of time there is no later instant: then nothing is excluded.
        query.to = t.checked_add(Duration::microseconds(1));
    }
    let mut current: Option<EntityState> = None;
    'pages: loop {
        let page = state.store.search(&query).await?;
        for entry in &page {
            if let (Bound::Version(v), Some(ev)) = (&bound, entry.entity_version)
                && ev > *v
            {
                break 'pages;
            }
            current = replay::step(current, entry);
        }
        match page.last() {
            Some(last) if page.len() == PAGE => query.cursor = Some(last.seq),
            _ => break,
        }
    }
    Ok(match bound {
        Bound::Version(v) => current.filter(|c| c.version == v),
        // An entity first seen through an event (no version yet) did not exist.
        Bound::Time(_) => current.filter(|c| c.version > 0),
    })
}
