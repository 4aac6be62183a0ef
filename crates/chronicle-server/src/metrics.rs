//! Prometheus metrics.
//!
//! The `metrics` facade has one global recorder per process, and it can be installed once.
//! [`install`] does that on first use and hands every later caller (every `AppState`, e.g.
//! many test servers in one process) the same handle, so the counters are per process. When
//! something else installed a recorder first, the handle renders only what it was given, and
//! a warning says so.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use chronicle_store::StoreStats;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

pub const HTTP_REQUESTS: &str = "chronicle_http_requests_total";
pub const HTTP_DURATION: &str = "chronicle_http_request_duration_seconds";
pub const ENTRIES_WRITTEN: &str = "chronicle_entries_written_total";
pub const WRITES: &str = "chronicle_writes_total";
pub const DB_SIZE: &str = "chronicle_db_size_bytes";
pub const LEDGER_ENTRIES: &str = "chronicle_ledger_entries";
pub const ENTITIES: &str = "chronicle_entities";
pub const STREAM_SUBSCRIBERS: &str = "chronicle_stream_subscribers";
pub const STREAM_LAGGED: &str = "chronicle_stream_lagged_total";
pub const ALERTS_FIRED: &str = "chronicle_alerts_fired_total";
pub const WEBHOOKS: &str = "chronicle_alert_webhooks_total";

const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder handle, installing the recorder on first call.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), BUCKETS)
                .expect("bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => describe(),
                Err(e) => tracing::warn!(error = %e, "a metrics recorder was already installed; /metrics shows only gauges"),
            }
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(HTTP_REQUESTS, "HTTP requests by method, route and status");
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "HTTP request latency by method and route"
    );
    metrics::describe_counter!(ENTRIES_WRITTEN, "Ledger entries written by this process");
    metrics::describe_counter!(
        WRITES,
        "Ledger entries written by this process, by operation"
    );
    metrics::describe_gauge!(
        DB_SIZE,
        metrics::Unit::Bytes,
        "Bytes the database occupies on disk"
    );
    metrics::describe_gauge!(LEDGER_ENTRIES, "Entries in the ledger");
    metrics::describe_gauge!(ENTITIES, "Entities stored, deleted or not");
    metrics::describe_gauge!(STREAM_SUBSCRIBERS, "Connected /v1/stream subscribers");
    metrics::describe_counter!(
        STREAM_LAGGED,
        "Times a subscriber fell behind the live channel and replayed from the ledger"
    );
    metrics::describe_counter!(ALERTS_FIRED, "Alerts recorded by this process");
    metrics::describe_counter!(WEBHOOKS, "Alert webhook deliveries by outcome");
}

/// A stream subscriber connected (+1) or left (-1).
pub fn stream_subscribers(delta: f64) {
    metrics::gauge!(STREAM_SUBSCRIBERS).increment(delta);
}

pub fn record_stream_lag() {
    metrics::counter!(STREAM_LAGGED).increment(1);
}

pub fn record_alert() {
    metrics::counter!(ALERTS_FIRED).increment(1);
}

pub fn record_webhook(delivered: bool) {
    let outcome = if delivered { "delivered" } else { "failed" };
    metrics::counter!(WEBHOOKS, "outcome" => outcome).increment(1);
}

/// Middleware: counts every request by route template and status, and times it.
pub async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    response
}

/// Counts the entries a write committed.
pub fn record_entries(entries: &[&chronicle_core::Entry]) {
    for e in entries {
        metrics::counter!(ENTRIES_WRITTEN).increment(1);
        metrics::counter!(WRITES, "operation" => e.operation.as_str()).increment(1);
    }
}

/// The Prometheus text, with the storage gauges refreshed from `stats`.
pub fn render(handle: &PrometheusHandle, stats: Option<&StoreStats>) -> String {
    if let Some(s) = stats {
        metrics::gauge!(DB_SIZE).set(s.bytes as f64);
        metrics::gauge!(LEDGER_ENTRIES).set(s.entries as f64);
        metrics::gauge!(ENTITIES).set(s.entities as f64);
    }
    handle.run_upkeep();
    handle.render()
}
