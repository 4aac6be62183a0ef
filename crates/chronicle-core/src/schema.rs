//! The optional schema: which entity types exist, their fields' types, which fields are
//! required or sensitive, each field's business impact, and relationships (a field holding
//! the id of another entity type). Without a schema every JSON object is accepted.
//!
//! Written as TOML or JSON:
//! ```toml
//! strict_types = true            # refuse entity types not listed here
//! [types.shipment]
//! impact = "medium"              # default impact of a change to this type
//! read_audited = false           # record reads of this type as `read` entries
//! additional_fields = true       # accept fields not listed
//! [types.shipment.fields.status]
//! type = "string"                # any|string|integer|number|boolean|object|array|timestamp
//! required = true
//! enum = ["pending", "in_transit", "delivered"]
//! impact = "high"
//! [types.shipment.fields.customer_id]
//! type = "string"
//! references = "customer"
//! ```
//!
//! Sensitive fields (`sensitive = true`, top-level fields only) are stored encrypted under
//! the key of their *data subject*: by default the entity itself (`"shipment:s1"`); a type
//! may name a top-level field instead (`subject = "customer_id"` under `[types.shipment]`),
//! whose value then names the subject (`"customer:c7"`, the type being the field's
//! `references` target, or this type when it has none). See [`Schema::subject_of`].

use crate::diff::json_type;
use crate::entry::Impact;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    #[serde(default)]
    pub strict_types: bool,
    #[serde(default)]
    pub types: BTreeMap<String, TypeSchema>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeSchema {
    #[serde(default)]
    pub fields: BTreeMap<String, FieldSchema>,
    #[serde(default = "yes")]
    pub additional_fields: bool,
    #[serde(default)]
    pub read_audited: bool,
    #[serde(default)]
    pub impact: Impact,
    /// The top-level field whose value names the data subject of this type's sensitive
    /// fields; None: each entity is its own subject.
    #[serde(default)]
    pub subject: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSchema {
    #[serde(rename = "type", default)]
    pub field_type: FieldType,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub sensitive: bool,
    pub impact: Option<Impact>,
    pub references: Option<String>,
    #[serde(rename = "enum")]
    pub allowed: Option<Vec<Value>>,
    pub max_length: Option<usize>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    #[default]
    Any,
    String,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
    /// An RFC 3339 string.
    Timestamp,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Any => "any",
            FieldType::String => "string",
            FieldType::Integer => "integer",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Object => "object",
            FieldType::Array => "array",
            FieldType::Timestamp => "timestamp",
        }
    }

    fn accepts(self, v: &Value) -> bool {
        match self {
            FieldType::Any => true,
            FieldType::String => v.is_string(),
            FieldType::Integer => v.is_i64() || v.is_u64(),
            FieldType::Number => v.is_number(),
            FieldType::Boolean => v.is_boolean(),
            FieldType::Object => v.is_object(),
            FieldType::Array => v.is_array(),
            FieldType::Timestamp => v.as_str().is_some_and(|s| crate::timefmt::parse(s).is_ok()),
        }
    }
}

/// One problem with one field of the input; `pointer` is relative to the request body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub pointer: String,
    pub message: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("cannot parse schema: {0}")]
    Parse(String),
    #[error("schema is inconsistent: {0}")]
    Invalid(String),
}

impl Schema {
    /// Parses TOML, or JSON when the text starts with `{`.
    pub fn parse(text: &str) -> Result<Schema, SchemaError> {
        let schema: Schema = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| SchemaError::Parse(e.to_string()))?
        } else {
            toml::from_str(text).map_err(|e| SchemaError::Parse(e.to_string()))?
        };
        schema.check()?;
        Ok(schema)
    }

    fn check(&self) -> Result<(), SchemaError> {
        for (name, ty) in &self.types {
            crate::limits::check_type_name(name)
                .map_err(|m| SchemaError::Invalid(format!("type {name:?}: {m}")))?;
            for (field, f) in &ty.fields {
                if let Some(target) = &f.references
                    && !self.types.contains_key(target)
                {
                    return Err(SchemaError::Invalid(format!(
                        "{name}.{field} references unknown type {target:?}"
                    )));
                }
            }
            if let Some(field) = &ty.subject {
                // The subject is written in clear beside every sealed value and in the key
                // table, so the field that names it must not itself be secret.
                match ty.fields.get(field) {
                    None => {
                        return Err(SchemaError::Invalid(format!(
                            "{name}.subject names {field:?}, which is not a field of {name}"
                        )));
                    }
                    Some(f) if f.sensitive => {
                        return Err(SchemaError::Invalid(format!(
                            "{name}.subject names {field:?}, which is sensitive"
                        )));
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }

    /// The data subject whose key seals the sensitive fields of an entity with this `data`:
    /// `"{T}:{value}"` for a type with `subject = "<field>"` whose field holds a string that
    /// is a valid id (T: the field's `references` type, or this type), otherwise the entity
    /// itself, `"{entity_type}:{id}"`.
    pub fn subject_of(&self, entity_type: &str, id: &str, data: &Value) -> String {
        let named = self.types.get(entity_type).and_then(|ty| {
            let field = ty.subject.as_deref()?;
            let value = data.get(field)?.as_str()?;
            crate::limits::check_id(value).ok()?;
            let target = ty.fields.get(field)?.references.as_deref();
            Some(format!("{}:{value}", target.unwrap_or(entity_type)))
        });
        named.unwrap_or_else(|| format!("{entity_type}:{id}"))
    }

    pub fn entity_type(&self, name: &str) -> Option<&TypeSchema> {
        self.types.get(name)
    }

    /// The schema entry for the top-level field a pointer falls under.
    pub fn field(&self, entity_type: &str, pointer: &str) -> Option<&FieldSchema> {
        let top = crate::diff::parse_pointer(pointer)?.into_iter().next()?;
        self.types.get(entity_type)?.fields.get(&top)
    }

    /// The declared type of a field, or the JSON type of its value.
    pub fn field_type_name(
        &self,
        entity_type: &str,
        pointer: &str,
        value: Option<&Value>,
    ) -> String {
        let declared = self
            .field(entity_type, pointer)
            .map(|f| f.field_type)
            .unwrap_or_default();
        // A declared type describes the top-level field; a nested path reports what it holds.
        let top_level = pointer.matches('/').count() == 1;
        if declared != FieldType::Any && top_level {
            return declared.as_str().to_owned();
        }
        value.map(json_type).unwrap_or("null").to_owned()
    }

    /// The business impact of changing the field at `pointer`.
    pub fn impact(&self, entity_type: &str, pointer: &str) -> Impact {
        self.field(entity_type, pointer)
            .and_then(|f| f.impact)
            .or_else(|| self.types.get(entity_type).map(|t| t.impact))
            .unwrap_or_default()
    }

    /// The default impact of a change to the entity type as a whole (create, delete).
    pub fn type_impact(&self, entity_type: &str) -> Impact {
        self.types
            .get(entity_type)
            .map(|t| t.impact)
            .unwrap_or_default()
    }

    pub fn is_read_audited(&self, entity_type: &str) -> bool {
        self.types.get(entity_type).is_some_and(|t| t.read_audited)
    }

    /// Top-level fields declared sensitive for a type.
    pub fn sensitive_fields(&self, entity_type: &str) -> Vec<&str> {
        self.types
            .get(entity_type)
            .map(|t| {
                t.fields
                    .iter()
                    .filter(|(_, f)| f.sensitive)
                    .map(|(n, _)| n.as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Relationship fields of a type: (field, target type).
    pub fn references(&self, entity_type: &str) -> Vec<(&str, &str)> {
        self.types
            .get(entity_type)
            .map(|t| {
                t.fields
                    .iter()
                    .filter_map(|(n, f)| f.references.as_deref().map(|r| (n.as_str(), r)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Checks that the type may be written at all.
    pub fn check_type(&self, entity_type: &str) -> Result<(), FieldError> {
        if self.strict_types && !self.types.contains_key(entity_type) {
            return Err(FieldError::new(
                "/type",
                format!("unknown entity type {entity_type:?}"),
            ));
        }
        Ok(())
    }

    /// Validates an entity's whole data; errors point under `/data`.
    pub fn validate(&self, entity_type: &str, data: &Value) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if let Err(e) = self.check_type(entity_type) {
            return Err(vec![e]);
        }
        let Value::Object(map) = data else {
            return Err(vec![FieldError::new("/data", "must be a JSON object")]);
        };
        let Some(ty) = self.types.get(entity_type) else {
            return Ok(());
        };
        for (name, field) in &ty.fields {
            let pointer = format!("/data/{}", crate::diff::escape_token(name));
            match map.get(name) {
                None | Some(Value::Null) => {
                    if field.required {
                        errors.push(FieldError::new(pointer, "is required"));
                    }
                }
                Some(v) => {
                    if !field.field_type.accepts(v) {
                        errors.push(FieldError::new(
                            pointer,
                            format!(
                                "must be of type {}, got {}",
                                field.field_type.as_str(),
                                json_type(v)
                            ),
                        ));
                        continue;
                    }
                    if let Some(allowed) = &field.allowed
                        && !allowed.contains(v)
                    {
                        let list: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
                        errors.push(FieldError::new(
                            pointer.clone(),
                            format!("must be one of {}", list.join(", ")),
                        ));
                    }
                    if let (Some(max), Some(s)) = (field.max_length, v.as_str())
                        && s.chars().count() > max
                    {
                        errors.push(FieldError::new(
                            pointer,
                            format!("must be at most {max} characters"),
                        ));
                    }
                }
            }
        }
        if !ty.additional_fields {
            for key in map.keys() {
                if !ty.fields.contains_key(key) {
                    errors.push(FieldError::new(
                        format!("/data/{}", crate::diff::escape_token(key)),
                        "is not a field of this type",
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SCHEMA: &str = r#"
        strict_types = true
        [types.customer]
        impact = "medium"
        [types.customer.fields.email]
        type = "string"
        required = true
        sensitive = true
        [types.shipment]
        additional_fields = false
        [types.shipment.fields.status]
        type = "string"
        enum = ["pending", "delivered"]
        impact = "high"
        [types.shipment.fields.customer_id]
        type = "string"
        references = "customer"
        [types.shipment.fields.weight]
        type = "number"
    "#;

    #[test]
    fn validation_reports_every_bad_field_by_pointer() {
        let s = Schema::parse(SCHEMA).unwrap();
        let errs = s
            .validate(
                "shipment",
                &json!({"status": "lost", "weight": "x", "extra": 1}),
            )
            .unwrap_err();
        let pointers: Vec<&str> = errs.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/data/status", "/data/weight", "/data/extra"]);
        assert_eq!(
            s.validate("customer", &json!({})).unwrap_err()[0].pointer,
            "/data/email"
        );
        assert_eq!(
            s.validate("planet", &json!({})).unwrap_err()[0].pointer,
            "/type"
        );
        assert!(
            s.validate("shipment", &json!({"status": "pending", "weight": 2}))
                .is_ok()
        );
        assert!(s.validate("shipment", &json!([])).is_err());
    }

    #[test]
    fn impact_sensitivity_and_references_come_from_the_schema() {
        let s = Schema::parse(SCHEMA).unwrap();
        assert_eq!(s.impact("shipment", "/status"), Impact::High);
        assert_eq!(s.impact("customer", "/name"), Impact::Medium);
        assert_eq!(s.impact("other", "/x"), Impact::Low);
        assert_eq!(s.sensitive_fields("customer"), ["email"]);
        assert_eq!(s.references("shipment"), [("customer_id", "customer")]);
        assert_eq!(
            s.field_type_name("shipment", "/weight", Some(&json!(1))),
            "number"
        );
        assert_eq!(
            s.field_type_name("other", "/weight", Some(&json!(1))),
            "integer"
        );
    }

    #[test]
    fn a_reference_to_an_unknown_type_is_refused() {
        let bad = r#"{"types": {"a": {"fields": {"b": {"references": "nope"}}}}}"#;
        assert!(matches!(Schema::parse(bad), Err(SchemaError::Invalid(_))));
        assert!(matches!(
            Schema::parse("types = 3"),
            Err(SchemaError::Parse(_))
        ));
    }

    #[test]
    fn the_subject_is_the_named_field_s_referenced_entity_or_the_entity_itself() {
        let s = Schema::parse(
            r#"
            [types.customer.fields.email]
            sensitive = true
            [types.shipment]
            subject = "customer_id"
            [types.shipment.fields.customer_id]
            references = "customer"
            [types.shipment.fields.address]
            sensitive = true
            [types.note]
            subject = "owner"
            [types.note.fields.owner]
            type = "string"
        "#,
        )
        .unwrap();
        let check = |ty: &str, data: Value, expect: &str| {
            assert_eq!(s.subject_of(ty, "x1", &data), expect, "{ty} {data}");
        };
        check("customer", json!({"email": "a@b"}), "customer:x1");
        check("shipment", json!({"customer_id": "c7"}), "customer:c7");
        check("shipment", json!({}), "shipment:x1");
        check("shipment", json!({"customer_id": 7}), "shipment:x1");
        check("shipment", json!({"customer_id": ""}), "shipment:x1");
        check("note", json!({"owner": "o2"}), "note:o2");
        check("untyped", json!({"owner": "o2"}), "untyped:x1");
    }

    #[test]
    fn a_subject_field_must_exist_and_must_not_be_sensitive() {
        let missing = r#"{"types": {"a": {"subject": "b"}}}"#;
        assert!(matches!(
            Schema::parse(missing),
            Err(SchemaError::Invalid(_))
        ));
        let secret = r#"{"types": {"a": {"subject": "b", "fields": {"b": {"sensitive": true}}}}}"#;
        assert!(matches!(
            Schema::parse(secret),
            Err(SchemaError::Invalid(_))
        ));
    }

    #[test]
    fn no_schema_accepts_any_object() {
        assert!(
            Schema::default()
                .validate("anything", &json!({"a": [1, {"b": null}]}))
                .is_ok()
        );
    }
}
