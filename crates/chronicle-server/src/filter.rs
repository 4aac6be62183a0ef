//! The exact-match entry filters that entry search, the stream and alert rules share: parsed
//! from query parameters or from a JSON body with the same checks, turned into an
//! [`EntryQuery`] for the ledger, and matched against one entry in memory for live events.
//!
//! *Invariant:* [`EntryFilter::matches`] selects exactly what the backends' `search` selects
//! for the same filter, so a stream replayed from the ledger and the same stream received live
//! carry the same entries. That is why the filters whose backend semantics depend on the
//! database (`q`, case-insensitive text) or on time (`from`, `to`) are not part of it.

use crate::extract::{Params, check_pointer};
use chronicle_core::Entry;
use chronicle_core::entry::{Operation, Severity};
use chronicle_core::limits;
use chronicle_core::schema::FieldError;
use chronicle_store::EntryQuery;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Entries matching every given field (all absent: every entry).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryFilter {
    /// The actor's id or email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_id: Option<Uuid>,
    /// A JSON Pointer: a change at the field, beneath it, or above it when the value held it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Provenance: `metadata.source.system` of the entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_system: Option<String>,
    /// `metadata.source.record_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_record_id: Option<String>,
    /// `metadata.source.import_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_id: Option<String>,
}

/// A check of one text value, as `chronicle_core::limits` writes them.
type Check = fn(&str) -> Result<(), String>;

/// A public entity type name (reserved `_` types are never filtered on by clients).
fn check_type(s: &str) -> Result<(), String> {
    limits::check_type_name(s)
}

impl EntryFilter {
    /// The filters from query parameters of the same names.
    pub fn from_params(p: &mut Params) -> EntryFilter {
        let owned = |check: Check| move |s: &str| check(s).map(|()| s.to_owned());
        EntryFilter {
            actor: p.parse("actor", owned(limits::check_id)),
            entity_type: p.parse("entity_type", owned(check_type)),
            entity_id: p.parse("entity_id", owned(limits::check_id)),
            operation: p.parse("operation", |s| {
                Operation::parse(s).ok_or_else(|| format!("unknown operation {s:?}"))
            }),
            correlation_id: p.parse("correlation_id", owned(limits::check_id)),
            transaction_id: p.uuid("transaction_id"),
            parent_id: p.uuid("parent_id"),
            rollback_id: p.uuid("rollback_id"),
            field: p.parse("field", owned(check_pointer)),
            severity: p.parse("severity", |s| {
                Severity::parse(s).ok_or_else(|| format!("unknown severity {s:?}"))
            }),
            tag: p.parse("tag", owned(limits::check_id)),
            source_system: p.parse("source_system", owned(limits::check_id)),
            source_record_id: p.parse("source_record_id", owned(limits::check_id)),
            import_id: p.parse("import_id", owned(limits::check_id)),
        }
    }

    /// The checks [`EntryFilter::from_params`] makes, for a filter read from a JSON body;
    /// errors point under `prefix` (e.g. `/filter`).
    pub fn check(&self, prefix: &str) -> Vec<FieldError> {
        let text_fields: [(&str, &Option<String>, Check); 9] = [
            ("actor", &self.actor, limits::check_id),
            ("entity_type", &self.entity_type, check_type),
            ("entity_id", &self.entity_id, limits::check_id),
            ("correlation_id", &self.correlation_id, limits::check_id),
            ("field", &self.field, check_pointer),
            ("tag", &self.tag, limits::check_id),
            ("source_system", &self.source_system, limits::check_id),
            ("source_record_id", &self.source_record_id, limits::check_id),
            ("import_id", &self.import_id, limits::check_id),
        ];
        text_fields
            .into_iter()
            .filter_map(|(name, value, check)| {
                let message = check(value.as_deref()?).err()?;
                Some(FieldError::new(format!("{prefix}/{name}"), message))
            })
            .collect()
    }

    /// The ledger query selecting the same entries (ascending, no cursor, no limit set).
    pub fn query(&self) -> EntryQuery {
        EntryQuery {
            actor: self.actor.clone(),
            entity_type: self.entity_type.clone(),
            entity_id: self.entity_id.clone(),
            operation: self.operation,
            correlation_id: self.correlation_id.clone(),
            transaction_id: self.transaction_id,
            parent_id: self.parent_id,
            rollback_id: self.rollback_id,
            field: self.field.clone(),
            severity: self.severity,
            tag: self.tag.clone(),
            source_system: self.source_system.clone(),
            source_record_id: self.source_record_id.clone(),
            import_id: self.import_id.clone(),
            ..EntryQuery::default()
        }
    }

    /// Whether no field is set (every entry matches).
    pub fn is_empty(&self) -> bool {
        *self == EntryFilter::default()
    }

    /// Whether `entry` matches, by the rules the backends' `search` follows: exact equality,
    /// the actor's id or email, a tag among the entry's tags, and `Entry::touches_field`.
    pub fn matches(&self, entry: &Entry) -> bool {
        fn same<T: PartialEq>(want: &Option<T>, have: Option<&T>) -> bool {
            want.as_ref().is_none_or(|w| have == Some(w))
        }
        let actor = self.actor.as_deref().is_none_or(|a| {
            entry.actor.id.as_deref() == Some(a) || entry.actor.email.as_deref() == Some(a)
        });
        actor
            && same(&self.entity_type, entry.entity_type.as_ref())
            && same(&self.entity_id, entry.entity_id.as_ref())
            && same(&self.operation, Some(&entry.operation))
            && same(&self.correlation_id, entry.correlation_id.as_ref())
            && same(&self.transaction_id, entry.transaction_id.as_ref())
            && same(&self.parent_id, entry.parent_id.as_ref())
            && same(&self.rollback_id, entry.rollback_id.as_ref())
            && same(&self.severity, Some(&entry.severity))
            && self.tag.as_ref().is_none_or(|t| entry.tags.contains(t))
            && self.field.as_deref().is_none_or(|f| entry.touches_field(f))
            && self.matches_source(entry)
    }

    /// The provenance filters, by `Source::of_metadata` (what the backends index).
    fn matches_source(&self, entry: &Entry) -> bool {
        if self.source_system.is_none()
            && self.source_record_id.is_none()
            && self.import_id.is_none()
        {
            return true;
        }
        let Some(source) = chronicle_core::source::Source::of_metadata(&entry.metadata) else {
            return false;
        };
        fn same(want: &Option<String>, have: Option<&String>) -> bool {
            want.as_ref().is_none_or(|w| have == Some(w))
        }
        same(&self.source_system, Some(&source.system))
            && same(&self.source_record_id, source.record_id.as_ref())
            && same(&self.import_id, source.import_id.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry() -> Entry {
        serde_json::from_value(json!({
            "id": Uuid::nil(), "seq": 7, "timestamp": "2026-01-01T00:00:00Z",
            "actor": {"id": "alice", "email": "alice@example.com", "role": null},
            "session_id": null, "ip": null, "user_agent": null, "operation": "update",
            "entity_type": "user", "entity_id": "u1", "entity_version": 2,
            "old_values": {"role": "viewer"}, "new_values": {"role": "admin"},
            "change_set": {"field_changes": [{"path": "/role", "field_type": "string",
                "old": "viewer", "new": "admin", "change": "update", "impact": "low"}],
                "relationship_changes": [], "impact": "low"},
            "reason": null, "summary": null, "metadata": {}, "correlation_id": "c1",
            "parent_id": null, "transaction_id": null, "rollback_id": null,
            "severity": "warning", "tags": ["hr"]
        }))
        .unwrap()
    }

    fn filter(v: serde_json::Value) -> EntryFilter {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn each_field_matches_by_the_search_rules() {
        let e = entry();
        let yes = [
            json!({}),
            json!({"actor": "alice"}),
            json!({"actor": "alice@example.com"}),
            json!({"entity_type": "user", "entity_id": "u1", "operation": "update"}),
            json!({"field": "/role", "severity": "warning", "tag": "hr", "correlation_id": "c1"}),
        ];
        for f in yes {
            assert!(filter(f.clone()).matches(&e), "{f}");
        }
        let no = [
            json!({"actor": "bob"}),
            json!({"entity_type": "users"}),
            json!({"operation": "delete"}),
            json!({"field": "/name"}),
            json!({"severity": "info"}),
            json!({"tag": "h"}),
            json!({"parent_id": Uuid::nil()}),
        ];
        for f in no {
            assert!(!filter(f.clone()).matches(&e), "{f}");
        }
    }

    #[test]
    fn the_source_filters_match_a_source_with_a_system_as_the_backends_index_it() {
        let mut e = entry();
        e.metadata = json!({"source": {"system": "crm", "record_id": "r1", "import_id": "i1"}});
        for f in [
            json!({"source_system": "crm"}),
            json!({"source_system": "crm", "source_record_id": "r1", "import_id": "i1"}),
            json!({"import_id": "i1"}),
        ] {
            assert!(filter(f.clone()).matches(&e), "{f}");
        }
        for f in [
            json!({"source_system": "erp"}),
            json!({"source_system": "crm", "source_record_id": "r2"}),
        ] {
            assert!(!filter(f.clone()).matches(&e), "{f}");
        }
        // Without a system there is no source (an event's free-form metadata).
        e.metadata = json!({"source": {"import_id": "i1"}});
        assert!(!filter(json!({"import_id": "i1"})).matches(&e));
        assert!(filter(json!({})).matches(&e));
    }

    #[test]
    fn body_filters_are_checked_like_query_parameters() {
        let f = filter(json!({"entity_type": "_alert", "field": "role", "actor": ""}));
        let pointers: Vec<_> = f.check("/filter").into_iter().map(|e| e.pointer).collect();
        assert_eq!(
            pointers,
            ["/filter/actor", "/filter/entity_type", "/filter/field"]
        );
        assert!(serde_json::from_value::<EntryFilter>(json!({"q": "x"})).is_err());
    }
}
