//! Operations: liveness, readiness, Prometheus metrics and the OpenAPI document.

use crate::AppState;
use crate::dto::{Health, Problem};
use crate::error::{ApiError, ApiResult, Code};
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
}

/// The process is up (says nothing about the database).
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok".to_owned(),
        warnings: Vec::new(),
    })
}

/// What `/readyz` says while authentication is off.
pub const INSECURE: &str = "authentication is off (--insecure-no-auth): anyone who can reach this server can read and change everything";

/// The database answers.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, description = "Ready", body = Health),
              (status = 503, description = "The database does not answer", body = Problem)))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<axum::Json<Health>> {
    if let Some(failure) = state.integrity.failure() {
        return Err(ApiError::new(
            Code::Unavailable,
            format!("the ledger failed verification: {failure}"),
        ));
    }
    match state.store.ping().await {
        Ok(()) => Ok(axum::Json(Health {
            status: "ready".to_owned(),
            warnings: if state.config.auth.enabled {
                Vec::new()
            } else {
                vec![INSECURE.to_owned()]
            },
        })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::new(
                Code::Unavailable,
                "the database does not answer",
            ))
        }
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    // A failing database must not hide the request metrics: the gauges just keep their values.
    let stats = match state.store.stats().await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read store statistics for /metrics");
            None
        }
    };
    let text = crate::metrics::render(&state.metrics, stats.as_ref());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "ops",
    responses((status = 200, description = "The OpenAPI document", body = Object)))]
pub async fn openapi(State(state): State<AppState>) -> Response {
    axum::Json(crate::openapi::document(state.config.max_page_size)).into_response()
}
