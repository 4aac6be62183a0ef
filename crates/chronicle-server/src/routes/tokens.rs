//! Tokens over HTTP (admin only): create (the token is shown once), list, revoke.

use crate::AppState;
use crate::auth::Role;
use crate::auth::tokens::{self, NewToken, TokenSpec, TokenView};
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Params, Path};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, post};
use chronicle_core::limits;
use chronicle_core::schema::FieldError;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;

/// Longest lifetime a token may be given, in days.
const MAX_DAYS: u32 = 3650;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/tokens", post(create).get(list))
        .route("/v1/tokens/{id}", delete(revoke))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// Who holds it; recorded as the actor id of every entry it writes.
    pub name: String,
    /// admin, operator, approver, auditor, viewer or service.
    pub role: String,
    /// Recorded as the actor email.
    pub email: Option<String>,
    /// Lifetime in days; without it the token lasts until revoked.
    pub expires_in_days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenView>,
}

/// Creates a token. The answer holds the token itself, which is not stored and cannot be
/// shown again.
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens",
    request_body = TokenRequest,
    responses((status = 201, description = "The token, shown this once", body = NewToken)))]
pub async fn create(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    params: Params,
    Json(body): Json<TokenRequest>,
) -> ApiResult<(StatusCode, axum::Json<NewToken>)> {
    params.finish()?;
    let mut errors = Vec::new();
    if let Err(m) = limits::check_id(&body.name) {
        errors.push(FieldError::new("/name", m));
    }
    if let Some(Err(m)) = body.email.as_deref().map(limits::check_id) {
        errors.push(FieldError::new("/email", m));
    }
    let role = Role::parse(&body.role);
    if role.is_none() {
        errors.push(FieldError::new(
            "/role",
            "must be admin, operator, approver, auditor, viewer or service",
        ));
    }
    if body.expires_in_days.is_some_and(|d| d == 0 || d > MAX_DAYS) {
        errors.push(FieldError::new(
            "/expires_in_days",
            format!("must be from 1 to {MAX_DAYS}"),
        ));
    }
    let (Some(role), true) = (role, errors.is_empty()) else {
        return Err(ApiError::invalid(errors));
    };
    let spec = TokenSpec {
        name: body.name,
        role,
        email: body.email,
        expires_at: body
            .expires_in_days
            .map(|d| OffsetDateTime::now_utc() + Duration::days(i64::from(d))),
    };
    let token = tokens::create(&state, &ctx, spec, None).await?;
    Ok((StatusCode::CREATED, axum::Json(token)))
}

/// The live tokens (a revoked one is gone from the list; its revocation is on the ledger),
/// without secrets.
#[utoipa::path(get, path = "/v1/tokens", tag = "tokens",
    responses((status = 200, description = "The tokens", body = TokenList)))]
pub async fn list(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<axum::Json<TokenList>> {
    params.finish()?;
    Ok(axum::Json(TokenList {
        tokens: tokens::list(&state).await?,
    }))
}

/// Revokes a token at once (on every node: each request reads the token's record).
#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "Token id")),
    responses((status = 200, description = "The revoked token", body = TokenView),
              (status = 404, description = "No such token", body = crate::dto::Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<axum::Json<TokenView>> {
    params.finish()?;
    limits::check_id(&id).map_err(|m| ApiError::invalid_field("/path/id", m))?;
    Ok(axum::Json(tokens::revoke(&state, &ctx, &id).await?))
}
