//! Rollback planning, purely: a goal (entries to undo, or entities to bring back to a point in
//! the ledger) and the ledger facts about the entities involved in, a plan out. The engine
//! gathers facts, calls [`plan`], and when the planner answers [`Step::Need`] (cascades and
//! relationships reach entities it has no facts about yet) gathers those and calls again.
//!
//! Semantics (after Oracle Flashback Transaction Backout):
//! - undo of create = delete; of update = the old values of the changed fields; of delete =
//!   restore with the data it had; of restore = delete.
//! - a *conflict* is a later entry, not itself being undone, on the same entity that changed
//!   an overlapping field (or any later entry when either side is a create/delete/restore);
//!   an entity that a schema relationship makes depend on the undone change is a *dependent*.
//! - `strict` refuses when there is any conflict; `cascade` also undoes the conflicting entries
//!   and dependents, transitively; `non_conflicting` undoes, field by field, only what nothing
//!   later touched and lists the fields it skipped (a whole entry when the conflict is about
//!   the entity's existence); `force` writes old values over later changes and lists every
//!   value it replaces.
//! - every planned state is checked against the schema as it is now: a state it rejects is a
//!   `schema` conflict, and no strategy makes such a plan feasible.

use crate::entity::EntityState;
use crate::entry::{Entry, Operation};
use crate::schema::Schema;
use crate::write::EntityOp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

mod deps;
#[cfg(test)]
mod tests;
mod undo;

use undo::{Scope, later_conflicts, overwrites, schema_conflicts, undo_entity};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    #[default]
    Strict,
    Cascade,
    NonConflicting,
    Force,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntityRef {
    #[serde(rename = "type")]
    pub entity_type: String,
    pub id: String,
}

impl EntityRef {
    pub fn new(entity_type: impl Into<String>, id: impl Into<String>) -> Self {
        EntityRef {
            entity_type: entity_type.into(),
            id: id.into(),
        }
    }

    fn of(entry: &Entry) -> Option<EntityRef> {
        Some(EntityRef::new(
            entry.entity_type.clone()?,
            entry.entity_id.clone()?,
        ))
    }
}

/// What the user asked to undo, resolved to ledger terms.
#[derive(Clone, Debug, PartialEq)]
pub enum Goal {
    /// Undo these entries (one entry, a bulk's children, a transaction, a correlation id).
    /// `fields`: undo only changes at or under these pointers.
    Undo {
        entries: Vec<Entry>,
        fields: Option<Vec<String>>,
    },
    /// Bring entities back to their state right after `as_of_seq` (0: before they existed).
    RestoreTo {
        entities: Vec<EntityRef>,
        as_of_seq: u64,
    },
    /// Bring entities to exactly these states (a snapshot): `None` means absent or deleted.
    States(Vec<(EntityRef, Option<Value>)>),
}

/// Everything the ledger knows about one entity: its current state and all its entries,
/// oldest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub current: Option<EntityState>,
    pub entries: Vec<Entry>,
}

/// Facts gathered so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    pub histories: BTreeMap<EntityRef, History>,
    /// Entities whose relationship fields currently point at the key.
    pub referrers: BTreeMap<EntityRef, Vec<EntityRef>>,
}

/// Facts the planner still needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    pub histories: BTreeSet<EntityRef>,
    pub referrers: BTreeSet<EntityRef>,
}

impl Needs {
    fn is_empty(&self) -> bool {
        self.histories.is_empty() && self.referrers.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Need(Needs),
    Plan(Plan),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Update,
    Delete,
    Restore,
    Create,
}

/// One write of the plan. `before` is the current data (null when absent or deleted), `after`
/// the data the entity will have (null when it will be deleted).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlannedOp {
    #[serde(rename = "type")]
    pub entity_type: String,
    pub id: String,
    pub action: Action,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub before: Option<Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub after: Option<Value>,
    /// The version the entity must still have when the plan is executed.
    pub expected_version: u64,
    /// The entries this operation undoes.
    pub undoes: Vec<Uuid>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// A later entry changed a field the undone entry changed.
    LaterChange,
    /// Another entity references the entity this rollback removes.
    Dependent,
    /// The restored data references an entity that will not exist.
    MissingReference,
    /// The entity's id was used again (created anew) after the undone entry.
    ReusedId,
    /// The planned state breaks the current schema (`fields` holds the pointer, `rule` says
    /// which rule).
    Schema,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conflict {
    /// The later (or dependent) entry in the way.
    pub entry_id: Option<Uuid>,
    pub seq: Option<u64>,
    #[serde(rename = "type")]
    pub entity_type: String,
    pub id: String,
    pub fields: Vec<String>,
    pub kind: ConflictKind,
    /// The undone entry it conflicts with.
    pub with_entry: Option<Uuid>,
    /// For a `schema` conflict: the rule the planned state breaks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// What `non_conflicting` left as it is of one undone entry: the fields (or, when the conflict
/// is about the entity's existence, every field) a later entry touched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Skipped {
    pub entry_id: Uuid,
    /// The entry's changed fields that were not undone.
    #[serde(default)]
    pub fields: Vec<String>,
    pub reason: String,
}

/// A value `force` writes over.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Overwrite {
    #[serde(rename = "type")]
    pub entity_type: String,
    pub id: String,
    pub path: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub current: Option<Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub restored: Option<Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Counts {
    pub entities: usize,
    pub entries_undone: usize,
    pub updates: usize,
    pub deletes: usize,
    pub restores: usize,
    pub creates: usize,
    pub conflicts: usize,
    pub skipped: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Plan {
    /// False when `strict` found conflicts: executing would write nothing.
    pub feasible: bool,
    pub operations: Vec<PlannedOp>,
    pub conflicts: Vec<Conflict>,
    pub skipped: Vec<Skipped>,
    pub overwritten: Vec<Overwrite>,
    /// Actors of the entries undone.
    pub affected_actors: Vec<String>,
    pub counts: Counts,
}

impl Plan {
    /// The writes that carry the plan out, each guarded by the version the plan saw.
    pub fn entity_ops(&self) -> Vec<EntityOp> {
        self.operations
            .iter()
            .map(|o| {
                let (entity_type, id, expected_version) = (
                    o.entity_type.clone(),
                    o.id.clone(),
                    Some(o.expected_version),
                );
                let data = o.after.clone().unwrap_or(Value::Null);
                match o.action {
                    Action::Update => EntityOp::Replace {
                        entity_type,
                        id,
                        data,
                        expected_version,
                    },
                    Action::Delete => EntityOp::Delete {
                        entity_type,
                        id,
                        expected_version,
                    },
                    Action::Restore => EntityOp::Restore {
                        entity_type,
                        id,
                        data,
                        expected_version,
                    },
                    Action::Create => EntityOp::Create {
                        entity_type,
                        id: Some(id),
                        data,
                    },
                }
            })
            .collect()
    }
}

fn is_lifecycle(op: Operation) -> bool {
    matches!(
        op,
        Operation::Create | Operation::Delete | Operation::Restore
    )
}

fn changes_entity(e: &Entry) -> bool {
    matches!(
        e.operation,
        Operation::Create | Operation::Update | Operation::Delete | Operation::Restore
    ) && e.entity_version.is_some()
}

/// Whether two pointers overlap: equal, or one is a prefix of the other at a token boundary.
pub fn overlaps(a: &str, b: &str) -> bool {
    let prefix = |p: &str, q: &str| {
        q.starts_with(p) && (q.len() == p.len() || q.as_bytes()[p.len()] == b'/' || p.is_empty())
    };
    prefix(a, b) || prefix(b, a)
}

/// Plans a rollback. Returns [`Step::Need`] until `facts` hold the history of every entity
/// involved (and, with a schema that has relationships, who references them).
pub fn plan(goal: &Goal, strategy: Strategy, facts: &Facts, schema: &Schema) -> Step {
    let mut needs = Needs::default();
    // The set of entries to undo, by entity.
    let mut undo: BTreeMap<EntityRef, BTreeSet<u64>> = BTreeMap::new();
    let fields: Option<&[String]> = match goal {
        Goal::Undo { fields, .. } => fields.as_deref(),
        Goal::RestoreTo { .. } | Goal::States(_) => None,
    };
    match goal {
        Goal::States(states) => return plan_states(states, facts, schema),
        Goal::Undo { entries, .. } => {
            for e in entries.iter().filter(|e| changes_entity(e)) {
                let r = EntityRef::of(e).expect("entity entries name their entity");
                undo.entry(r).or_default().insert(e.seq);
            }
        }
        Goal::RestoreTo {
            entities,
            as_of_seq,
        } => {
            for r in entities {
                match facts.histories.get(r) {
                    None => {
                        needs.histories.insert(r.clone());
                    }
                    Some(h) => {
                        let later: BTreeSet<u64> = h
                            .entries
                            .iter()
                            .filter(|e| changes_entity(e) && e.seq > *as_of_seq)
                            .map(|e| e.seq)
                            .collect();
                        if !later.is_empty() {
                            undo.insert(r.clone(), later);
                        }
                    }
                }
            }
        }
    }
    for r in undo.keys() {
        if !facts.histories.contains_key(r) {
            needs.histories.insert(r.clone());
        }
    }
    if !needs.is_empty() {
        return Step::Need(needs);
    }

    // Where each entry lives, to find the entity and entry a conflict names.
    let located: BTreeMap<Uuid, (&EntityRef, &Entry)> = facts
        .histories
        .iter()
        .flat_map(|(r, h)| h.entries.iter().map(move |e| (e.id, (r, e))))
        .collect();
    // The fields `non_conflicting` leaves alone, per undone entry, and why.
    let mut skip: BTreeMap<Uuid, BTreeSet<String>> = BTreeMap::new();
    let mut skip_order: Vec<Uuid> = Vec::new();
    let mut reasons: BTreeMap<Uuid, Vec<String>> = BTreeMap::new();
    let mut reported: Vec<Conflict> = Vec::new();
    // Fixpoint: cascade adds entries, non_conflicting removes fields or entries, until nothing
    // changes.
    let last_found = loop {
        let scope = Scope {
            fields,
            skip: &skip,
        };
        let mut found = later_conflicts(&undo, facts, scope);
        let (dep_conflicts, dep_needs, dep_added) =
            deps::dependencies(&undo, facts, schema, strategy, scope);
        if !dep_needs.is_empty() {
            return Step::Need(dep_needs);
        }
        found.extend(dep_conflicts);
        let mut changed = false;
        match strategy {
            Strategy::Cascade => {
                for c in &found {
                    if let (Some(seq), ConflictKind::LaterChange | ConflictKind::ReusedId) =
                        (c.seq, c.kind)
                    {
                        changed |= undo
                            .entry(EntityRef::new(c.entity_type.clone(), c.id.clone()))
                            .or_default()
                            .insert(seq);
                    }
                }
                for (r, seq) in dep_added {
                    changed |= undo.entry(r).or_default().insert(seq);
                }
            }
            Strategy::NonConflicting => {
                for c in &found {
                    let Some((r, u)) = c.with_entry.and_then(|w| located.get(&w)).copied() else {
                        continue;
                    };
                    if !undo.get(r).is_some_and(|s| s.contains(&u.seq)) {
                        continue;
                    }
                    let later = c.entry_id.and_then(|id| located.get(&id)).map(|(_, e)| *e);
                    // Two changes of fields conflict field by field; a conflict about the
                    // entity's existence (or a relationship) leaves the whole entry alone.
                    let per_field = c.kind == ConflictKind::LaterChange
                        && !is_lifecycle(u.operation)
                        && later.is_some_and(|l| !is_lifecycle(l.operation));
                    let mine = Scope {
                        fields,
                        skip: &skip,
                    }
                    .paths(u);
                    let left: Vec<String> = if per_field {
                        mine.iter()
                            .filter(|p| c.fields.iter().any(|f| overlaps(f, p)))
                            .cloned()
                            .collect()
                    } else {
                        mine.clone()
                    };
                    if per_field && left.is_empty() {
                        continue;
                    }
                    if !skip.contains_key(&u.id) {
                        skip_order.push(u.id);
                    }
                    let whole = !per_field || left.len() == mine.len();
                    skip.entry(u.id).or_default().extend(left);
                    let by = match (c.entry_id, c.seq) {
                        (Some(id), Some(s)) => {
                            format!("entry {id} (seq {s}) on {} {}", c.entity_type, c.id)
                        }
                        _ => format!("{} {}", c.entity_type, c.id),
                    };
                    reasons
                        .entry(u.id)
                        .or_default()
                        .push(format!("{:?} conflict with {by}", c.kind));
                    if whole && let Some(set) = undo.get_mut(r) {
                        set.remove(&u.seq);
                    }
                    changed = true;
                }
                undo.retain(|_, s| !s.is_empty());
            }
            Strategy::Strict | Strategy::Force => {}
        }
        for c in &found {
            if !reported.contains(c) {
                reported.push(c.clone());
            }
        }
        if !changed {
            break found;
        }
    };
    // Strict and force report what stands in the way now; cascade and non_conflicting report
    // every conflict they resolved by undoing more or skipping.
    let mut conflicts = match strategy {
        Strategy::Strict | Strategy::Force => last_found,
        Strategy::Cascade | Strategy::NonConflicting => reported,
    };
    for r in undo.keys() {
        if !facts.histories.contains_key(r) {
            needs.histories.insert(r.clone());
        }
    }
    if !needs.is_empty() {
        return Step::Need(needs);
    }

    let scope = Scope {
        fields,
        skip: &skip,
    };
    let mut operations = Vec::new();
    let mut overwritten = Vec::new();
    let mut actors = BTreeSet::new();
    let mut entries_undone = 0;
    for (r, seqs) in &undo {
        let h = &facts.histories[r];
        let undone: Vec<&Entry> = h.entries.iter().filter(|e| seqs.contains(&e.seq)).collect();
        entries_undone += undone.len();
        for e in &undone {
            if let Some(a) = e.actor.id.clone().or_else(|| e.actor.email.clone()) {
                actors.insert(a);
            }
        }
        if let Some(op) = undo_entity(r, h, &undone, scope) {
            if strategy == Strategy::Force {
                overwritten.extend(overwrites(h, seqs, &op));
            }
            operations.push(op);
        }
    }
    let skipped: Vec<Skipped> = skip_order
        .iter()
        .map(|id| Skipped {
            entry_id: *id,
            fields: skip[id].iter().cloned().collect(),
            reason: reasons[id].join("; "),
        })
        .collect();
    let invalid = schema_conflicts(&operations, schema);
    let feasible = invalid.is_empty() && (strategy != Strategy::Strict || conflicts.is_empty());
    conflicts.extend(invalid);
    Step::Plan(finish(Plan {
        feasible,
        operations,
        conflicts,
        skipped,
        overwritten,
        affected_actors: actors.into_iter().collect(),
        counts: Counts {
            entries_undone,
            ..Counts::default()
        },
    }))
}

/// Fills in the counts that follow from the plan's lists.
fn finish(mut plan: Plan) -> Plan {
    let count = |a: Action| plan.operations.iter().filter(|o| o.action == a).count();
    plan.counts = Counts {
        entities: plan.operations.len(),
        entries_undone: plan.counts.entries_undone,
        updates: count(Action::Update),
        deletes: count(Action::Delete),
        restores: count(Action::Restore),
        creates: count(Action::Create),
        conflicts: plan.conflicts.len(),
        skipped: plan.skipped.len(),
    };
    plan
}

/// A snapshot restore: every entity straight to its given state. Nothing is "undone", so
/// there are no conflicts but the schema's; later changes are simply replaced.
fn plan_states(states: &[(EntityRef, Option<Value>)], facts: &Facts, schema: &Schema) -> Step {
    let needs = Needs {
        histories: states
            .iter()
            .filter(|(r, _)| !facts.histories.contains_key(r))
            .map(|(r, _)| r.clone())
            .collect(),
        ..Needs::default()
    };
    if !needs.is_empty() {
        return Step::Need(needs);
    }
    let mut operations = Vec::new();
    for (r, want) in states {
        let cur = facts.histories[r].current.as_ref();
        let live = cur.filter(|c| !c.deleted);
        let want = want.clone().map(crate::entity::in_key_order);
        let action = match (live, &want) {
            (None, None) => continue,
            (Some(c), Some(w)) if &c.data == w => continue,
            (Some(_), Some(_)) => Action::Update,
            (Some(_), None) => Action::Delete,
            (None, Some(_)) if cur.is_some() => Action::Restore,
            (None, Some(_)) => Action::Create,
        };
        operations.push(PlannedOp {
            entity_type: r.entity_type.clone(),
            id: r.id.clone(),
            action,
            before: live.map(|c| c.data.clone()),
            after: want,
            expected_version: cur.map_or(0, |c| c.version),
            undoes: Vec::new(),
        });
    }
    let conflicts = schema_conflicts(&operations, schema);
    Step::Plan(finish(Plan {
        feasible: conflicts.is_empty(),
        operations,
        conflicts,
        ..Plan::default()
    }))
}
