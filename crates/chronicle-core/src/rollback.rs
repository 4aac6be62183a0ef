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
//!   and dependents, transitively; `non_conflicting` undoes only what nothing later touched;
//!   `force` writes old values over later changes and records what it overwrote.

use crate::entity::EntityState;
use crate::entry::{Entry, Operation};
use crate::schema::Schema;
use crate::write::EntityOp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

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
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Skipped {
    pub entry_id: Uuid,
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
fn overlaps(a: &str, b: &str) -> bool {
    let prefix = |p: &str, q: &str| {
        q.starts_with(p) && (q.len() == p.len() || q.as_bytes()[p.len()] == b'/' || p.is_empty())
    };
    prefix(a, b) || prefix(b, a)
}

fn changed_paths(e: &Entry, filter: Option<&[String]>) -> Vec<String> {
    e.change_set
        .field_changes
        .iter()
        .map(|c| c.path.clone())
        .filter(|p| filter.is_none_or(|f| f.iter().any(|x| overlaps(x, p))))
        .collect()
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
        Goal::States(states) => return plan_states(states, facts),
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

    // Where each entry lives, to find the entity of an entry a conflict names.
    let located: BTreeMap<Uuid, (&EntityRef, u64)> = facts
        .histories
        .iter()
        .flat_map(|(r, h)| h.entries.iter().map(move |e| (e.id, (r, e.seq))))
        .collect();
    let mut skipped: Vec<Skipped> = Vec::new();
    let mut reported: Vec<Conflict> = Vec::new();
    // Fixpoint: cascade adds entries, non_conflicting removes them, until nothing changes.
    let last_found = loop {
        let mut found = later_conflicts(&undo, facts, fields);
        let (dep_conflicts, dep_needs, dep_added) =
            dependencies(&undo, facts, schema, strategy, fields);
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
                    let Some((r, seq)) = c.with_entry.and_then(|w| located.get(&w)) else {
                        continue;
                    };
                    if let Some(set) = undo.get_mut(*r)
                        && set.remove(seq)
                    {
                        changed = true;
                        let by = match (c.entry_id, c.seq) {
                            (Some(id), Some(s)) => {
                                format!("entry {id} (seq {s}) on {} {}", c.entity_type, c.id)
                            }
                            _ => format!("{} {}", c.entity_type, c.id),
                        };
                        skipped.push(Skipped {
                            entry_id: c.with_entry.expect("located above"),
                            reason: format!("{:?} conflict with {by}", c.kind),
                        });
                    }
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
    let conflicts = match strategy {
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
        if let Some(op) = undo_entity(r, h, &undone, fields, strategy, &mut overwritten) {
            operations.push(op);
        }
    }
    let feasible = strategy != Strategy::Strict || conflicts.is_empty();
    let count = |a: Action| {
        operations
            .iter()
            .filter(|o: &&PlannedOp| o.action == a)
            .count()
    };
    let counts = Counts {
        entities: operations.len(),
        entries_undone,
        updates: count(Action::Update),
        deletes: count(Action::Delete),
        restores: count(Action::Restore),
        creates: count(Action::Create),
        conflicts: conflicts.len(),
        skipped: skipped.len(),
    };
    Step::Plan(Plan {
        feasible,
        operations,
        conflicts,
        skipped,
        overwritten,
        affected_actors: actors.into_iter().collect(),
        counts,
    })
}

/// A snapshot restore: every entity straight to its given state. Nothing is "undone", so
/// there are no conflicts; later changes are simply replaced.
fn plan_states(states: &[(EntityRef, Option<Value>)], facts: &Facts) -> Step {
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
        let action = match (live, want) {
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
            after: want.clone(),
            expected_version: cur.map_or(0, |c| c.version),
            undoes: Vec::new(),
        });
    }
    let count = |a: Action| {
        operations
            .iter()
            .filter(|o: &&PlannedOp| o.action == a)
            .count()
    };
    let counts = Counts {
        entities: operations.len(),
        updates: count(Action::Update),
        deletes: count(Action::Delete),
        restores: count(Action::Restore),
        creates: count(Action::Create),
        ..Counts::default()
    };
    Step::Plan(Plan {
        feasible: true,
        operations,
        counts,
        ..Plan::default()
    })
}

/// Later entries, not being undone, that collide with an entry being undone.
fn later_conflicts(
    undo: &BTreeMap<EntityRef, BTreeSet<u64>>,
    facts: &Facts,
    fields: Option<&[String]>,
) -> Vec<Conflict> {
    let mut out = Vec::new();
    for (r, seqs) in undo {
        let h = &facts.histories[r];
        let undone: Vec<&Entry> = h.entries.iter().filter(|e| seqs.contains(&e.seq)).collect();
        for later in h
            .entries
            .iter()
            .filter(|e| changes_entity(e) && !seqs.contains(&e.seq))
        {
            // The earliest undone entry it collides with.
            let hit = undone.iter().filter(|u| u.seq < later.seq).find_map(|u| {
                if is_lifecycle(u.operation) || is_lifecycle(later.operation) {
                    let kind = if later.operation == Operation::Create {
                        ConflictKind::ReusedId
                    } else {
                        ConflictKind::LaterChange
                    };
                    return Some((u, kind, changed_paths(later, None)));
                }
                let mine = changed_paths(u, fields);
                let theirs: Vec<String> = changed_paths(later, None)
                    .into_iter()
                    .filter(|p| mine.iter().any(|m| overlaps(m, p)))
                    .collect();
                (!theirs.is_empty()).then_some((u, ConflictKind::LaterChange, theirs))
            });
            if let Some((u, kind, fields)) = hit {
                out.push(Conflict {
                    entry_id: Some(later.id),
                    seq: Some(later.seq),
                    entity_type: r.entity_type.clone(),
                    id: r.id.clone(),
                    fields,
                    kind,
                    with_entry: Some(u.id),
                });
            }
        }
    }
    out
}

/// The state an entity is in after undoing `undone` (newest first) from its current state.
/// Returns (deleted, data).
fn target_state(h: &History, undone: &[&Entry], fields: Option<&[String]>) -> (bool, Value) {
    let cur = h.current.as_ref();
    let mut deleted = cur.is_none_or(|c| c.deleted);
    let mut data = cur.map(|c| c.data.clone()).unwrap_or(Value::Null);
    for e in undone.iter().rev() {
        match e.operation {
            Operation::Create | Operation::Restore => deleted = true,
            Operation::Delete => {
                deleted = false;
                data = e.old_values.clone().unwrap_or(Value::Null);
            }
            Operation::Update => {
                let changes: Vec<crate::diff::Change> = e
                    .change_set
                    .field_changes
                    .iter()
                    .filter(|c| fields.is_none_or(|f| f.iter().any(|x| overlaps(x, &c.path))))
                    .map(|c| crate::diff::Change {
                        path: c.path.clone(),
                        old: c.new.clone(),
                        new: c.old.clone(),
                    })
                    .collect();
                data = crate::diff::apply(Some(&data), &changes).unwrap_or(Value::Null);
            }
            _ => {}
        }
    }
    (deleted, data)
}

fn undo_entity(
    r: &EntityRef,
    h: &History,
    undone: &[&Entry],
    fields: Option<&[String]>,
    strategy: Strategy,
    overwritten: &mut Vec<Overwrite>,
) -> Option<PlannedOp> {
    if undone.is_empty() {
        return None;
    }
    let cur = h.current.as_ref();
    let was_deleted = cur.is_none_or(|c| c.deleted);
    let (deleted, data) = target_state(h, undone, fields);
    if strategy == Strategy::Force {
        // Values a later entry wrote that the undo now replaces.
        let before = cur.map(|c| &c.data);
        for u in undone.iter().filter(|u| u.operation == Operation::Update) {
            for c in u
                .change_set
                .field_changes
                .iter()
                .filter(|c| fields.is_none_or(|f| f.iter().any(|x| overlaps(x, &c.path))))
            {
                let now = before.and_then(|b| pointer(b, &c.path));
                if now != c.new && now != c.old {
                    overwritten.push(Overwrite {
                        entity_type: r.entity_type.clone(),
                        id: r.id.clone(),
                        path: c.path.clone(),
                        current: now,
                        restored: c.old.clone(),
                    });
                }
            }
        }
    }
    let action = match (was_deleted, deleted) {
        (true, true) => return None,
        (false, true) => Action::Delete,
        (true, false) if cur.is_none() => Action::Create,
        (true, false) => Action::Restore,
        (false, false) => {
            if cur.map(|c| &c.data) == Some(&data) {
                return None;
            }
            Action::Update
        }
    };
    Some(PlannedOp {
        entity_type: r.entity_type.clone(),
        id: r.id.clone(),
        action,
        before: if was_deleted {
            None
        } else {
            cur.map(|c| c.data.clone())
        },
        after: if deleted { None } else { Some(data) },
        expected_version: cur.map_or(0, |c| c.version),
        undoes: undone.iter().map(|e| e.id).collect(),
    })
}

fn pointer(v: &Value, path: &str) -> Option<Value> {
    v.pointer(path).cloned()
}

/// Relationship checks over the entities being changed. Returns conflicts, facts still
/// needed, and (for cascade) entries to add to the undo set.
fn dependencies(
    undo: &BTreeMap<EntityRef, BTreeSet<u64>>,
    facts: &Facts,
    schema: &Schema,
    strategy: Strategy,
    fields: Option<&[String]>,
) -> (Vec<Conflict>, Needs, Vec<(EntityRef, u64)>) {
    let mut conflicts = Vec::new();
    let mut needs = Needs::default();
    let mut added = Vec::new();
    // The end state of each entity being changed: deleted or its data.
    let mut end: BTreeMap<&EntityRef, (bool, Value)> = BTreeMap::new();
    // The newest entry being undone on each entity: what a dependency conflict is "with".
    let mut last_undone: BTreeMap<&EntityRef, Option<Uuid>> = BTreeMap::new();
    for (r, seqs) in undo {
        let Some(h) = facts.histories.get(r) else {
            needs.histories.insert(r.clone());
            continue;
        };
        let undone: Vec<&Entry> = h.entries.iter().filter(|e| seqs.contains(&e.seq)).collect();
        last_undone.insert(r, undone.last().map(|e| e.id));
        end.insert(r, target_state(h, &undone, fields));
    }
    if !needs.is_empty() {
        return (conflicts, needs, added);
    }
    let alive = |r: &EntityRef| -> Option<bool> {
        if let Some((deleted, _)) = end.get(r) {
            return Some(!deleted);
        }
        facts
            .histories
            .get(r)
            .map(|h| h.current.as_ref().is_some_and(|c| !c.deleted))
    };
    for (r, (deleted, data)) in &end {
        let h = &facts.histories[*r];
        let was_alive = h.current.as_ref().is_some_and(|c| !c.deleted);
        // 1. The entity disappears: whoever references it now depends on it.
        if *deleted
            && was_alive
            && schema.types.values().any(|t| {
                t.fields
                    .values()
                    .any(|f| f.references.as_deref() == Some(r.entity_type.as_str()))
            })
        {
            let Some(refs) = facts.referrers.get(*r) else {
                needs.referrers.insert((*r).clone());
                continue;
            };
            for dep in refs {
                match alive(dep) {
                    None => {
                        needs.histories.insert(dep.clone());
                    }
                    Some(false) => {}
                    Some(true) => {
                        let dh = &facts.histories[dep];
                        // The entries that made it point here: undo them under cascade.
                        let culprit = dh.entries.iter().rev().find(|e| {
                            changes_entity(e)
                                && e.change_set.relationship_changes.iter().any(|c| {
                                    c.target_type == r.entity_type
                                        && c.new_id.as_deref() == Some(r.id.as_str())
                                })
                        });
                        if strategy == Strategy::Cascade
                            && let Some(c) = culprit
                        {
                            added.push((dep.clone(), c.seq));
                            continue;
                        }
                        conflicts.push(Conflict {
                            entry_id: culprit.map(|c| c.id),
                            seq: culprit.map(|c| c.seq),
                            entity_type: dep.entity_type.clone(),
                            id: dep.id.clone(),
                            fields: culprit
                                .map(|c| {
                                    c.change_set
                                        .relationship_changes
                                        .iter()
                                        .map(|r| r.path.clone())
                                        .collect()
                                })
                                .unwrap_or_default(),
                            kind: ConflictKind::Dependent,
                            with_entry: last_undone[r],
                        });
                    }
                }
            }
        }
        // 2. The entity lives on (or comes back): what it references must exist.
        if !*deleted {
            for (field, target_type) in schema.references(&r.entity_type) {
                let Some(target_id) = data.get(field).and_then(Value::as_str) else {
                    continue;
                };
                let t = EntityRef::new(target_type, target_id);
                match alive(&t) {
                    None => {
                        needs.histories.insert(t);
                    }
                    Some(true) => {}
                    Some(false) => {
                        let th = &facts.histories[&t];
                        let last_delete = th
                            .entries
                            .iter()
                            .rev()
                            .find(|e| changes_entity(e) && e.operation == Operation::Delete);
                        if strategy == Strategy::Cascade
                            && let Some(d) = last_delete
                        {
                            added.push((t, d.seq));
                            continue;
                        }
                        conflicts.push(Conflict {
                            entry_id: last_delete.map(|d| d.id),
                            seq: last_delete.map(|d| d.seq),
                            entity_type: t.entity_type.clone(),
                            id: t.id.clone(),
                            fields: vec![format!("/{}", crate::diff::escape_token(field))],
                            kind: ConflictKind::MissingReference,
                            with_entry: last_undone[r],
                        });
                    }
                }
            }
        }
    }
    (conflicts, needs, added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::RequestContext;
    use crate::write::{Links, plan as plan_write};
    use proptest::prelude::{any, prop, prop_assert, prop_assert_eq, prop_assume, proptest};
    use serde_json::json;

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

    fn arb_ops() -> impl proptest::strategy::Strategy<Value = Vec<(u8, u8, u8)>> {
        prop::collection::vec((0u8..4, 0u8..3, 0u8..4), 1..25)
    }

    /// Applies random operations, skipping the ones that do not apply.
    fn history(ops: &[(u8, u8, u8)]) -> Sim {
        let mut sim = Sim::default();
        for (kind, id, v) in ops {
            let id = format!("e{id}");
            let r = EntityRef::new("t", id.clone());
            let live = sim.states.get(&r).is_some_and(|s| !s.deleted);
            let field = ["a", "b", "c", "d"][*v as usize];
            let op = match (kind, live) {
                (0, false) => create("t", &id, json!({"a": v, "b": 0})),
                (1 | 2, true) => update("t", &id, json!({field: v})),
                (3, true) => delete("t", &id),
                (_, false) if sim.states.contains_key(&r) => EntityOp::Restore {
                    entity_type: "t".into(),
                    id,
                    data: json!({"a": v}),
                    expected_version: None,
                },
                _ => continue,
            };
            sim.apply(op);
        }
        sim
    }

    fn snapshot(sim: &Sim) -> BTreeMap<EntityRef, Option<Value>> {
        sim.states
            .iter()
            .map(|(r, s)| (r.clone(), (!s.deleted).then(|| s.data.clone())))
            .collect()
    }

    proptest! {
        /// Undoing an entry (cascade) and then undoing that rollback's own entries leaves the
        /// state as it was.
        #[test]
        fn undo_of_an_undo_is_the_identity(ops in arb_ops(), pick in any::<prop::sample::Index>()) {
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

        /// Restoring every entity to seq T gives the state that replaying the ledger to T gives.
        #[test]
        fn restore_to_a_point_equals_replay_to_it(ops in arb_ops(), pick in any::<prop::sample::Index>()) {
            let mut sim = history(&ops);
            prop_assume!(!sim.entries.is_empty());
            let t = pick.index(sim.entries.len() + 1) as u64;
            let mut replayed: BTreeMap<EntityRef, Option<Value>> = BTreeMap::new();
            for r in sim.states.keys() {
                let mine: Vec<&Entry> = sim.entries.iter().filter(|e| e.seq <= t && EntityRef::of(e).as_ref() == Some(r)).collect();
                let s = crate::replay::replay(mine);
                replayed.insert(r.clone(), s.filter(|s| !s.deleted).map(|s| s.data));
            }
            let entities: Vec<EntityRef> = sim.states.keys().cloned().collect();
            let p = sim.plan(&Goal::RestoreTo { entities, as_of_seq: t }, Strategy::Strict);
            prop_assert!(p.feasible);
            sim.execute(&p);
            prop_assert_eq!(snapshot(&sim), replayed);
        }

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

        /// Strict never plans a write when it reports a conflict.
        #[test]
        fn strict_with_conflicts_is_infeasible(ops in arb_ops(), pick in any::<prop::sample::Index>()) {
            let sim = history(&ops);
            prop_assume!(!sim.entries.is_empty());
            let target = sim.entries[pick.index(sim.entries.len())].clone();
            let p = sim.plan(&undo(vec![target]), Strategy::Strict);
            prop_assert_eq!(p.feasible, p.conflicts.is_empty());
        }
    }
}
