//! Chronicle's HTTP API: a thin axum layer that maps requests to [`Store`] calls and core
//! functions, and their answers back to JSON. The contract is `API.md`; everything that is
//! not HTTP (planning a write, hashing, replay) lives in `chronicle-core` and the store.
//!
//! # Layout
//! - [`routes`]: one file per route family — `entities` (CRUD, history, as-of), `batch` (bulk
//!   operations and transactions), `audit` (events, search, summary), `ledger` (tree head and
//!   leaves), `ops` (health, readiness, metrics, OpenAPI).
//! - [`error`]: [`ApiError`](error::ApiError) and the one table from problem codes to statuses.
//! - [`extract`]: body, path and query extractors whose rejections are problem documents.
//! - [`context`]: the request context (actor headers, client address behind trusted proxies).
//! - [`dto`]: request and response bodies with their OpenAPI schemas.
//! - [`metrics`]: the Prometheus recorder (one per process) and the request middleware.
//! - [`openapi`]: the OpenAPI document generated from the handlers' annotations.
//! - `routes/rollbacks.rs`, `routes/snapshots.rs`: the rollback engine
//!   (`chronicle-engine`) over HTTP.
//!
//! *Invariant:* a rejected request writes nothing: every check on input runs before the one
//! [`Store::write`] call a handler makes.

pub mod context;
pub mod dto;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod routes;

use axum::Router;
use chronicle_core::schema::Schema;
use chronicle_store::Store;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Settings of the HTTP layer.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Largest request body accepted, in bytes (413 above).
    pub body_limit: usize,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// The origin line of checkpoints (C2SP tlog-checkpoint).
    pub origin: String,
    /// Page size when a list request names none.
    pub default_page_size: usize,
    /// Largest page size a list request may ask for.
    pub max_page_size: usize,
    /// When a rollback needs approval.
    pub approval: chronicle_engine::ApprovalPolicy,
    /// How checkpoints are signed and kept.
    pub checkpoints: CheckpointSettings,
}

/// Checkpoint signing: the key, the cadence at which signed checkpoints are kept, and the
/// witnesses whose cosignatures are accepted.
#[derive(Clone, Debug)]
pub struct CheckpointSettings {
    /// The signing key; its name is the checkpoint origin. `None`: a fresh key for this
    /// process only (tests, throwaway servers) — `chronicle serve` always passes one.
    pub signer: Option<chronicle_engine::checkpoints::CheckpointSigner>,
    /// Keep a checkpoint once this many entries arrived since the last one...
    pub every_entries: u64,
    /// ...or once this many seconds passed with at least one new entry. 0 turns the cadence off.
    pub every_secs: u64,
    /// Note verifier keys (type 0x04, C2SP tlog-cosignature) of the accepted witnesses.
    pub witnesses: Vec<String>,
    /// Verifier keys of earlier signing keys, so checkpoints they signed still verify.
    pub previous_keys: Vec<String>,
}

impl Default for CheckpointSettings {
    fn default() -> Self {
        CheckpointSettings {
            signer: None,
            every_entries: 1000,
            every_secs: 10,
            witnesses: Vec::new(),
            previous_keys: Vec::new(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            body_limit: 1024 * 1024,
            trusted_proxies: Vec::new(),
            origin: "chronicle.local/ledger".to_owned(),
            default_page_size: 50,
            max_page_size: 1000,
            approval: chronicle_engine::ApprovalPolicy::default(),
            checkpoints: CheckpointSettings::default(),
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) schema: Arc<Schema>,
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) metrics: metrics_exporter_prometheus::PrometheusHandle,
    pub(crate) engine: Arc<chronicle_engine::Engine>,
    pub(crate) signer: Arc<chronicle_engine::checkpoints::CheckpointSigner>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, schema: Arc<Schema>, config: ServerConfig) -> Self {
        let engine =
            chronicle_engine::Engine::new(store.clone(), schema.clone(), config.approval.clone());
        let signer = match &config.checkpoints.signer {
            Some(s) => s.clone(),
            None => {
                tracing::warn!(
                    "no checkpoint key configured: signing with a key for this process only"
                );
                chronicle_engine::checkpoints::CheckpointSigner::generate(&config.origin)
                    .expect("the configured origin is a valid key name and the OS has randomness")
            }
        };
        AppState {
            signer: Arc::new(signer),
            engine,
            store,
            schema,
            config: Arc::new(config),
            metrics: metrics::install(),
        }
    }
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    routes::router(state)
}

/// Serves `router(state)` on `listener` until `shutdown` completes, then lets requests in
/// flight finish. Handlers see the peer address (`ConnectInfo<SocketAddr>`).
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Rollbacks a previous process left running continue from their last checkpoint.
    match state.engine.resume_interrupted().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(rollbacks = n, "resumed interrupted rollbacks"),
        Err(e) => tracing::warn!(error = %e, "could not look for interrupted rollbacks"),
    }
    let cadence = tokio::spawn(routes::checkpoints::keep_checkpoints(state.clone()));
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    cadence.abort();
    served
}
