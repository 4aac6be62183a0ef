//! Who read the audit trail, without the reads growing the ledger without bound.
//!
//! Reads of the trail (searches, entries by id, summaries, history, stream subscriptions) are
//! recorded per credential, route and window (`[auth] access_window_secs`, default 60):
//! - the first read of a window is recorded at once, on its own, before it is answered (so a
//!   read that cannot be recorded is not served, and who started reading shows immediately);
//! - the reads that follow in the same window are counted in memory;
//! - when the window ends, one `access` entry tagged `aggregate` sums the whole window up:
//!   how many reads, how many entries they returned, the distinct queries and the entities
//!   read. It is written by the first read of that key after the window ended (before that
//!   read is answered), by the sweeper once the window is over, or at shutdown.
//!
//! So N reads by one credential on one route cost at most two entries per window, however
//! large N is: paging through the log or opening many subscriptions cannot feed itself.
//! Reads of `read_audited` entities are not these: each is its own `read` entry.
//!
//! # Layout
//! - [`windows`]: the counting, pure.
//! - here: recording a read ([`record`]), writing summaries ([`flush`], [`sweep`]).

pub mod windows;

pub use windows::{Access, Noted, Summary, Windows};

use crate::AppState;
use crate::error::ApiResult;
use chronicle_core::entry::{Entry, Operation, RequestContext};
use chronicle_core::write::EventInput;
use serde_json::Value;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// Records a read of the audit trail (see the module's doc for when an entry is written).
/// Runs before the answer is sent: when an entry is due and cannot be written, the read is
/// not served.
pub(crate) async fn record(
    state: &AppState,
    context: RequestContext,
    access: Access,
) -> ApiResult<()> {
    if !state.config.auth.audit_access {
        return Ok(());
    }
    let window = window(state);
    let noted = state.access.note(
        &context,
        &access,
        Instant::now(),
        OffsetDateTime::now_utc(),
        window,
    );
    let Noted::Record { ended } = noted else {
        return Ok(());
    };
    if let Some(summary) = ended
        && let Err(e) = write_summary(state, &summary).await
    {
        state.access.retry([*summary]);
        state.access.abandon(&context, &access);
        return Err(e);
    }
    let (summary, metadata) = windows::single(&access, window);
    let written = write(state, context.clone(), summary, metadata, None).await;
    if written.is_err() {
        state.access.abandon(&context, &access);
    }
    written
}

/// Writes the summaries of windows over at `now` (every window when `now` is None, at
/// shutdown), and those whose write failed before; what fails again is kept for the next.
pub(crate) async fn flush(state: &AppState, now: Option<Instant>) {
    let mut failed = Vec::new();
    for summary in state.access.take(now, window(state)) {
        if let Err(e) = write_summary(state, &summary).await {
            tracing::warn!(error = %e.detail, "cannot record a window of audit-trail reads");
            failed.push(summary);
        }
    }
    state.access.retry(failed);
}

/// The background task that sums up windows nobody read on after: once a window, every
/// window that ended is written.
pub(crate) async fn sweep(state: AppState) {
    let mut every = tokio::time::interval(window(&state).max(Duration::from_secs(1)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        flush(&state, Some(Instant::now())).await;
    }
}

fn window(state: &AppState) -> Duration {
    Duration::from_secs(state.config.auth.access_window_secs.max(1))
}

async fn write_summary(state: &AppState, summary: &Summary) -> ApiResult<()> {
    let (text, metadata) = summary.describe();
    write(
        state,
        summary.context.clone(),
        text,
        metadata,
        Some(vec!["aggregate".into()]),
    )
    .await
}

async fn write(
    state: &AppState,
    context: RequestContext,
    summary: String,
    metadata: Value,
    tags: Option<Vec<String>>,
) -> ApiResult<()> {
    let event = EventInput {
        operation: Some(Operation::Access),
        summary: Some(summary),
        metadata: Some(metadata),
        tags,
        ..EventInput::default()
    };
    state.writer.record_event(context, event).await?;
    Ok(())
}

/// The entities entries are about, as `type/id`, for the record of what was read.
pub(crate) fn entities_of<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Vec<String> {
    let mut out: Vec<String> = entries
        .into_iter()
        .filter_map(|e| {
            Some(format!(
                "{}/{}",
                e.entity_type.as_ref()?,
                e.entity_id.as_ref()?
            ))
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}
