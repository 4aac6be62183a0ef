//! The bytes the ledger hashes (a contract with external verifiers):
//! RFC 8785 (JSON Canonicalization Scheme) of the entry as serialized, without `leaf_hash`;
//! leaf hash = SHA-256(0x00 ‖ canonical bytes) as RFC 6962 §2.1 defines it.

use crate::entry::Entry;
use crate::merkle::{self, Hash};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
#[error("entry cannot be canonicalized: {0}")]
pub struct CanonicalError(String);

/// RFC 8785 bytes of the entry without its `leaf_hash` field.
pub fn canonical_bytes(entry: &Entry) -> Result<Vec<u8>, CanonicalError> {
    let mut value = serde_json::to_value(entry).map_err(|e| CanonicalError(e.to_string()))?;
    if let Value::Object(map) = &mut value {
        map.remove("leaf_hash");
    }
    serde_json_canonicalizer::to_vec(&value).map_err(|e| CanonicalError(e.to_string()))
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
