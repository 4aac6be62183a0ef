//! Authentication, roles, masking, redaction, access and security entries — each test on
//! both backends, against a server with authentication on.

use crate::helpers::{Backend, TestApp, expect_json, expect_problem, spawn_configured};
use crate::sse::SseStream;
use chronicle_server::ServerConfig;
use chronicle_server::auth::{AuthSettings, ConfiguredToken, Role};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The admin token the test server is configured with.
const ROOT: &str = "test-root-token-0123456789abcdef";

macro_rules! secure_tests {
    ($($name:ident),* $(,)?) => {
        secure_tests!(@backend sqlite, Sqlite; $($name),*);
        secure_tests!(@backend postgres, Postgres; $($name),*);
    };
    (@backend $module:ident, $variant:ident; $($name:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(app) = super::secure_app(crate::helpers::Backend::$variant).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
}

secure_tests!(
    every_endpoint_answers_every_role_as_the_matrix_says,
    the_actor_is_the_credentials_and_only_a_service_speaks_for_another,
    sensitive_values_are_masked_for_roles_without_unmask_rights_in_every_read_path,
    reads_of_the_audit_trail_are_themselves_recorded,
    refusals_and_token_changes_are_security_entries,
    card_numbers_never_reach_the_database,
    a_stream_ends_once_its_token_is_revoked,
    an_expired_token_is_refused,
    bad_token_requests_are_refused_by_field,
    lineage_reads_are_masked_for_an_operator_and_recorded_as_access,
);

async fn secure_app(backend: Backend) -> Option<TestApp> {
    spawn_configured(backend, secure_config()).await
}

fn secure_config() -> ServerConfig {
    ServerConfig {
        auth: AuthSettings {
            tokens: vec![ConfiguredToken::new("root", Role::Admin, ROOT)],
            failure_burst: 3,
            token_recheck_secs: 0,
            ..AuthSettings::default()
        },
        ..ServerConfig::default()
    }
}

fn as_(app: &TestApp, token: &str, method: Method, path: &str) -> RequestBuilder {
    app.request(method, path).bearer_auth(token)
}

/// Makes a token of `role` through the API and returns it.
async fn token(app: &TestApp, name: &str, role: &str) -> String {
    let res = as_(app, ROOT, Method::POST, "/v1/tokens")
        .json(&json!({"name": name, "role": role, "email": format!("{name}@example.com")}))
        .send()
        .await
        .unwrap();
    let body = expect_json(res, StatusCode::CREATED).await;
    assert_eq!(body["role"], role);
    body["token"].as_str().unwrap().to_owned()
}

/// Revokes a token through the API, as the admin.
async fn revoke(app: &TestApp, token: &str) -> Value {
    let id = token.split('_').nth(1).unwrap();
    let res = as_(app, ROOT, Method::DELETE, &format!("/v1/tokens/{id}"))
        .send()
        .await
        .unwrap();
    expect_json(res, StatusCode::OK).await
}

/// Which roles each permission admits, written out here (not taken from the code) so that
/// the test checks the code against the documented matrix.
fn expected_roles(permission: &str) -> &'static [&'static str] {
    const ALL: &[&str] = &[
        "admin", "operator", "approver", "auditor", "viewer", "service",
    ];
    match permission {
        "Public" | "LedgerRead" | "EntityRead" | "AuditRead" => ALL,
        "EntityWrite" | "EventWrite" | "RollbackRequest" | "SnapshotWrite" => {
            &["admin", "operator", "service"]
        }
        "RollbackApprove" => &["admin", "approver"],
        "AlertAdmin" | "TokenAdmin" | "Erase" => &["admin"],
        "LineageRead" => &["admin", "operator", "auditor"],
        other => panic!("the matrix has no line for permission {other}"),
    }
}

/// Every (method, path) of the OpenAPI document — the routes the server has.
fn endpoints(doc: &Value) -> Vec<(Method, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                out.push((method.to_uppercase().parse().unwrap(), path.clone()));
            }
        }
    }
    out
}

async fn every_endpoint_answers_every_role_as_the_matrix_says(app: TestApp) {
    let doc = expect_json(app.get("/openapi.json").await, StatusCode::OK).await;
    let endpoints = endpoints(&doc);
    assert!(endpoints.len() > 40, "{} endpoints", endpoints.len());
    // The document says which routes take a token.
    let responses = |path: &str| doc["paths"][path]["get"]["responses"].clone();
    assert!(responses("/v1/audit/entries").get("401").is_some());
    assert!(responses("/v1/ledger/checkpoint").get("401").is_none());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let mut tokens = BTreeMap::new();
    for role in Role::ALL {
        tokens.insert(
            role.as_str(),
            token(&app, &format!("t-{role}"), role.as_str()).await,
        );
    }
    let revoked = token(&app, "gone", "admin").await;
    revoke(&app, &revoked).await;

    for (method, path) in endpoints {
        // A new endpoint without a rule fails here.
        let permission = match chronicle_server::auth::rules::lookup(&method, &path) {
            chronicle_server::auth::rules::Lookup::Rule(p) => format!("{p:?}"),
            other => panic!("{method} {path} has no access rule ({other:?})"),
        };
        let allowed = expected_roles(&permission);
        let concrete = path
            .replace("{type}", "shipment")
            .replace("{id}", "0190c5a2-0000-7000-8000-000000000000")
            .replace("{subject}", "customer:nobody");
        let send = |auth: Option<String>| {
            let mut req = app.request(method.clone(), &concrete);
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            if method != Method::GET && method != Method::DELETE {
                req = req.json(&json!({}));
            }
            async move { req.send().await.unwrap().status() }
        };
        for (role, token) in &tokens {
            let status = send(Some(format!("Bearer {token}"))).await;
            if allowed.contains(role) {
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{role} may {method} {path} ({permission}) but got {status}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{role} may not {method} {path} ({permission})"
                );
            }
        }
        let public = permission == "Public";
        for (what, auth) in [
            ("no token", None),
            ("a revoked token", Some(format!("Bearer {revoked}"))),
            ("a malformed header", Some("Token abc".to_owned())),
            (
                "an unknown token",
                Some("Bearer chr_0000_abcdefghijklmnopqrstu".to_owned()),
            ),
        ] {
            let status = send(auth).await;
            if public {
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{method} {path} is public but {what} got {status}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} with {what}"
                );
            }
        }
    }
    // The 401 is a problem document that says how to authenticate.
    let res = app.get("/v1/audit/entries").await;
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer realm=\"chronicle\""
    );
    expect_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = as_(&app, &tokens["viewer"], Method::POST, "/v1/tokens")
        .json(&json!({"name": "x", "role": "admin"}))
        .send()
        .await
        .unwrap();
    expect_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
}

async fn the_actor_is_the_credentials_and_only_a_service_speaks_for_another(app: TestApp) {
    let operator = token(&app, "olga", "operator").await;
    let service = token(&app, "dashboard", "service").await;
    // An operator's headers claiming someone else are ignored.
    let res = as_(&app, &operator, Method::POST, "/v1/entities/note")
        .header("x-actor-id", "mallory")
        .header("x-actor-role", "admin")
        .json(&json!({"id": "n1", "data": {"t": 1}}))
        .send()
        .await
        .unwrap();
    let body = expect_json(res, StatusCode::CREATED).await;
    assert_eq!(
        body["entry"]["actor"],
        json!({"id": "olga", "email": "olga@example.com", "role": "operator"})
    );
    // A service names its user; the entry says which credential vouched.
    let res = as_(&app, &service, Method::POST, "/v1/entities/note")
        .header("x-actor-id", "u-42")
        .header("x-actor-email", "ana@cargo.example")
        .header("x-actor-role", "dispatcher")
        .json(&json!({"id": "n2", "data": {"t": 2}}))
        .send()
        .await
        .unwrap();
    let body = expect_json(res, StatusCode::CREATED).await;
    let actor = &body["entry"]["actor"];
    assert_eq!(actor["id"], "u-42");
    assert_eq!(actor["email"], "ana@cargo.example");
    assert_eq!(actor["role"], "dispatcher");
    assert!(
        actor["via"]
            .as_str()
            .unwrap()
            .starts_with("dashboard (token "),
        "{actor}"
    );
    // Without headers a service is itself.
    let res = as_(&app, &service, Method::POST, "/v1/entities/note")
        .json(&json!({"id": "n3", "data": {"t": 3}}))
        .send()
        .await
        .unwrap();
    let body = expect_json(res, StatusCode::CREATED).await;
    assert_eq!(body["entry"]["actor"]["id"], "dashboard");
    assert!(body["entry"]["actor"].get("via").is_none());
    // Only admins and services record security events.
    let res = as_(&app, &operator, Method::POST, "/v1/audit/events")
        .json(&json!({"operation": "security", "summary": "verification failed", "tags": ["integrity"]}))
        .send()
        .await
        .unwrap();
    expect_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
}

async fn sensitive_values_are_masked_for_roles_without_unmask_rights_in_every_read_path(
    app: TestApp,
) {
    let operator = token(&app, "olga", "operator").await;
    let viewer = token(&app, "vic", "viewer").await;
    let auditor = token(&app, "aud", "auditor").await;
    const EMAIL: &str = "ada.lovelace@example.com";
    const MASKED: &str = "****.com";

    // Streams open before the write, one per role.
    let mut viewer_stream = SseStream::from_request(as_(
        &app,
        &viewer,
        Method::GET,
        "/v1/stream?entity_type=customer",
    ))
    .await;
    let mut auditor_stream = SseStream::from_request(as_(
        &app,
        &auditor,
        Method::GET,
        "/v1/stream?entity_type=customer",
    ))
    .await;

    let res = as_(&app, &operator, Method::POST, "/v1/entities/customer")
        .json(&json!({"id": "c1", "data": {"email": EMAIL, "name": "Ada"}}))
        .send()
        .await
        .unwrap();
    // The operator (no unmask right) sees its own write masked too.
    let body = expect_json(res, StatusCode::CREATED).await;
    assert_eq!(body["data"]["email"], MASKED);
    let entry_id = body["entry"]["id"].as_str().unwrap().to_owned();

    for (who, token, email) in [
        ("viewer", &viewer, MASKED),
        ("operator", &operator, MASKED),
        ("auditor", &auditor, EMAIL),
        ("admin", &ROOT.to_owned(), EMAIL),
    ] {
        let get = |path: String| {
            let req = as_(&app, token, Method::GET, &path);
            async move { expect_json(req.send().await.unwrap(), StatusCode::OK).await }
        };
        let entity = get("/v1/entities/customer/c1".into()).await;
        assert_eq!(entity["data"]["email"], email, "{who}: entity read");
        assert_eq!(entity["data"]["name"], "Ada", "{who}: not sensitive");
        let list = get("/v1/entities/customer".into()).await;
        assert_eq!(list["entities"][0]["data"]["email"], email, "{who}: list");
        let history = get("/v1/entities/customer/c1/history".into()).await;
        let create = &history["entries"][0];
        assert_eq!(create["new_values"]["email"], email, "{who}: history");
        let search = get("/v1/audit/entries?entity_id=c1&operation=create".into()).await;
        let found = &search["entries"][0];
        assert_eq!(found["new_values"]["email"], email, "{who}: search");
        let change = found["change_set"]["field_changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["path"] == "/email")
            .expect("a change of /email");
        assert_eq!(change["new"], email, "{who}: search change set");
        let one = get(format!("/v1/audit/entries/{entry_id}")).await;
        assert_eq!(one["new_values"]["email"], email, "{who}: entry by id");
    }
    // A rollback preview shows what the entity holds now and will hold: masked too.
    let body = json!({"target": {"kind": "entry", "entry_id": entry_id}});
    for (token, email) in [(&operator, MASKED), (&ROOT.to_owned(), EMAIL)] {
        let res = as_(&app, token, Method::POST, "/v1/rollbacks/preview")
            .json(&body)
            .send()
            .await
            .unwrap();
        let plan = expect_json(res, StatusCode::OK).await;
        assert_eq!(plan["operations"][0]["before"]["email"], email, "{plan}");
    }
    let masked = viewer_stream.next_audit().await;
    assert_eq!(masked["new_values"]["email"], MASKED, "viewer: stream");
    let clear = auditor_stream.next_audit().await;
    assert_eq!(clear["new_values"]["email"], EMAIL, "auditor: stream");
}

/// Entries of `operation` (as the admin sees them).
async fn entries_of(app: &TestApp, operation: &str) -> Vec<Value> {
    let res = as_(
        app,
        ROOT,
        Method::GET,
        &format!("/v1/audit/entries?operation={operation}&limit=1000"),
    )
    .send()
    .await
    .unwrap();
    expect_json(res, StatusCode::OK).await["entries"]
        .as_array()
        .unwrap()
        .clone()
}

async fn reads_of_the_audit_trail_are_themselves_recorded(app: TestApp) {
    let auditor = token(&app, "aud", "auditor").await;
    let res = as_(
        &app,
        &auditor,
        Method::GET,
        "/v1/audit/entries?operation=security&limit=5",
    )
    .send()
    .await
    .unwrap();
    let found = expect_json(res, StatusCode::OK).await["entries"]
        .as_array()
        .unwrap()
        .len();
    let res = as_(
        &app,
        &auditor,
        Method::GET,
        "/v1/audit/summary?group_by=actor",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let _stream = SseStream::from_request(as_(
        &app,
        &auditor,
        Method::GET,
        "/v1/stream?severity=error",
    ))
    .await;
    let access = entries_of(&app, "access").await;
    let by_auditor: Vec<&Value> = access
        .iter()
        .filter(|e| e["actor"]["id"] == "aud")
        .collect();
    assert_eq!(by_auditor.len(), 3, "{access:#?}");
    let search = by_auditor[0];
    assert_eq!(search["metadata"]["path"], "/v1/audit/entries");
    assert_eq!(search["metadata"]["query"], "operation=security&limit=5");
    assert_eq!(search["metadata"]["returned"], found);
    assert_eq!(search["metadata"]["count"], 1);
    assert_eq!(search["metadata"]["route"], "/v1/audit/entries");
    assert_eq!(search["actor"]["role"], "auditor");
    assert_eq!(by_auditor[1]["metadata"]["path"], "/v1/audit/summary");
    assert_eq!(by_auditor[2]["metadata"]["path"], "/v1/stream");
    assert_eq!(by_auditor[2]["metadata"]["query"], "severity=error");
    // The admin's own search above is on the record as well.
    let again = entries_of(&app, "access").await;
    assert!(
        again.iter().any(|e| e["actor"]["id"] == "root"),
        "{again:#?}"
    );
}

async fn refusals_and_token_changes_are_security_entries(app: TestApp) {
    let viewer = token(&app, "vic", "viewer").await;
    // Forbidden: refused every time, recorded once per credential, route and window.
    for _ in 0..3 {
        let res = as_(&app, &viewer, Method::POST, "/v1/entities/note")
            .json(&json!({"data": {}}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    // Failed authentications: one entry per burst (3 here) from one address.
    for _ in 0..4 {
        let res = app
            .request(Method::GET, "/v1/audit/entries")
            .bearer_auth("chr_0000_wrongwrongwrongwrong")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(revoke(&app, &viewer).await["revoked"], true);
    let res = as_(&app, &viewer, Method::GET, "/v1/audit/entries")
        .send()
        .await
        .unwrap();
    let problem = expect_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(problem["detail"].as_str().unwrap().contains("revoked"));

    let security = entries_of(&app, "security").await;
    let tagged = |tag: &str| -> Vec<&Value> {
        security
            .iter()
            .filter(|e| e["tags"].as_array().unwrap().iter().any(|t| t == tag))
            .collect()
    };
    let forbidden = tagged("forbidden");
    assert_eq!(forbidden.len(), 1, "{security:#?}");
    assert_eq!(forbidden[0]["actor"]["id"], "vic");
    assert_eq!(forbidden[0]["metadata"]["path"], "/v1/entities/{type}");
    let bursts = tagged("authentication");
    assert_eq!(bursts.len(), 1, "{security:#?}");
    assert_eq!(bursts[0]["ip"], "127.0.0.1");
    assert_eq!(bursts[0]["severity"], "error");
    let token_changes = tagged("token");
    // vic created, then revoked.
    assert_eq!(token_changes.len(), 2, "{security:#?}");
    assert!(
        token_changes[1]["summary"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    assert_eq!(token_changes[1]["actor"]["id"], "root");
    // The token record holds a hash, never the secret.
    let secret = viewer.rsplit_once('_').unwrap().1;
    let size = app.tree_size_admin().await;
    let rows = app.store.rows(1, size).await.unwrap();
    assert!(
        rows.iter()
            .all(|r| !String::from_utf8_lossy(&r.canonical).contains(secret))
    );
}

async fn card_numbers_never_reach_the_database(app: TestApp) {
    const CARD: &str = "4111111111111111";
    const SPACED: &str = "4111 1111 1111 1111";
    let operator = token(&app, "olga", "operator").await;
    let res = as_(&app, &operator, Method::POST, "/v1/entities/note")
        .header("x-reason", format!("customer paid with {SPACED}"))
        .json(&json!({"id": "n1", "data": {"payment": CARD, "memo": format!("card {SPACED}")}}))
        .send()
        .await
        .unwrap();
    let body = expect_json(res, StatusCode::CREATED).await;
    assert_eq!(body["data"]["payment"], "[redacted:card]");
    assert_eq!(
        body["entry"]["reason"],
        "customer paid with [redacted:card]"
    );
    let res = as_(&app, &operator, Method::POST, "/v1/audit/events")
        .json(&json!({"operation": "config", "summary": format!("saved {CARD}"), "metadata": {"card": CARD}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);

    // What the store holds (PostgreSQL and SQLite alike): entries' canonical bytes and data.
    let size = app.tree_size_admin().await;
    let rows = app.store.rows(1, size).await.unwrap();
    assert_eq!(rows.len() as u64, size);
    for row in &rows {
        let text = String::from_utf8_lossy(&row.canonical);
        assert!(!text.contains(CARD) && !text.contains(SPACED), "{text}");
    }
    let stored = app.store.entity("note", "n1").await.unwrap().unwrap();
    assert!(!stored.data.to_string().contains(CARD));
    // And, for SQLite, the raw database files themselves.
    if app.backend == Backend::Sqlite {
        let dir = app.data_dir().unwrap();
        for entry in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            for needle in [CARD, SPACED] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "{needle} found in the database files"
                );
            }
        }
    }
}

impl TestApp {
    /// The tree size, read with the admin token.
    async fn tree_size_admin(&self) -> u64 {
        let res = as_(self, ROOT, Method::GET, "/v1/ledger/checkpoint")
            .send()
            .await
            .unwrap();
        expect_json(res, StatusCode::OK).await["tree_size"]
            .as_u64()
            .unwrap()
    }
}

async fn a_stream_ends_once_its_token_is_revoked(app: TestApp) {
    let viewer = token(&app, "vic", "viewer").await;
    let mut stream = SseStream::from_request(as_(
        &app,
        &viewer,
        Method::GET,
        "/v1/stream?entity_type=note",
    ))
    .await;
    let write = |id: &'static str| {
        let req =
            as_(&app, ROOT, Method::POST, "/v1/entities/note").json(&json!({"id": id, "data": {}}));
        async move { assert_eq!(req.send().await.unwrap().status(), StatusCode::CREATED) }
    };
    write("n1").await;
    assert_eq!(stream.next_audit().await["entity_id"], "n1");
    revoke(&app, &viewer).await;
    write("n2").await;
    // The next event finds the token revoked: the stream ends instead of delivering it.
    assert_eq!(stream.next().await, None);
}

async fn an_expired_token_is_refused(app: TestApp) {
    // A token whose expiry has passed, written as the API would have written it.
    let secret = "an-expired-secret-0123456789";
    let data = json!({
        "name": "old", "role": "viewer", "email": null,
        "secret_sha256": hex::encode(chronicle_server::auth::tokens::digest(secret)),
        "expires_at": "2020-01-01T00:00:00.000000Z",
    });
    let req = chronicle_store::WriteRequest {
        context: chronicle_core::RequestContext {
            system: true,
            ..Default::default()
        },
        kind: chronicle_store::WriteKind::Single(chronicle_core::write::EntityOp::Create {
            entity_type: "_token".into(),
            id: Some("0ld".into()),
            data,
        }),
    };
    app.store.write(req).await.unwrap();
    let res = app
        .request(Method::GET, "/v1/audit/entries")
        .bearer_auth(format!("chr_0ld_{secret}"))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("expired"),
        "{problem}"
    );
    // Expired is not revoked: the token is still listed.
    let listed = as_(&app, ROOT, Method::GET, "/v1/tokens")
        .send()
        .await
        .unwrap();
    let listed = expect_json(listed, StatusCode::OK).await;
    assert!(
        listed["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == "0ld")
    );
}

/// Several nodes share one ledger only on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_token_made_or_revoked_on_one_node_holds_on_every_node() {
    let Some(app) = secure_app(Backend::Postgres).await else {
        return;
    };
    let b = crate::helpers::spawn_second_node_configured(&app, secure_config()).await;
    let viewer = token(&app, "vic", "viewer").await;
    let on_b = |token: String| {
        let req = as_(&b, &token, Method::GET, "/v1/audit/entries?limit=1");
        async move { req.send().await.unwrap().status() }
    };
    assert_eq!(on_b(viewer.clone()).await, StatusCode::OK);
    revoke(&app, &viewer).await;
    // No cache anywhere: the very next request on the other node is refused.
    assert_eq!(on_b(viewer).await, StatusCode::UNAUTHORIZED);
}

async fn bad_token_requests_are_refused_by_field(app: TestApp) {
    let before = app.store.head().await.unwrap().tree_size;
    let res = as_(&app, ROOT, Method::POST, "/v1/tokens")
        .json(&json!({"name": "x".repeat(300), "role": "root", "expires_in_days": 0}))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await;
    assert_eq!(
        crate::helpers::pointers(&problem),
        ["/name", "/role", "/expires_in_days"]
    );
    let res = as_(&app, ROOT, Method::DELETE, "/v1/tokens/nosuchtoken")
        .send()
        .await
        .unwrap();
    expect_problem(res, StatusCode::NOT_FOUND, "not-found").await;
    // Refused requests wrote nothing.
    assert_eq!(app.store.head().await.unwrap().tree_size, before);
}

async fn lineage_reads_are_masked_for_an_operator_and_recorded_as_access(app: TestApp) {
    let email = "first.address@example.com";
    let res = as_(&app, ROOT, Method::POST, "/v1/entities/customer")
        .json(&json!({"id": "c1", "data": {"email": email}}))
        .send()
        .await
        .unwrap();
    expect_json(res, StatusCode::CREATED).await;
    let operator = token(&app, "op", "operator").await;
    let auditor = token(&app, "aud", "auditor").await;
    let get = |token: String, path: &'static str| {
        let app = &app;
        async move {
            let res = as_(app, &token, Method::GET, path).send().await.unwrap();
            expect_json(res, StatusCode::OK).await
        }
    };
    let provenance = "/v1/entities/customer/c1/provenance?field=/email";
    let masked = get(operator.clone(), provenance).await;
    assert_eq!(masked["value"], "****.com", "{masked}");
    assert_eq!(masked["chain"][0]["new"], "****.com");
    let plain = get(auditor.clone(), provenance).await;
    assert_eq!(plain["value"], email);
    let impact = get(operator.clone(), "/v1/lineage/customer/c1/impact").await;
    let before = &impact["preview"]["operations"][0]["before"]["email"];
    assert_eq!(before, "****.com", "{impact}");
    get(auditor, "/v1/lineage/customer/c1").await;
    let res = as_(
        &app,
        ROOT,
        Method::GET,
        "/v1/audit/entries?operation=access&limit=100",
    )
    .send()
    .await
    .unwrap();
    let entries = expect_json(res, StatusCode::OK).await;
    let summaries: Vec<&str> = entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["summary"].as_str())
        .collect();
    for what in [
        "provenance of customer c1 /email",
        "impact of customer c1",
        "lineage of customer c1",
    ] {
        assert!(
            summaries.iter().any(|s| s.starts_with(what)),
            "{what} in {summaries:?}"
        );
    }
}
