//! Snapshots over HTTP. Restoring one is a rollback with target `{kind: "snapshot"}`.

use crate::AppState;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Params, Path, text_cursor};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use chronicle_engine::snapshot::{self, SnapshotMeta, SnapshotRequest};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/snapshots", post(create).get(list))
        .route("/v1/snapshots/{id}", get(read))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotList {
    pub snapshots: Vec<SnapshotMeta>,
    pub next_cursor: Option<String>,
}

/// Captures the current state of entity types or chosen entities (zstd, SHA-256).
#[utoipa::path(post, path = "/v1/snapshots", tag = "snapshots",
    request_body = SnapshotRequest,
    responses((status = 201, description = "Captured", body = SnapshotMeta),
              (status = 404, description = "A named entity does not exist", body = crate::dto::Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    params: Params,
    Json(body): Json<SnapshotRequest>,
) -> ApiResult<(StatusCode, axum::Json<SnapshotMeta>)> {
    params.finish()?;
    let meta = snapshot::create(&state.writer, &ctx, body).await?;
    Ok((StatusCode::CREATED, axum::Json(meta)))
}

#[utoipa::path(get, path = "/v1/snapshots/{id}", tag = "snapshots",
    params(("id" = String, Path, description = "Snapshot id")),
    responses((status = 200, description = "The snapshot's description", body = SnapshotMeta),
              (status = 404, description = "No such snapshot", body = crate::dto::Problem)))]
pub async fn read(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<axum::Json<SnapshotMeta>> {
    params.finish()?;
    let id =
        Uuid::parse_str(&id).map_err(|_| ApiError::invalid_field("/path/id", "must be a UUID"))?;
    Ok(axum::Json(snapshot::meta(state.store.as_ref(), id).await?))
}

/// Snapshots, oldest first.
#[utoipa::path(get, path = "/v1/snapshots", tag = "snapshots",
    params(("limit" = Option<usize>, Query, description = "Page size"),
           ("cursor" = Option<String>, Query, description = "Opaque cursor from next_cursor")),
    responses((status = 200, description = "A page of snapshots", body = SnapshotList)))]
pub async fn list(
    State(state): State<AppState>,
    mut params: Params,
) -> ApiResult<axum::Json<SnapshotList>> {
    let limit = params.limit(state.config.default_page_size, state.config.max_page_size);
    let cursor = params.text_cursor();
    params.finish()?;
    let after = match cursor {
        Some(c) => Some(Uuid::parse_str(&c).map_err(|_| {
            ApiError::invalid_field("/query/cursor", "is not a cursor this API gave")
        })?),
        None => None,
    };
    let snapshots = snapshot::list(state.store.as_ref(), after, limit).await?;
    let next_cursor = (snapshots.len() == limit)
        .then(|| snapshots.last().map(|s| text_cursor(&s.id.to_string())))
        .flatten();
    Ok(axum::Json(SnapshotList {
        snapshots,
        next_cursor,
    }))
}
