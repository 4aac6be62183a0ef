//! What is recorded is what the client sent: numbers are kept exactly or refused, and a key
//! given twice in one object is refused at any depth, on every route that takes a body.

use crate::helpers::{TestApp, expect_json, expect_problem, pointers};
use reqwest::{Method, StatusCode};
use serde_json::json;

backend_tests!(
    numbers_a_double_cannot_hold_are_refused_on_every_route_and_nothing_is_written,
    numbers_a_double_holds_come_back_with_the_value_sent,
    duplicate_keys_at_any_depth_are_refused_on_every_route_and_nothing_is_written,
);

/// Every route that records client JSON, with `{}` where the value under test goes and the
/// pointer at which that value sits.
const BODIES: &[(&str, &str, &str, &str)] = &[
    (
        "POST",
        "/v1/entities/note",
        r#"{"data": {"v": {}}}"#,
        "/data/v",
    ),
    (
        "POST",
        "/v1/entities/note",
        r#"{"id": "n2", "data": {"deep": [{"v": {}}]}}"#,
        "/data/deep/0/v",
    ),
    (
        "PUT",
        "/v1/entities/note/n1",
        r#"{"data": {"v": {}}}"#,
        "/data/v",
    ),
    (
        "PATCH",
        "/v1/entities/note/n1",
        r#"{"data": {"o": {"v": {}}}}"#,
        "/data/o/v",
    ),
    (
        "POST",
        "/v1/bulk",
        r#"{"operations": [{"op": "create", "type": "note", "data": {"v": 1}}, {"op": "update", "type": "note", "id": "n1", "data": {"v": {}}}]}"#,
        "/operations/1/data/v",
    ),
    (
        "POST",
        "/v1/transactions",
        r#"{"operations": [{"op": "replace", "type": "note", "id": "n1", "data": {"v": {}}}]}"#,
        "/operations/0/data/v",
    ),
    (
        "POST",
        "/v1/audit/events",
        r#"{"operation": "system", "metadata": {"m": [{}]}}"#,
        "/metadata/m/0",
    ),
];

async fn send(app: &TestApp, method: &str, path: &str, body: String) -> reqwest::Response {
    app.request(Method::from_bytes(method.as_bytes()).unwrap(), path)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn numbers_a_double_cannot_hold_are_refused_on_every_route_and_nothing_is_written(
    app: TestApp,
) {
    app.create("note", "n1", json!({"v": 0})).await;
    let before = app.tree_size().await;
    for number in [
        "9007199254740993",
        "-9007199254740993",
        "123456789012345678.99",
        "1e400",
        "-1e400",
        "1e-400",
        "-0",
        "-0.0",
    ] {
        for (method, path, template, pointer) in BODIES {
            let res = send(&app, method, path, template.replace("{}", number)).await;
            let problem = expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await;
            assert_eq!(
                pointers(&problem),
                [*pointer],
                "{number} on {method} {path}"
            );
        }
    }
    assert_eq!(app.tree_size().await, before);
}

async fn numbers_a_double_holds_come_back_with_the_value_sent(app: TestApp) {
    let body = r#"{"id": "k", "data": {"a": 9007199254740992, "b": 9007199254740991,
        "c": -9007199254740992, "d": 1.50, "e": 1e2, "f": 0.1, "g": 5e-324,
        "h": 1.7976931348623157e308, "i": 0.30000000000000004, "j": 2.5E-3, "z": 0}}"#;
    let res = send(&app, "POST", "/v1/entities/note", body.to_owned()).await;
    expect_json(res, StatusCode::CREATED).await;
    let read = expect_json(app.get("/v1/entities/note/k").await, StatusCode::OK).await;
    let data = &read["data"];
    assert_eq!(data["a"].as_u64(), Some(9_007_199_254_740_992));
    assert_eq!(data["b"].as_u64(), Some(9_007_199_254_740_991));
    assert_eq!(data["c"].as_i64(), Some(-9_007_199_254_740_992));
    let floats = [
        ("d", 1.5),
        ("e", 100.0),
        ("f", 0.1),
        ("g", 5e-324),
        ("h", f64::MAX),
        ("i", 0.1 + 0.2),
        ("j", 0.0025),
        ("z", 0.0),
    ];
    for (key, value) in floats {
        assert_eq!(data[key].as_f64(), Some(value), "{key}: {data}");
    }
    // The version read (replayed from the ledger) holds the same values.
    let v1 = expect_json(
        app.get("/v1/entities/note/k?version=1").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(v1["data"], *data);
}

async fn duplicate_keys_at_any_depth_are_refused_on_every_route_and_nothing_is_written(
    app: TestApp,
) {
    app.create("note", "n1", json!({"v": 0})).await;
    let before = app.tree_size().await;
    // The value under test is an object holding one key twice; `\u0078` is `x` escaped.
    for object in [r#"{"x": 1, "x": 2}"#, r#"{"x": 1, "\u0078": 1}"#] {
        for (method, path, template, pointer) in BODIES {
            let res = send(&app, method, path, template.replace("{}", object)).await;
            let problem = expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await;
            assert_eq!(
                pointers(&problem),
                [format!("{pointer}/x")],
                "{object} on {method} {path}"
            );
        }
    }
    // Top-level duplicates too, and the same key in sibling objects is no duplicate.
    let res = send(
        &app,
        "POST",
        "/v1/entities/note",
        r#"{"data": {}, "data": {}}"#.to_owned(),
    )
    .await;
    let problem = expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await;
    assert_eq!(pointers(&problem), ["/data"]);
    assert_eq!(app.tree_size().await, before);
    let res = send(
        &app,
        "POST",
        "/v1/entities/note",
        r#"{"data": {"a": {"x": 1}, "b": {"x": 2}}}"#.to_owned(),
    )
    .await;
    expect_json(res, StatusCode::CREATED).await;
}
