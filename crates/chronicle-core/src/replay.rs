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
    next.version = version;
    next.updated_at = entry.timestamp;
    next.last_seq = entry.seq;
    Some(next)
}

/// The entity after all of `entries` (its own, oldest first).
pub fn replay<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Option<EntityState> {
    entries.into_iter().fold(None, step)
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
