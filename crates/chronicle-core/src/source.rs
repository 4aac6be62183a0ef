//! Provenance of imported data: the `source` member of an entity write's `metadata`
//! (`{system, record_id?, import_id?}`), which says which external system and record a value
//! came from, and in which import run. Checked at the edge; the backends index it so that
//! lineage and `GET /v1/audit/entries?source_system=` find entries by source.

use crate::limits;
use crate::schema::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Most bytes of a write's whole `metadata`, serialized: it is copied into the entry, so it
/// must stay small beside the data it describes.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;

/// Where an entity's data came from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Source {
    /// The external system, e.g. `crm` or `billing-export`.
    pub system: String,
    /// The record's id in that system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
    /// The import run that brought it in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_id: Option<String>,
}

impl Source {
    /// The source a metadata object names, when it names a well-formed one. Entries written
    /// before sources were checked may hold anything under `source`: those have none.
    pub fn of_metadata(metadata: &Value) -> Option<Source> {
        let s = metadata.get("source")?;
        let text = |name: &str| s.get(name).and_then(Value::as_str).map(str::to_owned);
        Some(Source {
            system: text("system")?,
            record_id: text("record_id"),
            import_id: text("import_id"),
        })
    }
}

/// Checks a write's `metadata` (found at `pointer`): a JSON object of bounded size, and when
/// it has `source`, an object with a `system` and optional `record_id` and `import_id`, each
/// an identifier (1-256 bytes, no control characters). Every problem is reported.
pub fn check_metadata(metadata: &Value, pointer: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let Some(object) = metadata.as_object() else {
        errors.push(FieldError::new(pointer, "must be a JSON object"));
        return errors;
    };
    let size = serde_json::to_vec(metadata).map_or(usize::MAX, |b| b.len());
    if size > MAX_METADATA_BYTES {
        errors.push(FieldError::new(
            pointer,
            format!("must be at most {MAX_METADATA_BYTES} bytes as JSON"),
        ));
    }
    let Some(source) = object.get("source") else {
        return errors;
    };
    let at = format!("{pointer}/source");
    let Some(source) = source.as_object() else {
        errors.push(FieldError::new(
            at,
            "must be an object {system, record_id?, import_id?}",
        ));
        return errors;
    };
    for name in source.keys() {
        if !matches!(name.as_str(), "system" | "record_id" | "import_id") {
            errors.push(FieldError::new(
                format!("{at}/{}", crate::diff::escape_token(name)),
                "is not a member of a source (system, record_id, import_id)",
            ));
        }
    }
    for (name, required) in [("system", true), ("record_id", false), ("import_id", false)] {
        let field = format!("{at}/{name}");
        match source.get(name) {
            None if required => errors.push(FieldError::new(field, "is required")),
            None => {}
            Some(Value::String(s)) => {
                if let Err(m) = limits::check_id(s) {
                    errors.push(FieldError::new(field, m));
                }
            }
            Some(_) => errors.push(FieldError::new(field, "must be a string")),
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pointers(metadata: Value) -> Vec<String> {
        check_metadata(&metadata, "/metadata")
            .into_iter()
            .map(|e| e.pointer)
            .collect()
    }

    #[test]
    fn metadata_is_checked_member_by_member_and_every_problem_is_named() {
        let cases: [(Value, &[&str]); 9] = [
            (json!({}), &[]),
            (json!({"note": 1}), &[]),
            (json!({"source": {"system": "crm"}}), &[]),
            (
                json!({"source": {"system": "crm", "record_id": "r1", "import_id": "i1"}}),
                &[],
            ),
            (json!([1]), &["/metadata"]),
            (json!({"source": "crm"}), &["/metadata/source"]),
            (json!({"source": {}}), &["/metadata/source/system"]),
            (
                json!({"source": {"system": 1, "record_id": "", "other": 2}}),
                &[
                    "/metadata/source/other",
                    "/metadata/source/system",
                    "/metadata/source/record_id",
                ],
            ),
            (
                json!({"source": {"system": "a".repeat(300)}}),
                &["/metadata/source/system"],
            ),
        ];
        for (metadata, expected) in cases {
            assert_eq!(pointers(metadata.clone()), expected, "{metadata}");
        }
    }

    #[test]
    fn oversized_metadata_is_refused() {
        let big = json!({"blob": "x".repeat(MAX_METADATA_BYTES)});
        assert_eq!(pointers(big), ["/metadata"]);
    }

    #[test]
    fn a_source_is_read_back_from_metadata_only_when_it_has_a_system() {
        let m = json!({"source": {"system": "crm", "record_id": "r1"}});
        assert_eq!(
            Source::of_metadata(&m),
            Some(Source {
                system: "crm".into(),
                record_id: Some("r1".into()),
                import_id: None
            })
        );
        assert_eq!(
            Source::of_metadata(&json!({"source": {"record_id": "r"}})),
            None
        );
        assert_eq!(Source::of_metadata(&json!({})), None);
    }
}
