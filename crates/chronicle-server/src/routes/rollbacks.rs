//! Rollbacks over HTTP: preview, request, read, list, approve, reject, pause, resume, stop.
//! The engine (`chronicle-engine`) does the work; this file maps it to the API contract.
//!
//! `POST /v1/rollbacks` answers 200 with the finished rollback when it ran atomically, 202
//! when it runs in stages or waits for approval, and 409 `rollback-conflict` (with the
//! conflicts and the plan) when `strict` refuses.

use crate::AppState;
use crate::auth::Caller;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Params, Path, text_cursor};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use chronicle_engine::record::RollbackRecord;
use chronicle_engine::{Preview, RollbackRequest, Status};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/rollbacks/preview", post(preview))
        .route("/v1/rollbacks", post(create).get(list))
        .route("/v1/rollbacks/{id}", get(read))
        .route("/v1/rollbacks/{id}/approve", post(approve))
        .route("/v1/rollbacks/{id}/reject", post(reject))
        .route("/v1/rollbacks/{id}/pause", post(pause))
        .route("/v1/rollbacks/{id}/resume", post(resume))
        .route("/v1/rollbacks/{id}/stop", post(stop))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    pub justification: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RollbackList {
    pub rollbacks: Vec<RollbackRecord>,
    pub next_cursor: Option<String>,
}

/// A rollback record as this caller may see it: the plan's sensitive values masked for
/// roles without unmask rights.
fn shown(
    state: &AppState,
    caller: &Caller,
    mut record: RollbackRecord,
) -> axum::Json<RollbackRecord> {
    if !caller.unmasked(&state.config.auth) {
        chronicle_core::mask::mask_plan(&state.schema, &mut record.plan);
    }
    axum::Json(record)
}

fn rollback_id(id: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| ApiError::invalid_field("/path/id", "must be a UUID"))
}

/// The plan of a rollback, with the approval it would need. Writes nothing.
#[utoipa::path(post, path = "/v1/rollbacks/preview", tag = "rollbacks",
    request_body = RollbackRequest,
    responses((status = 200, description = "The plan", body = Preview),
              (status = 404, description = "The target does not exist", body = crate::dto::Problem)))]
pub async fn preview(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
    Json(body): Json<RollbackRequest>,
) -> ApiResult<axum::Json<Preview>> {
    params.finish()?;
    let mut preview = state.engine.preview(&body).await?;
    if !caller.unmasked(&state.config.auth) {
        chronicle_core::mask::mask_plan(&state.schema, &mut preview.plan);
    }
    Ok(axum::Json(preview))
}

/// Requests a rollback: runs it now (atomic, no approval needed), in the background
/// (staged), or records it for approval.
#[utoipa::path(post, path = "/v1/rollbacks", tag = "rollbacks",
    request_body = RollbackRequest,
    responses((status = 200, description = "Finished (atomic mode)", body = RollbackRecord),
              (status = 202, description = "Running in stages, or awaiting approval", body = RollbackRecord),
              (status = 404, description = "The target does not exist", body = crate::dto::Problem),
              (status = 409, description = "rollback-conflict: strict found conflicts (with conflicts and plan); nothing written", body = crate::dto::Problem)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Ctx(ctx): Ctx,
    params: Params,
    Json(body): Json<RollbackRequest>,
) -> ApiResult<(StatusCode, axum::Json<RollbackRecord>)> {
    params.finish()?;
    let record = state.engine.request(body, &ctx).await?;
    let status = if record.status.is_final() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, shown(&state, &caller, record)))
}

#[utoipa::path(get, path = "/v1/rollbacks/{id}", tag = "rollbacks",
    params(("id" = String, Path, description = "Rollback id")),
    responses((status = 200, description = "The rollback, with progress and verification", body = RollbackRecord),
              (status = 404, description = "No such rollback", body = crate::dto::Problem)))]
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<axum::Json<RollbackRecord>> {
    params.finish()?;
    Ok(shown(
        &state,
        &caller,
        state.engine.get(rollback_id(&id)?).await?,
    ))
}

/// Rollbacks, oldest first (ids are UUIDv7).
#[utoipa::path(get, path = "/v1/rollbacks", tag = "rollbacks",
    params(("limit" = Option<usize>, Query, description = "Page size"),
           ("cursor" = Option<String>, Query, description = "Opaque cursor from next_cursor")),
    responses((status = 200, description = "A page of rollbacks", body = RollbackList)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    mut params: Params,
) -> ApiResult<axum::Json<RollbackList>> {
    let limit = params.limit(state.config.default_page_size, state.config.max_page_size);
    let cursor = params.text_cursor();
    params.finish()?;
    let after = match cursor {
        Some(c) => Some(rollback_id(&c).map_err(|_| {
            ApiError::invalid_field("/query/cursor", "is not a cursor this API gave")
        })?),
        None => None,
    };
    let rollbacks: Vec<RollbackRecord> = state
        .engine
        .list(after, limit)
        .await?
        .into_iter()
        .map(|r| shown(&state, &caller, r).0)
        .collect();
    let next_cursor = (rollbacks.len() == limit)
        .then(|| rollbacks.last().map(|r| text_cursor(&r.id.to_string())))
        .flatten();
    Ok(axum::Json(RollbackList {
        rollbacks,
        next_cursor,
    }))
}

async fn decide(
    state: AppState,
    caller: Caller,
    ctx: chronicle_core::RequestContext,
    id: String,
    approve: bool,
    body: Decision,
) -> ApiResult<(StatusCode, axum::Json<RollbackRecord>)> {
    let record = state
        .engine
        .decide(rollback_id(&id)?, &ctx, approve, body.justification)
        .await?;
    let status = if record.status.is_final() || record.status == Status::AwaitingApproval {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, shown(&state, &caller, record)))
}

/// Approves (role `approver`, never the requester). Enough approvals start the rollback.
#[utoipa::path(post, path = "/v1/rollbacks/{id}/approve", tag = "rollbacks",
    params(("id" = String, Path, description = "Rollback id")), request_body = Decision,
    responses((status = 200, description = "Recorded (and finished, when it ran atomically)", body = RollbackRecord),
              (status = 202, description = "Approved and running in stages", body = RollbackRecord),
              (status = 403, description = "Not an approver, or the requester", body = crate::dto::Problem),
              (status = 409, description = "invalid-state: not awaiting approval", body = crate::dto::Problem)))]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    params: Params,
    Json(body): Json<Decision>,
) -> ApiResult<(StatusCode, axum::Json<RollbackRecord>)> {
    params.finish()?;
    decide(state, caller, ctx, id, true, body).await
}

/// Rejects (role `approver`); a rejected rollback never runs.
#[utoipa::path(post, path = "/v1/rollbacks/{id}/reject", tag = "rollbacks",
    params(("id" = String, Path, description = "Rollback id")), request_body = Decision,
    responses((status = 200, description = "Rejected", body = RollbackRecord),
              (status = 403, description = "Not an approver, or the requester", body = crate::dto::Problem),
              (status = 409, description = "invalid-state: not awaiting approval", body = crate::dto::Problem)))]
pub async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    params: Params,
    Json(body): Json<Decision>,
) -> ApiResult<(StatusCode, axum::Json<RollbackRecord>)> {
    params.finish()?;
    decide(state, caller, ctx, id, false, body).await
}

/// Pauses a running staged rollback after its current stage.
#[utoipa::path(post, path = "/v1/rollbacks/{id}/pause", tag = "rollbacks",
    params(("id" = String, Path, description = "Rollback id")),
    responses((status = 200, description = "Paused", body = RollbackRecord),
              (status = 409, description = "invalid-state: not running", body = crate::dto::Problem)))]
pub async fn pause(
    State(state): State<AppState>,
    caller: Caller,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<axum::Json<RollbackRecord>> {
    params.finish()?;
    Ok(shown(
        &state,
        &caller,
        state.engine.pause(rollback_id(&id)?, &ctx).await?,
    ))
}

/// Resumes a paused rollback from its last checkpoint.
#[utoipa::path(post, path = "/v1/rollbacks/{id}/resume", tag = "rollbacks",
    params(("id" = String, Path, description = "Rollback id")),
    responses((status = 202, description = "Running again", body = RollbackRecord),
              (status = 409, description = "invalid-state: not paused", body = crate::dto::Problem)))]
pub async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<(StatusCode, axum::Json<RollbackRecord>)> {
    params.finish()?;
    Ok((
        StatusCode::ACCEPTED,
        shown(
            &state,
            &caller,
            state.engine.resume(rollback_id(&id)?, &ctx).await?,
        ),
    ))
}

/// Emergency stop: no further stage starts; committed stages stay (and can be rolled back).
#[utoipa::path(post, path = "/v1/rollbacks/{id}/stop", tag = "rollbacks",
    params(("id" = String, Path, description = "Rollback id")),
    responses((status = 200, description = "Stopped", body = RollbackRecord),
              (status = 409, description = "invalid-state: already ended", body = crate::dto::Problem)))]
pub async fn stop(
    State(state): State<AppState>,
    caller: Caller,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<axum::Json<RollbackRecord>> {
    params.finish()?;
    Ok(shown(
        &state,
        &caller,
        state.engine.stop(rollback_id(&id)?, &ctx).await?,
    ))
}
