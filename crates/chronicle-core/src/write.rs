//! Planning one write, purely: the entity's current state and an operation in, the new state
//! and the draft of its audit entry out. Backends call this inside their database transaction
//! and then give the draft its seq, id and hash (see `chronicle-store`'s executor).

use crate::diff::{self, Change};
use crate::entity::{EntityState, merge_patch};
use crate::entry::*;
use crate::schema::{FieldError, Schema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

/// One operation on one entity, as a client asks for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum EntityOp {
    Create {
        entity_type: String,
        id: Option<String>,
        data: Value,
    },
    /// RFC 7396 merge patch of the data.
    Update {
        entity_type: String,
        id: String,
        patch: Value,
        expected_version: Option<u64>,
    },
    /// Replaces the data; creates the entity when it does not exist.
    Replace {
        entity_type: String,
        id: String,
        data: Value,
        expected_version: Option<u64>,
    },
    Delete {
        entity_type: String,
        id: String,
        expected_version: Option<u64>,
    },
    /// Brings a deleted entity back with the given data (the undo of a delete).
    Restore {
        entity_type: String,
        id: String,
        data: Value,
        expected_version: Option<u64>,
    },
}

impl EntityOp {
    pub fn entity_type(&self) -> &str {
        match self {
            EntityOp::Create { entity_type, .. }
            | EntityOp::Update { entity_type, .. }
            | EntityOp::Replace { entity_type, .. }
            | EntityOp::Delete { entity_type, .. }
            | EntityOp::Restore { entity_type, .. } => entity_type,
        }
    }

    /// The id; a create without one gets a fresh UUIDv7 here, before planning, so that the
    /// store can load the (absent) current state by id.
    pub fn id_or_assign(&mut self) -> &str {
        match self {
            EntityOp::Create { id, .. } => id.get_or_insert_with(|| Uuid::now_v7().to_string()),
            EntityOp::Update { id, .. }
            | EntityOp::Replace { id, .. }
            | EntityOp::Delete { id, .. }
            | EntityOp::Restore { id, .. } => id,
        }
    }
}

/// Why an operation was refused. Nothing is written for a refused operation.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum OpError {
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error("{entity_type} {id} not found")]
    NotFound { entity_type: String, id: String },
    #[error("{entity_type} {id} already exists")]
    AlreadyExists { entity_type: String, id: String },
    #[error("expected version {expected}, current version is {actual}")]
    VersionConflict { expected: u64, actual: u64 },
}

/// An entry before the ledger gives it a seq, id, time and hash.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryDraft {
    pub operation: Operation,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub entity_version: Option<u64>,
    pub old_values: Option<Value>,
    pub new_values: Option<Value>,
    pub change_set: ChangeSet,
    pub summary: Option<String>,
    pub metadata: Value,
    pub severity: Severity,
    pub tags: Vec<String>,
}

/// Links an entry to its bulk parent or transaction.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Links {
    pub parent_id: Option<Uuid>,
    pub transaction_id: Option<Uuid>,
}

impl EntryDraft {
    /// The draft of an entry about no one entity (a bulk or transaction summary, an
    /// erasure): no values, no field changes.
    pub fn about_no_entity(
        operation: Operation,
        impact: Impact,
        summary: String,
        metadata: Value,
        severity: Severity,
        tags: Vec<String>,
    ) -> EntryDraft {
        EntryDraft {
            operation,
            entity_type: None,
            entity_id: None,
            entity_version: None,
            old_values: None,
            new_values: None,
            change_set: ChangeSet {
                impact,
                ..ChangeSet::default()
            },
            summary: Some(summary),
            metadata,
            severity,
            tags,
        }
    }

    /// Completes the draft. The caller seals it (see `canonical::seal`).
    pub fn into_entry(
        self,
        ctx: &RequestContext,
        id: Uuid,
        seq: u64,
        timestamp: OffsetDateTime,
        links: Links,
    ) -> Entry {
        Entry {
            id,
            seq,
            timestamp,
            actor: ctx.actor.clone(),
            session_id: ctx.session_id.clone(),
            ip: ctx.ip.clone(),
            user_agent: ctx.user_agent.clone(),
            operation: self.operation,
            entity_type: self.entity_type,
            entity_id: self.entity_id,
            entity_version: self.entity_version,
            old_values: self.old_values,
            new_values: self.new_values,
            change_set: self.change_set,
            reason: ctx.reason.clone(),
            summary: self.summary,
            metadata: self.metadata,
            correlation_id: ctx.correlation_id.clone(),
            parent_id: links.parent_id,
            transaction_id: links.transaction_id,
            rollback_id: ctx.rollback_id,
            severity: self.severity,
            tags: self.tags,
            leaf_hash: String::new(),
        }
    }
}

/// The outcome of planning: the entity's new state, and the entry to record unless nothing
/// changed.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    pub state: EntityState,
    /// True when the entity did not exist (or was deleted) before.
    pub created: bool,
    pub draft: Option<EntryDraft>,
}

/// Plans `op` against the entity's `current` state at time `now`.
pub fn plan(
    op: &EntityOp,
    current: Option<&EntityState>,
    schema: &Schema,
    now: OffsetDateTime,
) -> Result<Planned, OpError> {
    let ty = op.entity_type();
    // Reserved `_` types are Chronicle's own records; the user's schema does not describe them.
    let unschematized = Schema::default();
    let schema = if ty.starts_with('_') {
        &unschematized
    } else {
        schema
    };
    if let Err(e) = schema.check_type(ty) {
        return Err(OpError::Invalid(vec![e]));
    }
    let live = current.filter(|c| !c.deleted);
    let not_found = |id: &str| OpError::NotFound {
        entity_type: ty.to_owned(),
        id: id.to_owned(),
    };
    let check_version = |expected: &Option<u64>, actual: u64| match expected {
        Some(e) if *e != actual => Err(OpError::VersionConflict {
            expected: *e,
            actual,
        }),
        _ => Ok(()),
    };

    let (operation, new_data, deleted) = match op {
        EntityOp::Create { id, data, .. } => {
            if live.is_some() {
                let id = id.clone().unwrap_or_default();
                return Err(OpError::AlreadyExists {
                    entity_type: ty.to_owned(),
                    id,
                });
            }
            (Operation::Create, data.clone(), false)
        }
        EntityOp::Update {
            id,
            patch,
            expected_version,
            ..
        } => {
            let cur = live.ok_or_else(|| not_found(id))?;
            check_version(expected_version, cur.version)?;
            if !patch.is_object() {
                return Err(OpError::Invalid(vec![FieldError::new(
                    "/data",
                    "a merge patch must be a JSON object",
                )]));
            }
            let mut data = cur.data.clone();
            merge_patch(&mut data, patch);
            (Operation::Update, data, false)
        }
        EntityOp::Replace {
            data,
            expected_version,
            ..
        } => match live {
            Some(cur) => {
                check_version(expected_version, cur.version)?;
                (Operation::Update, data.clone(), false)
            }
            None => {
                // Creating through PUT with an expected version is a conflict with nothing.
                if let Some(e) = expected_version {
                    return Err(OpError::VersionConflict {
                        expected: *e,
                        actual: current.map_or(0, |c| c.version),
                    });
                }
                (Operation::Create, data.clone(), false)
            }
        },
        EntityOp::Delete {
            id,
            expected_version,
            ..
        } => {
            let cur = live.ok_or_else(|| not_found(id))?;
            check_version(expected_version, cur.version)?;
            (Operation::Delete, cur.data.clone(), true)
        }
        EntityOp::Restore {
            id,
            data,
            expected_version,
            ..
        } => {
            let cur = current.ok_or_else(|| not_found(id))?;
            if !cur.deleted {
                return Err(OpError::AlreadyExists {
                    entity_type: ty.to_owned(),
                    id: id.clone(),
                });
            }
            check_version(expected_version, cur.version)?;
            (Operation::Restore, data.clone(), false)
        }
    };

    let new_data = crate::entity::in_key_order(new_data);
    if !deleted {
        schema.validate(ty, &new_data).map_err(OpError::Invalid)?;
    }

    let id = match op {
        EntityOp::Create { id, .. } => id.clone().unwrap_or_default(),
        EntityOp::Update { id, .. }
        | EntityOp::Replace { id, .. }
        | EntityOp::Delete { id, .. }
        | EntityOp::Restore { id, .. } => id.clone(),
    };
    let created = operation == Operation::Create;
    let before = if created || operation == Operation::Restore {
        None
    } else {
        live.map(|c| &c.data)
    };
    let after = if deleted { None } else { Some(&new_data) };
    let changes = diff::diff(before, after);
    if changes.is_empty() && operation == Operation::Update {
        let cur = live.expect("updates have a current state").clone();
        return Ok(Planned {
            state: cur,
            created: false,
            draft: None,
        });
    }

    let version = current.map_or(0, |c| c.version) + 1;
    let state = EntityState {
        entity_type: ty.to_owned(),
        id: id.clone(),
        version,
        data: new_data.clone(),
        deleted,
        created_at: match (created, current) {
            (false, Some(c)) => c.created_at,
            _ => now,
        },
        updated_at: now,
        last_seq: 0,
    };
    let change_set = change_set(schema, ty, &changes);
    let (old_values, new_values) = match operation {
        Operation::Create | Operation::Restore => (None, Some(new_data)),
        Operation::Delete => (Some(new_data), None),
        _ => top_level_values(&changes, before, after),
    };
    let severity = severity_of(operation, change_set.impact);
    let changed: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
    let summary = match operation {
        Operation::Update => format!("update {ty} {id}: {}", changed.join(", ")),
        other => format!("{} {ty} {id}", other.as_str()),
    };
    Ok(Planned {
        state,
        created,
        draft: Some(EntryDraft {
            operation,
            entity_type: Some(ty.to_owned()),
            entity_id: Some(id),
            entity_version: Some(version),
            old_values,
            new_values,
            change_set,
            summary: Some(summary),
            metadata: Value::Object(Map::new()),
            severity,
            tags: Vec::new(),
        }),
    })
}

/// Field changes with their schema types and impact, and relationship changes.
pub fn change_set(schema: &Schema, entity_type: &str, changes: &[Change]) -> ChangeSet {
    let field_changes: Vec<FieldChange> = changes
        .iter()
        .map(|c| FieldChange {
            path: c.path.clone(),
            field_type: schema.field_type_name(
                entity_type,
                &c.path,
                c.new.as_ref().or(c.old.as_ref()),
            ),
            old: c.old.clone(),
            new: c.new.clone(),
            change: c.kind(),
            impact: schema.impact(entity_type, &c.path),
        })
        .collect();
    let relationship_changes = schema
        .references(entity_type)
        .into_iter()
        .filter_map(|(field, target)| {
            let path = format!("/{}", diff::escape_token(field));
            let c = changes.iter().find(|c| c.path == path)?;
            let id = |v: &Option<Value>| v.as_ref().and_then(|v| v.as_str()).map(str::to_owned);
            Some(RelationshipChange {
                path,
                target_type: target.to_owned(),
                old_id: id(&c.old),
                new_id: id(&c.new),
            })
        })
        .collect();
    let impact = field_changes
        .iter()
        .map(|f| f.impact)
        .max()
        .unwrap_or_else(|| schema.type_impact(entity_type));
    ChangeSet {
        field_changes,
        relationship_changes,
        impact,
    }
}

fn top_level_values(
    changes: &[Change],
    before: Option<&Value>,
    after: Option<&Value>,
) -> (Option<Value>, Option<Value>) {
    let mut old = Map::new();
    let mut new = Map::new();
    for c in changes {
        let Some(top) = diff::parse_pointer(&c.path).and_then(|t| t.into_iter().next()) else {
            continue;
        };
        if let Some(v) = before.and_then(|b| b.get(&top)) {
            old.insert(top.clone(), v.clone());
        }
        if let Some(v) = after.and_then(|a| a.get(&top)) {
            new.insert(top, v.clone());
        }
    }
    (Some(Value::Object(old)), Some(Value::Object(new)))
}

/// Deletes and high-impact changes stand out in the log.
pub fn severity_of(operation: Operation, impact: Impact) -> Severity {
    let from_impact = match impact {
        Impact::Critical => Severity::Critical,
        Impact::High => Severity::Warning,
        _ => Severity::Info,
    };
    let from_op = if operation == Operation::Delete {
        Severity::Warning
    } else {
        Severity::Info
    };
    from_impact.max(from_op)
}

/// An event recorded through `POST /v1/audit/events` (or by the engine itself).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EventInput {
    pub operation: Option<Operation>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub summary: Option<String>,
    pub severity: Option<Severity>,
    pub old_values: Option<Value>,
    pub new_values: Option<Value>,
    pub metadata: Option<Value>,
    pub tags: Option<Vec<String>>,
}

impl EventInput {
    /// The draft of an event entry; a change set is derived from old/new values when given.
    pub fn draft(&self, schema: &Schema) -> EntryDraft {
        let operation = self.operation.unwrap_or(Operation::System);
        let ty = self.entity_type.clone();
        let changes = if self.old_values.is_some() || self.new_values.is_some() {
            diff::diff(self.old_values.as_ref(), self.new_values.as_ref())
        } else {
            Vec::new()
        };
        let mut cs = change_set(schema, ty.as_deref().unwrap_or(""), &changes);
        if changes.is_empty() {
            cs.impact = Impact::None;
        }
        let default_severity = match operation {
            Operation::Security => Severity::Warning,
            _ => Severity::Info,
        };
        EntryDraft {
            operation,
            entity_type: ty,
            entity_id: self.entity_id.clone(),
            entity_version: None,
            old_values: self.old_values.clone(),
            new_values: self.new_values.clone(),
            change_set: cs,
            summary: self.summary.clone(),
            metadata: self
                .metadata
                .clone()
                .unwrap_or_else(|| Value::Object(Map::new())),
            severity: self.severity.unwrap_or(default_severity),
            tags: self.tags.clone().unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> OffsetDateTime {
        crate::timefmt::parse("2026-01-01T00:00:00Z").unwrap()
    }

    fn state(data: Value, version: u64, deleted: bool) -> EntityState {
        EntityState {
            entity_type: "shipment".into(),
            id: "s1".into(),
            version,
            data,
            deleted,
            created_at: now(),
            updated_at: now(),
            last_seq: 1,
        }
    }

    fn update(patch: Value, expected: Option<u64>) -> EntityOp {
        EntityOp::Update {
            entity_type: "shipment".into(),
            id: "s1".into(),
            patch,
            expected_version: expected,
        }
    }

    #[test]
    fn create_records_every_field_and_version_one() {
        let op = EntityOp::Create {
            entity_type: "shipment".into(),
            id: Some("s1".into()),
            data: json!({"a": 1, "b": {"c": 2}}),
        };
        let p = plan(&op, None, &Schema::default(), now()).unwrap();
        assert!(p.created);
        assert_eq!(p.state.version, 1);
        let d = p.draft.unwrap();
        assert_eq!(d.operation, Operation::Create);
        assert_eq!(d.change_set.field_changes.len(), 2);
        assert_eq!(d.new_values, Some(json!({"a": 1, "b": {"c": 2}})));
        assert_eq!(d.old_values, None);
    }

    #[test]
    fn update_merges_and_records_only_what_changed() {
        let cur = state(json!({"a": 1, "b": {"c": 2, "d": 3}}), 4, false);
        let p = plan(
            &update(json!({"b": {"c": 5}, "a": 1}), Some(4)),
            Some(&cur),
            &Schema::default(),
            now(),
        )
        .unwrap();
        assert_eq!(p.state.data, json!({"a": 1, "b": {"c": 5, "d": 3}}));
        assert_eq!(p.state.version, 5);
        let d = p.draft.unwrap();
        assert_eq!(d.change_set.field_changes.len(), 1);
        assert_eq!(d.change_set.field_changes[0].path, "/b/c");
        assert_eq!(d.old_values, Some(json!({"b": {"c": 2, "d": 3}})));
        assert_eq!(d.new_values, Some(json!({"b": {"c": 5, "d": 3}})));
    }

    #[test]
    fn an_update_that_changes_nothing_has_no_entry() {
        let cur = state(json!({"a": 1}), 2, false);
        let p = plan(
            &update(json!({"a": 1}), None),
            Some(&cur),
            &Schema::default(),
            now(),
        )
        .unwrap();
        assert!(p.draft.is_none());
        assert_eq!(p.state.version, 2);
    }

    #[test]
    fn refusals() {
        let cur = state(json!({"a": 1}), 2, false);
        let gone = state(json!({"a": 1}), 3, true);
        let s = Schema::default();
        assert_eq!(
            plan(&update(json!({}), Some(1)), Some(&cur), &s, now()),
            Err(OpError::VersionConflict {
                expected: 1,
                actual: 2
            })
        );
        assert!(matches!(
            plan(&update(json!({}), None), Some(&gone), &s, now()),
            Err(OpError::NotFound { .. })
        ));
        assert!(matches!(
            plan(&update(json!({}), None), None, &s, now()),
            Err(OpError::NotFound { .. })
        ));
        assert!(matches!(
            plan(&update(json!([1]), None), Some(&cur), &s, now()),
            Err(OpError::Invalid(_))
        ));
        let create = EntityOp::Create {
            entity_type: "shipment".into(),
            id: Some("s1".into()),
            data: json!({}),
        };
        assert!(matches!(
            plan(&create, Some(&cur), &s, now()),
            Err(OpError::AlreadyExists { .. })
        ));
        // A deleted id may be created again; its version keeps counting.
        assert_eq!(
            plan(&create, Some(&gone), &s, now()).unwrap().state.version,
            4
        );
    }

    #[test]
    fn delete_keeps_the_data_and_restore_brings_it_back() {
        let cur = state(json!({"a": 1}), 2, false);
        let del = EntityOp::Delete {
            entity_type: "shipment".into(),
            id: "s1".into(),
            expected_version: None,
        };
        let p = plan(&del, Some(&cur), &Schema::default(), now()).unwrap();
        assert!(p.state.deleted);
        let d = p.draft.unwrap();
        assert_eq!(
            (d.operation, d.severity),
            (Operation::Delete, Severity::Warning)
        );
        assert_eq!(d.old_values, Some(json!({"a": 1})));
        let restore = EntityOp::Restore {
            entity_type: "shipment".into(),
            id: "s1".into(),
            data: json!({"a": 1}),
            expected_version: None,
        };
        let r = plan(&restore, Some(&p.state), &Schema::default(), now()).unwrap();
        assert!(!r.state.deleted);
        assert_eq!(r.state.version, 4);
    }

    #[test]
    fn schema_types_impacts_and_relationships_reach_the_change_set() {
        let schema = Schema::parse(
            r#"
            [types.customer]
            [types.shipment.fields.status]
            type = "string"
            impact = "critical"
            [types.shipment.fields.customer_id]
            type = "string"
            references = "customer"
        "#,
        )
        .unwrap();
        let cur = state(json!({"status": "a", "customer_id": "c1"}), 1, false);
        let p = plan(
            &update(json!({"status": "b", "customer_id": "c2"}), None),
            Some(&cur),
            &schema,
            now(),
        )
        .unwrap();
        let d = p.draft.unwrap();
        assert_eq!(d.change_set.impact, Impact::Critical);
        assert_eq!(d.severity, Severity::Critical);
        assert_eq!(
            d.change_set.relationship_changes,
            vec![RelationshipChange {
                path: "/customer_id".into(),
                target_type: "customer".into(),
                old_id: Some("c1".into()),
                new_id: Some("c2".into())
            }]
        );
        let bad = plan(
            &update(json!({"status": 5}), None),
            Some(&cur),
            &schema,
            now(),
        );
        assert!(matches!(bad, Err(OpError::Invalid(e)) if e[0].pointer == "/data/status"));
    }
}
