//! Field-level diff between two JSON values, by JSON Pointer (RFC 6901), and its inverse.
//!
//! Objects are walked key by key; anything else (scalars, arrays, a change of kind) is one
//! field whose whole value changed. `apply(old, diff(old, new)) == new` for any two values.

use crate::entry::ChangeKind;
use serde_json::{Map, Value};

/// One changed location. `old` is `None` when the location did not exist, `new` is `None`
/// when it no longer does.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

impl Change {
    pub fn kind(&self) -> ChangeKind {
        match (&self.old, &self.new) {
            (None, _) => ChangeKind::Create,
            (_, None) => ChangeKind::Delete,
            _ => ChangeKind::Update,
        }
    }
}

/// Escapes one reference token (RFC 6901 §3).
pub fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Splits a pointer into unescaped tokens; `None` when it is not a valid pointer.
pub fn parse_pointer(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    rest.split('/')
        .map(|t| {
            // "~" must be followed by 0 or 1.
            let bytes = t.as_bytes();
            for (i, b) in bytes.iter().enumerate() {
                if *b == b'~' && !matches!(bytes.get(i + 1), Some(b'0') | Some(b'1')) {
                    return None;
                }
            }
            Some(t.replace("~1", "/").replace("~0", "~"))
        })
        .collect()
}

/// The changes that turn `old` into `new`. Object keys are visited in sorted order so the
/// result does not depend on insertion order.
pub fn diff(old: Option<&Value>, new: Option<&Value>) -> Vec<Change> {
    let mut out = Vec::new();
    walk(String::new(), old, new, &mut out);
    out
}

fn walk(path: String, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<Change>) {
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut keys: Vec<&String> = a
                .keys()
                .chain(b.keys().filter(|k| !a.contains_key(*k)))
                .collect();
            keys.sort();
            for k in keys {
                walk(
                    format!("{path}/{}", escape_token(k)),
                    a.get(k),
                    b.get(k),
                    out,
                );
            }
        }
        // A created entity is listed field by field, so that field history and field filters
        // see each field of a new entity. Only at the top, as for a deleted one below: a
        // nested object that appears is one change, so that undoing it removes the object
        // instead of leaving it empty (field filters still see its fields, see
        // `Entry::touches_field`).
        (None, Some(Value::Object(b))) if path.is_empty() && !b.is_empty() => {
            let mut keys: Vec<&String> = b.keys().collect();
            keys.sort();
            for k in keys {
                walk(format!("{path}/{}", escape_token(k)), None, b.get(k), out);
            }
        }
        // A deleted entity is listed field by field too, but only at the top: a nested object
        // that disappears is one change, so that applying the diff leaves no empty parent.
        (Some(Value::Object(a)), None) if path.is_empty() && !a.is_empty() => {
            let mut keys: Vec<&String> = a.keys().collect();
            keys.sort();
            for k in keys {
                walk(format!("{path}/{}", escape_token(k)), a.get(k), None, out);
            }
        }
        (None, None) => {}
        (a, b) if a == b => {}
        (a, b) => out.push(Change {
            path,
            old: a.cloned(),
            new: b.cloned(),
        }),
    }
}

/// Applies changes to `base` (which is `None` for a value that does not exist yet).
/// Returns `None` when the result does not exist.
pub fn apply(base: Option<&Value>, changes: &[Change]) -> Option<Value> {
    let mut root = base.cloned();
    for change in changes {
        let tokens = parse_pointer(&change.path).unwrap_or_default();
        set(&mut root, &tokens, change.new.clone());
    }
    root
}

fn set(slot: &mut Option<Value>, tokens: &[String], value: Option<Value>) {
    let Some((first, rest)) = tokens.split_first() else {
        *slot = value;
        return;
    };
    if value.is_none() && slot.is_none() {
        return;
    }
    if !matches!(slot, Some(Value::Object(_))) {
        *slot = Some(Value::Object(Map::new()));
    }
    let Some(Value::Object(map)) = slot else {
        unreachable!("made an object above")
    };
    // The child is changed where it stands (a removal shifts, never swaps, what follows), so
    // that applying changes never reorders the keys they do not touch.
    let mut child = map.get_mut(first).map(Value::take);
    set(&mut child, rest, value);
    match child {
        Some(child) => {
            map.insert(first.clone(), child);
        }
        None => {
            map.shift_remove(first);
        }
    }
}

/// The type name of a JSON value as field changes report it when the schema says nothing.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn check(old: Value, new: Value, expect: &[(&str, Option<Value>, Option<Value>)]) {
        let got = diff(Some(&old), Some(&new));
        let want: Vec<Change> = expect
            .iter()
            .map(|(p, o, n)| Change {
                path: p.to_string(),
                old: o.clone(),
                new: n.clone(),
            })
            .collect();
        assert_eq!(got, want);
        assert_eq!(apply(Some(&old), &got), Some(new));
    }

    #[test]
    fn diff_lists_nested_fields_by_pointer() {
        check(
            json!({"status": "pending", "address": {"city": "Oslo", "zip": "0150"}, "tags": [1]}),
            json!({"status": "shipped", "address": {"city": "Bergen", "zip": "0150"}, "tags": [1, 2], "n": null}),
            &[
                ("/address/city", Some(json!("Oslo")), Some(json!("Bergen"))),
                ("/n", None, Some(json!(null))),
                ("/status", Some(json!("pending")), Some(json!("shipped"))),
                ("/tags", Some(json!([1])), Some(json!([1, 2]))),
            ],
        );
    }

    #[test]
    fn diff_escapes_slash_and_tilde_in_keys() {
        check(
            json!({"a/b": 1, "c~d": 1}),
            json!({"a/b": 2}),
            &[
                ("/a~1b", Some(json!(1)), Some(json!(2))),
                ("/c~0d", Some(json!(1)), None),
            ],
        );
        assert_eq!(
            parse_pointer("/a~1b/c~0d"),
            Some(vec!["a/b".into(), "c~d".into()])
        );
        assert_eq!(parse_pointer("a"), None);
        assert_eq!(parse_pointer("/a~2"), None);
    }

    #[test]
    fn diff_of_equal_values_is_empty() {
        check(
            json!({"a": {"b": [1, {"c": 2}]}}),
            json!({"a": {"b": [1, {"c": 2}]}}),
            &[],
        );
    }

    #[test]
    fn creation_and_deletion_are_listed_field_by_field() {
        let v = json!({"a": 1, "b": {"c": 2}});
        let created = diff(None, Some(&v));
        assert_eq!(
            created.iter().map(|c| c.path.as_str()).collect::<Vec<_>>(),
            ["/a", "/b"]
        );
        assert_eq!(apply(None, &created), Some(v.clone()));
        assert!(created.iter().all(|c| c.kind() == ChangeKind::Create));
        let deleted = diff(Some(&v), None);
        assert!(deleted.iter().all(|c| c.kind() == ChangeKind::Delete));
        assert_eq!(
            deleted.iter().map(|c| c.path.as_str()).collect::<Vec<_>>(),
            ["/a", "/b"]
        );
        assert_eq!(apply(Some(&v), &deleted), Some(json!({})));
    }

    #[test]
    fn a_change_of_kind_is_one_change() {
        check(
            json!({"a": {"b": 1}}),
            json!({"a": 5}),
            &[("/a", Some(json!({"b": 1})), Some(json!(5)))],
        );
        check(
            json!({"a": 5}),
            json!({"a": {"b": 1}}),
            &[("/a", Some(json!(5)), Some(json!({"b": 1})))],
        );
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-5i64..5).prop_map(|n| json!(n)),
            "[a-c~/]{0,3}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map("[a-d~/]{1,2}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn apply_of_diff_is_the_new_value(old in arb_json(), new in arb_json()) {
            let changes = diff(Some(&old), Some(&new));
            prop_assert_eq!(apply(Some(&old), &changes), Some(new.clone()));
        }

        #[test]
        fn apply_of_creation_diff_rebuilds_objects(new in arb_json()) {
            let changes = diff(None, Some(&new));
            let rebuilt = apply(None, &changes);
            // An empty object created from nothing has no fields to list.
            if new != json!({}) {
                prop_assert_eq!(rebuilt, Some(new));
            }
        }
    }
}
