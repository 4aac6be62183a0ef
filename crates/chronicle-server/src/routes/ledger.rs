//! The ledger for external verifiers (signed checkpoints are in `checkpoints.rs`): the
//! stored leaves (canonical bytes and leaf hashes) by seq range, and inclusion and
//! consistency proofs built from stored tree nodes in O(log n) reads.

use crate::AppState;
use crate::dto::{ConsistencyProof, InclusionProof, Leaf, Leaves};
use crate::error::{ApiError, ApiResult};
use crate::extract::Params;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chronicle_store::proofs;

/// Most leaves one request may ask for.
pub const MAX_LEAVES: u64 = 1000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/ledger/leaves", get(leaves))
        .route("/v1/ledger/proof/inclusion", get(inclusion))
        .route("/v1/ledger/proof/consistency", get(consistency))
}

/// Stored leaves with seq in `[start, end]` and within the tree head, at most 1000, as they
/// are on disk.
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
    // `rows` is raw (verifiers must see rows past the head); what is served stops at the
    // head, so a row forged beyond it is never handed out as a leaf.
    let head = state.store.head().await?.tree_size;
    let rows = if start > head {
        Vec::new()
    } else {
        state.store.rows(start, end.min(head)).await?
    };
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

/// Proof that the entry at `seq` is in the tree of `tree_size` leaves (default: the current
/// tree). Verify against the root of that size (RFC 9162 §2.1.3.2).
#[utoipa::path(get, path = "/v1/ledger/proof/inclusion", tag = "ledger",
    params(("seq" = u64, Query, description = "The entry's seq"),
           ("tree_size" = Option<u64>, Query, description = "Tree size to prove against; default: current")),
    responses((status = 200, description = "The proof", body = InclusionProof)))]
pub async fn inclusion(
    State(state): State<AppState>,
    mut params: Params,
) -> ApiResult<axum::Json<InclusionProof>> {
    let seq = params.parse("seq", positive);
    let size = params.parse("tree_size", positive);
    if !params.has("seq") {
        params.error("seq", "is required");
    }
    params.finish()?;
    let seq = seq.ok_or_else(|| ApiError::invalid_field("/query/seq", "is required"))?;
    let head = state.store.head().await?.tree_size;
    let size = size.unwrap_or(head);
    if size > head {
        return Err(ApiError::invalid_field(
            "/query/tree_size",
            format!("must be at most the tree size {head}"),
        ));
    }
    if seq > size {
        return Err(ApiError::invalid_field(
            "/query/seq",
            format!("must be at most the tree size {size}"),
        ));
    }
    let index = seq - 1;
    let proof = proofs::inclusion(&*state.store, index, size).await?;
    let leaf = proofs::leaf(&*state.store, index).await?;
    Ok(axum::Json(InclusionProof {
        leaf_index: index,
        tree_size: size,
        leaf_hash: hex::encode(leaf),
        proof: proof.iter().map(hex::encode).collect(),
    }))
}

/// Proof that the tree of `from` leaves is a prefix of the tree of `to` leaves
/// (RFC 9162 §2.1.4.2).
#[utoipa::path(get, path = "/v1/ledger/proof/consistency", tag = "ledger",
    params(("from" = u64, Query, description = "The older tree size"),
           ("to" = Option<u64>, Query, description = "The newer tree size; default: current")),
    responses((status = 200, description = "The proof", body = ConsistencyProof)))]
pub async fn consistency(
    State(state): State<AppState>,
    mut params: Params,
) -> ApiResult<axum::Json<ConsistencyProof>> {
    let from = params.parse("from", positive);
    let to = params.parse("to", positive);
    if !params.has("from") {
        params.error("from", "is required");
    }
    params.finish()?;
    let from = from.ok_or_else(|| ApiError::invalid_field("/query/from", "is required"))?;
    let head = state.store.head().await?.tree_size;
    let to = to.unwrap_or(head);
    if to > head {
        return Err(ApiError::invalid_field(
            "/query/to",
            format!("must be at most the tree size {head}"),
        ));
    }
    if from > to {
        return Err(ApiError::invalid_field(
            "/query/from",
            format!("must be at most to ({to})"),
        ));
    }
    let proof = proofs::consistency(&*state.store, from, to).await?;
    Ok(axum::Json(ConsistencyProof {
        from,
        to,
        proof: proof.iter().map(hex::encode).collect(),
    }))
}
