//! An entity's current state and RFC 7396 JSON Merge Patch.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// An entity as stored: generic JSON data under a type and id, with a version that grows by one
/// on every change (a delete is a change; the deleted entity keeps its last data).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntityState {
    #[serde(rename = "type")]
    pub entity_type: String,
    pub id: String,
    pub version: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: Value,
    pub deleted: bool,
    #[serde(with = "crate::timefmt")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    #[serde(with = "crate::timefmt")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: OffsetDateTime,
    /// The seq of the entry that produced this state.
    pub last_seq: u64,
}

/// Puts entity data in the one key order Chronicle keeps it in: every object's keys sorted
/// (by code point), at every depth. Stored, current, as-of, versioned and rolled-back data all
/// come back in this order, whatever order the client sent and whatever order a backend keeps
/// (PostgreSQL's `jsonb` keeps its own), so that the same data always reads the same.
pub fn in_key_order(mut data: Value) -> Value {
    data.sort_all_objects();
    data
}

/// Applies an RFC 7396 merge patch to `target` in place.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let target_map = target.as_object_mut().expect("made an object above");
    for (key, value) in patch_map {
        if value.is_null() {
            target_map.remove(key);
        } else {
            merge_patch(target_map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn data_is_kept_with_its_keys_sorted_at_every_depth() {
        let data: Value =
            serde_json::from_str(r#"{"z":1,"a":{"y":[{"q":1,"b":2}],"c":3}}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&in_key_order(data)).unwrap(),
            r#"{"a":{"c":3,"y":[{"b":2,"q":1}]},"z":1}"#
        );
    }

    /// The examples of RFC 7396 Appendix A.
    #[test]
    fn merge_patch_matches_rfc_7396_appendix_a() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (mut target, patch, expected) in cases {
            merge_patch(&mut target, &patch);
            assert_eq!(target, expected, "patch {patch}");
        }
    }
}
