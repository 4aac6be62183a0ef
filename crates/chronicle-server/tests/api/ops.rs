use crate::helpers::{SCHEMA, TestApp, expect_json, expect_problem, serve};
use async_trait::async_trait;
use chronicle_core::merkle::Hash;
use chronicle_core::schema::Schema;
use chronicle_core::{EntityState, Entry};
use chronicle_server::ServerConfig;
use chronicle_store::{
    EntryQuery, Group, GroupBy, LedgerHead, RawRow, SeqExtent, Store, StoreError, StoreStats,
    WriteRequest, WriteResponse,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;

backend_tests!(
    health_and_readiness_answer_ok_on_a_working_store,
    a_recorded_verification_failure_makes_the_server_unready,
    metrics_expose_request_write_and_storage_metrics,
    openapi_documents_every_route_served,
    unknown_routes_and_methods_answer_with_problems,
);

async fn health_and_readiness_answer_ok_on_a_working_store(app: TestApp) {
    assert_eq!(
        expect_json(app.get("/healthz").await, StatusCode::OK).await["status"],
        "ok"
    );
    assert_eq!(
        expect_json(app.get("/readyz").await, StatusCode::OK).await["status"],
        "ready"
    );
}

/// A failed verification (a `security` entry tagged `integrity`, as `chronicle verify` writes
/// it) makes the server unready until a passing one is recorded.
async fn a_recorded_verification_failure_makes_the_server_unready(app: TestApp) {
    let failed = json!({"operation": "security", "summary": "ledger verification failed at seq 7", "tags": ["integrity"]});
    expect_json(
        app.post("/v1/audit/events", &failed).await,
        StatusCode::CREATED,
    )
    .await;
    let mut status = StatusCode::OK;
    for _ in 0..200 {
        status = app.get("/readyz").await.status();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let problem = expect_problem(
        app.get("/readyz").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("seq 7"),
        "{problem}"
    );
    let passed = json!({"operation": "system", "summary": "ledger verification passed", "tags": ["integrity"]});
    expect_json(
        app.post("/v1/audit/events", &passed).await,
        StatusCode::CREATED,
    )
    .await;
    for _ in 0..200 {
        status = app.get("/readyz").await.status();
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(status, StatusCode::OK);
}

async fn metrics_expose_request_write_and_storage_metrics(app: TestApp) {
    app.create("note", "n1", json!({})).await;
    app.get("/v1/entities/note/n1").await;
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = res.text().await.unwrap();
    for name in [
        "chronicle_http_requests_total{",
        "chronicle_http_request_duration_seconds_bucket{",
        "chronicle_entries_written_total",
        "chronicle_writes_total{operation=\"create\"}",
        "chronicle_db_size_bytes",
        "chronicle_ledger_entries",
        "chronicle_entities",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics:\n{text}");
    }
    // Requests are labelled by route template, not by the concrete path.
    assert!(
        text.contains("route=\"/v1/entities/{type}/{id}\""),
        "{text}"
    );
}

/// Every route this server serves, as (method, OpenAPI path).
const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/entities/{type}"),
    ("get", "/v1/entities/{type}"),
    ("get", "/v1/entities/{type}/{id}"),
    ("patch", "/v1/entities/{type}/{id}"),
    ("put", "/v1/entities/{type}/{id}"),
    ("delete", "/v1/entities/{type}/{id}"),
    ("get", "/v1/entities/{type}/{id}/history"),
    ("post", "/v1/bulk"),
    ("post", "/v1/transactions"),
    ("post", "/v1/audit/events"),
    ("get", "/v1/audit/entries"),
    ("get", "/v1/audit/entries/{id}"),
    ("get", "/v1/audit/summary"),
    ("get", "/v1/ledger/checkpoint"),
    ("get", "/v1/ledger/leaves"),
    ("get", "/v1/ledger/checkpoints"),
    ("get", "/v1/ledger/public-key"),
    ("post", "/v1/ledger/cosignatures"),
    ("get", "/v1/ledger/proof/inclusion"),
    ("get", "/v1/ledger/proof/consistency"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("post", "/v1/rollbacks/preview"),
    ("post", "/v1/rollbacks"),
    ("get", "/v1/rollbacks"),
    ("get", "/v1/rollbacks/{id}"),
    ("post", "/v1/rollbacks/{id}/approve"),
    ("post", "/v1/rollbacks/{id}/reject"),
    ("post", "/v1/rollbacks/{id}/pause"),
    ("post", "/v1/rollbacks/{id}/resume"),
    ("post", "/v1/rollbacks/{id}/stop"),
    ("post", "/v1/snapshots"),
    ("get", "/v1/snapshots"),
    ("get", "/v1/snapshots/{id}"),
    ("get", "/v1/stream"),
    ("post", "/v1/alerts/rules"),
    ("get", "/v1/alerts/rules"),
    ("delete", "/v1/alerts/rules/{id}"),
    ("get", "/v1/alerts"),
    ("post", "/v1/tokens"),
    ("get", "/v1/tokens"),
    ("delete", "/v1/tokens/{id}"),
    ("post", "/v1/subjects/{subject}/erase"),
    ("get", "/v1/whoami"),
    ("get", "/v1/lineage/{type}/{id}"),
    ("get", "/v1/lineage/{type}/{id}/impact"),
    ("get", "/v1/entities/{type}/{id}/provenance"),
];

async fn openapi_documents_every_route_served(app: TestApp) {
    let doc = expect_json(app.get("/openapi.json").await, StatusCode::OK).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        documented,
        ROUTES.len(),
        "documented operations: {:?}",
        paths.keys().collect::<Vec<_>>()
    );
    for (method, path) in ROUTES {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is documented");
        if path.starts_with("/v1/") {
            assert!(
                op["responses"]["400"]["content"]["application/problem+json"].is_object(),
                "{method} {path} documents problems"
            );
        }
        // The route is served: anything but the router's own 404/405 (path parameters filled in).
        let concrete = path.replace("{type}", "note").replace("{id}", "x");
        let res = app
            .request(
                Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                &concrete,
            )
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::NOT_FOUND || res.status() == StatusCode::METHOD_NOT_ALLOWED {
            let body: Value = res.json().await.unwrap();
            assert_ne!(body["detail"], "no such route", "{method} {path} is routed");
            assert_ne!(
                body["type"], "urn:chronicle:problem:method-not-allowed",
                "{method} {path} is routed"
            );
        }
    }
    assert!(doc["components"]["schemas"]["Entry"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    let readyz_503 = &doc["paths"]["/readyz"]["get"]["responses"]["503"]["content"];
    assert!(
        readyz_503["application/problem+json"].is_object(),
        "{readyz_503}"
    );
}

async fn unknown_routes_and_methods_answer_with_problems(app: TestApp) {
    expect_problem(
        app.get("/v2/nothing").await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    let res = app
        .request(Method::DELETE, "/v1/bulk")
        .send()
        .await
        .unwrap();
    expect_problem(res, StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed").await;
}

/// A store whose every call fails with the error `fail` makes.
struct FailingStore {
    fail: fn() -> StoreError,
}

#[async_trait]
impl Store for FailingStore {
    async fn write(&self, _: WriteRequest) -> Result<WriteResponse, StoreError> {
        Err((self.fail)())
    }
    async fn entity(&self, _: &str, _: &str) -> Result<Option<EntityState>, StoreError> {
        Err((self.fail)())
    }
    async fn list_entities(
        &self,
        _: &str,
        _: Option<&str>,
        _: usize,
    ) -> Result<Vec<EntityState>, StoreError> {
        Err((self.fail)())
    }
    async fn entry(&self, _: Uuid) -> Result<Option<Entry>, StoreError> {
        Err((self.fail)())
    }
    async fn search(&self, _: &EntryQuery) -> Result<Vec<Entry>, StoreError> {
        Err((self.fail)())
    }
    async fn summary(&self, _: &EntryQuery, _: GroupBy) -> Result<Vec<Group>, StoreError> {
        Err((self.fail)())
    }
    async fn head(&self) -> Result<LedgerHead, StoreError> {
        Err((self.fail)())
    }
    async fn rows(&self, _: u64, _: u64) -> Result<Vec<RawRow>, StoreError> {
        Err((self.fail)())
    }
    async fn seq_extent(&self, _: u64) -> Result<SeqExtent, StoreError> {
        Err((self.fail)())
    }
    async fn node(&self, _: u8, _: u64) -> Result<Option<Hash>, StoreError> {
        Err((self.fail)())
    }
    async fn stats(&self) -> Result<StoreStats, StoreError> {
        Err((self.fail)())
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Err((self.fail)())
    }
    async fn seal_states(
        &self,
        _: Vec<(String, String, serde_json::Value)>,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        Err((self.fail)())
    }
    async fn open_states(
        &self,
        _: Vec<(String, String, serde_json::Value)>,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        Err((self.fail)())
    }
}

async fn failing_app(fail: fn() -> StoreError) -> TestApp {
    let schema = Arc::new(Schema::parse(SCHEMA).unwrap());
    serve(
        Arc::new(FailingStore { fail }),
        schema,
        crate::helpers::open(ServerConfig::default()),
    )
    .await
}

#[tokio::test]
async fn an_unavailable_store_answers_503_with_retry_after() {
    let app = failing_app(|| StoreError::Unavailable {
        message: "disk gone".into(),
        source: None,
    })
    .await;
    expect_problem(
        app.get("/readyz").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;
    let res = app.post("/v1/entities/note", &json!({"data": {}})).await;
    assert_eq!(res.headers()["retry-after"], "1");
    expect_problem(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let busy = failing_app(|| StoreError::Busy("writer contention".into())).await;
    expect_problem(
        busy.get("/v1/audit/entries").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;
    // Liveness does not depend on the store, and /metrics still answers.
    expect_json(app.get("/healthz").await, StatusCode::OK).await;
    assert_eq!(app.get("/metrics").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_failing_store_answers_500_that_says_nothing_internal() {
    let app =
        failing_app(|| StoreError::Corrupt("row 17 of table entries has a bad frontier".into()))
            .await;
    for res in [
        app.get("/v1/entities/note/x").await,
        app.get("/v1/ledger/checkpoint").await,
        app.post(
            "/v1/bulk",
            &json!({"operations": [{"op": "create", "type": "note", "data": {}}]}),
        )
        .await,
    ] {
        let problem = expect_problem(res, StatusCode::INTERNAL_SERVER_ERROR, "internal").await;
        let text = problem.to_string();
        assert!(
            !text.contains("row 17") && !text.contains("frontier"),
            "{text}"
        );
    }
    let internal =
        failing_app(|| StoreError::internal_msg("sqlite said: no such table ledger_head")).await;
    let problem = expect_problem(
        internal.get("/v1/audit/summary?group_by=day").await,
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
    )
    .await;
    assert!(!problem.to_string().contains("sqlite"));
}
