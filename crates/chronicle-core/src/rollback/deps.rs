//! Relationships: who depends on an entity a rollback removes, and what a restored entity
//! needs to exist.

use super::undo::{Scope, target_state};
use super::*;

/// Relationship checks over the entities being changed. Returns conflicts, facts still
/// needed, and (for cascade) entries to add to the undo set.
pub(super) fn dependencies(
    undo: &BTreeMap<EntityRef, BTreeSet<u64>>,
    facts: &Facts,
    schema: &Schema,
    strategy: Strategy,
    scope: Scope,
) -> (Vec<Conflict>, Needs, Vec<(EntityRef, u64)>) {
    let mut conflicts = Vec::new();
    let mut needs = Needs::default();
    let mut added = Vec::new();
    // The end state of each entity being changed: its data, or None when it ends deleted.
    let mut end: BTreeMap<&EntityRef, Option<Value>> = BTreeMap::new();
    // The newest entry being undone on each entity: what a dependency conflict is "with".
    let mut last_undone: BTreeMap<&EntityRef, Option<Uuid>> = BTreeMap::new();
    for (r, seqs) in undo {
        let Some(h) = facts.histories.get(r) else {
            needs.histories.insert(r.clone());
            continue;
        };
        let undone: Vec<&Entry> = h.entries.iter().filter(|e| seqs.contains(&e.seq)).collect();
        last_undone.insert(r, undone.last().map(|e| e.id));
        end.insert(r, target_state(h, &undone, scope));
    }
    if !needs.is_empty() {
        return (conflicts, needs, added);
    }
    let alive = |r: &EntityRef| -> Option<bool> {
        if let Some(after) = end.get(r) {
            return Some(after.is_some());
        }
        facts
            .histories
            .get(r)
            .map(|h| h.current.as_ref().is_some_and(|c| !c.deleted))
    };
    for (r, after) in &end {
        let deleted = after.is_none();
        let h = &facts.histories[*r];
        let was_alive = h.current.as_ref().is_some_and(|c| !c.deleted);
        // 1. The entity disappears: whoever references it now depends on it.
        if deleted
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
                            rule: None,
                        });
                    }
                }
            }
        }
        // 2. The entity lives on (or comes back): what it references must exist.
        if let Some(data) = after {
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
                            rule: None,
                        });
                    }
                }
            }
        }
    }
    (conflicts, needs, added)
}
