//! Bad input of every kind: a 4xx problem, never a 500, and nothing written.

use crate::helpers::{TestApp, expect_json, expect_problem, pointers};
use futures::stream;
use reqwest::{Method, StatusCode};
use serde_json::json;

backend_tests!(
    malformed_json_is_refused_and_writes_nothing,
    wrong_types_are_refused_with_the_pointer_of_the_field,
    unknown_body_fields_are_refused,
    a_body_that_is_not_json_is_an_unsupported_media_type,
    a_body_that_is_not_utf8_is_refused,
    a_body_over_the_limit_is_too_large_whether_declared_or_streamed,
    json_nested_deeper_than_the_limit_is_refused_before_parsing,
    oversized_ids_and_header_values_are_refused,
    bad_query_parameter_values_are_refused,
    strings_holding_u0000_are_refused_on_every_backend,
);

/// PostgreSQL cannot store U+0000 in text or jsonb; every backend refuses it as input.
async fn strings_holding_u0000_are_refused_on_every_backend(app: TestApp) {
    let before = app.tree_size().await;
    for (method, path, body) in [
        (
            Method::POST,
            "/v1/entities/note",
            r#"{"data": {"text": "a\u0000b"}}"#,
        ),
        (
            Method::POST,
            "/v1/entities/note",
            r#"{"data": {"a\u0000": 1}}"#,
        ),
        (
            Method::POST,
            "/v1/audit/events",
            r#"{"operation": "system", "metadata": {"x": "\u0000"}}"#,
        ),
        (
            Method::POST,
            "/v1/bulk",
            r#"{"operations": [{"op": "create", "type": "note", "data": {"t": "\u0000"}}]}"#,
        ),
    ] {
        let res = raw(&app, method, path, body).await;
        expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await;
    }
    // An escaped backslash followed by the text u0000 is ordinary text.
    let res = raw(
        &app,
        Method::POST,
        "/v1/entities/note",
        r#"{"data": {"text": "\\u0000"}}"#,
    )
    .await;
    expect_json(res, StatusCode::CREATED).await;
    assert_eq!(app.tree_size().await, before + 1);
}

/// Sends raw bytes as JSON.
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    app.request(method, path)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn malformed_json_is_refused_and_writes_nothing(app: TestApp) {
    app.create("note", "n1", json!({})).await;
    let before = app.tree_size().await;
    for body in [
        "",
        "{",
        "{\"data\": }",
        "{\"id\": \"x\", \"data\": {}} trailing",
        "null",
        "[]",
        "{\"data\": {}}{}",
    ] {
        let res = raw(&app, Method::POST, "/v1/entities/note", body).await;
        expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await;
        let res = raw(&app, Method::PATCH, "/v1/entities/note/n1", body).await;
        expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await;
        let res = raw(&app, Method::POST, "/v1/bulk", body).await;
        expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await;
    }
    assert_eq!(app.tree_size().await, before);
}

async fn wrong_types_are_refused_with_the_pointer_of_the_field(app: TestApp) {
    app.create("note", "n1", json!({})).await;
    let before = app.tree_size().await;
    let cases = [
        (
            Method::PATCH,
            "/v1/entities/note/n1",
            json!({"data": {}, "expected_version": "3"}),
            "/expected_version",
        ),
        (
            Method::PUT,
            "/v1/entities/note/n1",
            json!({"data": {}, "expected_version": -1}),
            "/expected_version",
        ),
        (
            Method::POST,
            "/v1/entities/note",
            json!({"id": 5, "data": {}}),
            "/id",
        ),
        (
            Method::POST,
            "/v1/bulk",
            json!({"operations": "all of them"}),
            "/operations",
        ),
        (
            Method::POST,
            "/v1/bulk",
            json!({"operations": [], "atomic": "yes"}),
            "/atomic",
        ),
        (
            Method::POST,
            "/v1/transactions",
            json!({"operations": [{"op": "create", "type": "note", "data": {}}, {"op": "update", "type": ["note"], "id": "n1", "data": {}}]}),
            "/operations/1/type",
        ),
        (
            Method::POST,
            "/v1/audit/events",
            json!({"operation": "system", "tags": "one"}),
            "/tags",
        ),
    ];
    for (method, path, body, pointer) in cases {
        let problem = expect_problem(
            app.send_json(method.clone(), path, &body).await,
            StatusCode::BAD_REQUEST,
            "invalid-input",
        )
        .await;
        assert_eq!(pointers(&problem), [pointer], "{method} {path} {body}");
    }
    assert_eq!(app.tree_size().await, before);
}

async fn unknown_body_fields_are_refused(app: TestApp) {
    app.create("note", "n1", json!({"a": 1})).await;
    let before = app.tree_size().await;
    // A misspelt expected_version must not silently turn off the version check.
    let res = app
        .send_json(
            Method::PATCH,
            "/v1/entities/note/n1",
            &json!({"data": {"a": 2}, "expected_verison": 7}),
        )
        .await;
    let problem = expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("expected_verison"),
        "{problem}"
    );
    let res = app
        .post(
            "/v1/bulk",
            &json!({"operations": [{"op": "create", "type": "note", "data": {}, "extra": 1}]}),
        )
        .await;
    expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await;
    assert_eq!(app.tree_size().await, before);
}

async fn a_body_that_is_not_json_is_an_unsupported_media_type(app: TestApp) {
    let before = app.tree_size().await;
    let body = r#"{"id": "n1", "data": {}}"#;
    let res = app
        .request(Method::POST, "/v1/entities/note")
        .body(body)
        .send()
        .await
        .unwrap();
    expect_problem(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
    )
    .await;
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonx",
    ] {
        let res = app
            .request(Method::POST, "/v1/entities/note")
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        expect_problem(
            res,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        )
        .await;
    }
    assert_eq!(app.tree_size().await, before);
    // Parameters and structured +json types are fine.
    let res = app
        .request(Method::POST, "/v1/entities/note")
        .header("content-type", "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    expect_json(res, StatusCode::CREATED).await;
}

async fn a_body_that_is_not_utf8_is_refused(app: TestApp) {
    let before = app.tree_size().await;
    let res = raw(
        &app,
        Method::POST,
        "/v1/entities/note",
        b"{\"id\": \"n1\", \"data\": {\"t\": \"\xff\xfe\"}}".to_vec(),
    )
    .await;
    let problem = expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await;
    assert!(problem["detail"].as_str().unwrap().contains("UTF-8"));
    let res = app
        .request(Method::POST, "/v1/entities/note")
        .header(
            "x-reason",
            reqwest::header::HeaderValue::from_bytes(b"bad \xff reason").unwrap(),
        )
        .json(&json!({"data": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        pointers(&expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await),
        ["/headers/x-reason"]
    );
    assert_eq!(app.tree_size().await, before);
}

async fn a_body_over_the_limit_is_too_large_whether_declared_or_streamed(app: TestApp) {
    let before = app.tree_size().await;
    let big = json!({"id": "big", "data": {"blob": "x".repeat(1024 * 1024 + 1)}});
    expect_problem(
        app.post("/v1/entities/note", &big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
    )
    .await;
    // Without a Content-Length (chunked), the limit applies while reading.
    let bytes = serde_json::to_vec(&big).unwrap();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let res = raw(
        &app,
        Method::POST,
        "/v1/entities/note",
        reqwest::Body::wrap_stream(stream::iter(chunks)),
    )
    .await;
    expect_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large").await;
    assert_eq!(app.tree_size().await, before);
    // Just under the limit is accepted.
    let fits = json!({"id": "fits", "data": {"blob": "x".repeat(1024 * 1024 - 100)}});
    expect_json(
        app.post("/v1/entities/note", &fits).await,
        StatusCode::CREATED,
    )
    .await;
}

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

async fn json_nested_deeper_than_the_limit_is_refused_before_parsing(app: TestApp) {
    let before = app.tree_size().await;
    let max = chronicle_core::limits::MAX_JSON_DEPTH;
    // The body object is one level, `data` another: `data.x` may nest max - 2 more.
    let body = |inner: usize| format!(r#"{{"id": "deep", "data": {{"x": {}}}}}"#, nested(inner));
    let res = raw(&app, Method::POST, "/v1/entities/note", body(max - 1)).await;
    let problem = expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("nested"),
        "{problem}"
    );
    // Far deeper than any recursive parser's stack would survive.
    let res = raw(&app, Method::POST, "/v1/bulk", nested(200_000)).await;
    expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await;
    assert_eq!(app.tree_size().await, before);
    let res = raw(&app, Method::POST, "/v1/entities/note", body(max - 2)).await;
    let created = expect_json(res, StatusCode::CREATED).await;
    assert_eq!(chronicle_core::limits::depth(&created["data"]), max);
}

async fn oversized_ids_and_header_values_are_refused(app: TestApp) {
    app.create("note", "n1", json!({})).await;
    let before = app.tree_size().await;
    let long = "x".repeat(257);
    for method in [Method::GET, Method::DELETE] {
        let res = app
            .request(method, &format!("/v1/entities/note/{long}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            pointers(&expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await),
            ["/path/id"]
        );
    }
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/v1/entities/note/{long}"),
            &json!({"data": {}}),
        )
        .await;
    assert_eq!(
        pointers(&expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await),
        ["/path/id"]
    );
    let res = app
        .post("/v1/entities/note", &json!({"id": long, "data": {}}))
        .await;
    assert_eq!(
        pointers(&expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await),
        ["/id"]
    );
    let res = app
        .post("/v1/entities/Not%20A%20Type", &json!({"data": {}}))
        .await;
    assert_eq!(
        pointers(&expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await),
        ["/path/type"]
    );
    // 256 bytes is fine.
    let ok = "y".repeat(256);
    expect_json(
        app.post("/v1/entities/note", &json!({"id": ok, "data": {}}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let after_ok = app.tree_size().await;
    assert_eq!(after_ok, before + 1);

    for (header, value) in [
        ("x-actor-id", long.clone()),
        ("x-session-id", long.clone()),
        ("x-correlation-id", long.clone()),
        ("x-reason", "r".repeat(4097)),
        ("user-agent", "u".repeat(4097)),
    ] {
        let res = app
            .request(Method::POST, "/v1/entities/note")
            .header(header, value)
            .json(&json!({"data": {}}))
            .send()
            .await
            .unwrap();
        let problem = expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await;
        assert_eq!(pointers(&problem), [format!("/headers/{header}")]);
    }
    // Two actors for one request: refused rather than one picked.
    let res = app
        .request(Method::POST, "/v1/entities/note")
        .header("x-actor-id", "alice")
        .header("x-actor-id", "mallory")
        .json(&json!({"data": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        pointers(&expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await),
        ["/headers/x-actor-id"]
    );
    assert_eq!(app.tree_size().await, after_ok);
}

async fn bad_query_parameter_values_are_refused(app: TestApp) {
    app.create("note", "n1", json!({})).await;
    let before = app.tree_size().await;
    for (path, pointer) in [
        ("/v1/audit/entries?order=sideways", "/query/order"),
        ("/v1/audit/entries?limit=ten", "/query/limit"),
        ("/v1/audit/entries?limit=0", "/query/limit"),
        ("/v1/audit/entries?limit=1001", "/query/limit"),
        ("/v1/audit/entries?cursor=%%%", "/query/cursor"),
        ("/v1/audit/entries?cursor=bm90LWEtbnVtYmVy", "/query/cursor"),
        ("/v1/audit/entries?from=yesterday", "/query/from"),
        ("/v1/audit/entries?to=2026-13-01T00:00:00Z", "/query/to"),
        (
            "/v1/audit/entries?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            "/query/from",
        ),
        ("/v1/audit/entries?operation=explode", "/query/operation"),
        ("/v1/audit/entries?severity=apocalyptic", "/query/severity"),
        (
            "/v1/audit/entries?transaction_id=not-a-uuid",
            "/query/transaction_id",
        ),
        ("/v1/audit/entries?parent_id=1", "/query/parent_id"),
        ("/v1/audit/entries?field=status", "/query/field"),
        (
            "/v1/audit/entries?entity_type=Bad%20Type",
            "/query/entity_type",
        ),
        ("/v1/audit/entries?actor=", "/query/actor"),
        ("/v1/audit/entries?acter=alice", "/query/acter"),
        ("/v1/audit/entries?actor=a&actor=b", "/query/actor"),
        ("/v1/audit/summary?group_by=day&order=asc", "/query/order"),
        ("/v1/entities/note?limit=-1", "/query/limit"),
        ("/v1/entities/note?cursor=!!", "/query/cursor"),
        ("/v1/entities/note/n1?version=abc", "/query/version"),
        ("/v1/entities/note/n1?as_of=noon", "/query/as_of"),
        ("/v1/entities/note/n1/history?limit=1e3", "/query/limit"),
        ("/v1/ledger/checkpoint?verbose=1", "/query/verbose"),
        // Text that is not UTF-8 once decoded, on every route (those without parameters too).
        ("/v1/audit/entries?entity_id=%FF", "/query/entity_id"),
        ("/v1/audit/entries?actor=ok&tag=%E2%9C", "/query/tag"),
        ("/v1/entities/note?cursor=%C3%28", "/query/cursor"),
        ("/v1/entities/note/n1?version=%FF", "/query/version"),
        ("/healthz?x=%FF", "/query/x"),
        ("/v1/ledger/checkpoint?%FF=1", "/query/\u{FFFD}"),
    ] {
        let res = app.get(path).await;
        let problem = expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await;
        assert_eq!(pointers(&problem), [pointer], "{path}");
    }
    let res = app
        .request(Method::DELETE, "/v1/entities/note/n1?expected_version=one")
        .send()
        .await
        .unwrap();
    assert_eq!(
        pointers(&expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await),
        ["/query/expected_version"]
    );
    let res = app
        .send_json(
            Method::POST,
            "/v1/entities/note?x=%FF",
            &json!({"data": {}}),
        )
        .await;
    assert_eq!(
        pointers(&expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await),
        ["/query/x"]
    );
    let res = app
        .send_json(
            Method::PATCH,
            "/v1/entities/note/n1?expected_version=1",
            &json!({"data": {"a": 1}}),
        )
        .await;
    assert_eq!(
        pointers(&expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await),
        ["/query/expected_version"]
    );
    assert_eq!(app.tree_size().await, before);
}
