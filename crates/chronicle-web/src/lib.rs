//! Chronicle's operator dashboard: server-rendered HTML pages for administrators, support
//! leads, approvers and auditors, served by the same binary as the API.
//!
//! The dashboard is a client of the HTTP API, in process: every page calls the API router it
//! was given (a `tower` service, called with `oneshot`) with the signed-in session's bearer
//! token, the browser's address and user agent, and the reason the user typed. So the API's
//! guard, roles, masking, redaction and write path decide everything, and a dashboard action
//! writes exactly the entries the same API call would, with the token's actor. This crate
//! knows nothing of the store or the engine, and does not depend on `chronicle-server`.
//!
//! # Layout
//! - [`api`]: the in-process API client and the small serde structs the pages read.
//! - [`session`]: server-side sessions (in memory), the session cookie and CSRF tokens.
//! - [`assets`]: the embedded stylesheet and script, served under content-hashed names.
//! - [`layout`]: the page frame (navigation, sign-out form), security headers, small helpers.
//! - [`pages`]: one file per page family: `login`, `feed` (live feed and search), `entries`,
//!   `entities`, `rollbacks`, `ledger` (snapshots, alerts and the ledger), `events` (the SSE
//!   proxy).

pub mod api;
pub mod assets;
pub mod layout;
pub mod pages;
pub mod session;

use axum::Router;
use axum::routing::{get, post};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Settings of the dashboard.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// How long a session lasts after sign-in. Default 8 hours.
    pub session_ttl: Duration,
    /// Peers whose `X-Forwarded-Proto: https` is believed (the session cookie is then marked
    /// `Secure`). The same list as the API's trusted proxies.
    pub trusted_proxies: Vec<IpAddr>,
    /// Mark the session cookie `Secure` whatever the request says (TLS in front of every
    /// request). Default off.
    pub secure_cookies: bool,
    /// Sessions kept at once; signing in past this drops the oldest. Default 10,000.
    pub max_sessions: usize,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            session_ttl: Duration::from_secs(8 * 3600),
            trusted_proxies: Vec::new(),
            secure_cookies: false,
            max_sessions: 10_000,
        }
    }
}

/// What every dashboard handler shares.
#[derive(Clone)]
pub struct WebState {
    pub(crate) api: api::Api,
    pub(crate) sessions: Arc<session::Sessions>,
    pub(crate) config: Arc<WebConfig>,
}

/// The dashboard's routes, calling `api` (the API router, whole, with its guard) for
/// everything they show or do. Mount it beside the API; it has no fallback of its own.
pub fn router(api: Router, config: WebConfig) -> Router {
    let state = WebState {
        api: api::Api::new(api),
        sessions: Arc::new(session::Sessions::new(
            config.session_ttl,
            config.max_sessions,
        )),
        config: Arc::new(config),
    };
    Router::new()
        .route("/", get(pages::feed::feed))
        .route("/login", get(pages::login::form).post(pages::login::submit))
        .route("/logout", post(pages::login::logout))
        .route("/search", get(pages::feed::search))
        .route("/events", get(pages::events::events))
        .route("/entries/{id}", get(pages::entries::entry))
        .route("/entities/{type}/{id}", get(pages::entities::entity))
        .route("/rollbacks", get(pages::rollbacks::list))
        .route(
            "/rollbacks/new",
            get(pages::rollbacks::new).post(pages::rollbacks::request),
        )
        .route("/rollbacks/{id}", get(pages::rollbacks::show))
        .route("/rollbacks/{id}/{action}", post(pages::rollbacks::act))
        .route("/snapshots", get(pages::ledger::snapshots))
        .route("/alerts", get(pages::ledger::alerts))
        .route("/ledger", get(pages::ledger::ledger))
        .route("/assets/{name}", get(assets::serve))
        .layer(axum::middleware::from_fn(layout::security_headers))
        .with_state(state)
}
