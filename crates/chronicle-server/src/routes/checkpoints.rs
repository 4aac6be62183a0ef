//! Signed checkpoints: the current tree head signed on request, the kept history (issued at
//! the configured cadence by [`keep_checkpoints`]), the verifier key, and witnesses'
//! cosignatures.

use crate::AppState;
use crate::dto::Checkpoint;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Params, seq_cursor};
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use chronicle_engine::checkpoints::{self, SignedCheckpoint};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use utoipa::ToSchema;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/ledger/checkpoint", get(checkpoint))
        .route("/v1/ledger/checkpoints", get(history))
        .route("/v1/ledger/public-key", get(public_key))
        .route("/v1/ledger/cosignatures", post(cosign))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointList {
    pub checkpoints: Vec<SignedCheckpoint>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicKey {
    /// The C2SP note verifier key of the current signing key.
    pub vkey: String,
    /// Verifier keys of earlier signing keys (checkpoints they signed still verify).
    pub previous: Vec<String>,
    /// The checkpoint origin line (the key's name).
    pub origin: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Cosignature {
    /// The tree size of the kept checkpoint the witness cosigned.
    pub tree_size: u64,
    /// The witness's C2SP tlog-cosignature line: `— <witness name> <base64>`.
    pub cosignature: String,
}

/// The current tree head as a C2SP tlog-checkpoint, signed as a C2SP signed note (Ed25519).
#[utoipa::path(get, path = "/v1/ledger/checkpoint", tag = "ledger",
    responses((status = 200, description = "The signed tree head", body = Checkpoint)))]
pub async fn checkpoint(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<axum::Json<Checkpoint>> {
    params.finish()?;
    let cp = state.signer.sign_head(state.store.as_ref()).await?;
    Ok(axum::Json(Checkpoint {
        tree_size: cp.tree_size,
        root_hash: cp.root_hash,
        checkpoint: cp.checkpoint,
    }))
}

/// Kept checkpoints, by tree size, with any witness cosignatures.
#[utoipa::path(get, path = "/v1/ledger/checkpoints", tag = "ledger",
    params(("limit" = Option<usize>, Query, description = "Page size"),
           ("cursor" = Option<String>, Query, description = "Opaque cursor from next_cursor")),
    responses((status = 200, description = "A page of kept checkpoints", body = CheckpointList)))]
pub async fn history(
    State(state): State<AppState>,
    mut params: Params,
) -> ApiResult<axum::Json<CheckpointList>> {
    let limit = params.limit(state.config.default_page_size, state.config.max_page_size);
    let after = params.seq_cursor();
    params.finish()?;
    let checkpoints = checkpoints::list(state.store.as_ref(), after, limit).await?;
    let next_cursor = (checkpoints.len() == limit)
        .then(|| checkpoints.last().map(|c| seq_cursor(c.tree_size)))
        .flatten();
    Ok(axum::Json(CheckpointList {
        checkpoints,
        next_cursor,
    }))
}

/// The note verifier key checkpoints are signed with.
#[utoipa::path(get, path = "/v1/ledger/public-key", tag = "ledger",
    responses((status = 200, description = "The verifier key", body = PublicKey)))]
pub async fn public_key(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<axum::Json<PublicKey>> {
    params.finish()?;
    Ok(axum::Json(PublicKey {
        vkey: state.signer.vkey(),
        previous: state.config.checkpoints.previous_keys.clone(),
        origin: state.signer.signer.name().to_owned(),
    }))
}

/// Adds a witness's cosignature to a kept checkpoint; only configured witness keys count.
#[utoipa::path(post, path = "/v1/ledger/cosignatures", tag = "ledger",
    request_body = Cosignature,
    responses((status = 200, description = "The checkpoint with the cosignature", body = SignedCheckpoint),
              (status = 403, description = "Not signed by a configured witness", body = crate::dto::Problem),
              (status = 404, description = "No kept checkpoint of that size", body = crate::dto::Problem)))]
pub async fn cosign(
    State(state): State<AppState>,
    params: Params,
    Json(body): Json<Cosignature>,
) -> ApiResult<axum::Json<SignedCheckpoint>> {
    params.finish()?;
    if body.cosignature.len() > 1024 {
        return Err(ApiError::invalid_field(
            "/cosignature",
            "is too long for a signature line",
        ));
    }
    let cp = checkpoints::add_cosignature(
        &state.writer,
        &state.config.checkpoints.witnesses,
        body.tree_size,
        &body.cosignature,
    )
    .await?;
    Ok(axum::Json(cp))
}

/// Keeps a signed checkpoint whenever `every_entries` entries arrived since the last one, or
/// `every_secs` passed with at least one new entry. Runs for the server's lifetime.
pub(crate) async fn keep_checkpoints(state: AppState) {
    let settings = state.config.checkpoints.clone();
    if settings.every_secs == 0 && settings.every_entries == 0 {
        return;
    }
    // A key for this process only (none configured) signs on request but keeps nothing: a
    // kept checkpoint must stay verifiable after the process, and its key, are gone.
    if settings.signer.is_none() {
        return;
    }
    let mut last_kept = match checkpoints::latest(state.store.as_ref()).await {
        Ok(cp) => cp.map(|c| c.tree_size),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read kept checkpoints; keeping none this run");
            return;
        }
    };
    // Nothing is kept until something new arrives after start-up: a restart on an idle ledger
    // writes nothing.
    let started_at = match state.store.head().await {
        Ok(h) => h.tree_size,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the ledger head; keeping no checkpoints this run");
            return;
        }
    };
    let mut since = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        match state.store.head().await {
            Ok(h) if h.tree_size > started_at => {}
            _ => continue,
        }
        let due_by_time =
            settings.every_secs > 0 && since.elapsed() >= Duration::from_secs(settings.every_secs);
        let min_new = if due_by_time {
            1
        } else {
            settings.every_entries.max(1)
        };
        if !due_by_time && settings.every_entries == 0 {
            continue;
        }
        match checkpoints::issue(&state.writer, &state.signer, last_kept, min_new).await {
            Ok(Some(cp)) => {
                last_kept = Some(cp.tree_size);
                since = Instant::now();
            }
            Ok(None) => {
                if due_by_time {
                    since = Instant::now();
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not keep a checkpoint"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CheckpointSettings, ServerConfig};
    use chronicle_core::schema::Schema;
    use chronicle_core::write::EntityOp;
    use chronicle_sqlite::{SqliteConfig, SqliteStore};
    use std::sync::Arc;

    /// With no key configured the cadence task ends at once (so it can never keep a
    /// checkpoint later), although entries arrived and the cadence asks for one per entry.
    #[tokio::test]
    async fn without_a_configured_key_the_cadence_ends_at_once_and_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::default());
        let config = SqliteConfig::new(dir.path().join("db"), schema.clone());
        let store: Arc<dyn chronicle_store::Store> =
            Arc::new(SqliteStore::open(config).await.unwrap());
        let config = ServerConfig {
            checkpoints: CheckpointSettings {
                every_entries: 1,
                every_secs: 1,
                ..CheckpointSettings::default()
            },
            ..ServerConfig::default()
        };
        let state = AppState::new(store.clone(), schema, config);
        for i in 0..3 {
            let op = EntityOp::Create {
                entity_type: "note".into(),
                id: Some(format!("n{i}")),
                data: serde_json::json!({}),
            };
            state
                .writer
                .apply(Default::default(), op)
                .await
                .unwrap()
                .unwrap();
        }
        // Returns: a task that kept checkpoints would run for the server's lifetime.
        keep_checkpoints(state).await;
        let kept = store
            .list_entities(chronicle_engine::CHECKPOINT_TYPE, None, 10)
            .await
            .unwrap();
        assert_eq!(kept, Vec::new());
    }
}
