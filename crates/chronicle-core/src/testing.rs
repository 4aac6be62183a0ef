//! Generators of random entity histories for the rollback law tests, here and in the server's
//! HTTP tests on both backends (feature `testing`; never in a release build).
//!
//! A history is a list of [`Step`]s on a few ids; applying it skips the steps that do not fit
//! the entity's state at that point, so every generated list is a valid history with nested
//! objects, arrays, nulls, deletes and re-used ids (a create after a delete).

use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// What a step does to the entity with id `e<id>`.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Create, when the entity is absent or deleted (then its id is used again).
    Create(Value),
    /// Merge patch (RFC 7396), when it is live.
    Patch(Value),
    /// Replace the data, when it is live.
    Replace(Value),
    Delete,
    /// Bring a deleted entity back with this data (only the rollback engine can, so the
    /// HTTP tests skip it).
    Restore(Value),
}

/// A JSON value of up to two levels: nulls, numbers, booleans, arrays and objects.
pub fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        (0i64..3).prop_map(|n| json!(n)),
        any::<bool>().prop_map(Value::Bool),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::vec(("[zyx]", inner), 0..3).prop_map(object),
        ]
    })
}

/// An object with its keys in the order given (not sorted), as a client may send them.
pub fn object(pairs: Vec<(String, Value)>) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert(k, v);
    }
    Value::Object(m)
}

/// Entity data: an object of up to three fields.
pub fn arb_data() -> impl Strategy<Value = Value> {
    prop::collection::vec(("[cba]", arb_value()), 0..4).prop_map(object)
}

fn arb_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        arb_data().prop_map(Step::Create),
        arb_data().prop_map(Step::Patch),
        // A patch one level down, so that nested objects appear, change and disappear.
        arb_data().prop_map(|d| Step::Patch(json!({ "a": d }))),
        arb_data().prop_map(Step::Replace),
        Just(Step::Delete),
        arb_data().prop_map(Step::Restore),
    ]
}

/// Up to `len` steps on the ids `0..ids`.
pub fn arb_history(ids: u8, len: usize) -> impl Strategy<Value = Vec<(u8, Step)>> {
    prop::collection::vec((0..ids, arb_step()), 1..len)
}
