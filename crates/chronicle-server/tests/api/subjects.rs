//! Encryption at rest through the API, and `POST /v1/subjects/{subject}/erase`, on both
//! backends: what a client writes comes back in plaintext, is stored sealed, and after the
//! erasure reads as "[erased]" on every read path while the ledger still verifies.

use crate::helpers::*;
use crate::sse::SseStream;
use chronicle_store::Store;
use chronicle_store::verify::verify;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;

const SEALED_SCHEMA: &str = r#"
[types.customer.fields.email]
type = "string"
sensitive = true
[types.shipment]
subject = "customer_id"
[types.shipment.fields.customer_id]
type = "string"
references = "customer"
[types.shipment.fields.address]
sensitive = true
"#;

const EMAIL: &str = "kari.nordmann@example.com";
const ADDRESS: &str = "Karl Johans gate 1";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_sensitive_values_are_sealed_and_erasure_makes_them_unreadable() {
    let (app, raw, file) = spawn_sealed_app(Backend::Sqlite, SEALED_SCHEMA)
        .await
        .expect("SQLite is always there");
    erasure_story(app, raw, file).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_sensitive_values_are_sealed_and_erasure_makes_them_unreadable() {
    if let Some((app, raw, file)) = spawn_sealed_app(Backend::Postgres, SEALED_SCHEMA).await {
        erasure_story(app, raw, file).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_snapshot_from_before_an_erasure_does_not_bring_the_values_back() {
    let (app, raw, file) = spawn_sealed_app(Backend::Sqlite, SEALED_SCHEMA)
        .await
        .expect("SQLite is always there");
    snapshot_after_erasure(app, raw, file).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_snapshot_from_before_an_erasure_does_not_bring_the_values_back() {
    if let Some((app, raw, file)) = spawn_sealed_app(Backend::Postgres, SEALED_SCHEMA).await {
        snapshot_after_erasure(app, raw, file).await;
    }
}

/// Snapshots and rollback plans embed entity states: they keep them sealed, and an erasure
/// reaches them.
async fn snapshot_after_erasure(
    app: TestApp,
    raw: Arc<dyn Store>,
    file: Option<std::path::PathBuf>,
) {
    const OLA: &str = "ola@example.com";
    app.create("customer", "c1", json!({"name": "Kari", "email": EMAIL}))
        .await;
    app.create("customer", "c2", json!({"name": "Ola", "email": OLA}))
        .await;
    let snap = expect_json(
        app.post("/v1/snapshots", &json!({"entity_types": ["customer"]}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    for id in ["c1", "c2"] {
        let res = app
            .send_json(
                Method::PATCH,
                &format!("/v1/entities/customer/{id}"),
                &json!({"data": {"name": "changed"}}),
            )
            .await;
        expect_json(res, StatusCode::OK).await;
    }
    let res = app.post("/v1/subjects/customer:c1/erase", &json!({})).await;
    expect_json(res, StatusCode::OK).await;
    let restore = json!({"target": {"kind": "snapshot", "snapshot_id": snap["id"]}});
    expect_json(app.post("/v1/rollbacks", &restore).await, StatusCode::OK).await;
    let c1 = expect_json(app.get("/v1/entities/customer/c1").await, StatusCode::OK).await;
    assert_eq!(c1["data"], json!({"name": "Kari", "email": "[erased]"}));
    let c2 = expect_json(app.get("/v1/entities/customer/c2").await, StatusCode::OK).await;
    assert_eq!(c2["data"], json!({"name": "Ola", "email": OLA}));
    let entries = app.all_entries("entity_id=c1").await;
    assert!(!serde_json::to_string(&entries).unwrap().contains(EMAIL));
    // Stored: the snapshot holds envelopes (its compressed contents, read raw), and no row,
    // the plan's included, holds either address.
    let id = uuid::Uuid::parse_str(snap["id"].as_str().unwrap()).unwrap();
    let kept = chronicle_engine::snapshot::load(&*raw, id).await.unwrap();
    for e in &kept.entities {
        assert!(e.data["email"]["$sealed"].is_string(), "{}", e.data);
    }
    let stored = at_rest(&raw, &file, &["customer", "shipment"]).await;
    assert!(stored.contains("_rollback_plan"), "the check sees the plan");
    assert!(!stored.contains(EMAIL) && !stored.contains(OLA));
    // The plan, read back through the API, is plaintext again.
    let rollbacks = expect_json(app.get("/v1/rollbacks").await, StatusCode::OK).await;
    let plan = &rollbacks["rollbacks"][0]["plan"];
    let c2_op = plan["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == "c2")
        .unwrap();
    assert_eq!(c2_op["after"]["email"], OLA);
    assert_eq!(c2_op["before"]["email"], OLA);
}

async fn erasure_story(app: TestApp, raw: Arc<dyn Store>, file: Option<std::path::PathBuf>) {
    let created = app
        .create("customer", "c1", json!({"name": "Kari", "email": EMAIL}))
        .await;
    assert_eq!(created["data"]["email"], EMAIL);
    app.create(
        "shipment",
        "s1",
        json!({"customer_id": "c1", "address": ADDRESS}),
    )
    .await;
    let read = expect_json(app.get("/v1/entities/customer/c1").await, StatusCode::OK).await;
    assert_eq!(read["data"]["email"], EMAIL);
    let size = app.tree_size().await;
    let same = app
        .send_json(
            Method::PATCH,
            "/v1/entities/customer/c1",
            &json!({"data": {"email": EMAIL}}),
        )
        .await;
    assert_eq!(expect_json(same, StatusCode::OK).await["changed"], false);
    assert_eq!(
        app.tree_size().await,
        size,
        "the same value writes no entry"
    );
    let stored = at_rest(&raw, &file, &["customer", "shipment"]).await;
    assert!(stored.contains("Kari"), "the check sees stored data");
    assert!(!stored.contains(EMAIL) && !stored.contains(ADDRESS));
    let mut sse = SseStream::open(&app, "/v1/stream?entity_type=customer&after_seq=0", None).await;
    assert_eq!(sse.next_audit().await["new_values"]["email"], EMAIL);

    // Erasure: bad subjects, unknown subjects, then the real one.
    let erase = |subject: &str, body: Value| {
        let path = format!("/v1/subjects/{subject}/erase");
        let app = &app;
        async move { app.post(&path, &body).await }
    };
    let problem = expect_problem(
        erase("nobody", json!({})).await,
        StatusCode::BAD_REQUEST,
        "invalid-input",
    )
    .await;
    assert_eq!(pointers(&problem), ["/path/subject"]);
    expect_problem(
        erase("customer:c9", json!({})).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    let entry = expect_json(
        erase("customer:c1", json!({"reason": "request 2026-17"})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(entry["operation"], "erasure");
    assert_eq!(entry["metadata"]["subject"], "customer:c1");
    assert_eq!(entry["reason"], "request 2026-17");
    assert!(!entry.to_string().contains(EMAIL));
    let again = expect_problem(
        erase("customer:c1", json!({})).await,
        StatusCode::CONFLICT,
        "invalid-state",
    )
    .await;
    assert!(again["erased_at"].is_string());

    // Every read path shows the marker.
    let read = expect_json(app.get("/v1/entities/customer/c1").await, StatusCode::OK).await;
    assert_eq!(read["data"], json!({"name": "Kari", "email": "[erased]"}));
    let read = expect_json(app.get("/v1/entities/shipment/s1").await, StatusCode::OK).await;
    assert_eq!(read["data"]["address"], "[erased]");
    let old = expect_json(
        app.get("/v1/entities/customer/c1?version=1").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(old["data"]["email"], "[erased]");
    let entries = app.all_entries("").await;
    let text = serde_json::to_string(&entries).unwrap();
    assert!(!text.contains(EMAIL) && !text.contains(ADDRESS), "{text}");
    let create = entries
        .iter()
        .find(|e| e["entity_id"] == "c1" && e["operation"] == "create")
        .unwrap();
    assert_eq!(create["new_values"]["email"], "[erased]");
    let mut replay =
        SseStream::open(&app, "/v1/stream?entity_type=customer&after_seq=0", None).await;
    assert_eq!(replay.next_audit().await["new_values"]["email"], "[erased]");
    let report = verify(&*raw, |_, _| {}).await.unwrap();
    assert!(report.ok(), "{:?}", report.failure);
    let stored = at_rest(&raw, &file, &["customer", "shipment"]).await;
    assert!(!stored.contains(EMAIL) && !stored.contains(ADDRESS));
}
