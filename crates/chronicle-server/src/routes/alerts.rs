//! Alert rules and fired alerts over HTTP. Rules are `_alert_rule` records and alerts `_alert`
//! records, written by system writes through the ordinary write path: creating or deleting a
//! rule is on the ledger with the requester as actor.

use crate::AppState;
use crate::alerts::{ALERT_TYPE, Alert, AlertRule, RULE_TYPE, Threshold, webhook};
use crate::context::Ctx;
use crate::dto::Problem;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Params, Path, text_cursor};
use crate::filter::EntryFilter;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use chronicle_core::entry::Severity;
use chronicle_core::schema::FieldError;
use chronicle_core::write::{EntityOp, OpError};
use chronicle_core::{EntityState, limits, timefmt};
use chronicle_store::Op;
use chronicle_store::writer::system_context;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Largest threshold count (a window keeps up to this many entries per actor).
const MAX_COUNT: u64 = 100_000;
/// Longest window: 30 days.
const MAX_WINDOW_SECS: u64 = 30 * 24 * 3600;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/alerts/rules", post(create_rule).get(list_rules))
        .route("/v1/alerts/rules/{id}", delete(delete_rule))
        .route("/v1/alerts", get(list_alerts))
}

/// `POST /v1/alerts/rules`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleRequest {
    pub name: String,
    /// The entries counted (the stream's filters); absent: every entry.
    pub filter: Option<EntryFilter>,
    pub threshold: Threshold,
    /// Of the alert and its `security` entry; default `warning`.
    pub severity: Option<Severity>,
    /// Each alert is POSTed here as JSON (`http://` only), retried with backoff.
    pub webhook_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleList {
    pub rules: Vec<AlertRule>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertList {
    pub alerts: Vec<Alert>,
    pub next_cursor: Option<String>,
}

/// Creates a rule; it applies to every entry committed after its own record.
#[utoipa::path(post, path = "/v1/alerts/rules", tag = "alerts",
    request_body = RuleRequest,
    responses((status = 201, description = "The rule", body = AlertRule)))]
pub async fn create_rule(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    params: Params,
    Json(body): Json<RuleRequest>,
) -> ApiResult<(StatusCode, axum::Json<AlertRule>)> {
    params.finish()?;
    check_rule(&body)?;
    let rule = AlertRule {
        id: Uuid::now_v7().to_string(),
        name: body.name,
        filter: body.filter.unwrap_or_default(),
        threshold: body.threshold,
        severity: body.severity.unwrap_or(Severity::Warning),
        webhook_url: body.webhook_url,
        created_at: timefmt::now(),
        created_by: ctx.actor.clone(),
    };
    let op = EntityOp::Create {
        entity_type: RULE_TYPE.to_owned(),
        id: Some(rule.id.clone()),
        data: serde_json::to_value(&rule).expect("a rule serializes"),
    };
    // The name and the filter are the client's text; the rest is structure.
    let op = Op::record(op, vec!["/name".to_owned(), "/filter".to_owned()]);
    match state.writer.apply(system_context(&ctx), op).await? {
        Ok(_) => Ok((StatusCode::CREATED, axum::Json(rule))),
        Err(e) => Err(ApiError::from_op(e, "")),
    }
}

fn check_rule(body: &RuleRequest) -> ApiResult<()> {
    let mut errors = Vec::new();
    let mut err = |pointer: &str, message: String| errors.push(FieldError::new(pointer, message));
    if body.name.trim().is_empty() {
        err("/name", "must not be empty".into());
    } else if let Err(m) = limits::check_id(&body.name) {
        err("/name", m);
    }
    let t = &body.threshold;
    if !(1..=MAX_COUNT).contains(&t.count) {
        err("/threshold/count", format!("must be from 1 to {MAX_COUNT}"));
    }
    if !(1..=MAX_WINDOW_SECS).contains(&t.window_secs) {
        err(
            "/threshold/window_secs",
            format!("must be from 1 to {MAX_WINDOW_SECS}"),
        );
    }
    if let Some(Err(m)) = body.webhook_url.as_deref().map(webhook::check_url) {
        err("/webhook_url", m);
    }
    if let Some(filter) = &body.filter {
        errors.extend(filter.check("/filter"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(errors))
    }
}

/// Rules, oldest first.
#[utoipa::path(get, path = "/v1/alerts/rules", tag = "alerts",
    params(("limit" = Option<usize>, Query, description = "Page size"),
           ("cursor" = Option<String>, Query, description = "Opaque cursor from next_cursor")),
    responses((status = 200, description = "A page of rules", body = RuleList)))]
pub async fn list_rules(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<axum::Json<RuleList>> {
    let (rules, next_cursor) = list(&state, params, RULE_TYPE).await?;
    Ok(axum::Json(RuleList { rules, next_cursor }))
}

/// Deletes a rule; alerts it fired stay.
#[utoipa::path(delete, path = "/v1/alerts/rules/{id}", tag = "alerts",
    params(("id" = String, Path, description = "Rule id")),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "No such rule", body = Problem)))]
pub async fn delete_rule(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<StatusCode> {
    params.finish()?;
    let id =
        Uuid::parse_str(&id).map_err(|_| ApiError::invalid_field("/path/id", "must be a UUID"))?;
    let op = EntityOp::Delete {
        entity_type: RULE_TYPE.to_owned(),
        id: id.to_string(),
        expected_version: None,
    };
    match state.writer.apply(system_context(&ctx), op).await? {
        Ok(_) => Ok(StatusCode::NO_CONTENT),
        Err(OpError::NotFound { .. }) => {
            Err(ApiError::not_found(format!("alert rule {id} not found")))
        }
        Err(e) => Err(ApiError::from_op(e, "")),
    }
}

/// Fired alerts in ledger order, oldest first.
#[utoipa::path(get, path = "/v1/alerts", tag = "alerts",
    params(("limit" = Option<usize>, Query, description = "Page size"),
           ("cursor" = Option<String>, Query, description = "Opaque cursor from next_cursor")),
    responses((status = 200, description = "A page of alerts", body = AlertList)))]
pub async fn list_alerts(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<axum::Json<AlertList>> {
    let (alerts, next_cursor) = list(&state, params, ALERT_TYPE).await?;
    Ok(axum::Json(AlertList {
        alerts,
        next_cursor,
    }))
}

/// A page of live records of a reserved type, by id.
async fn list<T: DeserializeOwned>(
    state: &AppState,
    mut params: Params,
    entity_type: &str,
) -> ApiResult<(Vec<T>, Option<String>)> {
    let limit = params.limit(state.config.default_page_size, state.config.max_page_size);
    let after = params.text_cursor();
    params.finish()?;
    let states = state
        .store
        .list_entities(entity_type, after.as_deref(), limit)
        .await?;
    let next_cursor = (states.len() == limit)
        .then(|| states.last().map(|s| text_cursor(&s.id)))
        .flatten();
    let items = states.into_iter().map(parse).collect::<ApiResult<_>>()?;
    Ok((items, next_cursor))
}

fn parse<T: DeserializeOwned>(state: EntityState) -> ApiResult<T> {
    serde_json::from_value(state.data).map_err(|e| {
        tracing::error!(entity_type = state.entity_type, id = state.id, error = %e, "unreadable record");
        ApiError::internal()
    })
}
