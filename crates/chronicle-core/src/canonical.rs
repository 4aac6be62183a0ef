//! The bytes the ledger hashes (a contract with external verifiers):
//! RFC 8785 (JSON Canonicalization Scheme) of the entry as serialized, without `leaf_hash`;
//! leaf hash = SHA-256(0x00 ‖ canonical bytes) as RFC 6962 §2.1 defines it.

use crate::entry::Entry;
use crate::merkle::{self, Hash};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
#[error("entry cannot be canonicalized: {0}")]
pub struct CanonicalError(String);

/// The entry as hashed: every field but `leaf_hash`, borrowed, so that canonicalising does not
/// first copy the whole entry into a `serde_json::Value`. Field names must stay those of
/// [`Entry`]; a test checks both give the same bytes.
#[derive(serde::Serialize)]
struct Hashed<'a> {
    id: &'a uuid::Uuid,
    seq: u64,
    #[serde(with = "crate::timefmt")]
    timestamp: time::OffsetDateTime,
    actor: &'a crate::entry::Actor,
    session_id: &'a Option<String>,
    ip: &'a Option<String>,
    user_agent: &'a Option<String>,
    operation: crate::entry::Operation,
    entity_type: &'a Option<String>,
    entity_id: &'a Option<String>,
    entity_version: Option<u64>,
    old_values: &'a Option<Value>,
    new_values: &'a Option<Value>,
    change_set: &'a crate::entry::ChangeSet,
    reason: &'a Option<String>,
    summary: &'a Option<String>,
    metadata: &'a Value,
    correlation_id: &'a Option<String>,
    parent_id: &'a Option<uuid::Uuid>,
    transaction_id: &'a Option<uuid::Uuid>,
    rollback_id: &'a Option<uuid::Uuid>,
    severity: crate::entry::Severity,
    tags: &'a [String],
}

/// RFC 8785 bytes of the entry without its `leaf_hash` field.
pub fn canonical_bytes(entry: &Entry) -> Result<Vec<u8>, CanonicalError> {
    let e = entry;
    let view = Hashed {
        id: &e.id,
        seq: e.seq,
        timestamp: e.timestamp,
        actor: &e.actor,
        session_id: &e.session_id,
        ip: &e.ip,
        user_agent: &e.user_agent,
        operation: e.operation,
        entity_type: &e.entity_type,
        entity_id: &e.entity_id,
        entity_version: e.entity_version,
        old_values: &e.old_values,
        new_values: &e.new_values,
        change_set: &e.change_set,
        reason: &e.reason,
        summary: &e.summary,
        metadata: &e.metadata,
        correlation_id: &e.correlation_id,
        parent_id: &e.parent_id,
        transaction_id: &e.transaction_id,
        rollback_id: &e.rollback_id,
        severity: e.severity,
        tags: &e.tags,
    };
    serde_json_canonicalizer::to_vec(&view).map_err(|e| CanonicalError(e.to_string()))
}

/// The leaf hash of canonical bytes.
pub fn leaf_of(canonical: &[u8]) -> Hash {
    merkle::leaf_hash(canonical)
}

/// Computes canonical bytes and leaf hash, and writes the hash into `entry.leaf_hash`.
pub fn seal(entry: &mut Entry) -> Result<(Vec<u8>, Hash), CanonicalError> {
    let bytes = canonical_bytes(entry)?;
    let leaf = leaf_of(&bytes);
    entry.leaf_hash = hex::encode(leaf);
    Ok((bytes, leaf))
}

/// Parses stored canonical bytes back into an entry, with its leaf hash filled in.
pub fn from_canonical(bytes: &[u8], leaf: &Hash) -> Result<Entry, CanonicalError> {
    let mut entry: Entry =
        serde_json::from_slice(bytes).map_err(|e| CanonicalError(e.to_string()))?;
    entry.leaf_hash = hex::encode(leaf);
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::*;
    use serde_json::json;
    use uuid::Uuid;

    fn sample() -> Entry {
        Entry {
            id: Uuid::nil(),
            seq: 1,
            timestamp: crate::timefmt::parse("2026-01-01T00:00:00.5Z").unwrap(),
            actor: Actor {
                via: None,
                id: Some("u1".into()),
                email: None,
                role: Some("admin".into()),
            },
            session_id: None,
            ip: None,
            user_agent: None,
            operation: Operation::Create,
            entity_type: Some("shipment".into()),
            entity_id: Some("s1".into()),
            entity_version: Some(1),
            old_values: None,
            new_values: Some(json!({"weight": 1.5, "b": "é", "a": [1e21, 0.1]})),
            change_set: ChangeSet::default(),
            reason: None,
            summary: None,
            metadata: json!({}),
            correlation_id: None,
            parent_id: None,
            transaction_id: None,
            rollback_id: None,
            severity: Severity::Info,
            tags: vec![],
            leaf_hash: String::new(),
        }
    }

    #[test]
    fn canonical_bytes_sort_keys_and_format_numbers_per_rfc_8785() {
        let text = String::from_utf8(canonical_bytes(&sample()).unwrap()).unwrap();
        assert!(
            text.starts_with(r#"{"actor":{"email":null,"id":"u1","role":"admin"},"change_set":"#)
        );
        assert!(
            text.contains(r#""new_values":{"a":[1e+21,0.1],"b":"é","weight":1.5}"#),
            "{text}"
        );
        assert!(text.contains(r#""timestamp":"2026-01-01T00:00:00.500000Z""#));
        assert!(!text.contains("leaf_hash"));
    }

    /// The borrowed view must hash exactly what the entry serializes to, minus `leaf_hash`.
    #[test]
    fn the_hashed_view_matches_the_serialized_entry() {
        let mut e = sample();
        e.metadata = json!({"z": 1, "a": {"y": [3, 2.5], "b": null}});
        e.change_set.field_changes.push(crate::entry::FieldChange {
            path: "/weight".into(),
            field_type: "number".into(),
            old: Some(json!(1)),
            new: None,
            change: crate::entry::ChangeKind::Delete,
            impact: crate::entry::Impact::High,
        });
        e.parent_id = Some(Uuid::now_v7());
        e.tags = vec!["b".into(), "a".into()];
        let mut value = serde_json::to_value(&e).unwrap();
        value.as_object_mut().unwrap().remove("leaf_hash");
        assert_eq!(
            canonical_bytes(&e).unwrap(),
            serde_json_canonicalizer::to_vec(&value).unwrap()
        );
    }

    #[test]
    fn leaf_hash_does_not_depend_on_the_stored_leaf_hash_field() {
        let mut a = sample();
        let (_, h1) = seal(&mut a).unwrap();
        let (_, h2) = seal(&mut a).unwrap();
        assert_eq!(h1, h2);
        let mut b = sample();
        b.actor.id = Some("u2".into());
        assert_ne!(seal(&mut b).unwrap().1, h1);
    }

    #[test]
    fn from_canonical_round_trips() {
        let mut a = sample();
        let (bytes, leaf) = seal(&mut a).unwrap();
        assert_eq!(from_canonical(&bytes, &leaf).unwrap(), a);
    }
}
