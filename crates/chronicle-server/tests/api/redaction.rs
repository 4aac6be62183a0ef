//! One door for every write: a card number in every free-text field of every writing route
//! (headers, entity data, batch operations, events, rollback requests and decisions, the
//! rollback controls, snapshots, tokens, alert rules, erasure) never reaches storage, on
//! both backends; and writes the engine makes wake the stream like any other.

use crate::helpers::*;
use crate::sse::SseStream;
use async_trait::async_trait;
use chronicle_core::merkle::Hash;
use chronicle_core::write::EntityOp;
use chronicle_core::{EntityState, Entry};
use chronicle_engine::{ApprovalPolicy, ROLLBACK_TYPE};
use chronicle_server::ServerConfig;
use chronicle_store::*;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::watch;
use uuid::Uuid;

/// A Visa test number: passes the Luhn check, so the built-in `card` rule redacts it.
const CARD: &str = "4111111111111111";

/// Every type a route of this test writes, Chronicle's own records included.
const TYPES: &[&str] = &[
    "customer",
    "note",
    "_rollback",
    "_rollback_plan",
    "_rollback_control",
    "_snapshot",
    "_token",
    "_alert_rule",
    "_alert",
    "_checkpoint",
];

/// A stream poll too slow to deliver anything while a test runs.
const HOUR_MS: u64 = 3_600_000;

const SCHEMA_TEXT: &str = r#"
[types.customer.fields.email]
type = "string"
sensitive = true
[types.note]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_card_number_in_any_free_text_of_any_writing_route_never_reaches_storage() {
    let (app, raw, file, gate) = spawn(Backend::Sqlite, None).await.expect("SQLite is there");
    every_route(app, raw, file, gate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_card_number_in_any_free_text_of_any_writing_route_never_reaches_storage() {
    if let Some((app, raw, file, gate)) = spawn(Backend::Postgres, Some(HOUR_MS)).await {
        every_route(app, raw, file, gate).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_writes_the_engine_makes_wake_the_stream() {
    let (app, _, _, gate) = spawn(Backend::Sqlite, Some(HOUR_MS))
        .await
        .expect("SQLite is there");
    engine_writes_wake_the_stream(app, gate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_writes_the_engine_makes_wake_the_stream() {
    if let Some((app, _, _, gate)) = spawn(Backend::Postgres, Some(HOUR_MS)).await {
        engine_writes_wake_the_stream(app, gate).await;
    }
}

/// A sealed app (so that erasure has a key to destroy) whose rollbacks of notes need one
/// approval, behind a [`Gate`] that holds every rollback stage until opened. `poll_ms`: the
/// stream's fallback poll, made too long to matter when a test needs the wake-up alone.
async fn spawn(
    backend: Backend,
    poll_ms: Option<u64>,
) -> Option<(
    TestApp,
    Arc<dyn Store>,
    Option<std::path::PathBuf>,
    watch::Sender<bool>,
)> {
    let mut config = ServerConfig {
        approval: ApprovalPolicy {
            entity_types: vec!["note".into()],
            ..ApprovalPolicy::default()
        },
        ..ServerConfig::default()
    };
    if let Some(ms) = poll_ms {
        config.stream.poll_ms = ms;
    }
    let (open, opened) = watch::channel(false);
    let (app, raw, file) = spawn_sealed_app_with(backend, SCHEMA_TEXT, config, move |inner| {
        Arc::new(Gate { inner, opened })
    })
    .await?;
    Some((app, raw, file, open))
}

/// Context headers carrying the card number in every free-text header.
fn texts(request: RequestBuilder, actor: &str, role: &str) -> RequestBuilder {
    request
        .header("x-reason", format!("because {CARD}"))
        .header("user-agent", format!("agent/{CARD}"))
        .header("x-session-id", CARD)
        .header("x-correlation-id", CARD)
        .header("x-actor-id", actor)
        .header("x-actor-role", role)
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
    who: (&str, &str),
) -> Value {
    let mut request = texts(app.request(method.clone(), path), who.0, who.1);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let res = request.send().await.expect("request sent");
    let status = res.status();
    let text = res.text().await.expect("body read");
    assert!(status.is_success(), "{method} {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn every_route(
    app: TestApp,
    raw: Arc<dyn Store>,
    file: Option<std::path::PathBuf>,
    gate: watch::Sender<bool>,
) {
    let ann = ("ann", "admin");
    let bob = ("bob", "approver");
    let text = json!({"text": format!("card {CARD}"), "nested": {"list": [CARD]}});

    // Entities: create (with a sensitive field, so the subject gets a key), replace, patch.
    let customer = json!({"id": "c1", "data": {"email": "c1@example.com", "note": CARD}});
    call(
        &app,
        Method::POST,
        "/v1/entities/customer",
        Some(customer),
        ann,
    )
    .await;
    let note = json!({"id": "n1", "data": text});
    call(&app, Method::POST, "/v1/entities/note", Some(note), ann).await;
    let replace = json!({"data": {"text": CARD}});
    call(
        &app,
        Method::PUT,
        "/v1/entities/note/n1",
        Some(replace),
        ann,
    )
    .await;
    let patch = json!({"data": {"more": format!("{CARD} again")}});
    call(
        &app,
        Method::PATCH,
        "/v1/entities/note/n1",
        Some(patch),
        ann,
    )
    .await;

    // Bulk and transaction.
    let ops = |prefix: &str| {
        json!([
            {"op": "create", "type": "note", "id": format!("{prefix}1"), "data": text},
            {"op": "create", "type": "note", "id": format!("{prefix}2"), "data": {"t": CARD}},
        ])
    };
    let bulk = call(
        &app,
        Method::POST,
        "/v1/bulk",
        Some(json!({"operations": ops("b")})),
        ann,
    )
    .await;
    let tx = json!({"operations": ops("t")});
    call(&app, Method::POST, "/v1/transactions", Some(tx), ann).await;

    // An event with every free-text member.
    let event = json!({
        "operation": "security",
        "summary": format!("saw {CARD}"),
        "old_values": {"v": CARD},
        "new_values": {"v": CARD},
        "metadata": {"m": CARD},
        "tags": [CARD],
    });
    call(&app, Method::POST, "/v1/audit/events", Some(event), ann).await;

    // Rollbacks: a request and its rejection; a staged one approved, then paused, resumed
    // and stopped while the gate holds its first stage (so each control meets a running
    // or paused rollback, whatever the timing).
    let bulk_id = bulk["bulk_id"].as_str().expect("a bulk id").to_owned();
    let request = json!({
        "target": {"kind": "bulk", "bulk_id": bulk_id},
        "reason": format!("undo {CARD}"),
        "mode": "staged",
        "stage_size": 1,
    });
    let first = call(
        &app,
        Method::POST,
        "/v1/rollbacks",
        Some(request.clone()),
        ann,
    )
    .await;
    assert_eq!(first["status"], "awaiting_approval", "{first}");
    let decision = json!({"justification": format!("no: {CARD}")});
    let rejected = format!("/v1/rollbacks/{}/reject", first["id"].as_str().unwrap());
    call(&app, Method::POST, &rejected, Some(decision), bob).await;

    let second = call(&app, Method::POST, "/v1/rollbacks", Some(request), ann).await;
    let id = second["id"].as_str().expect("a rollback id").to_owned();
    let decision = json!({"justification": format!("yes: {CARD}")});
    let approved = call(
        &app,
        Method::POST,
        &format!("/v1/rollbacks/{id}/approve"),
        Some(decision),
        bob,
    )
    .await;
    assert_eq!(approved["status"], "running", "{approved}");
    for (action, status) in [
        ("pause", "paused"),
        ("resume", "running"),
        ("stop", "stopped"),
    ] {
        let path = format!("/v1/rollbacks/{id}/{action}");
        let answer = call(&app, Method::POST, &path, None, ann).await;
        assert_eq!(answer["status"], status, "{action}: {answer}");
    }
    gate.send_replace(true);

    // Snapshot, token (created and revoked), alert rule (created and deleted).
    let snapshot = json!({"entity_types": ["note"], "label": format!("before {CARD}")});
    call(&app, Method::POST, "/v1/snapshots", Some(snapshot), ann).await;
    let token = json!({"name": format!("t-{CARD}"), "role": "viewer", "email": format!("{CARD}@example.com")});
    let token = call(&app, Method::POST, "/v1/tokens", Some(token), ann).await;
    let token_id = token["id"].as_str().expect("a token id").to_owned();
    call(
        &app,
        Method::DELETE,
        &format!("/v1/tokens/{token_id}"),
        None,
        ann,
    )
    .await;
    let rule = json!({
        "name": format!("r-{CARD}"),
        "filter": {"actor": CARD, "tag": CARD},
        "threshold": {"count": 1000, "window_secs": 60},
    });
    let rule = call(&app, Method::POST, "/v1/alerts/rules", Some(rule), ann).await;
    let rule_id = rule["id"].as_str().expect("a rule id").to_owned();
    call(
        &app,
        Method::DELETE,
        &format!("/v1/alerts/rules/{rule_id}"),
        None,
        ann,
    )
    .await;

    // Entity delete, then erasure of the customer (with a reason).
    call(&app, Method::DELETE, "/v1/entities/note/b2", None, ann).await;
    let erase = json!({"reason": format!("asked {CARD}")});
    call(
        &app,
        Method::POST,
        "/v1/subjects/customer:c1/erase",
        Some(erase),
        ann,
    )
    .await;

    let stored = at_rest(&raw, &file, TYPES).await;
    assert!(
        stored.contains("[redacted:card]"),
        "the writes reached storage, redacted"
    );
    if let Some(at) = stored.find(CARD) {
        let around = &stored.as_bytes()[at.saturating_sub(300)..(at + 100).min(stored.len())];
        panic!(
            "a card number is stored: …{}…",
            String::from_utf8_lossy(around)
        );
    }
}

/// The stream's poll is too slow to matter here: only a wake-up from the write path can
/// deliver these entries. The snapshot is written by the engine during a request; the
/// rollback's changes by its runner, with no request at all.
async fn engine_writes_wake_the_stream(app: TestApp, gate: watch::Sender<bool>) {
    // Nothing to hold here: the rollback runs to its end.
    gate.send_replace(true);
    let who = ("ann", "admin");
    let created = app.create("note", "n1", json!({"v": 1})).await;
    let head = app.tree_size().await;
    let mut stream = SseStream::open(&app, &format!("/v1/stream?after_seq={head}"), None).await;
    let snapshot = json!({"entity_types": ["note"]});
    call(&app, Method::POST, "/v1/snapshots", Some(snapshot), who).await;
    let entry = until(&mut stream, |e| e["entity_type"] == "_snapshot").await;
    assert_eq!(entry["operation"], "create", "{entry}");

    let update = json!({"data": {"v": 2}});
    let changed = call(
        &app,
        Method::PATCH,
        "/v1/entities/note/n1",
        Some(update),
        who,
    )
    .await;
    assert_ne!(changed["entry"]["id"], created["entry"]["id"]);
    let entry_id = changed["entry"]["id"]
        .as_str()
        .expect("an entry id")
        .to_owned();
    let request = json!({"target": {"kind": "entry", "entry_id": entry_id}});
    let rollback = call(&app, Method::POST, "/v1/rollbacks", Some(request), who).await;
    let decision = json!({"justification": "fine"});
    let path = format!("/v1/rollbacks/{}/approve", rollback["id"].as_str().unwrap());
    call(
        &app,
        Method::POST,
        &path,
        Some(decision),
        ("bob", "approver"),
    )
    .await;
    let restored = until(&mut stream, |e| {
        e["entity_type"] == "note" && e["rollback_id"] == rollback["id"]
    })
    .await;
    assert_eq!(restored["entity_id"], "n1", "{restored}");
}

/// The next entry on the stream that `wanted` accepts (the stream's own hang guard fails a
/// test that waits for one in vain).
async fn until(stream: &mut SseStream, wanted: impl Fn(&Value) -> bool) -> Value {
    loop {
        let event = stream.next().await.expect("the stream goes on");
        let entry = event.json();
        if wanted(&entry) {
            return entry;
        }
    }
}

/// Holds every rollback stage (a transaction that rewrites a `_rollback` record) until the
/// test opens it: a fault injected so that pause, resume and stop meet a rollback that is
/// still running whatever the machine's speed.
struct Gate {
    inner: Arc<dyn Store>,
    opened: watch::Receiver<bool>,
}

fn is_stage(req: &WriteRequest) -> bool {
    let WriteKind::Transaction { ops } = &req.kind else {
        return false;
    };
    ops.iter().any(
        |op| matches!(op, EntityOp::Replace { entity_type, .. } if entity_type == ROLLBACK_TYPE),
    )
}

#[async_trait]
impl Store for Gate {
    async fn write(&self, req: WriteRequest) -> Result<WriteResponse, StoreError> {
        if is_stage(&req) {
            let mut opened = self.opened.clone();
            let _ = opened.wait_for(|open| *open).await;
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
    async fn seq_extent(&self, after: u64) -> Result<chronicle_store::SeqExtent, StoreError> {
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
    async fn subject_key(&self, subject: &str) -> Result<Option<SubjectKey>, StoreError> {
        self.inner.subject_key(subject).await
    }
    fn stored(&self) -> Option<&dyn Store> {
        self.inner.stored()
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
}
