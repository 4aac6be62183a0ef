//! Laws of the lineage walk, on generated ledgers in a real SQLite file: the referrers it
//! shows now are exactly the rollback planner's, and at any past time exactly what replaying
//! each entity's entries up to then says.

use chronicle_core::rollback::EntityRef;
use chronicle_core::schema::Schema;
use chronicle_core::write::EntityOp;
use chronicle_core::{Actor, RequestContext, replay};
use chronicle_lineage::walk::referrers_at;
use chronicle_sqlite::{SqliteConfig, SqliteStore};
use chronicle_store::{EntryQuery, Store, WriteKind, WriteRequest, WriteResponse};
use proptest::prelude::*;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use time::OffsetDateTime;

const SCHEMA: &str = r#"
    [types.customer]
    [types.shipment.fields.customer_id]
    type = "string"
    references = "customer"
"#;

/// One generated write to shipment `s<shipment>`.
#[derive(Clone, Debug)]
enum Op {
    /// Replace its data with a reference to customer `c<n>` (creates it when absent).
    Point(usize, usize),
    /// Replace its data with no reference.
    Clear(usize),
    Delete(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..4usize, 0..3usize).prop_map(|(s, c)| Op::Point(s, c)),
        (0..4usize).prop_map(Op::Clear),
        (0..4usize).prop_map(Op::Delete),
    ]
}

fn ctx() -> RequestContext {
    RequestContext {
        actor: Actor {
            id: Some("gen".into()),
            ..Actor::default()
        },
        ..RequestContext::default()
    }
}

/// Applies the ops; returns the time of each entry written.
async fn apply(store: &dyn Store, ops: &[Op]) -> Vec<OffsetDateTime> {
    let mut times = Vec::new();
    for op in ops {
        let (s, data) = match op {
            Op::Point(s, c) => (*s, Some(json!({"customer_id": format!("c{c}")}))),
            Op::Clear(s) => (*s, Some(json!({}))),
            Op::Delete(s) => (*s, None),
        };
        let id = format!("s{s}");
        let live = store
            .entity("shipment", &id)
            .await
            .unwrap()
            .is_some_and(|e| !e.deleted);
        let op = match data {
            Some(data) => EntityOp::Replace {
                entity_type: "shipment".into(),
                id,
                data,
                expected_version: None,
            },
            None if live => EntityOp::Delete {
                entity_type: "shipment".into(),
                id,
                expected_version: None,
            },
            None => continue,
        };
        let req = WriteRequest {
            context: ctx(),
            kind: WriteKind::Single(op),
        };
        if let WriteResponse::Single(Ok(outcome)) = store.write(req).await.unwrap()
            && let Some(entry) = outcome.entry
        {
            times.push(entry.timestamp);
        }
    }
    times
}

/// The referrers of `c` at `t` by replaying each shipment's entries up to `t`.
async fn replayed(store: &dyn Store, c: &str, t: OffsetDateTime) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for s in 0..4 {
        let q = EntryQuery {
            entity_type: Some("shipment".into()),
            entity_id: Some(format!("s{s}")),
            limit: 1000,
            ..EntryQuery::default()
        };
        let entries = store.search(&q).await.unwrap();
        let state = replay::replay(entries.iter().filter(|e| e.timestamp <= t));
        if state.is_some_and(|st| !st.deleted && st.data["customer_id"] == c) {
            out.insert(format!("s{s}"));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn referrers_are_the_planners_now_and_the_replayed_ones_at_every_past_time(
        ops in proptest::collection::vec(op(), 1..20)
    ) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let schema = Arc::new(Schema::parse(SCHEMA).unwrap());
            let store = SqliteStore::open(SqliteConfig::new(dir.path().join("l.db"), schema.clone()))
                .await
                .unwrap();
            let store: &dyn Store = &store;
            let times = apply(store, &ops).await;
            for c in ["c0", "c1", "c2"] {
                let r = EntityRef::new("customer", c);
                let ids = |found: Vec<(EntityRef, chronicle_core::Entry)>| -> BTreeSet<String> {
                    found.into_iter().map(|(r, _)| r.id).collect()
                };
                let now = ids(referrers_at(store, &schema, &r, None).await.unwrap());
                let planner: BTreeSet<String> =
                    chronicle_engine::facts::referrers(store, &schema, &r)
                        .await
                        .unwrap()
                        .into_iter()
                        .map(|r| r.id)
                        .collect();
                assert_eq!(now, planner, "{c} now, after {ops:?}");
                for &t in &times {
                    let then = ids(referrers_at(store, &schema, &r, Some(t)).await.unwrap());
                    assert_eq!(then, replayed(store, c, t).await, "{c} at {t}, after {ops:?}");
                }
            }
        });
    }
}
