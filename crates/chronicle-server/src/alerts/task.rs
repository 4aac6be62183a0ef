//! The evaluator task: follows every committed entry through the hub (with the same replay on
//! lag as a stream subscriber, so no entry is ever skipped), feeds the [`Evaluator`], and
//! records each alert that fires: an `_alert` record, then a `security` entry tagged `alert`,
//! then the webhook delivery. Rules are loaded once at start and then kept current by their
//! own ledger entries, which arrive in the same order as the entries they judge.

use super::webhook::Webhooks;
use super::{ALERT_TAG, ALERT_TYPE, Alert, AlertRule, Evaluator, RULE_TYPE};
use crate::AppState;
use crate::filter::EntryFilter;
use crate::subscription::Subscription;
use chronicle_core::entry::{Operation, RequestContext};
use chronicle_core::write::{EntityOp, EventInput, OpError};
use chronicle_store::{Op, StoreError};
use std::time::Duration;

/// The actor of the entries alerting writes.
pub const ALERTS_ACTOR: &str = "chronicle:alerts";

/// Waits between tries when the ledger cannot be read or written.
const RETRY: Duration = Duration::from_millis(200);
/// Tries to record one alert while the database is unavailable.
const RECORD_TRIES: u32 = 5;

/// Runs until the hub closes.
pub async fn evaluate(state: AppState) {
    let hub = state.hub.clone();
    let Some(mut entries) = Subscription::start(
        hub.clone(),
        state.store.clone(),
        EntryFilter::default(),
        state.config.alerts.evaluate_after_seq,
    )
    .await
    else {
        return;
    };
    let mut eval = Evaluator::default();
    // Rules committed up to the subscription's start; later ones arrive as entries.
    while let Err(e) = load_rules(&state, &mut eval).await {
        tracing::warn!(error = %e, "alerts: cannot load rules; retrying");
        tokio::select! {
            _ = tokio::time::sleep(RETRY) => {}
            _ = hub.closed() => return,
        }
    }
    let webhooks = Webhooks::new(&state.config.alerts);
    loop {
        let published = match entries.next().await {
            None => return,
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "alerts: cannot read the ledger; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(RETRY) => {}
                    _ = hub.closed() => return,
                }
                continue;
            }
        };
        let entry = &published.entry;
        for alert in eval.observe(entry, entry.timestamp) {
            let webhook = eval
                .rule(&alert.rule_id)
                .and_then(|r| r.webhook_url.clone());
            record(&state, &alert, webhook, &webhooks).await;
        }
    }
}

async fn load_rules(state: &AppState, eval: &mut Evaluator) -> Result<(), StoreError> {
    let mut after: Option<String> = None;
    loop {
        let page = state
            .store
            .list_entities(RULE_TYPE, after.as_deref(), 1000)
            .await?;
        let full = page.len() == 1000;
        after = page.last().map(|s| s.id.clone());
        for s in page {
            match serde_json::from_value::<AlertRule>(s.data) {
                Ok(rule) => eval.set_rule(rule),
                Err(e) => tracing::warn!(rule = s.id, error = %e, "alerts: unreadable rule"),
            }
        }
        if !full {
            return Ok(());
        }
    }
}

/// The context of alerting's own writes.
pub fn system_context() -> RequestContext {
    chronicle_store::writer::process_context(Some(ALERTS_ACTOR), None)
}

/// Records one alert. Another node evaluating the same entries records the same id first
/// sometimes: then this node does nothing more, so the alert is written and delivered once.
async fn record(state: &AppState, alert: &Alert, webhook: Option<String>, webhooks: &Webhooks) {
    let data = serde_json::to_value(alert).expect("an alert serializes");
    let create = || {
        // An alert is built from entries and a rule whose text was redacted when written:
        // it carries no free text of its own.
        let op = EntityOp::Create {
            entity_type: ALERT_TYPE.to_owned(),
            id: Some(alert.id.clone()),
            data: data.clone(),
        };
        state
            .writer
            .apply(system_context(), Op::record(op, Vec::new()))
    };
    match retrying(create).await {
        Ok(Ok(_)) => {}
        Ok(Err(OpError::AlreadyExists { .. })) => return,
        Ok(Err(other)) => {
            tracing::error!(alert = alert.id, answer = ?other, "alerts: alert not recorded");
            return;
        }
        Err(e) => {
            tracing::error!(alert = alert.id, error = %e, "alerts: alert not recorded");
            return;
        }
    }
    crate::metrics::record_alert();
    let event = || {
        let event = EventInput {
            operation: Some(Operation::Security),
            entity_type: Some(ALERT_TYPE.to_owned()),
            entity_id: Some(alert.id.clone()),
            summary: Some(summary(alert)),
            severity: Some(alert.severity),
            metadata: Some(data.clone()),
            tags: Some(vec![ALERT_TAG.to_owned()]),
            ..EventInput::default()
        };
        state.writer.record_event(system_context(), event)
    };
    if let Err(e) = retrying(event).await {
        tracing::error!(alert = alert.id, error = %e, "alerts: security entry not written");
    }
    if let Some(url) = webhook {
        webhooks.deliver(url, data.to_string());
    }
}

fn summary(alert: &Alert) -> String {
    let by = alert
        .actor
        .as_deref()
        .map(|a| format!(" by {a:?}"))
        .unwrap_or_default();
    format!(
        "alert {:?}: {} matching entries{by} within {} s (seq {}–{})",
        alert.rule_name, alert.count, alert.window_secs, alert.first_seq, alert.last_seq
    )
}

/// Makes a write (through the server's writer, so the stream hears of it at once), trying
/// again a few times while the database is unavailable.
async fn retrying<T, W: Future<Output = Result<T, StoreError>>>(
    write: impl Fn() -> W,
) -> Result<T, StoreError> {
    let mut tries = 0;
    loop {
        tries += 1;
        match write().await {
            Err(StoreError::Unavailable { .. } | StoreError::Busy(_)) if tries < RECORD_TRIES => {
                tokio::time::sleep(RETRY * tries).await;
            }
            result => return result,
        }
    }
}
