//! The planner against an in-memory ledger: examples and the laws, on generated histories.

use super::*;
use crate::entry::RequestContext;
use crate::write::{Links, plan as plan_write};
use proptest::prelude::{any, prop, prop_assert, prop_assert_eq, prop_assume, proptest};
use serde_json::json;

mod laws;

/// An in-memory ledger: enough of a store to build histories for the planner.
#[derive(Default)]
struct Sim {
    schema: Schema,
    entries: Vec<Entry>,
    states: BTreeMap<EntityRef, EntityState>,
}

impl Sim {
    fn with_schema(text: &str) -> Sim {
        Sim {
            schema: Schema::parse(text).unwrap(),
            ..Sim::default()
        }
    }

    fn apply(&mut self, op: EntityOp) -> Option<Entry> {
        let mut op = op;
        let id = op.id_or_assign().to_owned();
        let r = EntityRef::new(op.entity_type(), id);
        let t = crate::timefmt::parse("2026-01-01T00:00:00Z").unwrap();
        let p = plan_write(&op, self.states.get(&r), &self.schema, t).expect("op applies");
        let draft = p.draft?;
        let seq = self.entries.len() as u64 + 1;
        let ctx = RequestContext {
            actor: crate::Actor {
                via: None,
                id: Some(format!("actor{seq}")),
                ..Default::default()
            },
            ..Default::default()
        };
        let entry = draft.into_entry(&ctx, Uuid::now_v7(), seq, t, Links::default());
        // Through its serialized form, as a store keeps it: what the planner and replay see is
        // what a store gives back.
        let entry: Entry = serde_json::from_str(&serde_json::to_string(&entry).unwrap()).unwrap();
        let mut state = p.state;
        state.last_seq = seq;
        self.states.insert(r, state);
        self.entries.push(entry.clone());
        Some(entry)
    }

    fn facts(&self) -> Facts {
        let mut f = Facts::default();
        for e in &self.entries {
            if let Some(r) = EntityRef::of(e) {
                f.histories.entry(r).or_default().entries.push(e.clone());
            }
        }
        for (r, s) in &self.states {
            f.histories.entry(r.clone()).or_default().current = Some(s.clone());
            // Known to have no referrers unless one is found below.
            f.referrers.entry(r.clone()).or_default();
            if s.deleted {
                continue;
            }
            for (field, target) in self.schema.references(&r.entity_type) {
                if let Some(id) = s.data.get(field).and_then(Value::as_str) {
                    f.referrers
                        .entry(EntityRef::new(target, id))
                        .or_default()
                        .push(r.clone());
                }
            }
        }
        f
    }

    /// Plans with every fact available; the first answer must not be a need the facts
    /// already cover.
    fn plan(&self, goal: &Goal, strategy: Strategy) -> Plan {
        match plan(goal, strategy, &self.facts(), &self.schema) {
            Step::Plan(p) => p,
            Step::Need(n) => panic!("planner asked for facts it has: {n:?}"),
        }
    }

    fn execute(&mut self, plan: &Plan) -> Vec<Entry> {
        plan.entity_ops()
            .into_iter()
            .filter_map(|op| self.apply(op))
            .collect()
    }

    fn data(&self, ty: &str, id: &str) -> Option<Value> {
        self.states
            .get(&EntityRef::new(ty, id))
            .filter(|s| !s.deleted)
            .map(|s| s.data.clone())
    }
}

fn create(ty: &str, id: &str, data: Value) -> EntityOp {
    EntityOp::Create {
        entity_type: ty.into(),
        id: Some(id.into()),
        data,
    }
}
fn update(ty: &str, id: &str, patch: Value) -> EntityOp {
    EntityOp::Update {
        entity_type: ty.into(),
        id: id.into(),
        patch,
        expected_version: None,
    }
}
fn delete(ty: &str, id: &str) -> EntityOp {
    EntityOp::Delete {
        entity_type: ty.into(),
        id: id.into(),
        expected_version: None,
    }
}
fn undo(entries: Vec<Entry>) -> Goal {
    Goal::Undo {
        entries,
        fields: None,
    }
}

#[test]
fn undoing_an_update_restores_the_changed_fields_only() {
    let mut sim = Sim::default();
    sim.apply(create("s", "1", json!({"status": "new", "city": "Oslo"})));
    let e = sim
        .apply(update("s", "1", json!({"status": "sent"})))
        .unwrap();
    sim.apply(update("s", "1", json!({"city": "Rome"})));
    let p = sim.plan(&undo(vec![e]), Strategy::Strict);
    assert!(p.feasible && p.conflicts.is_empty());
    assert_eq!(p.operations[0].action, Action::Update);
    assert_eq!(
        p.operations[0].after,
        Some(json!({"status": "new", "city": "Rome"}))
    );
    sim.execute(&p);
    assert_eq!(
        sim.data("s", "1"),
        Some(json!({"status": "new", "city": "Rome"}))
    );
}

#[test]
fn a_later_change_to_the_same_field_is_handled_per_strategy() {
    let mut sim = Sim::default();
    sim.apply(create("s", "1", json!({"status": "new"})));
    let e = sim
        .apply(update("s", "1", json!({"status": "sent"})))
        .unwrap();
    let later = sim
        .apply(update("s", "1", json!({"status": "lost"})))
        .unwrap();

    let strict = sim.plan(&undo(vec![e.clone()]), Strategy::Strict);
    assert!(!strict.feasible);
    assert_eq!(strict.conflicts.len(), 1);
    assert_eq!(
        (strict.conflicts[0].seq, strict.conflicts[0].kind),
        (Some(later.seq), ConflictKind::LaterChange)
    );
    assert_eq!(strict.conflicts[0].fields, ["/status"]);

    let cascade = sim.plan(&undo(vec![e.clone()]), Strategy::Cascade);
    assert!(cascade.feasible);
    assert_eq!(cascade.operations[0].after, Some(json!({"status": "new"})));
    assert_eq!(cascade.counts.entries_undone, 2);

    let nc = sim.plan(&undo(vec![e.clone()]), Strategy::NonConflicting);
    assert!(nc.operations.is_empty());
    assert_eq!(nc.skipped[0].entry_id, e.id);

    let force = sim.plan(&undo(vec![e]), Strategy::Force);
    assert_eq!(force.operations[0].after, Some(json!({"status": "new"})));
    assert_eq!(force.overwritten[0].current, Some(json!("lost")));
}

#[test]
fn undoing_a_create_deletes_and_undoing_a_delete_restores() {
    let mut sim = Sim::default();
    let c = sim.apply(create("s", "1", json!({"a": 1}))).unwrap();
    let p = sim.plan(&undo(vec![c.clone()]), Strategy::Strict);
    assert_eq!(p.operations[0].action, Action::Delete);
    sim.apply(update("s", "1", json!({"a": 2})));
    assert!(!sim.plan(&undo(vec![c.clone()]), Strategy::Strict).feasible);
    assert_eq!(
        sim.plan(&undo(vec![c]), Strategy::Cascade).operations[0].action,
        Action::Delete
    );

    let d = sim.apply(delete("s", "1")).unwrap();
    let p = sim.plan(&undo(vec![d]), Strategy::Strict);
    assert_eq!(p.operations[0].action, Action::Restore);
    sim.execute(&p);
    assert_eq!(sim.data("s", "1"), Some(json!({"a": 2})));
}

#[test]
fn an_id_created_again_after_an_undone_delete_is_a_reused_id() {
    let mut sim = Sim::default();
    sim.apply(create("s", "1", json!({"a": 1})));
    let d = sim.apply(delete("s", "1")).unwrap();
    sim.apply(create("s", "1", json!({"b": 2})));
    let p = sim.plan(&undo(vec![d]), Strategy::Strict);
    assert_eq!(p.conflicts[0].kind, ConflictKind::ReusedId);
}

#[test]
fn chosen_fields_alone_are_undone() {
    let mut sim = Sim::default();
    sim.apply(create("s", "1", json!({"a": 1, "b": 1})));
    let e = sim
        .apply(update("s", "1", json!({"a": 2, "b": 2})))
        .unwrap();
    let p = sim.plan(
        &Goal::Undo {
            entries: vec![e],
            fields: Some(vec!["/b".into()]),
        },
        Strategy::Strict,
    );
    assert_eq!(p.operations[0].after, Some(json!({"a": 2, "b": 1})));
}

#[test]
fn a_planned_state_the_current_schema_rejects_is_a_schema_conflict_for_every_strategy() {
    let mut sim = Sim::default();
    sim.apply(create("s", "1", json!({"status": 1})));
    let e = sim
        .apply(update("s", "1", json!({"status": "ok"})))
        .unwrap();
    sim.schema = Schema::parse("[types.s.fields.status]\ntype = \"string\"").unwrap();
    for strategy in [
        Strategy::Strict,
        Strategy::Cascade,
        Strategy::NonConflicting,
        Strategy::Force,
    ] {
        let p = sim.plan(&undo(vec![e.clone()]), strategy);
        assert!(!p.feasible, "{strategy:?}");
        let c = p
            .conflicts
            .iter()
            .find(|c| c.kind == ConflictKind::Schema)
            .expect("a schema conflict");
        assert_eq!(
            (c.id.as_str(), c.fields.as_slice()),
            ("1", ["/status".to_owned()].as_slice())
        );
        assert_eq!(
            c.rule.as_deref(),
            Some("must be of type string, got integer")
        );
    }
}

#[test]
fn undoing_the_creation_of_a_nested_object_removes_it() {
    let mut sim = Sim::default();
    sim.apply(create("s", "1", json!({"a": 1})));
    let e = sim.apply(update("s", "1", json!({"o": {"x": 1}}))).unwrap();
    let p = sim.plan(&undo(vec![e]), Strategy::Strict);
    sim.execute(&p);
    assert_eq!(sim.data("s", "1"), Some(json!({"a": 1})));
}

#[test]
fn undoing_an_older_entry_that_listed_a_new_nested_object_field_by_field_removes_it() {
    let mut sim = Sim::default();
    sim.apply(create("s", "1", json!({"a": 1, "k": {}})));
    let e = sim
        .apply(update(
            "s",
            "1",
            json!({"o": {"p": {"x": 1}}, "k": {"y": 2}}),
        ))
        .unwrap();
    // As entries were written before a nested object became one change.
    let legacy = |path: &str, v: Value| crate::entry::FieldChange {
        path: path.into(),
        field_type: "integer".into(),
        old: None,
        new: Some(v),
        change: crate::entry::ChangeKind::Create,
        impact: crate::entry::Impact::Low,
    };
    let written = sim.entries.iter_mut().find(|x| x.id == e.id).unwrap();
    written.change_set.field_changes = vec![legacy("/k/y", json!(2)), legacy("/o/p/x", json!(1))];
    let e = written.clone();
    let p = sim.plan(&undo(vec![e]), Strategy::Strict);
    sim.execute(&p);
    // `/o` did not exist and goes; `/k` existed (empty) and stays.
    assert_eq!(sim.data("s", "1"), Some(json!({"a": 1, "k": {}})));
}

#[test]
fn non_conflicting_undoes_the_fields_of_a_transaction_nothing_later_touched() {
    let mut sim = Sim::default();
    sim.apply(create("r", "1", json!({"a": 0, "b": 0})));
    let tx = sim
        .apply(update("r", "1", json!({"a": 1, "b": 1})))
        .unwrap();
    sim.apply(update("r", "1", json!({"a": 2})));
    let p = sim.plan(&undo(vec![tx.clone()]), Strategy::NonConflicting);
    assert_eq!(p.skipped.len(), 1);
    assert_eq!(
        (p.skipped[0].entry_id, p.skipped[0].fields.as_slice()),
        (tx.id, ["/a".to_owned()].as_slice())
    );
    sim.execute(&p);
    assert_eq!(sim.data("r", "1"), Some(json!({"a": 2, "b": 0})));
}

#[test]
fn force_over_a_re_used_id_lists_what_it_replaces() {
    let mut sim = Sim::default();
    sim.apply(create("x", "1", json!({"old": 1})));
    let d = sim.apply(delete("x", "1")).unwrap();
    sim.apply(create("x", "1", json!({"new": 2})));
    let p = sim.plan(&undo(vec![d]), Strategy::Force);
    assert_eq!(p.overwritten.len(), 1);
    let o = &p.overwritten[0];
    assert_eq!(
        (o.path.as_str(), &o.current, &o.restored),
        ("/new", &Some(json!(2)), &None)
    );
    sim.execute(&p);
    assert_eq!(sim.data("x", "1"), Some(json!({"old": 1})));
}

const REL: &str = r#"
    [types.customer]
    [types.shipment.fields.customer_id]
    type = "string"
    references = "customer"
"#;

#[test]
fn undoing_a_customers_creation_cascades_to_shipments_created_for_it() {
    let mut sim = Sim::with_schema(REL);
    let c = sim
        .apply(create("customer", "c1", json!({"name": "Ada"})))
        .unwrap();
    sim.apply(create("shipment", "s1", json!({"customer_id": "c1"})));
    sim.apply(create("shipment", "s2", json!({"customer_id": "other"})));
    // Without referrer facts the planner asks for them.
    let mut facts = sim.facts();
    facts.referrers.clear();
    assert!(
        matches!(plan(&undo(vec![c.clone()]), Strategy::Cascade, &facts, &sim.schema), Step::Need(n) if n.referrers.contains(&EntityRef::new("customer", "c1")))
    );

    let strict = sim.plan(&undo(vec![c.clone()]), Strategy::Strict);
    assert!(!strict.feasible);
    assert_eq!(
        (strict.conflicts[0].kind, strict.conflicts[0].id.as_str()),
        (ConflictKind::Dependent, "s1")
    );
    let cascade = sim.plan(&undo(vec![c]), Strategy::Cascade);
    let deleted: Vec<&str> = cascade
        .operations
        .iter()
        .filter(|o| o.action == Action::Delete)
        .map(|o| o.id.as_str())
        .collect();
    assert_eq!(deleted, ["c1", "s1"]);
    sim.execute(&cascade);
    assert_eq!(
        sim.data("shipment", "s2"),
        Some(json!({"customer_id": "other"}))
    );
}

#[test]
fn restoring_a_shipment_restores_the_deleted_customer_it_points_to() {
    let mut sim = Sim::with_schema(REL);
    sim.apply(create("customer", "c1", json!({"name": "Ada"})));
    sim.apply(create("shipment", "s1", json!({"customer_id": "c1"})));
    let ds = sim.apply(delete("shipment", "s1")).unwrap();
    sim.apply(delete("customer", "c1"));
    let strict = sim.plan(&undo(vec![ds.clone()]), Strategy::Strict);
    assert_eq!(strict.conflicts[0].kind, ConflictKind::MissingReference);
    let cascade = sim.plan(&undo(vec![ds]), Strategy::Cascade);
    sim.execute(&cascade);
    assert_eq!(sim.data("customer", "c1"), Some(json!({"name": "Ada"})));
    assert_eq!(
        sim.data("shipment", "s1"),
        Some(json!({"customer_id": "c1"}))
    );
}

#[test]
fn a_snapshot_restore_sets_each_entity_to_its_captured_state() {
    let mut sim = Sim::default();
    sim.apply(create("s", "1", json!({"a": 1})));
    sim.apply(create("s", "2", json!({"a": 2})));
    let captured: Vec<(EntityRef, Option<Value>)> = sim
        .states
        .iter()
        .map(|(r, s)| (r.clone(), Some(s.data.clone())))
        .collect();
    sim.apply(update("s", "1", json!({"a": 9})));
    sim.apply(delete("s", "2"));
    sim.apply(create("s", "3", json!({})));
    let mut goal = captured;
    goal.push((EntityRef::new("s", "3"), None));
    let p = sim.plan(&Goal::States(goal), Strategy::Strict);
    assert_eq!(p.counts.updates + p.counts.restores + p.counts.deletes, 3);
    sim.execute(&p);
    assert_eq!(sim.data("s", "1"), Some(json!({"a": 1})));
    assert_eq!(sim.data("s", "2"), Some(json!({"a": 2})));
    assert_eq!(sim.data("s", "3"), None);
}

proptest! {
    /// After a cascade, no live entity references one that does not exist.
    #[test]
    fn cascade_never_leaves_a_dangling_reference(ops in prop::collection::vec((0u8..6, 0u8..3, 0u8..3), 1..30), pick in any::<prop::sample::Index>()) {
        let mut sim = Sim::with_schema(REL);
        for (kind, id, target) in ops {
            let c = format!("c{id}");
            let sh = format!("s{id}");
            let live = |sim: &Sim, t: &str, i: &str| sim.states.get(&EntityRef::new(t, i)).is_some_and(|s| !s.deleted);
            let customer_live = live(&sim, "customer", &format!("c{target}"));
            let op = match kind {
                0 if !live(&sim, "customer", &c) && !sim.states.contains_key(&EntityRef::new("customer", &c)) => create("customer", &c, json!({"n": id})),
                1 if live(&sim, "customer", &c) => update("customer", &c, json!({"n": target})),
                2 if live(&sim, "customer", &c) && !sim.states.iter().any(|(r, s)| r.entity_type == "shipment" && !s.deleted && s.data["customer_id"] == json!(c)) => delete("customer", &c),
                3 if !sim.states.contains_key(&EntityRef::new("shipment", &sh)) && customer_live => create("shipment", &sh, json!({"customer_id": format!("c{target}")})),
                4 if live(&sim, "shipment", &sh) && customer_live => update("shipment", &sh, json!({"customer_id": format!("c{target}")})),
                5 if live(&sim, "shipment", &sh) => delete("shipment", &sh),
                _ => continue,
            };
            sim.apply(op);
        }
        prop_assume!(!sim.entries.is_empty());
        let target = sim.entries[pick.index(sim.entries.len())].clone();
        let p = sim.plan(&undo(vec![target]), Strategy::Cascade);
        sim.execute(&p);
        for (r, s) in &sim.states {
            if r.entity_type == "shipment" && !s.deleted
                && let Some(c) = s.data["customer_id"].as_str()
            {
                prop_assert!(sim.data("customer", c).is_some(), "{} points at missing customer {c}", r.id);
            }
        }
    }
}
