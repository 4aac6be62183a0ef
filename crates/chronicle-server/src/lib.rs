//! Chronicle's HTTP API: a thin axum layer that maps requests to [`Store`] calls and core
//! functions, and their answers back to JSON. The contract is `API.md`; everything that is
//! not HTTP (planning a write, hashing, replay) lives in `chronicle-core` and the store.
//!
//! # Layout
//! - [`routes`]: one file per route family — `entities` (CRUD, history, as-of), `batch` (bulk
//!   operations and transactions), `audit` (events, search, summary), `ledger` (tree head and
//!   leaves), `ops` (health, readiness, metrics, OpenAPI), `stream` (Server-Sent Events),
//!   `alerts` (alert rules and fired alerts), `subjects` (GDPR erasure).
//! - [`access`]: reads of the audit trail, recorded per credential, route and window.
//! - [`hub`]: the one ledger tailer per process and the broadcast of committed entries.
//! - [`integrity`]: the readiness signal raised by a failed verification.
//! - [`subscription`]: one subscriber's gap-free, duplicate-free view (ledger replay + live).
//! - [`filter`]: the exact-match entry filters search, stream and alert rules share.
//! - [`alerts`]: alert rules, the pure window logic, the evaluator task, webhooks.
//! - [`error`]: [`ApiError`](error::ApiError) and the one table from problem codes to statuses.
//! - [`extract`]: body, path and query extractors whose rejections are problem documents.
//! - [`edge`]: what every request and connection passes so that every error answer is a
//!   problem document, even those made below the handlers (hyper's own 400, 414, 431).
//! - [`context`]: the request context (actor headers, client address behind trusted proxies).
//! - [`dto`]: request and response bodies with their OpenAPI schemas.
//! - [`metrics`]: the Prometheus recorder (one per process) and the request middleware.
//! - [`openapi`]: the OpenAPI document generated from the handlers' annotations.
//! - `routes/rollbacks.rs`, `routes/snapshots.rs`: the rollback engine
//!   (`chronicle-engine`) over HTTP.
//! - The dashboard (`chronicle-web`) is merged into [`router`] at `/`; it calls the API
//!   router in process.
//!
//! *Invariant:* a rejected request writes nothing: every check on input runs before the one
//! [`Store::write`] call a handler makes.

pub mod access;
pub mod alerts;
pub mod auth;
pub mod context;
pub mod dto;
pub mod edge;
pub mod error;
pub mod extract;
pub mod filter;
pub mod hub;
pub mod integrity;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod subscription;

use axum::Router;
use chronicle_core::schema::Schema;
use chronicle_store::Store;
use std::future::Future;
use std::net::IpAddr;
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
    /// `GET /v1/stream` and the ledger tailer behind it.
    pub stream: StreamSettings,
    /// Alert evaluation and webhook delivery.
    pub alerts: AlertSettings,
    /// Tokens, roles, masking, access auditing.
    pub auth: auth::AuthSettings,
    /// Patterns replaced before anything is stored (card numbers, national ids, ...).
    pub redactor: chronicle_core::redact::Redactor,
    /// The dashboard (its trusted proxies are `trusted_proxies`).
    pub web: chronicle_web::WebConfig,
}

/// The stream: how the ledger is followed and how many may listen.
#[derive(Clone, Debug)]
pub struct StreamSettings {
    /// How often the tailer reads the ledger head to find entries other processes or nodes
    /// wrote (this server's own writes wake it at once). Default 5.
    pub poll_ms: u64,
    /// Seconds between heartbeat comments on an idle stream. Default 15.
    pub heartbeat_secs: u64,
    /// Concurrent subscribers accepted (503 above). Default 10,000.
    pub max_subscribers: usize,
    /// Entries the broadcast channel holds for the slowest subscriber before it lags and
    /// replays from the ledger. Default 4096.
    pub capacity: usize,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            poll_ms: 5,
            heartbeat_secs: 15,
            max_subscribers: 10_000,
            capacity: 4096,
        }
    }
}

/// Webhook delivery of alerts.
#[derive(Clone, Debug)]
pub struct AlertSettings {
    /// Attempts per delivery. Default 5.
    pub webhook_attempts: u32,
    /// The wait after the first failed attempt; it doubles after each. Default 500.
    pub webhook_backoff_ms: u64,
    /// Per attempt. Default 10.
    pub webhook_timeout_secs: u64,
    /// Deliveries in flight at once; alerts beyond are recorded but not delivered. Default 64.
    pub max_deliveries: usize,
    /// Evaluate the entries after this seq when the server starts (`None`, the default: only
    /// entries committed from then on). `serve --demo` sets it so that the rules see the
    /// demo's planted incident, which is written before the server runs.
    pub evaluate_after_seq: Option<u64>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            webhook_attempts: 5,
            webhook_backoff_ms: 500,
            webhook_timeout_secs: 10,
            max_deliveries: 64,
            evaluate_after_seq: None,
        }
    }
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
            stream: StreamSettings::default(),
            alerts: AlertSettings::default(),
            auth: auth::AuthSettings::default(),
            redactor: chronicle_core::redact::Redactor::new(
                &chronicle_core::redact::RedactionRule::builtin(),
            )
            .expect("the built-in redaction rules compile"),
            web: chronicle_web::WebConfig::default(),
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub(crate) store: Arc<dyn Store>,
    /// The one door for writes (redaction, then the store, then stream wake and metrics).
    pub(crate) writer: chronicle_store::Writer,
    pub(crate) schema: Arc<Schema>,
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) metrics: metrics_exporter_prometheus::PrometheusHandle,
    pub(crate) engine: Arc<chronicle_engine::Engine>,
    pub(crate) signer: Arc<chronicle_engine::checkpoints::CheckpointSigner>,
    pub(crate) hub: Arc<hub::Hub>,
    /// One permit per stream subscriber.
    pub(crate) subscribers: Arc<tokio::sync::Semaphore>,
    /// Whether the latest verification of the ledger failed (for `/readyz`).
    pub(crate) integrity: integrity::Integrity,
    /// Failed authentications per address (for the burst `security` entries).
    pub(crate) auth_failures: Arc<auth::guard::Windows>,
    /// Forbidden attempts per credential and route (one `security` entry per window).
    pub(crate) forbidden: Arc<auth::guard::Windows>,
    /// Reads of the audit trail per credential and route (see [`access`]).
    pub(crate) access: Arc<access::Windows>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, schema: Arc<Schema>, config: ServerConfig) -> Self {
        let hub = hub::Hub::new(config.stream.capacity);
        let writer = chronicle_store::Writer::new(
            store.clone(),
            config.redactor.clone(),
            Arc::new(Committed { hub: hub.clone() }),
        );
        let engine =
            chronicle_engine::Engine::new(writer.clone(), schema.clone(), config.approval.clone());
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
            hub,
            writer,
            subscribers: Arc::new(tokio::sync::Semaphore::new(config.stream.max_subscribers)),
            integrity: integrity::Integrity::default(),
            auth_failures: Arc::default(),
            forbidden: Arc::default(),
            access: Arc::default(),
            signer: Arc::new(signer),
            engine,
            store,
            schema,
            config: Arc::new(config),
            metrics: metrics::install(),
        }
    }
}

/// What the server does after every committed write, whoever made it (a handler, the
/// rollback engine, alerting): wake the stream's tailer so subscribers hear of it at once, and
/// count the entries.
struct Committed {
    hub: Arc<hub::Hub>,
}

impl chronicle_store::WriteObserver for Committed {
    fn committed(&self, entries: &[&chronicle_core::Entry]) {
        self.hub.wake();
        metrics::record_entries(entries);
    }
}

/// The whole API under `/v1` (and the operational routes), and the dashboard at `/`. Outside
/// the API's routes: queries that do not decode are refused, and an error answer without a
/// body gets a problem document. The dashboard is handed the API router itself and calls it in
/// process for everything it shows or does, so every dashboard action passes the API's guard
/// with the session's token; its own routes check the session.
pub fn router(state: AppState) -> Router {
    let api = routes::router(state.clone())
        .layer(axum::middleware::from_fn(edge::refuse_undecodable_query))
        .layer(axum::middleware::from_fn(edge::problem_for_bare_errors));
    let mut web = state.config.web.clone();
    web.trusted_proxies = state.config.trusted_proxies.clone();
    api.clone().merge(chronicle_web::router(api, web))
}

/// Serves `router(state)` on `listener` until `shutdown` completes, then ends the streams and
/// lets requests in flight finish. Handlers see the peer address (`ConnectInfo<SocketAddr>`).
/// Runs the background tasks as long as it serves: the checkpoint cadence, the ledger tailer
/// that feeds `/v1/stream`, the alert evaluator, and the sweeper that sums up windows of
/// audit-trail reads; once it stops serving, it writes the windows still open.
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
    let hub = state.hub.clone();
    let poll = std::time::Duration::from_millis(state.config.stream.poll_ms);
    let tasks = [
        tokio::spawn(routes::checkpoints::keep_checkpoints(state.clone())),
        tokio::spawn(hub.clone().tail(state.store.clone(), poll)),
        tokio::spawn(alerts::task::evaluate(state.clone())),
        tokio::spawn(integrity::watch(state.clone())),
        tokio::spawn(access::sweep(state.clone())),
    ];
    let last = state.clone();
    // Each connection's service knows its peer (`ConnectInfo`, as handlers read it), and
    // its bytes pass `edge::ProblemIo`, which gives hyper's own error answers a problem body.
    let app = router(state);
    let app = tower::service_fn(
        move |stream: axum::serve::IncomingStream<'_, edge::Listener>| {
            let service =
                tower::Layer::layer(&axum::Extension(edge::connect_info(stream)), app.clone());
            std::future::ready(Ok::<_, std::convert::Infallible>(service))
        },
    );
    let listener = edge::Listener(listener);
    // Streams never end by themselves: closing the hub ends them, so that graceful shutdown
    // does not wait for subscribers forever.
    let shutdown = async move {
        shutdown.await;
        hub.close();
    };
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    for task in tasks {
        task.abort();
    }
    // Reads counted in windows still open are summed up before the process goes.
    access::flush(&last, None).await;
    served
}
