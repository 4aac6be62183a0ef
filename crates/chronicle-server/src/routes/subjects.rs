//! Data subjects: GDPR erasure. Destroying a subject's data key makes every sensitive value
//! sealed for them (in entities and in entries) read as `"[erased]"`, while the ledger's
//! ciphertext and leaf hashes stay, so the ledger still verifies.
//!
//! Erasure is an administrator's act: the route needs the `Erase` permission, which only the
//! admin role holds (`auth/rules.rs`).

use crate::AppState;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult, Code};
use crate::extract::{Json, Params, Path};
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use chronicle_core::{Entry, limits, timefmt};
use chronicle_store::Erasure;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/v1/subjects/{subject}/erase", post(erase))
}

/// `POST /v1/subjects/{subject}/erase`. The reason is recorded in the erasure entry: it must
/// not contain personal data itself.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// Why (e.g. the ticket of the data subject's request); overrides `X-Reason`.
    pub reason: Option<String>,
}

/// Destroys the subject's data key and records an `erasure` entry naming the subject (never
/// the values). The subject is `<type>:<id>`, e.g. `customer:c7`.
#[utoipa::path(post, path = "/v1/subjects/{subject}/erase", tag = "subjects",
    params(("subject" = String, Path, description = "The data subject, `<type>:<id>`")),
    request_body = EraseRequest,
    responses((status = 200, description = "Erased; the erasure entry", body = Entry),
              (status = 404, description = "No data of this subject was ever sealed", body = crate::dto::Problem),
              (status = 409, description = "invalid-state: already erased", body = crate::dto::Problem)))]
pub async fn erase(
    State(state): State<AppState>,
    Ctx(mut ctx): Ctx,
    Path(subject): Path<String>,
    params: Params,
    Json(body): Json<EraseRequest>,
) -> ApiResult<axum::Json<Entry>> {
    params.finish()?;
    limits::check_subject(&subject).map_err(|m| ApiError::invalid_field("/path/subject", m))?;
    if let Some(reason) = body.reason {
        limits::check_text(&reason).map_err(|m| ApiError::invalid_field("/reason", m))?;
        ctx.reason = Some(reason);
    }
    match state.writer.erase(ctx, subject.clone()).await? {
        Erasure::Erased(entry) => Ok(axum::Json(*entry)),
        Erasure::Unknown => Err(ApiError::not_found(format!(
            "no data of subject {subject} was ever sealed"
        ))),
        Erasure::AlreadyErased { erased_at } => Err(ApiError::new(
            Code::InvalidState,
            format!("subject {subject} was already erased"),
        )
        .with_extension("erased_at", json!(timefmt::format(erased_at)))),
    }
}
