//! Masking: what a caller without unmask rights sees of the fields the schema marks
//! sensitive. Masking is a view; the stored entity and entry are untouched (a masked entry no
//! longer matches its leaf hash, which is why only callers who may see the values can check
//! entries themselves).
//!
//! A masked string keeps its last four characters when it is long enough that they do not
//! give it away (`****1234` for a card or phone number); shorter strings and every other
//! value become [`MASK`].

use crate::entry::Entry;
use crate::schema::Schema;
use serde_json::Value;

/// What a masked value shows when nothing of it may be shown.
pub const MASK: &str = "****";

/// Strings at least this long keep their last four characters.
const KEEP_TAIL_FROM: usize = 12;

/// The masked form of one value.
pub fn mask_value(value: &Value) -> Value {
    match value {
        Value::Null => Value::Null,
        Value::String(s) => {
            let chars: Vec<char> = s.chars().collect();
            if chars.len() >= KEEP_TAIL_FROM {
                let tail: String = chars[chars.len() - 4..].iter().collect();
                Value::String(format!("{MASK}{tail}"))
            } else {
                Value::String(MASK.to_owned())
            }
        }
        _ => Value::String(MASK.to_owned()),
    }
}

/// Masks the sensitive top-level fields of an entity's data.
pub fn mask_data(schema: &Schema, entity_type: &str, data: &mut Value) {
    let sensitive = schema.sensitive_fields(entity_type);
    mask_members(&sensitive, data);
}

fn mask_members(sensitive: &[&str], data: &mut Value) {
    let Value::Object(map) = data else { return };
    for name in sensitive {
        if let Some(v) = map.get_mut(*name) {
            *v = mask_value(v);
        }
    }
}

/// Masks an entry's sensitive values: in its old and new values, and in every field change
/// at, beneath or above a sensitive field.
pub fn mask_entry(schema: &Schema, entry: &mut Entry) {
    let Some(entity_type) = entry.entity_type.as_deref() else {
        return;
    };
    let sensitive = schema.sensitive_fields(entity_type);
    if sensitive.is_empty() {
        return;
    }
    for values in [&mut entry.old_values, &mut entry.new_values]
        .into_iter()
        .flatten()
    {
        mask_members(&sensitive, values);
    }
    for change in &mut entry.change_set.field_changes {
        let top = top_level(&change.path);
        match top {
            // The whole document changed (a root change): mask its sensitive members.
            None => {
                for v in [&mut change.old, &mut change.new].into_iter().flatten() {
                    mask_members(&sensitive, v);
                }
            }
            Some(name) if sensitive.contains(&name.as_str()) => {
                for v in [&mut change.old, &mut change.new].into_iter().flatten() {
                    *v = mask_value(v);
                }
            }
            Some(_) => {}
        }
    }
}

/// Masks a rollback plan's data: each operation's `before` and `after`, and the values of
/// overwritten sensitive fields.
pub fn mask_plan(schema: &Schema, plan: &mut crate::rollback::Plan) {
    for op in &mut plan.operations {
        for data in [&mut op.before, &mut op.after].into_iter().flatten() {
            mask_data(schema, &op.entity_type, data);
        }
    }
    for o in &mut plan.overwritten {
        let sensitive = schema.sensitive_fields(&o.entity_type);
        let hit = top_level(&o.path).is_some_and(|name| sensitive.contains(&name.as_str()));
        for v in [&mut o.current, &mut o.restored].into_iter().flatten() {
            if hit {
                *v = mask_value(v);
            } else if o.path.is_empty() {
                mask_members(&sensitive, v);
            }
        }
    }
}

/// The (unescaped) first token of a JSON Pointer; `None` for the root.
fn top_level(pointer: &str) -> Option<String> {
    let rest = pointer.strip_prefix('/')?;
    let token = rest.split('/').next().unwrap_or("");
    Some(token.replace("~1", "/").replace("~0", "~"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{ChangeKind, FieldChange, Impact};
    use serde_json::json;

    fn schema() -> Schema {
        Schema::parse(
            r#"
            [types.customer.fields.card]
            sensitive = true
            [types.customer.fields.email]
            sensitive = true
            [types.customer.fields.name]
            type = "string"
            "#,
        )
        .unwrap()
    }

    #[test]
    fn long_strings_keep_their_tail_and_everything_else_is_hidden() {
        assert_eq!(mask_value(&json!("4111111111111111")), json!("****1111"));
        assert_eq!(mask_value(&json!("a@b.io")), json!("****"));
        assert_eq!(mask_value(&json!(42)), json!("****"));
        assert_eq!(mask_value(&json!({"a": 1})), json!("****"));
        assert_eq!(mask_value(&Value::Null), Value::Null);
        // Characters, not bytes: no panic inside a multi-byte character.
        assert_eq!(mask_value(&json!("ééééééééééééé1234")), json!("****1234"));
    }

    #[test]
    fn entity_data_masks_only_sensitive_members() {
        let mut data = json!({"name": "Ada", "email": "ada@example.com", "other": 1});
        mask_data(&schema(), "customer", &mut data);
        assert_eq!(
            data,
            json!({"name": "Ada", "email": "****.com", "other": 1})
        );
        let mut untouched = json!({"email": "x@y.z"});
        mask_data(&schema(), "shipment", &mut untouched);
        assert_eq!(untouched, json!({"email": "x@y.z"}));
    }

    #[test]
    fn entries_mask_values_and_changes_at_beneath_and_above_sensitive_fields() {
        let change = |path: &str, old: Option<Value>, new: Option<Value>| FieldChange {
            path: path.into(),
            field_type: "string".into(),
            old,
            new,
            change: ChangeKind::Update,
            impact: Impact::Low,
        };
        let mut entry: Entry = serde_json::from_value(json!({
            "id": "0190c5a2-0000-7000-8000-000000000000", "seq": 1,
            "timestamp": "2026-01-01T00:00:00.000000Z",
            "actor": {"id": null, "email": null, "role": null},
            "session_id": null, "ip": null, "user_agent": null, "operation": "update",
            "entity_type": "customer", "entity_id": "c1", "entity_version": 2,
            "old_values": {"email": "old@example.com", "name": "Ada"},
            "new_values": {"email": "new@example.com", "name": "Ada L"},
            "change_set": {"field_changes": [], "relationship_changes": [], "impact": "low"},
            "reason": null, "summary": null, "metadata": {}, "correlation_id": null,
            "parent_id": null, "transaction_id": null, "rollback_id": null,
            "severity": "info", "tags": []
        }))
        .unwrap();
        entry.change_set.field_changes = vec![
            change(
                "/email",
                Some(json!("old@example.com")),
                Some(json!("new@example.com")),
            ),
            change("/card/number", None, Some(json!("4111111111111111"))),
            change(
                "",
                None,
                Some(json!({"card": "4111111111111111", "name": "Ada"})),
            ),
            change("/name", Some(json!("Ada")), Some(json!("Ada L"))),
        ];
        mask_entry(&schema(), &mut entry);
        assert_eq!(entry.old_values.unwrap()["email"], json!("****.com"));
        assert_eq!(entry.new_values.unwrap()["name"], json!("Ada L"));
        let c = &entry.change_set.field_changes;
        assert_eq!(c[0].old, Some(json!("****.com")));
        assert_eq!(c[1].new, Some(json!("****1111")));
        assert_eq!(c[2].new, Some(json!({"card": "****1111", "name": "Ada"})));
        assert_eq!(c[3].new, Some(json!("Ada L")));
    }
}
