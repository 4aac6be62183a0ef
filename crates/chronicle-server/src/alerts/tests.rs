//! The window logic with an injected time: each entry is observed at a chosen instant, so
//! "51 deletes in 5 minutes" is tested in microseconds and without sleeping.

use super::*;
use serde_json::{Value, json};
use time::macros::datetime;

const T0: OffsetDateTime = datetime!(2026-11-27 12:00:00 UTC);

struct Ledger {
    seq: u64,
    eval: Evaluator,
}

impl Ledger {
    fn new(rules: &[AlertRule]) -> Ledger {
        let mut eval = Evaluator::default();
        for r in rules {
            eval.set_rule(r.clone());
        }
        Ledger { seq: 0, eval }
    }

    /// Observes an entry built from `fields` at `T0 + secs`.
    fn feed(&mut self, secs: i64, fields: Value) -> Vec<Alert> {
        self.seq += 1;
        let e = entry(self.seq, fields);
        self.eval.observe(&e, T0 + Duration::seconds(secs))
    }
}

fn entry(seq: u64, fields: Value) -> Entry {
    let mut e = json!({
        "id": uuid::Uuid::nil(), "seq": seq, "timestamp": "2026-11-27T12:00:00Z",
        "actor": {"id": null, "email": null, "role": null}, "session_id": null, "ip": null,
        "user_agent": null, "operation": "update", "entity_type": "shipment", "entity_id": "s1",
        "entity_version": 2, "old_values": null, "new_values": null,
        "change_set": {"field_changes": [], "relationship_changes": [], "impact": "low"},
        "reason": null, "summary": null, "metadata": {}, "correlation_id": null,
        "parent_id": null, "transaction_id": null, "rollback_id": null, "severity": "info",
        "tags": []
    });
    for (k, v) in fields.as_object().unwrap() {
        e[k] = v.clone();
    }
    serde_json::from_value(e).unwrap()
}

fn delete_by(actor: &str) -> Value {
    json!({"operation": "delete", "actor": {"id": actor, "email": null, "role": null}})
}

fn rule(id: &str, filter: Value, count: u64, window_secs: u64, per_actor: bool) -> AlertRule {
    AlertRule {
        id: id.into(),
        name: format!("rule {id}"),
        filter: serde_json::from_value(filter).unwrap(),
        threshold: Threshold {
            count,
            window_secs,
            per_actor,
        },
        severity: Severity::Critical,
        webhook_url: None,
        created_at: T0,
        created_by: Actor::default(),
    }
}

fn mass_delete() -> AlertRule {
    rule("mass", json!({"operation": "delete"}), 51, 300, true)
}

#[test]
fn fifty_one_deletes_by_one_actor_within_five_minutes_fire_exactly_at_the_fifty_first() {
    let mut l = Ledger::new(&[mass_delete()]);
    for i in 0..50 {
        assert!(
            l.feed(i * 5, delete_by("mallory")).is_empty(),
            "delete {}",
            i + 1
        );
    }
    let fired = l.feed(260, delete_by("mallory"));
    assert_eq!(fired.len(), 1);
    let a = &fired[0];
    assert_eq!((a.count, a.first_seq, a.last_seq), (51, 1, 51));
    assert_eq!(a.actor.as_deref(), Some("mallory"));
    assert_eq!(a.id, format!("{:020}-mass", 51));
    assert_eq!((a.first_at, a.last_at), (T0, T0 + Duration::seconds(260)));
    assert_eq!(a.severity, Severity::Critical);
}

#[test]
fn deletes_spread_over_more_than_the_window_never_fire() {
    let mut l = Ledger::new(&[mass_delete()]);
    // One every 6 s: any 5 minutes hold at most 50 of them.
    for i in 0..200 {
        assert!(
            l.feed(i * 6, delete_by("slow")).is_empty(),
            "delete {}",
            i + 1
        );
    }
}

#[test]
fn an_entry_exactly_one_window_old_no_longer_counts() {
    let mut l = Ledger::new(&[rule("r", json!({}), 2, 60, false)]);
    assert!(l.feed(0, json!({})).is_empty());
    assert!(l.feed(60, json!({})).is_empty());
    assert_eq!(l.feed(119, json!({})).len(), 1);
}

#[test]
fn per_actor_rules_count_each_actor_apart_and_overall_rules_count_everyone() {
    let overall = rule("all", json!({"operation": "delete"}), 51, 300, false);
    let mut l = Ledger::new(&[mass_delete(), overall]);
    for i in 0..50 {
        let fired = l.feed(i, delete_by("alice"));
        // The overall rule sees its 51st delete at alice's 26th.
        if i == 25 {
            assert_eq!(fired.len(), 1);
            assert_eq!(fired[0].rule_id, "all");
            assert_eq!(fired[0].actor, None);
        } else {
            assert!(fired.is_empty(), "at {i}: {fired:?}");
        }
        assert!(l.feed(i, delete_by("bob")).is_empty());
    }
    // Alice's 51st; the overall window started over and holds 50.
    let fired = l.feed(60, delete_by("alice"));
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].rule_id, "mass");
    assert_eq!(fired[0].actor.as_deref(), Some("alice"));
    assert_eq!(fired[0].count, 51);
}

#[test]
fn a_window_starts_over_after_it_fires() {
    let mut l = Ledger::new(&[rule("r", json!({}), 3, 60, false)]);
    let fired: Vec<usize> = (0..9).map(|i| l.feed(i, json!({})).len()).collect();
    assert_eq!(fired, [0, 0, 1, 0, 0, 1, 0, 0, 1]);
}

#[test]
fn any_change_to_settings_fires_every_time_and_nothing_else_does() {
    let mut l = Ledger::new(&[rule(
        "settings",
        json!({"entity_type": "setting"}),
        1,
        1,
        false,
    )]);
    assert_eq!(l.feed(0, json!({"entity_type": "setting"})).len(), 1);
    assert!(l.feed(0, json!({"entity_type": "shipment"})).is_empty());
    assert_eq!(l.feed(0, json!({"entity_type": "setting"})).len(), 1);
}

#[test]
fn a_role_change_fires_on_the_role_field_only() {
    let mut l = Ledger::new(&[rule("role", json!({"field": "/role"}), 1, 60, false)]);
    let change = |path: &str| {
        json!({"entity_type": "user", "change_set": {"field_changes": [{"path": path,
            "field_type": "string", "old": "a", "new": "b", "change": "update",
            "impact": "low"}], "relationship_changes": [], "impact": "low"}})
    };
    assert!(l.feed(0, change("/name")).is_empty());
    assert!(l.feed(0, change("/roles")).is_empty());
    assert_eq!(l.feed(0, change("/role")).len(), 1);
}

#[test]
fn the_evaluators_own_entries_never_count() {
    let mut l = Ledger::new(&[rule("any", json!({}), 1, 60, false)]);
    assert!(
        l.feed(0, json!({"entity_type": "_alert", "operation": "create"}))
            .is_empty()
    );
    let security = json!({"operation": "security", "entity_type": null, "tags": ["alert"]});
    assert!(l.feed(0, security).is_empty());
    assert_eq!(l.feed(0, json!({"operation": "security"})).len(), 1);
}

#[test]
fn rules_are_created_and_deleted_by_their_ledger_entries() {
    let mut l = Ledger::new(&[]);
    let r = rule("r1", json!({"entity_type": "note"}), 1, 60, false);
    let record = json!({"entity_type": "_alert_rule", "entity_id": "r1", "operation": "create",
        "new_values": serde_json::to_value(&r).unwrap()});
    assert!(l.feed(0, json!({"entity_type": "note"})).is_empty());
    assert!(l.feed(0, record).is_empty());
    assert_eq!(l.eval.rule("r1"), Some(&r));
    assert_eq!(l.feed(0, json!({"entity_type": "note"})).len(), 1);
    let deleted = json!({"entity_type": "_alert_rule", "entity_id": "r1", "operation": "delete"});
    assert!(l.feed(0, deleted).is_empty());
    assert!(l.feed(0, json!({"entity_type": "note"})).is_empty());
}
