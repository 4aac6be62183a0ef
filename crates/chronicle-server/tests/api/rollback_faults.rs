//! Post-rollback verification against a store that misbehaves, on both backends: it must
//! fail when what a stage wrote, or what the store reads back, is not what replaying the
//! ledger says. The engine runs over a decorator of the test app's real store.

use crate::helpers::{SCHEMA, TestApp};
use async_trait::async_trait;
use chronicle_core::merkle::Hash;
use chronicle_core::rollback::Strategy;
use chronicle_core::schema::{FieldError, Schema};
use chronicle_core::write::{EntityOp, OpError};
use chronicle_core::{Actor, EntityState, Entry, RequestContext};
use chronicle_engine::record::Mode;
use chronicle_engine::{ApprovalPolicy, Engine, RollbackRequest};
use chronicle_store::{
    EntryQuery, Group, GroupBy, LedgerHead, RawRow, Store, StoreError, StoreStats, WriteKind,
    WriteRequest, WriteResponse,
};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

backend_tests!(
    verification_fails_when_a_stage_writes_other_than_the_plan_says,
    verification_fails_when_the_store_reads_back_other_than_its_ledger,
    verification_passes_over_a_faithful_store,
    preview_reports_a_state_the_current_schema_rejects_as_a_schema_conflict,
    a_stage_the_schema_refuses_fails_with_the_errors_a_write_reports,
);

/// What the decorator gets wrong.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// Every entity a rollback stage writes gets an extra field on its way to the store (so
    /// the ledger records it too: only replaying the history before the rollback shows it).
    StageWrites,
    /// Reads of user entities come back with an extra field the ledger never recorded.
    Reads,
    /// Rollback stages are refused as the schema refuses an invalid state (as when the
    /// schema changed between the plan and its execution).
    SchemaRefusesStages,
}

struct Faulty {
    inner: Arc<dyn Store>,
    fault: Fault,
}

fn corrupt(data: &mut Value) {
    if let Some(m) = data.as_object_mut() {
        m.insert("injected".into(), json!("fault"));
    }
}

#[async_trait]
impl Store for Faulty {
    async fn seq_extent(&self, after: u64) -> Result<chronicle_store::SeqExtent, StoreError> {
        self.inner.seq_extent(after).await
    }
    async fn seal_states(
        &self,
        states: Vec<(String, String, Value)>,
    ) -> Result<Vec<Value>, StoreError> {
        self.inner.seal_states(states).await
    }
    async fn open_states(
        &self,
        states: Vec<(String, String, Value)>,
    ) -> Result<Vec<Value>, StoreError> {
        self.inner.open_states(states).await
    }
    async fn write(&self, mut req: WriteRequest) -> Result<WriteResponse, StoreError> {
        if self.fault == Fault::StageWrites
            && req.context.rollback_id.is_some()
            && let WriteKind::Transaction { ops } = &mut req.kind
        {
            for op in ops {
                match op {
                    EntityOp::Replace {
                        entity_type, data, ..
                    }
                    | EntityOp::Restore {
                        entity_type, data, ..
                    }
                    | EntityOp::Create {
                        entity_type, data, ..
                    } if !entity_type.starts_with('_') => corrupt(data),
                    _ => {}
                }
            }
        }
        if self.fault == Fault::SchemaRefusesStages
            && req.context.rollback_id.is_some()
            && let WriteKind::Transaction { ops } = &req.kind
            && ops.iter().any(|op| !op.entity_type().starts_with('_'))
        {
            let refusal = FieldError::new("/data/v", "must be of type integer, got string");
            return Ok(WriteResponse::Batch {
                id: Uuid::now_v7(),
                results: vec![Err(OpError::Invalid(vec![refusal]))],
                committed: false,
                entry: None,
            });
        }
        self.inner.write(req).await
    }
    async fn entity(&self, t: &str, id: &str) -> Result<Option<EntityState>, StoreError> {
        let mut found = self.inner.entity(t, id).await?;
        if self.fault == Fault::Reads
            && !t.starts_with('_')
            && let Some(s) = &mut found
        {
            corrupt(&mut s.data);
        }
        Ok(found)
    }
    async fn list_entities(
        &self,
        t: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<EntityState>, StoreError> {
        self.inner.list_entities(t, after, limit).await
    }
    async fn entry(&self, id: Uuid) -> Result<Option<Entry>, StoreError> {
        self.inner.entry(id).await
    }
    async fn search(&self, q: &EntryQuery) -> Result<Vec<Entry>, StoreError> {
        self.inner.search(q).await
    }
    async fn summary(&self, q: &EntryQuery, by: GroupBy) -> Result<Vec<Group>, StoreError> {
        self.inner.summary(q, by).await
    }
    async fn head(&self) -> Result<LedgerHead, StoreError> {
        self.inner.head().await
    }
    async fn rows(&self, a: u64, b: u64) -> Result<Vec<RawRow>, StoreError> {
        self.inner.rows(a, b).await
    }
    async fn node(&self, level: u8, index: u64) -> Result<Option<Hash>, StoreError> {
        self.inner.node(level, index).await
    }
    async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.inner.stats().await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

/// Writes a small history over HTTP (a nested object created and changed, a field set to
/// null, a delete), then rolls the three notes back to the time after the first writes
/// through an engine over the app's store with `fault`, and returns the verification.
async fn rollback_through(app: &TestApp, fault: Fault) -> chronicle_engine::record::Verification {
    for (id, data) in [
        ("a", json!({"v": 1})),
        ("b", json!({"v": 2})),
        ("c", json!({})),
    ] {
        app.create("note", id, data).await;
    }
    let head = app.all_entries("entity_type=note").await;
    let as_of = head.last().unwrap()["timestamp"]
        .as_str()
        .unwrap()
        .to_owned();
    for (id, patch) in [
        ("a", json!({"o": {"x": 1}})),
        ("b", json!({"v": null, "w": [1, {"k": 2}]})),
    ] {
        let res = app
            .send_json(
                Method::PATCH,
                &format!("/v1/entities/note/{id}"),
                &json!({"data": patch}),
            )
            .await;
        assert!(res.status().is_success());
    }
    let res = app
        .request(Method::DELETE, "/v1/entities/note/c")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());

    let store: Arc<dyn Store> = Arc::new(Faulty {
        inner: app.store.clone(),
        fault,
    });
    let schema = Arc::new(Schema::parse(SCHEMA).unwrap());
    let engine = Engine::new(
        chronicle_store::Writer::new(store, Default::default(), Arc::new(())),
        schema,
        ApprovalPolicy::default(),
    );
    let request = RollbackRequest {
        target: serde_json::from_value(json!({
            "kind": "scope_time",
            "entities": [{"type": "note", "id": "a"}, {"type": "note", "id": "b"}, {"type": "note", "id": "c"}],
            "as_of": as_of,
        }))
        .unwrap(),
        strategy: Strategy::Strict,
        reason: None,
        mode: Mode::Atomic,
        stage_size: None,
    };
    let ctx = RequestContext {
        actor: Actor {
            id: Some("ops".into()),
            ..Actor::default()
        },
        ..RequestContext::default()
    };
    let record = engine
        .request(request, &ctx)
        .await
        .expect("the rollback runs");
    record
        .verification
        .expect("a completed rollback is verified")
}

async fn verification_fails_when_a_stage_writes_other_than_the_plan_says(app: TestApp) {
    let v = rollback_through(&app, Fault::StageWrites).await;
    assert!(!v.passed, "{v:?}");
    let ids: Vec<&str> = v.mismatches.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"], "{v:?}");
    assert!(
        v.mismatches.iter().all(|m| m.detail.contains("injected")),
        "{v:?}"
    );
}

async fn verification_fails_when_the_store_reads_back_other_than_its_ledger(app: TestApp) {
    let v = rollback_through(&app, Fault::Reads).await;
    assert!(!v.passed, "{v:?}");
    let ids: Vec<&str> = v.mismatches.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"], "{v:?}");
    // The restored note was written from its ledger, so only its read-back is wrong; the two
    // others were planned from the wrong reads, which replaying their history exposes.
    assert!(
        v.mismatches[2]
            .detail
            .starts_with("the stored state is not what its ledger history replays to"),
        "{v:?}"
    );
}

async fn verification_passes_over_a_faithful_store(app: TestApp) {
    let v = rollback_through(&app, Fault::None).await;
    assert!(v.passed, "{v:?}");
    assert_eq!(v.checked, 3);
}

fn engine_over(app: &TestApp, fault: Fault, schema: &str) -> Arc<Engine> {
    let store: Arc<dyn Store> = Arc::new(Faulty {
        inner: app.store.clone(),
        fault,
    });
    let schema = Arc::new(Schema::parse(schema).unwrap());
    Engine::new(
        chronicle_store::Writer::new(store, Default::default(), Arc::new(())),
        schema,
        ApprovalPolicy::default(),
    )
}

fn undo_entry(entry: &Value) -> RollbackRequest {
    RollbackRequest {
        target: serde_json::from_value(json!({"kind": "entry", "entry_id": entry["id"]})).unwrap(),
        strategy: Strategy::Strict,
        reason: None,
        mode: Mode::Atomic,
        stage_size: None,
    }
}

/// A note whose first version held a string in `v`, and the entry that made it a number.
async fn string_then_number(app: &TestApp) -> Value {
    app.create("note", "s", json!({"v": "text"})).await;
    let res = app
        .send_json(
            Method::PATCH,
            "/v1/entities/note/s",
            &json!({"data": {"v": 1}}),
        )
        .await;
    assert!(res.status().is_success());
    res.json::<Value>().await.unwrap()["entry"].clone()
}

async fn preview_reports_a_state_the_current_schema_rejects_as_a_schema_conflict(app: TestApp) {
    let entry = string_then_number(&app).await;
    // The schema as it is now: `v` became an integer field after the string was written.
    let now = "strict_types = true\n[types.note.fields.v]\ntype = \"integer\"";
    let engine = engine_over(&app, Fault::None, now);
    let size = app.tree_size().await;
    let preview = engine.preview(&undo_entry(&entry)).await.unwrap();
    assert!(!preview.plan.feasible);
    let c = &preview.plan.conflicts[0];
    assert_eq!(
        (c.kind, c.id.as_str(), c.fields.clone(), c.rule.as_deref()),
        (
            chronicle_core::rollback::ConflictKind::Schema,
            "s",
            vec!["/v".to_owned()],
            Some("must be of type integer, got string")
        )
    );
    let refused = engine
        .request(undo_entry(&entry), &RequestContext::default())
        .await;
    assert!(matches!(
        refused,
        Err(chronicle_engine::EngineError::Conflict(_))
    ));
    assert_eq!(
        app.tree_size().await,
        size,
        "a refused rollback writes nothing"
    );
}

async fn a_stage_the_schema_refuses_fails_with_the_errors_a_write_reports(app: TestApp) {
    let entry = string_then_number(&app).await;
    let engine = engine_over(&app, Fault::SchemaRefusesStages, SCHEMA);
    let record = engine
        .request(undo_entry(&entry), &RequestContext::default())
        .await
        .unwrap();
    assert_eq!(record.status, chronicle_engine::Status::Failed);
    let result = record.result.unwrap();
    assert_eq!(
        result.errors,
        [FieldError::new(
            "/data/v",
            "must be of type integer, got string"
        )]
    );
    assert!(result.error.unwrap().contains("/data/v"));
}
