//! Verification after a rollback: each entity it touched is checked against what replaying
//! the ledger says, never against the states the planner computed. The plan says only which
//! entries (and which of their fields) were undone; what the entity must now be comes from
//! the history itself:
//! - the stored state must be the replay of all its entries (a store that kept something
//!   other than what its ledger records fails here);
//! - after a restore to a point, the entity must be its as-of state at that point; after a
//!   snapshot restore, the captured state;
//! - after an undo, each undone field must hold what it held right before the earliest undone
//!   entry that changed it, or the entity must be as it was before an undone create, delete
//!   or restore (see [`replay::expected_after_undo`]).

use crate::error::EngineError;
use crate::facts;
use crate::record::{Mismatch, RollbackRecord, Verification};
use crate::target::{Target, resolve};
use chronicle_core::replay::{self, Expected};
use chronicle_core::rollback::{EntityRef, Goal, Plan, PlannedOp, overlaps};
use chronicle_core::schema::Schema;
use chronicle_store::Store;
use std::collections::BTreeSet;

/// Checks every entity the plan touched; writes nothing.
pub async fn verify(
    store: &dyn Store,
    schema: &Schema,
    record: &RollbackRecord,
    plan: &Plan,
) -> Result<Verification, EngineError> {
    // Restores to a point and snapshot restores say what each entity must be; undo targets
    // say only what to undo, and that is in the plan's operations.
    let goal = match &record.target {
        Target::EntityVersion { .. }
        | Target::EntityTime { .. }
        | Target::ScopeTime { .. }
        | Target::Snapshot { .. } => resolve(store, schema, &record.target).await?,
        Target::Fields { fields, .. } => Goal::Undo {
            entries: Vec::new(),
            fields: Some(fields.clone()),
        },
        _ => Goal::Undo {
            entries: Vec::new(),
            fields: None,
        },
    };
    let mut mismatches = Vec::new();
    for op in &plan.operations {
        let r = EntityRef::new(&op.entity_type, &op.id);
        let history = facts::history(store, &r).await?;
        let stored = history
            .current
            .as_ref()
            .filter(|s| !s.deleted)
            .map(|s| &s.data);
        let ledger = Expected::State(replay::live_data(&history.entries));
        if let Some(detail) = replay::mismatch(&ledger, stored) {
            mismatches.push(mismatch(
                op,
                &ledger,
                stored.is_none(),
                format!("the stored state is not what its ledger history replays to: {detail}"),
            ));
            continue;
        }
        let Some(expected) = expectation(&goal, plan, op, &history.entries) else {
            continue;
        };
        if let Some(detail) = replay::mismatch(&expected, stored) {
            mismatches.push(mismatch(
                op,
                &expected,
                stored.is_none(),
                format!("not what replaying its history says the rollback must leave: {detail}"),
            ));
        }
    }
    Ok(Verification {
        checked: plan.operations.len(),
        passed: mismatches.is_empty(),
        mismatches,
    })
}

/// What the goal and the entity's history say the entity must be now.
fn expectation(
    goal: &Goal,
    plan: &Plan,
    op: &PlannedOp,
    entries: &[chronicle_core::Entry],
) -> Option<Expected> {
    match goal {
        Goal::RestoreTo { as_of_seq, .. } => Some(Expected::State(replay::live_data(
            entries.iter().filter(|e| e.seq <= *as_of_seq),
        ))),
        Goal::States(states) => states
            .iter()
            .find(|(r, _)| r.entity_type == op.entity_type && r.id == op.id)
            .map(|(_, want)| Expected::State(want.clone())),
        Goal::Undo { fields, .. } => {
            let undone: BTreeSet<uuid::Uuid> = op.undoes.iter().copied().collect();
            let undoes = |e: &chronicle_core::Entry, path: &str| {
                let chosen = fields
                    .as_ref()
                    .is_none_or(|f| f.iter().any(|x| overlaps(x, path)));
                let skipped = plan
                    .skipped
                    .iter()
                    .any(|s| s.entry_id == e.id && s.fields.iter().any(|f| f == path));
                chosen && !skipped
            };
            replay::expected_after_undo(entries, &undone, undoes)
        }
    }
}

fn mismatch(op: &PlannedOp, expected: &Expected, actual_deleted: bool, detail: String) -> Mismatch {
    Mismatch {
        entity_type: op.entity_type.clone(),
        id: op.id.clone(),
        expected_deleted: matches!(expected, Expected::State(None)),
        actual_deleted: Some(actual_deleted),
        detail,
    }
}
