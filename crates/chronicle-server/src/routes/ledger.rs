//! The ledger for external verifiers: the tree head as a C2SP tlog-checkpoint body, and the
//! stored leaves (canonical bytes and leaf hashes) by seq range.

use crate::AppState;
use crate::dto::{Checkpoint, Leaf, Leaves};
use crate::error::{ApiError, ApiResult};
use crate::extract::Params;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Most leaves one request may ask for.
pub const MAX_LEAVES: u64 = 1000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/ledger/checkpoint", get(checkpoint))
        .route("/v1/ledger/leaves", get(leaves))
}

/// The current tree head. `checkpoint` is the C2SP tlog-checkpoint body
/// (`<origin>\n<tree size>\n<base64 root>\n`). It is not signed yet: signing (a C2SP signed
/// note with Ed25519) comes with checkpoint keys in a later issue, so for now the body only
/// restates `tree_size` and `root_hash`.
#[utoipa::path(get, path = "/v1/ledger/checkpoint", tag = "ledger",
    responses((status = 200, description = "The tree head", body = Checkpoint)))]
pub async fn checkpoint(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<axum::Json<Checkpoint>> {
    params.finish()?;
    let head = state.store.head().await?;
    let checkpoint = format!(
        "{}\n{}\n{}\n",
        state.config.origin,
        head.tree_size,
        STANDARD.encode(head.root)
    );
    Ok(axum::Json(Checkpoint {
        tree_size: head.tree_size,
        root_hash: hex::encode(head.root),
        checkpoint,
    }))
}

/// Stored leaves with seq in `[start, end]`, at most 1000, as they are on disk.
#[utoipa::path(get, path = "/v1/ledger/leaves", tag = "ledger",
    params(("start" = u64, Query, description = "First seq (from 1)"),
           ("end" = u64, Query, description = "Last seq, inclusive; at most start + 999")),
    responses((status = 200, description = "The leaves", body = Leaves)))]
pub async fn leaves(
    State(state): State<AppState>,
    mut params: Params,
) -> ApiResult<axum::Json<Leaves>> {
    let start = params.parse("start", positive);
    let end = params.parse("end", positive);
    for name in ["start", "end"] {
        if !params.has(name) {
            params.error(name, "is required");
        }
    }
    if let (Some(s), Some(e)) = (start, end) {
        if e < s {
            params.error("end", "must not be before start");
        } else if e - s >= MAX_LEAVES {
            params.error("end", format!("must be at most start + {}", MAX_LEAVES - 1));
        }
    }
    params.finish()?;
    let (Some(start), Some(end)) = (start, end) else {
        return Err(ApiError::invalid_field(
            "/query",
            "start and end are required",
        ));
    };
    let rows = state.store.rows(start, end).await?;
    let leaves = rows
        .into_iter()
        .map(|r| Leaf {
            seq: r.seq,
            leaf_hash: hex::encode(&r.leaf_hash),
            canonical: STANDARD.encode(&r.canonical),
        })
        .collect();
    Ok(axum::Json(Leaves { leaves }))
}

fn positive(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("must be a positive integer".into()),
    }
}
