//! `GET /v1/stream`: committed entries as Server-Sent Events, each `event: audit`,
//! `id: <seq>`, `data: <entry JSON>`, and fired alerts as `event: alert` (whatever the
//! filters). Resuming with `Last-Event-ID` (or `?after_seq=`) replays exactly what was missed
//! from the ledger, then continues live; see [`crate::subscription`] for why nothing is lost
//! or repeated.

use crate::AppState;
use crate::auth::Caller;
use crate::context::Ctx;
use crate::error::{ApiError, ApiResult, Code};
use crate::extract::Params;
use crate::filter::EntryFilter;
use crate::hub::{Kind, Published};
use crate::subscription::Subscription;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chronicle_core::schema::Schema;
use std::convert::Infallible;
use std::time::{Duration, Instant};
use tokio::sync::OwnedSemaphorePermit;

/// How long a subscriber waits for the hub to start.
const START_WAIT: Duration = Duration::from_secs(10);

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/v1/stream", get(stream))
}

/// Live entries as Server-Sent Events, after a replay of those after `Last-Event-ID` /
/// `after_seq` (without either: from now on).
#[utoipa::path(get, path = "/v1/stream", tag = "stream",
    params(
        ("actor" = Option<String>, Query, description = "Actor id or email"),
        ("entity_type" = Option<String>, Query), ("entity_id" = Option<String>, Query),
        ("operation" = Option<String>, Query, description = "create, update, delete, read, bulk, ..."),
        ("correlation_id" = Option<String>, Query), ("transaction_id" = Option<String>, Query),
        ("parent_id" = Option<String>, Query), ("rollback_id" = Option<String>, Query),
        ("field" = Option<String>, Query, description = "JSON Pointer of a changed field"),
        ("severity" = Option<String>, Query, description = "info, warning, error, critical"),
        ("tag" = Option<String>, Query),
        ("after_seq" = Option<u64>, Query, description = "Replay entries after this seq first"),
        ("Last-Event-ID" = Option<u64>, Header, description = "The last seq received; wins over after_seq")),
    responses(
        (status = 200, description = "`text/event-stream`: `event: audit` (data: an Entry) and `event: alert` (data: an Alert), `id:` the seq; comment lines as heartbeats",
            content_type = "text/event-stream", body = String),
        (status = 503, description = "Too many subscribers, or the server is shutting down", body = crate::dto::Problem)))]
pub async fn stream(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    caller: Caller,
    uri: axum::http::Uri,
    headers: HeaderMap,
    mut params: Params,
) -> ApiResult<Response> {
    let filter = EntryFilter::from_params(&mut params);
    let after_seq = params.u64("after_seq");
    params.finish()?;
    let after = last_event_id(&headers)?.or(after_seq);
    let permit = state.subscribers.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            Code::Unavailable,
            "this server has as many stream subscribers as it accepts; retry later",
        )
    })?;
    // The hub starts once it has read the ledger head; while the database cannot be reached
    // at start-up a subscriber is told to come back rather than kept waiting.
    let start = Subscription::start(state.hub.clone(), state.store.clone(), filter, after);
    let subscription = match tokio::time::timeout(START_WAIT, start).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Err(ApiError::new(
                Code::Unavailable,
                "the server is shutting down",
            ));
        }
        Err(_) => {
            return Err(ApiError::new(
                Code::Unavailable,
                "the ledger cannot be read yet; retry later",
            ));
        }
    };
    let read = crate::access::Access::new("/v1/stream", &uri, "subscribed to the stream");
    crate::access::record(&state, ctx, read).await?;
    let masking = (!caller.unmasked(&state.config.auth)).then(|| state.schema.clone());
    // A token revoked (or expired) while its stream is open: the stream ends at the first
    // event after `auth.token_recheck_secs` (the client's reconnect is then refused).
    let watch = match &caller {
        Caller::Token(p) => p.token_id.clone().map(|id| TokenWatch {
            state: state.clone(),
            id,
            checked: Instant::now(),
            every: Duration::from_secs(state.config.auth.token_recheck_secs),
        }),
        _ => None,
    };
    let events = futures::stream::unfold(
        (subscription, Subscriber::new(permit), watch),
        move |(mut subscription, subscriber, mut watch)| {
            let masking = masking.clone();
            async move {
                let next = subscription.next().await?;
                if let Some(w) = &mut watch
                    && !w.still_valid().await
                {
                    return None;
                }
                match next {
                    Ok(p) => Some((
                        Ok::<_, Infallible>(event(&p, masking.as_deref())),
                        (subscription, subscriber, watch),
                    )),
                    Err(e) => {
                        // Ending the response lets the client reconnect with Last-Event-ID.
                        tracing::warn!(error = %e, "stream: cannot read the ledger; ending a stream");
                        None
                    }
                }
            }
        },
    );
    let heartbeat = Duration::from_secs(state.config.stream.heartbeat_secs.max(1));
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(heartbeat))
        .into_response())
}

/// The SSE event of a published entry; for a subscriber who may not see sensitive values,
/// an audit entry with any is serialized again, masked.
fn event(p: &Published, masking: Option<&Schema>) -> Event {
    let name = match p.kind {
        Kind::Audit => "audit",
        Kind::Alert => "alert",
    };
    let event = Event::default().event(name).id(p.entry.seq.to_string());
    if let (Some(schema), Kind::Audit) = (masking, p.kind) {
        let sensitive = p
            .entry
            .entity_type
            .as_deref()
            .is_some_and(|t| !schema.sensitive_fields(t).is_empty());
        if sensitive {
            let mut entry = p.entry.clone();
            chronicle_core::mask::mask_entry(schema, &mut entry);
            // Never fall back to the unmasked text.
            return event.data(serde_json::to_string(&entry).unwrap_or_else(|_| "{}".into()));
        }
    }
    event.data(&p.data)
}

/// `Last-Event-ID`: the seq of the last event the client received.
fn last_event_id(headers: &HeaderMap) -> ApiResult<Option<u64>> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let text = value.to_str().map(str::trim).unwrap_or("-");
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<u64>().map(Some).map_err(|_| {
        ApiError::invalid_field("/headers/last-event-id", "must be the seq of an event")
    })
}

/// One connected subscriber: holds its slot and counts it while the response lives.
/// The token an open stream was authorised with, checked again now and then.
struct TokenWatch {
    state: AppState,
    id: String,
    checked: Instant,
    every: Duration,
}

impl TokenWatch {
    async fn still_valid(&mut self) -> bool {
        if self.checked.elapsed() < self.every {
            return true;
        }
        self.checked = Instant::now();
        let valid = crate::auth::tokens::still_valid(&self.state, &self.id).await;
        if !valid {
            tracing::info!(token = %self.id, "stream: its token is no longer valid; ending it");
        }
        valid
    }
}

struct Subscriber {
    _permit: OwnedSemaphorePermit,
}

impl Subscriber {
    fn new(permit: OwnedSemaphorePermit) -> Subscriber {
        crate::metrics::stream_subscribers(1.0);
        Subscriber { _permit: permit }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        crate::metrics::stream_subscribers(-1.0);
    }
}
