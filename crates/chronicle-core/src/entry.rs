//! The audit entry: who changed what, when, from where, why, and field by field how.
//!
//! The serialized form of [`Entry`] (without `leaf_hash`) is what the ledger hashes, so field
//! names and formats here are a contract with external verifiers (see `canonical`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

/// Who did it. With authentication on, this comes from the credential.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Actor {
    pub id: Option<String>,
    pub email: Option<String>,
    pub role: Option<String>,
    /// The credential that vouched for this actor when it is not the actor's own: a
    /// `service` token writing on behalf of its application's user. Absent otherwise (and
    /// then absent from the canonical bytes, so entries written before it existed keep
    /// their hashes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// Everything about a request that is not its payload.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestContext {
    pub actor: Actor,
    pub session_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub reason: Option<String>,
    pub correlation_id: Option<String>,
    /// Ties the entries to a rollback; set only by the rollback engine.
    pub rollback_id: Option<Uuid>,
    /// Backdates the entries (still never before the ledger's last entry). Set only by
    /// in-process callers such as the demo loader, never from HTTP input.
    #[serde(skip)]
    pub at: Option<OffsetDateTime>,
    /// Marks Chronicle's own bookkeeping writes (rollback records, snapshots), which may use
    /// the reserved entity types that start with `_`. Never set from HTTP input.
    #[serde(skip)]
    pub system: bool,
    /// The client's `metadata` for each entity operation of the request, by index (a single
    /// write has one); an operation without one gets `{}`. It rides with the context rather
    /// than in each operation so that the many callers that build operations (the rollback
    /// engine, the demo, tests) need not know of it. Checked at the edge
    /// (`source::check_metadata`).
    #[serde(skip)]
    pub op_metadata: Vec<Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Create,
    Update,
    Delete,
    Restore,
    Read,
    Bulk,
    Transaction,
    Rollback,
    Snapshot,
    System,
    Config,
    UserManagement,
    Security,
    Access,
    Retention,
    /// A data subject's key was destroyed (GDPR erasure): their sensitive values are
    /// unreadable from then on. The entry names the subject, never the values.
    Erasure,
}

impl Operation {
    pub const ALL: [Operation; 16] = [
        Operation::Create,
        Operation::Update,
        Operation::Delete,
        Operation::Restore,
        Operation::Read,
        Operation::Bulk,
        Operation::Transaction,
        Operation::Rollback,
        Operation::Snapshot,
        Operation::System,
        Operation::Config,
        Operation::UserManagement,
        Operation::Security,
        Operation::Access,
        Operation::Retention,
        Operation::Erasure,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::Restore => "restore",
            Operation::Read => "read",
            Operation::Bulk => "bulk",
            Operation::Transaction => "transaction",
            Operation::Rollback => "rollback",
            Operation::Snapshot => "snapshot",
            Operation::System => "system",
            Operation::Config => "config",
            Operation::UserManagement => "user_management",
            Operation::Security => "security",
            Operation::Access => "access",
            Operation::Retention => "retention",
            Operation::Erasure => "erasure",
        }
    }

    pub fn parse(s: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// Operations a client may record through `POST /v1/audit/events`; the others are
    /// produced by the engine itself and would otherwise be forgeable.
    pub fn is_external_event(self) -> bool {
        matches!(
            self,
            Operation::Read
                | Operation::System
                | Operation::Config
                | Operation::UserManagement
                | Operation::Security
        )
    }
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    #[default]
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        [
            Severity::Info,
            Severity::Warning,
            Severity::Error,
            Severity::Critical,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// Business impact of a change, declared per field in the schema.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    None,
    #[default]
    Low,
    Medium,
    High,
    Critical,
}

impl Impact {
    pub fn parse(s: &str) -> Option<Impact> {
        serde_json::from_value(Value::String(s.to_owned())).ok()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Create,
    Update,
    Delete,
}

/// One field's change. `path` is a JSON Pointer into the entity's data; `old` is null when the
/// field did not exist (`change = create`) and `new` is null when it no longer does (`delete`).
///
/// In the serialized form an absent value and a JSON `null` value are both `null`; `change`
/// tells them apart, and reading a change back follows it (see [`StoredFieldChange`]), so that
/// a field set to `null` stays a field holding `null` through the ledger, replay and rollback.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(from = "StoredFieldChange")]
pub struct FieldChange {
    pub path: String,
    pub field_type: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
    pub change: ChangeKind,
    pub impact: Impact,
}

/// A [`FieldChange`] as stored, before `change` says which of its `null`s mean "absent".
/// Only `create` has no old value and only `delete` has no new value: any other `null` is
/// the JSON value `null` itself.
#[derive(Deserialize)]
struct StoredFieldChange {
    path: String,
    field_type: String,
    old: Option<Value>,
    new: Option<Value>,
    change: ChangeKind,
    impact: Impact,
}

impl From<StoredFieldChange> for FieldChange {
    fn from(s: StoredFieldChange) -> FieldChange {
        let present = |v: Option<Value>, absent: bool| match absent {
            true => None,
            false => Some(v.unwrap_or(Value::Null)),
        };
        FieldChange {
            old: present(s.old, s.change == ChangeKind::Create),
            new: present(s.new, s.change == ChangeKind::Delete),
            path: s.path,
            field_type: s.field_type,
            change: s.change,
            impact: s.impact,
        }
    }
}

/// A change to a field that the schema declares as a reference to another entity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RelationshipChange {
    pub path: String,
    pub target_type: String,
    pub old_id: Option<String>,
    pub new_id: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeSet {
    pub field_changes: Vec<FieldChange>,
    pub relationship_changes: Vec<RelationshipChange>,
    pub impact: Impact,
}

/// One ledger entry. Everything but `leaf_hash` is covered by the leaf hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Entry {
    pub id: Uuid,
    pub seq: u64,
    #[serde(with = "crate::timefmt")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub timestamp: OffsetDateTime,
    pub actor: Actor,
    pub session_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub operation: Operation,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub entity_version: Option<u64>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub old_values: Option<Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub new_values: Option<Value>,
    pub change_set: ChangeSet,
    pub reason: Option<String>,
    pub summary: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: Value,
    pub correlation_id: Option<String>,
    pub parent_id: Option<Uuid>,
    pub transaction_id: Option<Uuid>,
    pub rollback_id: Option<Uuid>,
    pub severity: Severity,
    pub tags: Vec<String>,
    /// Lowercase hex of the RFC 6962 leaf hash of this entry's canonical bytes.
    #[serde(default)]
    pub leaf_hash: String,
}

impl Entry {
    /// Whether this entry changed the field at `pointer`: a change at the field, beneath it,
    /// or above it where the old or new value holds the field (deleting `/address` changes
    /// `/address/city`). Every backend's `field` filter follows this rule.
    pub fn touches_field(&self, pointer: &str) -> bool {
        self.change_set.field_changes.iter().any(|c| {
            if c.path == pointer {
                return true;
            }
            if c.path.starts_with(pointer) && c.path.as_bytes().get(pointer.len()) == Some(&b'/') {
                return true;
            }
            if pointer.starts_with(&c.path) && pointer.as_bytes().get(c.path.len()) == Some(&b'/') {
                let rest = &pointer[c.path.len()..];
                let holds =
                    |v: &Option<Value>| v.as_ref().is_some_and(|v| v.pointer(rest).is_some());
                return holds(&c.old) || holds(&c.new);
            }
            false
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_change(path: &str, old: Option<Value>, new: Option<Value>) -> Entry {
        let mut e: Entry = serde_json::from_value(json!({
            "id": Uuid::nil(), "seq": 1, "timestamp": "2026-01-01T00:00:00Z", "actor": {},
            "session_id": null, "ip": null, "user_agent": null, "operation": "update",
            "entity_type": "t", "entity_id": "1", "entity_version": 2, "old_values": null,
            "new_values": null, "change_set": {"field_changes": [], "relationship_changes": [], "impact": "low"},
            "reason": null, "summary": null, "metadata": {}, "correlation_id": null, "parent_id": null,
            "transaction_id": null, "rollback_id": null, "severity": "info", "tags": []
        }))
        .unwrap();
        let change = if old.is_none() {
            ChangeKind::Create
        } else if new.is_none() {
            ChangeKind::Delete
        } else {
            ChangeKind::Update
        };
        e.change_set.field_changes.push(FieldChange {
            path: path.into(),
            field_type: "object".into(),
            old,
            new,
            change,
            impact: Impact::Low,
        });
        e
    }

    #[test]
    fn a_null_value_and_an_absent_value_survive_serialization_apart() {
        let cases = [
            (None, Some(Value::Null)),
            (Some(Value::Null), None),
            (Some(Value::Null), Some(json!(1))),
            (Some(json!(1)), Some(Value::Null)),
            (None, Some(json!({"n": null}))),
            (Some(json!(1)), None),
        ];
        for (old, new) in cases {
            let e = with_change("/c/n", old.clone(), new.clone());
            let text = serde_json::to_string(&e).unwrap();
            let back: Entry = serde_json::from_str(&text).unwrap();
            let c = &back.change_set.field_changes[0];
            assert_eq!((&c.old, &c.new), (&old, &new), "through {text}");
        }
    }

    #[test]
    fn a_field_is_touched_at_beneath_or_above_when_the_value_holds_it() {
        let e = with_change("/address", Some(json!({"city": "Oslo"})), None);
        assert!(e.touches_field("/address"));
        assert!(e.touches_field("/address/city"));
        assert!(!e.touches_field("/address/zip"));
        assert!(!e.touches_field("/addr"));
        let e = with_change("/address/city", Some(json!("Oslo")), Some(json!("Rome")));
        assert!(e.touches_field("/address"));
        assert!(!e.touches_field("/address/city/x"));
    }
}
