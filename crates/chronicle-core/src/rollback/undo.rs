//! What undoing entries does to one entity: which later entries collide with them, the state
//! the entity ends in, the values `force` replaces, and whether the schema accepts the result.

use super::*;
use crate::diff::{self, Change};

/// Which changes of the undone entries a plan undoes: those at or under `fields` (all when
/// `None`), minus the fields `non_conflicting` decided to leave alone, per entry.
#[derive(Clone, Copy)]
pub(super) struct Scope<'a> {
    pub fields: Option<&'a [String]>,
    pub skip: &'a BTreeMap<Uuid, BTreeSet<String>>,
}

impl Scope<'_> {
    pub fn keeps(&self, e: &Entry, path: &str) -> bool {
        self.fields
            .is_none_or(|f| f.iter().any(|x| overlaps(x, path)))
            && !self.skip.get(&e.id).is_some_and(|s| s.contains(path))
    }

    /// The changed fields of `e` this plan undoes.
    pub fn paths(&self, e: &Entry) -> Vec<String> {
        all_paths(e).filter(|p| self.keeps(e, p)).collect()
    }
}

fn all_paths(e: &Entry) -> impl Iterator<Item = String> + '_ {
    e.change_set.field_changes.iter().map(|c| c.path.clone())
}

/// Later entries, not being undone, that collide with an entry being undone.
pub(super) fn later_conflicts(
    undo: &BTreeMap<EntityRef, BTreeSet<u64>>,
    facts: &Facts,
    scope: Scope,
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
                    return Some((u, kind, all_paths(later).collect()));
                }
                let mine = scope.paths(u);
                let theirs: Vec<String> = all_paths(later)
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
                    rule: None,
                });
            }
        }
    }
    out
}

/// The state an entity is in after undoing `undone` (oldest first) from its current state:
/// `None` when it ends deleted or absent, else its data.
pub(super) fn target_state(h: &History, undone: &[&Entry], scope: Scope) -> Option<Value> {
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
                let inverse: Vec<Change> = e
                    .change_set
                    .field_changes
                    .iter()
                    .filter(|c| scope.keeps(e, &c.path))
                    .map(|c| Change {
                        path: c.path.clone(),
                        old: c.new.clone(),
                        new: c.old.clone(),
                    })
                    .collect();
                data = diff::apply(Some(&data), &inverse).unwrap_or(Value::Null);
                remove_objects_it_created(&mut data, e, scope);
            }
            _ => {}
        }
    }
    (!deleted).then(|| crate::entity::in_key_order(data))
}

/// Entries written before a nested object that appears became one change list its fields one
/// by one (`/o/x`, `/o/y`); undoing those fields alone would leave `/o` behind empty. An
/// object that the undo leaves empty is removed when the entry's old values show it did not
/// exist before the entry.
fn remove_objects_it_created(data: &mut Value, e: &Entry, scope: Scope) {
    let Some(before) = &e.old_values else { return };
    for c in &e.change_set.field_changes {
        if c.old.is_some() || !scope.keeps(e, &c.path) {
            continue;
        }
        let Some(mut tokens) = diff::parse_pointer(&c.path) else {
            continue;
        };
        // Parents, deepest first, never the data itself.
        while tokens.len() > 1 {
            tokens.pop();
            let parent: String = tokens
                .iter()
                .map(|t| format!("/{}", diff::escape_token(t)))
                .collect();
            let empty = data
                .pointer(&parent)
                .is_some_and(|v| v.as_object().is_some_and(|m| m.is_empty()));
            if !empty || before.pointer(&parent).is_some() {
                break;
            }
            let removal = Change {
                path: parent,
                old: None,
                new: None,
            };
            *data = diff::apply(Some(data), &[removal]).unwrap_or(Value::Null);
        }
    }
}

/// The write that undoes `undone` on one entity, if it changes anything.
pub(super) fn undo_entity(
    r: &EntityRef,
    h: &History,
    undone: &[&Entry],
    scope: Scope,
) -> Option<PlannedOp> {
    if undone.is_empty() {
        return None;
    }
    let cur = h.current.as_ref();
    let live = cur.filter(|c| !c.deleted).map(|c| &c.data);
    let after = target_state(h, undone, scope);
    let action = match (live, &after) {
        (None, None) => return None,
        (Some(_), None) => Action::Delete,
        (None, Some(_)) if cur.is_none() => Action::Create,
        (None, Some(_)) => Action::Restore,
        (Some(now), Some(then)) if now == then => return None,
        (Some(_), Some(_)) => Action::Update,
    };
    Some(PlannedOp {
        entity_type: r.entity_type.clone(),
        id: r.id.clone(),
        action,
        before: live.cloned(),
        after,
        expected_version: cur.map_or(0, |c| c.version),
        undoes: undone.iter().map(|e| e.id).collect(),
    })
}

/// Every value `op` replaces that the undone entries (`seqs`) did not write: what a later
/// entry, or a new entity under a re-used id, holds there now. Whatever the undone operation,
/// each field the write changes is checked against the last entry that touched it.
pub(super) fn overwrites(h: &History, seqs: &BTreeSet<u64>, op: &PlannedOp) -> Vec<Overwrite> {
    diff::diff(op.before.as_ref(), op.after.as_ref())
        .into_iter()
        .filter(|c| {
            let last = h
                .entries
                .iter()
                .rev()
                .find(|e| changes_entity(e) && e.touches_field(&c.path));
            last.is_none_or(|e| !seqs.contains(&e.seq))
        })
        .map(|c| Overwrite {
            entity_type: op.entity_type.clone(),
            id: op.id.clone(),
            path: c.path,
            current: c.old,
            restored: c.new,
        })
        .collect()
}

/// A `schema` conflict for each rule a planned state breaks, checked against the schema as it
/// is now (it may have changed since the state was last written).
pub(super) fn schema_conflicts(operations: &[PlannedOp], schema: &Schema) -> Vec<Conflict> {
    let mut out = Vec::new();
    for op in operations {
        let Some(after) = &op.after else { continue };
        if op.entity_type.starts_with('_') {
            continue;
        }
        let Err(errors) = schema.validate(&op.entity_type, after) else {
            continue;
        };
        for e in errors {
            // The schema names fields as a request body has them, under `/data`.
            let field = match e.pointer.strip_prefix("/data") {
                Some(rest) => rest.to_owned(),
                None => e.pointer.clone(),
            };
            out.push(Conflict {
                entry_id: None,
                seq: None,
                entity_type: op.entity_type.clone(),
                id: op.id.clone(),
                fields: vec![field],
                kind: ConflictKind::Schema,
                with_entry: op.undoes.last().copied(),
                rule: Some(e.message),
            });
        }
    }
    out
}
