//! Alert rules: a filter, a threshold (at least `count` matching entries within `window_secs`,
//! overall or per actor) and a severity. Rules and the alerts they fire are entities of the
//! reserved types `_alert_rule` and `_alert`, written through the audited write path, so
//! creating or deleting a rule is itself on the ledger.
//!
//! # Layout
//! - this file: the rule and alert records, and [`Evaluator`], the pure window logic.
//! - [`task`]: the evaluator task that follows the ledger and records what fires.
//! - [`webhook`]: delivering an alert to a rule's webhook, with retries.
//!
//! Time is passed in, never read: [`Evaluator::observe`] takes `now`. The task passes the
//! entry's own timestamp (ledger time), so every node that evaluates the same entries fires
//! the same alerts with the same ids (the second node's record is refused as already
//! existing), and entries read late (after a lag, or at start-up) count at the time they
//! happened rather than the time they were read.

pub mod task;
pub mod webhook;

use crate::filter::EntryFilter;
use chronicle_core::entry::{Actor, Operation, Severity};
use chronicle_core::{Entry, timefmt};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;

/// Entity type of alert rules.
pub const RULE_TYPE: &str = "_alert_rule";
/// Entity type of fired alerts.
pub const ALERT_TYPE: &str = "_alert";
/// The tag of the `security` entry an alert writes.
pub const ALERT_TAG: &str = "alert";

/// Idle windows are swept after this many observations, so that per-actor windows of actors
/// never seen again do not accumulate.
const SWEEP_EVERY: u64 = 10_000;

/// When a rule fires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// Fires when this many matching entries fall within the window (the entry that makes
    /// the count reach it included): "more than 50" is `count: 51`.
    pub count: u64,
    /// The window: entries less than this many seconds older than the newest one count.
    pub window_secs: u64,
    /// Count each actor (id, else email) separately.
    #[serde(default)]
    pub per_actor: bool,
}

/// A stored rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertRule {
    /// UUIDv7.
    pub id: String,
    pub name: String,
    pub filter: EntryFilter,
    pub threshold: Threshold,
    pub severity: Severity,
    /// Each alert is POSTed here as JSON (`http` only).
    pub webhook_url: Option<String>,
    #[serde(with = "timefmt")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    pub created_by: Actor,
}

/// A fired alert, as stored, listed and sent on the stream (`event: alert`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Alert {
    /// `<last_seq, 20 digits>-<rule id>`: alerts list in ledger order, and two nodes that
    /// fire the same alert give it the same id.
    pub id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub severity: Severity,
    /// The actor counted, for `per_actor` rules.
    pub actor: Option<String>,
    /// Matching entries within the window when the rule fired.
    pub count: u64,
    pub window_secs: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    #[serde(with = "timefmt")]
    #[schema(value_type = String, format = DateTime)]
    pub first_at: OffsetDateTime,
    #[serde(with = "timefmt")]
    #[schema(value_type = String, format = DateTime)]
    pub last_at: OffsetDateTime,
}

/// Whether Chronicle's alerting wrote this entry: evaluating it could fire alerts about alerts.
pub fn is_own(entry: &Entry) -> bool {
    let ty = entry.entity_type.as_deref();
    ty == Some(ALERT_TYPE)
        || ty == Some(RULE_TYPE)
        || (entry.operation == Operation::Security && entry.tags.iter().any(|t| t == ALERT_TAG))
}

/// The actor key of per-actor windows (as the summary groups actors).
fn actor_key(entry: &Entry) -> String {
    let actor = &entry.actor;
    actor
        .id
        .clone()
        .or_else(|| actor.email.clone())
        .unwrap_or_default()
}

struct RuleState {
    rule: AlertRule,
    /// Per actor key ("" for overall rules): (time, seq) of counted entries, oldest first.
    windows: HashMap<String, VecDeque<(OffsetDateTime, u64)>>,
}

/// The sliding windows of every rule. Pure: fed entries and the time, returns what fires.
#[derive(Default)]
pub struct Evaluator {
    rules: BTreeMap<String, RuleState>,
    observed: u64,
}

impl Evaluator {
    /// Adds or replaces a rule; its counts start empty.
    pub fn set_rule(&mut self, rule: AlertRule) {
        let state = RuleState {
            rule,
            windows: HashMap::new(),
        };
        self.rules.insert(state.rule.id.clone(), state);
    }

    pub fn remove_rule(&mut self, id: &str) {
        self.rules.remove(id);
    }

    pub fn rule(&self, id: &str) -> Option<&AlertRule> {
        self.rules.get(id).map(|s| &s.rule)
    }

    /// Feeds one committed entry (in seq order) at time `now`: applies it when it creates or
    /// deletes a rule, else counts it for every rule it matches and returns the alerts that
    /// fire. A window that fires starts over, so the next alert needs `count` new entries.
    pub fn observe(&mut self, entry: &Entry, now: OffsetDateTime) -> Vec<Alert> {
        if entry.entity_type.as_deref() == Some(RULE_TYPE) {
            self.apply_rule_change(entry);
            return Vec::new();
        }
        if is_own(entry) {
            return Vec::new();
        }
        self.observed += 1;
        if self.observed.is_multiple_of(SWEEP_EVERY) {
            self.sweep(now);
        }
        let mut fired = Vec::new();
        for state in self.rules.values_mut() {
            let rule = &state.rule;
            if !rule.filter.matches(entry) {
                continue;
            }
            let key = if rule.threshold.per_actor {
                actor_key(entry)
            } else {
                String::new()
            };
            let window = state.windows.entry(key.clone()).or_default();
            window.push_back((now, entry.seq));
            let start = now - window_of(rule);
            while window.front().is_some_and(|(t, _)| *t <= start) {
                window.pop_front();
            }
            if (window.len() as u64) < rule.threshold.count {
                continue;
            }
            let (first_at, first_seq) = window.front().copied().expect("not empty");
            let (last_at, last_seq) = window.back().copied().expect("not empty");
            fired.push(Alert {
                id: format!("{last_seq:020}-{}", rule.id),
                rule_id: rule.id.clone(),
                rule_name: rule.name.clone(),
                severity: rule.severity,
                actor: rule.threshold.per_actor.then_some(key.clone()),
                count: window.len() as u64,
                window_secs: rule.threshold.window_secs,
                first_seq,
                last_seq,
                first_at,
                last_at,
            });
            state.windows.remove(&key);
        }
        fired
    }

    fn apply_rule_change(&mut self, entry: &Entry) {
        let Some(id) = entry.entity_id.as_deref() else {
            return;
        };
        match entry.operation {
            Operation::Delete => self.remove_rule(id),
            Operation::Create | Operation::Restore => {
                match entry
                    .new_values
                    .clone()
                    .map(serde_json::from_value::<AlertRule>)
                {
                    Some(Ok(rule)) => self.set_rule(rule),
                    _ => tracing::warn!(rule = id, "alerts: unreadable rule record; ignored"),
                }
            }
            _ => {}
        }
    }

    /// Drops windows whose newest entry is out of the window.
    fn sweep(&mut self, now: OffsetDateTime) {
        for state in self.rules.values_mut() {
            let start = now - window_of(&state.rule);
            state
                .windows
                .retain(|_, w| w.back().is_some_and(|(t, _)| *t > start));
        }
    }
}

fn window_of(rule: &AlertRule) -> Duration {
    Duration::seconds(i64::try_from(rule.threshold.window_secs).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;
