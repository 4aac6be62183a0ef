//! The rollback laws, on generated histories of nested objects, arrays, nulls, deletes and
//! re-used ids. Every expectation here comes from replaying the ledger, never from the plan.

use super::*;
use crate::testing::{Step, arb_history as steps};

fn arb_history() -> impl proptest::strategy::Strategy<Value = Vec<(u8, Step)>> {
    steps(3, 20)
}

/// Applies the generated steps, skipping those that do not fit the entity's state.
pub(super) fn history(steps: &[(u8, Step)]) -> Sim {
    let mut sim = Sim::default();
    for (id, step) in steps {
        let id = format!("e{id}");
        let r = EntityRef::new("t", id.clone());
        let known = sim.states.contains_key(&r);
        let live = sim.states.get(&r).is_some_and(|s| !s.deleted);
        let op = match (step, live) {
            (Step::Create(data), false) => create("t", &id, data.clone()),
            (Step::Patch(patch), true) => update("t", &id, patch.clone()),
            (Step::Replace(data), true) => EntityOp::Replace {
                entity_type: "t".into(),
                id,
                data: data.clone(),
                expected_version: None,
            },
            (Step::Delete, true) => delete("t", &id),
            (Step::Restore(data), false) if known => EntityOp::Restore {
                entity_type: "t".into(),
                id,
                data: data.clone(),
                expected_version: None,
            },
            _ => continue,
        };
        sim.apply(op);
    }
    sim
}

/// Every entity's live data, serialized: equal only when the values and their key order are.
fn snapshot(sim: &Sim) -> BTreeMap<EntityRef, Option<String>> {
    sim.states
        .iter()
        .map(|(r, s)| (r.clone(), (!s.deleted).then(|| s.data.to_string())))
        .collect()
}

fn own<'a>(sim: &'a Sim, r: &EntityRef) -> Vec<&'a Entry> {
    sim.entries
        .iter()
        .filter(|e| EntityRef::of(e).as_ref() == Some(r))
        .collect()
}

fn at(data: Option<&Value>, path: &str) -> Option<Value> {
    data.and_then(|d| d.pointer(path)).cloned()
}

proptest! {
    /// Undoing an entry (cascade) and then undoing that rollback's own entries leaves every
    /// entity as it was, key order included.
    #[test]
    fn undo_of_an_undo_is_the_identity(ops in arb_history(), pick in any::<prop::sample::Index>()) {
        let mut sim = history(&ops);
        prop_assume!(!sim.entries.is_empty());
        let before = snapshot(&sim);
        let target = sim.entries[pick.index(sim.entries.len())].clone();
        let p = sim.plan(&undo(vec![target]), Strategy::Cascade);
        let written = sim.execute(&p);
        let redo = sim.plan(&undo(written), Strategy::Cascade);
        sim.execute(&redo);
        prop_assert_eq!(snapshot(&sim), before);
    }

    /// Restoring every entity to seq T gives what replaying the ledger to T gives, key order
    /// included.
    #[test]
    fn restore_to_a_point_equals_replay_to_it(ops in arb_history(), pick in any::<prop::sample::Index>()) {
        let mut sim = history(&ops);
        prop_assume!(!sim.entries.is_empty());
        let t = pick.index(sim.entries.len() + 1) as u64;
        let replayed: BTreeMap<EntityRef, Option<String>> = sim
            .states
            .keys()
            .map(|r| {
                let mine = own(&sim, r).into_iter().filter(|e| e.seq <= t);
                (r.clone(), crate::replay::live_data(mine).map(|d| d.to_string()))
            })
            .collect();
        let entities: Vec<EntityRef> = sim.states.keys().cloned().collect();
        let p = sim.plan(&Goal::RestoreTo { entities, as_of_seq: t }, Strategy::Strict);
        prop_assert!(p.feasible);
        sim.execute(&p);
        prop_assert_eq!(snapshot(&sim), replayed);
    }

    /// `non_conflicting` undoes exactly the fields of an update that no later entry touched,
    /// lists the others as skipped, and leaves everything when a later entry made or unmade
    /// the entity.
    #[test]
    fn non_conflicting_undoes_exactly_the_fields_nothing_later_touched(ops in arb_history(), pick in any::<prop::sample::Index>()) {
        let mut sim = history(&ops);
        let updates: Vec<Entry> = sim.entries.iter().filter(|e| e.operation == Operation::Update).cloned().collect();
        prop_assume!(!updates.is_empty());
        let target = updates[pick.index(updates.len())].clone();
        let r = EntityRef::of(&target).unwrap();
        let history: Vec<Entry> = own(&sim, &r).into_iter().cloned().collect();
        let later: Vec<&Entry> = history.iter().filter(|e| e.seq > target.seq).collect();
        let before_target = crate::replay::live_data(history.iter().filter(|e| e.seq < target.seq));
        let now = sim.data("t", &r.id);
        let p = sim.plan(&undo(vec![target.clone()]), Strategy::NonConflicting);
        sim.execute(&p);
        let after = sim.data("t", &r.id);
        let skipped: Vec<String> = p.skipped.iter().filter(|s| s.entry_id == target.id).flat_map(|s| s.fields.clone()).collect();
        if later.iter().any(|e| is_lifecycle(e.operation)) {
            prop_assert_eq!(after.map(|d| d.to_string()), now.map(|d| d.to_string()));
            return Ok(());
        }
        for c in &target.change_set.field_changes {
            let touched = later.iter().any(|e| e.change_set.field_changes.iter().any(|l| overlaps(&l.path, &c.path)));
            if touched {
                prop_assert_eq!(at(after.as_ref(), &c.path), at(now.as_ref(), &c.path), "{} was touched later", &c.path);
                prop_assert!(skipped.contains(&c.path), "{} touched later but not listed", &c.path);
            } else {
                prop_assert_eq!(at(after.as_ref(), &c.path), at(before_target.as_ref(), &c.path), "{} was not undone", &c.path);
                prop_assert!(!skipped.contains(&c.path), "{} undone but listed as skipped", &c.path);
            }
        }
    }

    /// `force` lists every value it replaces that the undone entry did not leave there (a
    /// later change, or a new entity under a re-used id), whatever the undone operation, and
    /// lists nothing it does not replace.
    #[test]
    fn force_lists_every_value_it_replaces(ops in arb_history(), pick in any::<prop::sample::Index>()) {
        let mut sim = history(&ops);
        prop_assume!(!sim.entries.is_empty());
        let target = sim.entries[pick.index(sim.entries.len())].clone();
        let r = EntityRef::of(&target).unwrap();
        let left = crate::replay::live_data(own(&sim, &r).into_iter().filter(|e| e.seq <= target.seq));
        let now = sim.data("t", &r.id);
        let p = sim.plan(&undo(vec![target]), Strategy::Force);
        sim.execute(&p);
        let after = sim.data("t", &r.id);
        for c in crate::diff::diff(now.as_ref(), after.as_ref()) {
            if at(now.as_ref(), &c.path) == at(left.as_ref(), &c.path) {
                continue;
            }
            prop_assert!(
                p.overwritten.iter().any(|o| o.path == c.path && o.current == c.old && o.restored == c.new),
                "{} replaced without a record: {:?}", &c.path, &p.overwritten
            );
        }
        for o in &p.overwritten {
            prop_assert_eq!(&o.current, &at(now.as_ref(), &o.path));
            prop_assert_eq!(&o.restored, &at(after.as_ref(), &o.path));
        }
    }

    /// The expectation replay gives for an undo holds after every strategy that does not
    /// skip, and the rollback's own entries replay to the state it left.
    #[test]
    fn an_undo_matches_what_replay_expects(ops in arb_history(), pick in any::<prop::sample::Index>(), force in any::<bool>()) {
        let mut sim = history(&ops);
        prop_assume!(!sim.entries.is_empty());
        let target = sim.entries[pick.index(sim.entries.len())].clone();
        let strategy = if force { Strategy::Force } else { Strategy::Cascade };
        let p = sim.plan(&undo(vec![target]), strategy);
        sim.execute(&p);
        for op in &p.operations {
            let r = EntityRef::new(&op.entity_type, &op.id);
            let history: Vec<Entry> = own(&sim, &r).into_iter().cloned().collect();
            let undone = op.undoes.iter().copied().collect();
            let expected = crate::replay::expected_after_undo(&history, &undone, |_, _| true).unwrap();
            let live = sim.data(&op.entity_type, &op.id);
            prop_assert_eq!(crate::replay::mismatch(&expected, live.as_ref()), None);
            prop_assert_eq!(crate::replay::live_data(&history), live);
        }
    }

    /// Strict never plans a write when it reports a conflict.
    #[test]
    fn strict_with_conflicts_is_infeasible(ops in arb_history(), pick in any::<prop::sample::Index>()) {
        let sim = history(&ops);
        prop_assume!(!sim.entries.is_empty());
        let target = sim.entries[pick.index(sim.entries.len())].clone();
        let p = sim.plan(&undo(vec![target]), Strategy::Strict);
        prop_assert_eq!(p.feasible, p.conflicts.is_empty());
    }
}
