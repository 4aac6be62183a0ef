//! Rollback scenarios on a real SQLite file.

use async_trait::async_trait;
use chronicle_core::merkle::Hash;
use chronicle_core::rollback::{Action, ConflictKind, Strategy};
use chronicle_core::schema::Schema;
use chronicle_core::write::EntityOp;
use chronicle_core::{Actor, EntityState, Entry, RequestContext};
use chronicle_engine::record::Mode;
use chronicle_engine::snapshot::{self, SnapshotRequest};
use chronicle_engine::{ApprovalPolicy, Engine, EngineError, RollbackRequest, Status, Target};
use chronicle_sqlite::{SqliteConfig, SqliteStore};
use chronicle_store::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use uuid::Uuid;

const SCHEMA: &str = r#"
    [types.customer]
    [types.shipment.fields.customer_id]
    type = "string"
    references = "customer"
"#;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    schema: Arc<Schema>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::parse(SCHEMA).unwrap());
    let store = SqliteStore::open(SqliteConfig::new(
        dir.path().join("chronicle.db"),
        schema.clone(),
    ))
    .await
    .unwrap();
    Fixture {
        _dir: dir,
        store: Arc::new(store),
        schema,
    }
}

/// The write door without redaction rules or an observer: these tests are about the engine.
fn writer(store: Arc<dyn Store>) -> Writer {
    Writer::new(store, Default::default(), Arc::new(()))
}

fn ctx(actor: &str, role: &str) -> RequestContext {
    RequestContext {
        actor: Actor {
            via: None,
            id: Some(actor.into()),
            email: None,
            role: Some(role.into()),
        },
        ..RequestContext::default()
    }
}

async fn write(store: &dyn Store, kind: WriteKind) -> WriteResponse {
    store
        .write(WriteRequest {
            context: ctx("ops", "operator"),
            kind,
        })
        .await
        .unwrap()
}

async fn single(store: &dyn Store, op: EntityOp) -> Entry {
    match write(store, WriteKind::Single(op)).await {
        WriteResponse::Single(Ok(o)) => o.entry.expect("a change"),
        other => panic!("{other:?}"),
    }
}

fn create(ty: &str, id: &str, data: Value) -> EntityOp {
    EntityOp::Create {
        entity_type: ty.into(),
        id: Some(id.into()),
        data,
    }
}

fn update(ty: &str, id: &str, patch: Value) -> EntityOp {
    EntityOp::Update {
        entity_type: ty.into(),
        id: id.into(),
        patch,
        expected_version: None,
    }
}

fn request(target: Target, strategy: Strategy) -> RollbackRequest {
    RollbackRequest {
        target,
        strategy,
        reason: Some("bad import".into()),
        mode: Mode::Atomic,
        stage_size: None,
    }
}

async fn live(store: &dyn Store, ty: &str, id: &str) -> Option<Value> {
    store
        .entity(ty, id)
        .await
        .unwrap()
        .filter(|e| !e.deleted)
        .map(|e| e.data)
}

async fn state_of(store: &dyn Store, ty: &str, n: usize) -> Vec<Option<Value>> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(live(store, ty, &format!("s{i}")).await);
    }
    out
}

async fn assert_verifies(store: &dyn Store) {
    let report = chronicle_store::verify::verify(store, |_, _| {})
        .await
        .unwrap();
    assert!(report.ok(), "{:?}", report.failure);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_of_a_bulk_delete_restores_every_entity() {
    let f = fixture().await;
    let s = f.store.as_ref();
    let creates = (0..500)
        .map(|i| create("shipment", &format!("s{i}"), json!({"n": i})))
        .collect();
    write(
        s,
        WriteKind::Bulk {
            ops: creates,
            atomic: true,
        },
    )
    .await;
    let deletes = (0..500)
        .map(|i| EntityOp::Delete {
            entity_type: "shipment".into(),
            id: format!("s{i}"),
            expected_version: None,
        })
        .collect();
    let WriteResponse::Batch { id: bulk_id, .. } = write(
        s,
        WriteKind::Bulk {
            ops: deletes,
            atomic: true,
        },
    )
    .await
    else {
        panic!()
    };
    assert_eq!(live(s, "shipment", "s7").await, None);

    let engine = Engine::new(
        writer(f.store.clone()),
        f.schema.clone(),
        ApprovalPolicy::default(),
    );
    let preview = engine
        .preview(&request(Target::Bulk { bulk_id }, Strategy::Strict))
        .await
        .unwrap();
    assert_eq!(preview.plan.counts.restores, 500);
    assert!(
        preview
            .plan
            .operations
            .iter()
            .all(|o| o.action == Action::Restore)
    );
    // The preview wrote nothing.
    assert_eq!(live(s, "shipment", "s7").await, None);

    let record = engine
        .request(
            request(Target::Bulk { bulk_id }, Strategy::Strict),
            &ctx("ann", "operator"),
        )
        .await
        .unwrap();
    assert_eq!(record.status, Status::Completed);
    assert!(record.verification.as_ref().unwrap().passed);
    assert_eq!(live(s, "shipment", "s7").await, Some(json!({"n": 7})));
    let written = s
        .search(&EntryQuery {
            rollback_id: Some(record.id),
            entity_type: Some("shipment".into()),
            limit: 1000,
            ..EntryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(written.len(), 500);
    assert!(written.iter().all(|e| e.actor.id.as_deref() == Some("ann")));
    assert_verifies(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_edited_later_is_refused_by_strict_and_undone_whole_by_cascade() {
    let f = fixture().await;
    let s = f.store.as_ref();
    let ops = vec![
        create("customer", "c1", json!({"name": "Ada"})),
        create(
            "shipment",
            "s0",
            json!({"customer_id": "c1", "status": "new"}),
        ),
        create(
            "shipment",
            "s1",
            json!({"customer_id": "c1", "status": "new"}),
        ),
        create(
            "shipment",
            "s2",
            json!({"customer_id": "c1", "status": "new"}),
        ),
    ];
    let WriteResponse::Batch { id: tx, .. } = write(s, WriteKind::Transaction { ops }).await else {
        panic!()
    };
    single(s, update("shipment", "s1", json!({"status": "packed"}))).await;
    let later = single(s, update("shipment", "s1", json!({"status": "sent"}))).await;

    let engine = Engine::new(
        writer(f.store.clone()),
        f.schema.clone(),
        ApprovalPolicy::default(),
    );
    let target = Target::Transaction { transaction_id: tx };
    let Err(EngineError::Conflict(plan)) = engine
        .request(
            request(target.clone(), Strategy::Strict),
            &ctx("ann", "operator"),
        )
        .await
    else {
        panic!("strict must refuse")
    };
    assert!(
        plan.conflicts
            .iter()
            .any(|c| c.kind == ConflictKind::LaterChange && c.id == "s1")
    );
    assert_eq!(
        live(s, "shipment", "s1").await,
        Some(json!({"customer_id": "c1", "status": "sent"}))
    );

    let nc = engine
        .preview(&request(target.clone(), Strategy::NonConflicting))
        .await
        .unwrap();
    // s1 was edited later, and the customer cannot go while s1 still points at it.
    let skipped: Vec<_> = nc.plan.skipped.iter().map(|k| k.entry_id).collect();
    assert_eq!(skipped.len(), 2, "{nc:?}");
    let deleted: Vec<&str> = nc.plan.operations.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(deleted, ["s0", "s2"]);

    let record = engine
        .request(request(target, Strategy::Cascade), &ctx("ann", "operator"))
        .await
        .unwrap();
    assert_eq!(record.status, Status::Completed);
    assert!(
        record
            .plan
            .conflicts
            .iter()
            .any(|c| c.entry_id == Some(later.id))
    );
    for id in ["s0", "s1", "s2"] {
        assert_eq!(live(s, "shipment", id).await, None);
    }
    assert_eq!(live(s, "customer", "c1").await, None);
    assert_verifies(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_can_itself_be_rolled_back() {
    let f = fixture().await;
    let s = f.store.as_ref();
    single(
        s,
        create("customer", "c1", json!({"name": "Ada", "tier": "gold"})),
    )
    .await;
    let edit = single(s, update("customer", "c1", json!({"tier": "bronze"}))).await;
    let engine = Engine::new(
        writer(f.store.clone()),
        f.schema.clone(),
        ApprovalPolicy::default(),
    );
    let first = engine
        .request(
            request(Target::Entry { entry_id: edit.id }, Strategy::Strict),
            &ctx("ann", "operator"),
        )
        .await
        .unwrap();
    assert_eq!(
        live(s, "customer", "c1").await,
        Some(json!({"name": "Ada", "tier": "gold"}))
    );
    let redo = engine
        .request(
            request(
                Target::Rollback {
                    rollback_id: first.id,
                },
                Strategy::Strict,
            ),
            &ctx("ann", "operator"),
        )
        .await
        .unwrap();
    assert_eq!(redo.status, Status::Completed);
    assert_eq!(
        live(s, "customer", "c1").await,
        Some(json!({"name": "Ada", "tier": "bronze"}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restoring_an_entity_to_a_version_or_time_replays_its_history() {
    let f = fixture().await;
    let s = f.store.as_ref();
    single(s, create("customer", "c1", json!({"v": 1}))).await;
    let t = chronicle_core::timefmt::now();
    single(s, update("customer", "c1", json!({"v": 2}))).await;
    single(s, update("customer", "c1", json!({"v": 3, "extra": true}))).await;
    let engine = Engine::new(
        writer(f.store.clone()),
        f.schema.clone(),
        ApprovalPolicy::default(),
    );
    let by_version = Target::EntityVersion {
        entity_type: "customer".into(),
        id: "c1".into(),
        version: 2,
    };
    engine
        .request(
            request(by_version, Strategy::Strict),
            &ctx("ann", "operator"),
        )
        .await
        .unwrap();
    assert_eq!(live(s, "customer", "c1").await, Some(json!({"v": 2})));
    let by_time = Target::EntityTime {
        entity_type: "customer".into(),
        id: "c1".into(),
        as_of: t,
    };
    engine
        .request(request(by_time, Strategy::Strict), &ctx("ann", "operator"))
        .await
        .unwrap();
    assert_eq!(live(s, "customer", "c1").await, Some(json!({"v": 1})));
    let scope = Target::ScopeTime {
        entity_types: Some(vec!["customer".into()]),
        entities: None,
        as_of: chronicle_core::timefmt::parse("2000-01-01T00:00:00Z").unwrap(),
    };
    engine
        .request(request(scope, Strategy::Strict), &ctx("ann", "operator"))
        .await
        .unwrap();
    assert_eq!(live(s, "customer", "c1").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_is_needed_above_the_threshold_and_never_from_the_requester() {
    let f = fixture().await;
    let s = f.store.as_ref();
    let creates = (0..20)
        .map(|i| create("shipment", &format!("s{i}"), json!({"n": i})))
        .collect();
    let WriteResponse::Batch { id: bulk_id, .. } = write(
        s,
        WriteKind::Bulk {
            ops: creates,
            atomic: true,
        },
    )
    .await
    else {
        panic!()
    };
    let policy = ApprovalPolicy {
        max_entities: Some(10),
        approvals: 2,
        ..ApprovalPolicy::default()
    };
    let engine = Engine::new(writer(f.store.clone()), f.schema.clone(), policy);
    let record = engine
        .request(
            request(Target::Bulk { bulk_id }, Strategy::Strict),
            &ctx("ann", "operator"),
        )
        .await
        .unwrap();
    assert_eq!(
        (record.status, record.required_approvals),
        (Status::AwaitingApproval, 2)
    );
    assert_eq!(live(s, "shipment", "s3").await, Some(json!({"n": 3})));

    let id = record.id;
    assert!(matches!(
        engine
            .decide(id, &ctx("ann", "approver"), true, "me".into())
            .await,
        Err(EngineError::Forbidden(_))
    ));
    assert!(matches!(
        engine
            .decide(id, &ctx("bob", "viewer"), true, "ok".into())
            .await,
        Err(EngineError::Forbidden(_))
    ));
    assert!(matches!(
        engine
            .decide(id, &ctx("bob", "approver"), true, " ".into())
            .await,
        Err(EngineError::Invalid { .. })
    ));
    let one = engine
        .decide(
            id,
            &ctx("bob", "approver"),
            true,
            "checked the import log".into(),
        )
        .await
        .unwrap();
    assert_eq!(one.status, Status::AwaitingApproval);
    assert!(matches!(
        engine
            .decide(id, &ctx("bob", "approver"), true, "again".into())
            .await,
        Err(EngineError::WrongState(_))
    ));
    let two = engine
        .decide(id, &ctx("cyd", "approver"), true, "agreed".into())
        .await
        .unwrap();
    assert_eq!(two.status, Status::Completed);
    assert_eq!(live(s, "shipment", "s3").await, None);
    // Every step is on the ledger.
    let steps = s
        .search(&EntryQuery {
            entity_type: Some("_rollback".into()),
            limit: 100,
            ..EntryQuery::default()
        })
        .await
        .unwrap();
    assert!(
        steps.len() >= 4,
        "request, two approvals, completion: {}",
        steps.len()
    );

    let rejected = engine
        .request(
            request(Target::Bulk { bulk_id }, Strategy::Force),
            &ctx("ann", "operator"),
        )
        .await;
    // Undoing creates of already deleted entities plans nothing: no approval needed.
    assert!(rejected.is_ok());
}

/// Fails every transaction after the first `allowed` (the first records the request), as a
/// crash or outage mid-rollback would, and counts how often sealed states are opened.
struct FailingStore {
    inner: Arc<dyn Store>,
    allowed: usize,
    seen: AtomicUsize,
    opened: AtomicUsize,
}

#[async_trait]
impl Store for FailingStore {
    async fn write(&self, req: WriteRequest) -> Result<WriteResponse, StoreError> {
        if matches!(req.kind, WriteKind::Transaction { .. })
            && self.seen.fetch_add(1, Ordering::SeqCst) >= self.allowed
        {
            return Err(StoreError::Unavailable {
                message: "injected fault".into(),
                source: None,
            });
        }
        self.inner.write(req).await
    }
    async fn entity(&self, t: &str, id: &str) -> Result<Option<EntityState>, StoreError> {
        self.inner.entity(t, id).await
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
    async fn seq_extent(&self, after: u64) -> Result<SeqExtent, StoreError> {
        self.inner.seq_extent(after).await
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
    async fn seal_states(
        &self,
        states: Vec<(String, String, serde_json::Value)>,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        self.inner.seal_states(states).await
    }
    async fn subject_key(&self, subject: &str) -> Result<Option<SubjectKey>, StoreError> {
        self.inner.subject_key(subject).await
    }
    fn stored(&self) -> Option<&dyn Store> {
        self.inner.stored()
    }
    async fn open_states(
        &self,
        states: Vec<(String, String, Value)>,
    ) -> Result<Vec<Value>, StoreError> {
        self.opened.fetch_add(1, Ordering::SeqCst);
        self.inner.open_states(states).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_and_running_a_rollback_opens_its_plan_once() {
    let f = fixture().await;
    for i in 0..3 {
        single(
            f.store.as_ref(),
            create("shipment", &format!("s{i}"), json!({"n": i})),
        )
        .await;
    }
    let counting = Arc::new(FailingStore {
        inner: f.store.clone(),
        allowed: usize::MAX,
        seen: AtomicUsize::new(0),
        opened: AtomicUsize::new(0),
    });
    let policy = ApprovalPolicy {
        max_entities: Some(1),
        ..ApprovalPolicy::default()
    };
    let engine = Engine::new(writer(counting.clone()), f.schema.clone(), policy);
    let target = Target::ScopeTime {
        entity_types: Some(vec!["shipment".into()]),
        entities: None,
        as_of: chronicle_core::timefmt::parse("2000-01-01T00:00:00Z").unwrap(),
    };
    let record = engine
        .request(request(target, Strategy::Strict), &ctx("ann", "operator"))
        .await
        .unwrap();
    assert_eq!(record.status, Status::AwaitingApproval);
    counting.opened.store(0, Ordering::SeqCst);
    let done = engine
        .decide(record.id, &ctx("bob", "approver"), true, "ok".into())
        .await
        .unwrap();
    assert_eq!(done.status, Status::Completed);
    assert_eq!(done.plan.operations.len(), 3);
    // The run reads the plan once; the approval, the verification and the record's other
    // steps never open it.
    assert_eq!(counting.opened.load(Ordering::SeqCst), 1);
}

async fn staged_scenario(f: &Fixture) -> Uuid {
    let s = f.store.as_ref();
    let creates = (0..95)
        .map(|i| {
            create(
                "shipment",
                &format!("s{i}"),
                json!({"n": i, "status": "new"}),
            )
        })
        .collect();
    write(
        s,
        WriteKind::Bulk {
            ops: creates,
            atomic: true,
        },
    )
    .await;
    let edits = (0..95)
        .map(|i| update("shipment", &format!("s{i}"), json!({"status": "lost"})))
        .collect();
    let WriteResponse::Batch { id, .. } = write(
        s,
        WriteKind::Bulk {
            ops: edits,
            atomic: true,
        },
    )
    .await
    else {
        panic!()
    };
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staged_rollback_interrupted_mid_way_resumes_to_the_same_end_state() {
    // The uninterrupted run, for reference.
    let reference = fixture().await;
    let bulk = staged_scenario(&reference).await;
    let engine = Engine::new(
        writer(reference.store.clone()),
        reference.schema.clone(),
        ApprovalPolicy::default(),
    );
    let req = RollbackRequest {
        mode: Mode::Staged,
        stage_size: Some(10),
        ..request(Target::Bulk { bulk_id: bulk }, Strategy::Strict)
    };
    let r = engine
        .request(req.clone(), &ctx("ann", "operator"))
        .await
        .unwrap();
    let done = engine.wait(r.id).await.unwrap();
    assert_eq!(
        (done.status, done.progress.done, done.progress.stages_done),
        (Status::Completed, 95, 10)
    );
    let want = state_of(reference.store.as_ref(), "shipment", 95).await;

    // The same, with the process "dying" after three stages.
    let f = fixture().await;
    let bulk = staged_scenario(&f).await;
    let failing: Arc<dyn Store> = Arc::new(FailingStore {
        inner: f.store.clone(),
        allowed: 1 + 3,
        seen: AtomicUsize::new(0),
        opened: AtomicUsize::new(0),
    });
    let dying = Engine::new(writer(failing), f.schema.clone(), ApprovalPolicy::default());
    let req = RollbackRequest {
        target: Target::Bulk { bulk_id: bulk },
        ..req
    };
    let r = dying.request(req, &ctx("ann", "operator")).await.unwrap();
    let stuck = dying.wait(r.id).await.unwrap();
    assert_eq!((stuck.status, stuck.progress.done), (Status::Running, 30));
    let mid = state_of(f.store.as_ref(), "shipment", 95).await;
    let restored = mid
        .iter()
        .filter(|v| v.as_ref().unwrap()["status"] == "new")
        .count();
    assert_eq!(
        restored, 30,
        "exactly the three committed stages are applied"
    );

    // A new process on the same database picks it up from the last checkpoint.
    let restarted = Engine::new(
        writer(f.store.clone()),
        f.schema.clone(),
        ApprovalPolicy::default(),
    );
    assert_eq!(restarted.resume_interrupted().await.unwrap(), 1);
    let end = restarted.wait(r.id).await.unwrap();
    assert_eq!((end.status, end.progress.done), (Status::Completed, 95));
    assert!(end.verification.unwrap().passed);
    assert_eq!(state_of(f.store.as_ref(), "shipment", 95).await, want);
    let written = f
        .store
        .search(&EntryQuery {
            rollback_id: Some(r.id),
            entity_type: Some("shipment".into()),
            limit: 1000,
            ..EntryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(written.len(), 95, "each entity changed exactly once");
    assert_verifies(f.store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_stop_take_effect_between_stages() {
    let f = fixture().await;
    let bulk = staged_scenario(&f).await;
    let failing: Arc<dyn Store> = Arc::new(FailingStore {
        inner: f.store.clone(),
        allowed: 1 + 2,
        seen: AtomicUsize::new(0),
        opened: AtomicUsize::new(0),
    });
    let dying = Engine::new(writer(failing), f.schema.clone(), ApprovalPolicy::default());
    let req = RollbackRequest {
        mode: Mode::Staged,
        stage_size: Some(10),
        ..request(Target::Bulk { bulk_id: bulk }, Strategy::Strict)
    };
    let r = dying.request(req, &ctx("ann", "operator")).await.unwrap();
    dying.wait(r.id).await.unwrap();

    let engine = Engine::new(
        writer(f.store.clone()),
        f.schema.clone(),
        ApprovalPolicy::default(),
    );
    let paused = engine.pause(r.id, &ctx("ann", "operator")).await.unwrap();
    assert_eq!(paused.status, Status::Paused);
    // A runner started now does nothing while paused.
    assert_eq!(engine.run(r.id).await.unwrap().progress.done, 20);
    // Pausing a paused rollback is a no-op, not an error.
    assert_eq!(
        engine
            .pause(r.id, &ctx("ann", "operator"))
            .await
            .unwrap()
            .status,
        Status::Paused
    );
    engine.resume(r.id, &ctx("ann", "operator")).await.unwrap();
    let end = engine.wait(r.id).await.unwrap();
    assert_eq!(end.status, Status::Completed);
    assert!(matches!(
        engine.stop(r.id, &ctx("ann", "operator")).await,
        Err(EngineError::WrongState(_))
    ));

    // Stop: a rollback awaiting approval never runs.
    let policy = ApprovalPolicy {
        max_entities: Some(0),
        ..ApprovalPolicy::default()
    };
    let guarded = Engine::new(writer(f.store.clone()), f.schema.clone(), policy);
    let r2 = guarded
        .request(
            request(Target::Rollback { rollback_id: r.id }, Strategy::Strict),
            &ctx("ann", "operator"),
        )
        .await
        .unwrap();
    assert_eq!(
        guarded
            .stop(r2.id, &ctx("ann", "operator"))
            .await
            .unwrap()
            .status,
        Status::Stopped
    );
    assert!(matches!(
        guarded
            .decide(r2.id, &ctx("bob", "approver"), true, "late".into())
            .await,
        Err(EngineError::WrongState(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_is_compressed_checksummed_and_restorable() {
    let f = fixture().await;
    let s = f.store.as_ref();
    for i in 0..50 {
        single(
            s,
            create(
                "customer",
                &format!("c{i}"),
                json!({"name": format!("Customer {i}"), "tier": "gold", "notes": "x".repeat(200)}),
            ),
        )
        .await;
    }
    let meta = snapshot::create(
        &writer(f.store.clone()),
        &ctx("ann", "operator"),
        SnapshotRequest {
            entity_types: Some(vec!["customer".into()]),
            label: Some("before cleanup".into()),
            ..SnapshotRequest::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(meta.entity_count, 50);
    assert!(meta.compression_ratio > 2.0, "{meta:?}");
    assert_eq!(meta.checksum.len(), 64);
    assert_eq!(
        snapshot::list(s, None, 10).await.unwrap(),
        vec![meta.clone()]
    );

    single(s, update("customer", "c3", json!({"tier": "none"}))).await;
    single(
        s,
        EntityOp::Delete {
            entity_type: "customer".into(),
            id: "c4".into(),
            expected_version: None,
        },
    )
    .await;
    single(s, create("customer", "new", json!({}))).await;

    let engine = Engine::new(
        writer(f.store.clone()),
        f.schema.clone(),
        ApprovalPolicy::default(),
    );
    let record = engine
        .request(
            request(
                Target::Snapshot {
                    snapshot_id: meta.id,
                },
                Strategy::Strict,
            ),
            &ctx("ann", "operator"),
        )
        .await
        .unwrap();
    assert_eq!(record.plan.counts.entities, 3);
    assert_eq!(live(s, "customer", "c3").await.unwrap()["tier"], "gold");
    assert!(live(s, "customer", "c4").await.is_some());
    assert_eq!(live(s, "customer", "new").await, None);
    let missing = Uuid::now_v7();
    assert!(matches!(
        snapshot::load(s, missing).await,
        Err(EngineError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_stop_take_effect_while_the_runner_is_working() {
    let f = fixture().await;
    let bulk = staged_scenario(&f).await;
    let engine = Engine::new(
        writer(f.store.clone()),
        f.schema.clone(),
        ApprovalPolicy::default(),
    );
    let req = RollbackRequest {
        mode: Mode::Staged,
        stage_size: Some(1),
        ..request(Target::Bulk { bulk_id: bulk }, Strategy::Strict)
    };
    let r = engine.request(req, &ctx("ann", "operator")).await.unwrap();
    // The runner works in the background; pause it part way.
    let paused = engine.pause(r.id, &ctx("ann", "operator")).await.unwrap();
    assert_eq!(paused.status, Status::Paused);
    let settled = engine.wait(r.id).await.unwrap();
    assert_eq!(settled.status, Status::Paused);
    let at_pause = settled.progress.done;
    assert!(at_pause < 95, "paused before the end ({at_pause})");
    // Nothing moves while paused.
    assert_eq!(engine.get(r.id).await.unwrap().progress.done, at_pause);
    engine.resume(r.id, &ctx("ann", "operator")).await.unwrap();
    let stopped = engine.stop(r.id, &ctx("ann", "operator")).await.unwrap();
    assert_eq!(stopped.status, Status::Stopped);
    let end = engine.wait(r.id).await.unwrap();
    assert_eq!(end.status, Status::Stopped);
    assert!(end.progress.done < 95);
    assert_verifies(f.store.as_ref()).await;
}

/// A snapshot holding a subject's value in plaintext (one taken before its field was declared
/// sensitive, say) must not bring it back once the subject is erased.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_subjects_plaintext_in_a_snapshot_is_forgotten() {
    use chronicle_store::seal::{ERASED, MasterKey, Sealer};
    let dir = tempfile::tempdir().unwrap();
    let schema = Arc::new(
        Schema::parse("[types.customer.fields.email]\ntype = \"string\"\nsensitive = true\n")
            .unwrap(),
    );
    let mut config = SqliteConfig::new(dir.path().join("chronicle.db"), schema.clone());
    config.sealer = Some(Arc::new(Sealer::new(MasterKey::generate().unwrap())));
    let store = SqliteStore::open(config).await.unwrap();
    for id in ["c1", "c2"] {
        let op = EntityOp::Create {
            entity_type: "customer".into(),
            id: Some(id.into()),
            data: json!({"email": format!("{id}@example.com")}),
        };
        write(&store, WriteKind::Single(op)).await;
    }
    let erased = write(
        &store,
        WriteKind::Erase {
            subject: "customer:c1".into(),
        },
    )
    .await;
    assert!(matches!(erased, WriteResponse::Erase(Erasure::Erased(_))));
    let state = |id: &str| EntityState {
        entity_type: "customer".into(),
        id: id.into(),
        version: 1,
        data: json!({"email": format!("{id}@example.com"), "name": id}),
        deleted: false,
        created_at: time::OffsetDateTime::UNIX_EPOCH,
        updated_at: time::OffsetDateTime::UNIX_EPOCH,
        last_seq: 1,
    };
    let mut states = [state("c1"), state("c2"), state("c3")];
    snapshot::forget_erased(&store, &schema, &mut states)
        .await
        .unwrap();
    assert_eq!(states[0].data, json!({"email": ERASED, "name": "c1"}));
    assert_eq!(states[1].data["email"], "c2@example.com", "not erased");
    assert_eq!(states[2].data["email"], "c3@example.com", "never sealed");
}
