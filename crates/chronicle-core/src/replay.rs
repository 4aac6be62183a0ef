//! Rebuilding an entity from its entries: the state at a version or a time is the fold of its
//! entries up to that point. This is what as-of reads and (later) rollback-to-time rest on, and
//! it needs nothing but the ledger.

use crate::diff::{self, Change};
use crate::entity::EntityState;
use crate::entry::{Entry, Operation};
use serde_json::Value;

/// Applies one entry of the entity to its state before that entry.
pub fn step(state: Option<EntityState>, entry: &Entry) -> Option<EntityState> {
    let (Some(ty), Some(id), Some(version)) =
        (&entry.entity_type, &entry.entity_id, entry.entity_version)
    else {
        return state;
    };
    let mut next = state.unwrap_or_else(|| EntityState {
        entity_type: ty.clone(),
        id: id.clone(),
        version: 0,
        data: Value::Null,
        deleted: true,
        created_at: entry.timestamp,
        updated_at: entry.timestamp,
        last_seq: 0,
    });
    match entry.operation {
        Operation::Create | Operation::Restore => {
            next.data = entry.new_values.clone().unwrap_or(Value::Null);
            next.deleted = false;
            if entry.operation == Operation::Create {
                next.created_at = entry.timestamp;
            }
        }
        Operation::Delete => next.deleted = true,
        Operation::Update => {
            let changes: Vec<Change> = entry
                .change_set
                .field_changes
                .iter()
                .map(|f| Change {
                    path: f.path.clone(),
                    old: f.old.clone(),
                    new: f.new.clone(),
                })
                .collect();
            next.data = diff::apply(Some(&next.data), &changes).unwrap_or(Value::Null);
        }
        // Other operations (reads, events) do not change the entity.
        _ => return Some(next),
    }
    next.data = crate::entity::in_key_order(next.data);
    next.version = version;
    next.updated_at = entry.timestamp;
    next.last_seq = entry.seq;
    Some(next)
}

/// The entity after all of `entries` (its own, oldest first).
pub fn replay<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Option<EntityState> {
    entries.into_iter().fold(None, step)
}

/// The entity's live data after `entries` (its own, oldest first): `None` when it does not
/// exist or is deleted.
pub fn live_data<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Option<Value> {
    replay(entries).filter(|s| !s.deleted).map(|s| s.data)
}

/// What an entity's history says it must be after a rollback undid some of its entries,
/// worked out from replay alone (never from the plan's computed states), so that a rollback
/// can be checked independently of the planner that produced it.
#[derive(Clone, Debug, PartialEq)]
pub enum Expected {
    /// The whole state: live data, or `None` for deleted or absent.
    State(Option<Value>),
    /// The entity is live and each of these fields holds this value (`None`: absent); other
    /// fields are not the rollback's business.
    Fields(Vec<(String, Option<Value>)>),
}

/// The expectation after undoing the entries `undone` of one entity's history (`entries`,
/// oldest first), restricted to the changed fields `undoes` accepts. When the first undone
/// entry made or unmade the entity, or every change from it on is undone, the entity is as it
/// was right before it. Otherwise each undone field holds what it held right before the
/// earliest undone entry that changed it.
pub fn expected_after_undo(
    entries: &[Entry],
    undone: &std::collections::BTreeSet<uuid::Uuid>,
    undoes: impl Fn(&Entry, &str) -> bool,
) -> Option<Expected> {
    let first = entries.iter().position(|e| undone.contains(&e.id))?;
    // Everything from the first undone entry on is undone (a cascade, a restore): the entity
    // is as it was before it.
    let changes_after = |e: &&Entry| {
        e.entity_version.is_some()
            && matches!(
                e.operation,
                Operation::Create | Operation::Update | Operation::Delete | Operation::Restore
            )
    };
    let suffix = entries[first..]
        .iter()
        .filter(changes_after)
        .all(|e| undone.contains(&e.id));
    if suffix || entries[first].operation != Operation::Update {
        return Some(Expected::State(live_data(&entries[..first])));
    }
    let mut fields: Vec<(String, Option<Value>)> = Vec::new();
    for (i, e) in entries.iter().enumerate().skip(first) {
        if !undone.contains(&e.id) {
            continue;
        }
        let before = live_data(&entries[..i]);
        for c in &e.change_set.field_changes {
            // A field inside (or around) one already expected was settled by that earlier
            // entry.
            let settled = fields
                .iter()
                .any(|(p, _)| crate::rollback::overlaps(p, &c.path));
            if undoes(e, &c.path) && !settled {
                let value = before.as_ref().and_then(|b| b.pointer(&c.path)).cloned();
                fields.push((c.path.clone(), value));
            }
        }
    }
    Some(Expected::Fields(fields))
}

/// Why `actual` (live data, `None` when deleted or absent) is not what `expected` says, if it
/// is not.
pub fn mismatch(expected: &Expected, actual: Option<&Value>) -> Option<String> {
    match (expected, actual) {
        (Expected::State(want), got) if want.as_ref() != got => Some(format!(
            "expected {}, found {}",
            describe(want.as_ref()),
            describe(got)
        )),
        (Expected::State(_), _) => None,
        (Expected::Fields(_), None) => Some("expected a live entity, found none".into()),
        (Expected::Fields(fields), Some(data)) => {
            let wrong: Vec<String> = fields
                .iter()
                .filter(|(p, v)| data.pointer(p) != v.as_ref())
                .map(|(p, v)| {
                    format!(
                        "{p}: expected {}, found {}",
                        describe(v.as_ref()),
                        describe(data.pointer(p))
                    )
                })
                .collect();
            (!wrong.is_empty()).then(|| wrong.join("; "))
        }
    }
}

fn describe(v: Option<&Value>) -> String {
    v.map_or_else(|| "nothing".to_owned(), Value::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::RequestContext;
    use crate::schema::Schema;
    use crate::write::{EntityOp, Links, plan};
    use serde_json::json;
    use uuid::Uuid;

    #[test]
    fn replaying_planned_entries_rebuilds_every_version() {
        let schema = Schema::default();
        let t = crate::timefmt::parse("2026-01-01T00:00:00Z").unwrap();
        let ops = [
            EntityOp::Create {
                entity_type: "c".into(),
                id: Some("1".into()),
                data: json!({"a": 1, "n": {"x": [1]}}),
            },
            EntityOp::Update {
                entity_type: "c".into(),
                id: "1".into(),
                patch: json!({"a": 2, "n": {"y": true}}),
                expected_version: None,
            },
            EntityOp::Replace {
                entity_type: "c".into(),
                id: "1".into(),
                data: json!({"z": "new"}),
                expected_version: None,
            },
            EntityOp::Delete {
                entity_type: "c".into(),
                id: "1".into(),
                expected_version: None,
            },
            EntityOp::Restore {
                entity_type: "c".into(),
                id: "1".into(),
                data: json!({"z": "back"}),
                expected_version: None,
            },
        ];
        let mut state = None;
        let mut entries = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let p = plan(op, state.as_ref(), &schema, t).unwrap();
            let entry = p.draft.unwrap().into_entry(
                &RequestContext::default(),
                Uuid::now_v7(),
                i as u64 + 1,
                t,
                Links::default(),
            );
            entries.push(entry);
            let mut s = p.state;
            s.last_seq = i as u64 + 1;
            assert_eq!(replay(&entries).as_ref(), Some(&s), "after op {i}");
            state = Some(s);
        }
    }
}
