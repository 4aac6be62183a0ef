//! Bulk operations and transactions: many entity operations in one request and one store
//! write.
//!
//! A request whose shape is wrong (a missing id, an unknown `op`, too many operations) is
//! refused as a whole with 400, atomic or not. Operations that are well formed but refused
//! by the engine (schema, not found, conflicts) are reported per index; in an atomic batch
//! the first such refusal refuses the batch: its status is the answer's, with the members
//! `failed_index` and `results`, and nothing is written.

use super::unexpected;
use crate::AppState;
use crate::auth::Caller;
use crate::context::Ctx;
use crate::dto::{
    BulkRequest, BulkResponse, OpKind, OpRequest, OpResult, Problem, TransactionRequest,
    TransactionResponse,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Params};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use chronicle_core::Entry;
use chronicle_core::limits;
use chronicle_core::schema::FieldError;
use chronicle_core::write::{EntityOp, OpError};
use chronicle_store::{Batch, OpOutcome};
use serde_json::json;
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/bulk", post(bulk))
        .route("/v1/transactions", post(transaction))
}

/// Many operations under one `bulk` parent entry; all or nothing unless `atomic: false`.
#[utoipa::path(post, path = "/v1/bulk", tag = "batch",
    request_body = BulkRequest,
    responses((status = 200, description = "Results per operation", body = BulkResponse),
              (status = 404, description = "An atomic batch's operation found nothing (with failed_index, results)", body = Problem),
              (status = 409, description = "An atomic batch's operation conflicted (with failed_index, results)", body = Problem)))]
pub async fn bulk(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    caller: Caller,
    params: Params,
    Json(body): Json<BulkRequest>,
) -> ApiResult<axum::Json<BulkResponse>> {
    params.finish()?;
    let atomic = body.atomic.unwrap_or(true);
    let (ops, ctx) = to_ops(body.operations, ctx)?;
    let requested = ops.len();
    let batch = state.writer.bulk(ctx, ops, atomic).await?;
    let (bulk_id, results, entry) = answer(&state, &caller, batch, requested)?;
    Ok(axum::Json(BulkResponse {
        bulk_id,
        results,
        entry,
    }))
}

/// All or nothing; every entry carries the transaction id, and a closing `transaction` entry
/// (whose id is the transaction id) summarises it.
#[utoipa::path(post, path = "/v1/transactions", tag = "batch",
    request_body = TransactionRequest,
    responses((status = 200, description = "Committed; results per operation", body = TransactionResponse),
              (status = 404, description = "An operation found nothing (with failed_index, results)", body = Problem),
              (status = 409, description = "An operation conflicted (with failed_index, results)", body = Problem)))]
pub async fn transaction(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    caller: Caller,
    params: Params,
    Json(body): Json<TransactionRequest>,
) -> ApiResult<axum::Json<TransactionResponse>> {
    params.finish()?;
    let (ops, ctx) = to_ops(body.operations, ctx)?;
    let requested = ops.len();
    let batch = state.writer.transaction(ctx, ops).await?;
    let (transaction_id, results, entry) = answer(&state, &caller, batch, requested)?;
    Ok(axum::Json(TransactionResponse {
        transaction_id,
        results,
        entry,
    }))
}

/// The results of a committed batch (masked for the caller), or the refusal of one that was
/// not.
fn answer(
    state: &AppState,
    caller: &Caller,
    batch: Batch,
    requested: usize,
) -> ApiResult<(Uuid, Vec<OpResult>, Option<Entry>)> {
    let Batch {
        id,
        results,
        committed,
        entry,
    } = batch;
    if committed {
        let mut results: Vec<OpResult> = results
            .into_iter()
            .enumerate()
            .map(|(i, r)| op_result(i, r))
            .collect();
        for r in &mut results {
            if let Some(e) = &mut r.entity {
                super::mask_entity(state, caller, e);
            }
            super::mask_entries(state, caller, r.entry.as_mut());
        }
        return Ok((id, results, entry));
    }
    Err(refused_batch(results, requested))
}

fn op_result(index: usize, result: Result<OpOutcome, OpError>) -> OpResult {
    match result {
        Ok(o) => OpResult {
            index,
            status: if o.created { 201 } else { 200 },
            entity: Some(o.entity),
            entry: o.entry,
            error: None,
        },
        Err(e) => {
            let err = ApiError::from_op(e, &format!("/operations/{index}"));
            OpResult {
                index,
                status: err.status().as_u16(),
                entity: None,
                entry: None,
                error: Some(Problem::from(&err)),
            }
        }
    }
}

/// The answer to an atomic batch that was not committed: the failing operation's problem,
/// with every operation's result (424 for those not applied because of it).
fn refused_batch(results: Vec<Result<OpOutcome, OpError>>, requested: usize) -> ApiError {
    let Some(failed_index) = results.iter().position(Result::is_err) else {
        return unexpected("an uncommitted batch without a failed operation");
    };
    let failed = results
        .into_iter()
        .nth(failed_index)
        .and_then(Result::err)
        .expect("found above");
    let failure = ApiError::from_op(failed, &format!("/operations/{failed_index}"));
    let dependency = StatusCode::FAILED_DEPENDENCY.as_u16();
    let results: Vec<OpResult> = (0..requested)
        .map(|index| {
            if index == failed_index {
                OpResult {
                    index,
                    status: failure.status().as_u16(),
                    entity: None,
                    entry: None,
                    error: Some(Problem::from(&failure)),
                }
            } else {
                OpResult {
                    index,
                    status: dependency,
                    entity: None,
                    entry: None,
                    error: None,
                }
            }
        })
        .collect();
    let detail = format!(
        "operation {failed_index} failed ({}); nothing was written",
        failure.detail
    );
    let mut err = failure.clone();
    err.detail = detail;
    err.with_extension("failed_index", json!(failed_index))
        .with_extension(
            "results",
            serde_json::to_value(&results).unwrap_or_default(),
        )
}

/// Checks each operation's shape and turns it into an engine operation; each operation's
/// metadata goes into the context, by index.
fn to_ops(
    ops: Vec<OpRequest>,
    mut ctx: chronicle_core::RequestContext,
) -> ApiResult<(Vec<EntityOp>, chronicle_core::RequestContext)> {
    if ops.is_empty() {
        return Err(ApiError::invalid_field(
            "/operations",
            "must contain at least one operation",
        ));
    }
    if ops.len() > limits::MAX_BATCH_OPS {
        return Err(ApiError::invalid_field(
            "/operations",
            format!("must contain at most {} operations", limits::MAX_BATCH_OPS),
        ));
    }
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(ops.len());
    let mut metadata = Vec::with_capacity(ops.len());
    for (i, op) in ops.into_iter().enumerate() {
        if let Some(m) = &op.metadata {
            errors.extend(chronicle_core::source::check_metadata(
                m,
                &format!("/operations/{i}/metadata"),
            ));
        }
        metadata.push(op.metadata.unwrap_or_else(|| json!({})));
        let at = |field: &str| format!("/operations/{i}/{field}");
        let mut err =
            |field: &str, message: String| errors.push(FieldError::new(at(field), message));
        if let Err(m) = limits::check_type_name(&op.entity_type) {
            err("type", m);
        }
        match (&op.id, op.op) {
            (Some(id), _) => {
                if let Err(m) = limits::check_id(id) {
                    err("id", m);
                }
            }
            (None, OpKind::Create) => {}
            (None, _) => err("id", "is required for this operation".into()),
        }
        match (&op.data, op.op) {
            (None, OpKind::Create | OpKind::Update | OpKind::Replace) => {
                err("data", "is required for this operation".into())
            }
            (Some(_), OpKind::Delete) => err("data", "is not used by delete".into()),
            _ => {}
        }
        if op.op == OpKind::Create && op.expected_version.is_some() {
            err("expected_version", "is not used by create".into());
        }
        let (ty, id, data, expected_version) =
            (op.entity_type, op.id, op.data, op.expected_version);
        let id_or_empty = || id.clone().unwrap_or_default();
        out.push(match op.op {
            OpKind::Create => EntityOp::Create {
                entity_type: ty,
                id: id.clone(),
                data: data.unwrap_or_default(),
            },
            OpKind::Update => EntityOp::Update {
                entity_type: ty,
                id: id_or_empty(),
                patch: data.unwrap_or_default(),
                expected_version,
            },
            OpKind::Replace => EntityOp::Replace {
                entity_type: ty,
                id: id_or_empty(),
                data: data.unwrap_or_default(),
                expected_version,
            },
            OpKind::Delete => EntityOp::Delete {
                entity_type: ty,
                id: id_or_empty(),
                expected_version,
            },
        });
    }
    if errors.is_empty() {
        if metadata.iter().any(|m| m != &json!({})) {
            ctx.op_metadata = metadata;
        }
        Ok((out, ctx))
    } else {
        Err(ApiError::invalid(errors))
    }
}
