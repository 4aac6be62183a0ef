//! Alert rules over HTTP: a firing rule is recorded (`GET /v1/alerts`), sent on the stream as
//! `event: alert`, written as a `security` entry, and POSTed to its webhook with retries. The
//! window logic itself is unit-tested with an injected time in `src/alerts/tests.rs`.

use crate::helpers::{TestApp, expect_json, expect_problem, pointers, spawn_app_with};
use crate::sse::{SseEvent, SseStream};
use axum::http::StatusCode as AxumStatus;
use chronicle_server::{AlertSettings, ServerConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::mpsc;

backend_tests!(
    a_rule_fires_on_the_stream_in_the_list_and_as_a_security_entry,
    a_per_actor_threshold_fires_exactly_when_one_actor_crosses_it,
    a_deleted_rule_fires_no_more,
    rules_with_bad_input_are_refused_and_write_nothing,
    webhooks_are_retried_until_the_receiver_accepts,
);

async fn create_rule(app: &TestApp, body: Value) -> Value {
    let res = app
        .request(Method::POST, "/v1/alerts/rules")
        .header("x-actor-id", "admin")
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_json(res, StatusCode::CREATED).await
}

/// The next `event: alert`, skipping audit events.
async fn next_alert(sse: &mut SseStream) -> SseEvent {
    loop {
        let e = sse.next().await.expect("the stream goes on");
        if e.event == "alert" {
            return e;
        }
        assert_eq!(e.event, "audit", "{e:?}");
    }
}

async fn a_rule_fires_on_the_stream_in_the_list_and_as_a_security_entry(app: TestApp) {
    let start = app.tree_size().await;
    let mut sse = SseStream::open(&app, &format!("/v1/stream?after_seq={start}"), None).await;
    let rule = create_rule(
        &app,
        json!({"name": "any change to settings", "filter": {"entity_type": "setting"},
            "threshold": {"count": 1, "window_secs": 60}, "severity": "critical"}),
    )
    .await;
    let rule_id = rule["id"].as_str().unwrap().to_owned();
    assert_eq!(
        rule["threshold"],
        json!({"count": 1, "window_secs": 60, "per_actor": false})
    );
    assert_eq!(rule["created_by"]["id"], "admin");
    // Creating a rule is itself audited, with the requester as actor.
    let recorded = app.all_entries(&format!("entity_id={rule_id}")).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["entity_type"], "_alert_rule");
    assert_eq!(recorded[0]["actor"]["id"], "admin");
    let listed = expect_json(app.get("/v1/alerts/rules").await, StatusCode::OK).await;
    assert_eq!(listed["rules"], json!([rule]));

    app.create("note", "n1", json!({})).await;
    let setting = app.create("setting", "theme", json!({"dark": true})).await;
    let setting_seq = setting["entry"]["seq"].as_u64().unwrap();
    let alert_event = next_alert(&mut sse).await;
    let alert = alert_event.json();
    assert_eq!(alert["rule_id"], rule_id.as_str());
    assert_eq!(alert["rule_name"], "any change to settings");
    assert_eq!(alert["severity"], "critical");
    assert_eq!(
        (alert["count"].as_u64(), alert["last_seq"].as_u64()),
        (Some(1), Some(setting_seq))
    );
    assert!(alert_event.id.unwrap() > setting_seq);
    // The security entry follows the alert's record.
    let security = sse.next_audit_but_checkpoints().await;
    assert_eq!(security["operation"], "security");
    assert_eq!(security["tags"], json!(["alert"]));
    assert_eq!(security["severity"], "critical");
    assert_eq!(security["entity_id"], alert["id"]);
    assert_eq!(security["actor"]["id"], "chronicle:alerts");
    assert_eq!(security["metadata"], alert);
    let alerts = expect_json(app.get("/v1/alerts").await, StatusCode::OK).await;
    assert_eq!(alerts["alerts"], json!([alert]));
    let found = app.all_entries("operation=security&tag=alert").await;
    assert_eq!(found.len(), 1);
    // Alerts reach every subscriber whatever its filter, replayed ones too.
    let path = format!("/v1/stream?entity_type=shipment&after_seq={start}");
    let replayed = SseStream::open(&app, &path, None)
        .await
        .next()
        .await
        .unwrap();
    assert_eq!(replayed, alert_event);
}

async fn a_per_actor_threshold_fires_exactly_when_one_actor_crosses_it(app: TestApp) {
    for i in 0..6 {
        app.create("note", &format!("n{i}"), json!({})).await;
    }
    let start = app.tree_size().await;
    let mut sse = SseStream::open(&app, &format!("/v1/stream?after_seq={start}"), None).await;
    create_rule(
        &app,
        json!({"name": "mass delete", "filter": {"operation": "delete", "entity_type": "note"},
            "threshold": {"count": 3, "window_secs": 300, "per_actor": true}}),
    )
    .await;
    let delete = |actor: &'static str, id: &'static str| {
        app.request(Method::DELETE, &format!("/v1/entities/note/{id}"))
            .header("x-actor-id", actor)
            .send()
    };
    // Two each: nobody has three yet.
    for (actor, id) in [
        ("alice", "n0"),
        ("bob", "n1"),
        ("alice", "n2"),
        ("bob", "n3"),
    ] {
        assert_eq!(delete(actor, id).await.unwrap().status(), StatusCode::OK);
    }
    let third = expect_json(delete("alice", "n4").await.unwrap(), StatusCode::OK).await;
    // The first alert on the stream is alice's third delete: none fired before it.
    let alert = next_alert(&mut sse).await.json();
    assert_eq!(alert["actor"], "alice");
    assert_eq!(alert["count"], 3);
    assert_eq!(alert["last_seq"], third["entry"]["seq"]);
    assert_eq!(alert["severity"], "warning");
    let alerts = expect_json(app.get("/v1/alerts").await, StatusCode::OK).await;
    assert_eq!(alerts["alerts"].as_array().unwrap().len(), 1);
}

async fn a_deleted_rule_fires_no_more(app: TestApp) {
    let start = app.tree_size().await;
    let mut sse = SseStream::open(&app, &format!("/v1/stream?after_seq={start}"), None).await;
    let settings = json!({"name": "settings", "filter": {"entity_type": "setting"},
        "threshold": {"count": 1, "window_secs": 60}});
    let rule = create_rule(&app, settings).await;
    let path = format!("/v1/alerts/rules/{}", rule["id"].as_str().unwrap());
    let res = app.request(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.request(Method::DELETE, &path).send().await.unwrap();
    expect_problem(res, StatusCode::NOT_FOUND, "not-found").await;
    let listed = expect_json(app.get("/v1/alerts/rules").await, StatusCode::OK).await;
    assert_eq!(listed["rules"], json!([]));
    // Rules apply in ledger order: the setting below comes after the delete, the note after
    // the setting, so an alert for the setting would arrive before the note's.
    let notes = json!({"name": "notes", "filter": {"entity_type": "note"},
        "threshold": {"count": 1, "window_secs": 60}});
    let notes_rule = create_rule(&app, notes).await;
    app.create("setting", "s", json!({})).await;
    app.create("note", "n", json!({})).await;
    let alert = next_alert(&mut sse).await.json();
    assert_eq!(alert["rule_id"], notes_rule["id"]);
}

async fn rules_with_bad_input_are_refused_and_write_nothing(app: TestApp) {
    let before = app.tree_size().await;
    let threshold = json!({"count": 1, "window_secs": 60});
    for (body, pointer) in [
        (
            json!({"name": "x", "threshold": {"count": 0, "window_secs": 60}}),
            "/threshold/count",
        ),
        (
            json!({"name": "x", "threshold": {"count": 1, "window_secs": 0}}),
            "/threshold/window_secs",
        ),
        (json!({"name": "", "threshold": threshold}), "/name"),
        (
            json!({"name": "x", "threshold": threshold, "webhook_url": "https://example.com/"}),
            "/webhook_url",
        ),
        (
            json!({"name": "x", "threshold": threshold, "filter": {"entity_type": "_alert"}}),
            "/filter/entity_type",
        ),
        (
            json!({"name": "x", "threshold": threshold, "filter": {"field": "role"}}),
            "/filter/field",
        ),
        (
            json!({"name": "x", "threshold": threshold, "filter": {"q": "text"}}),
            "/filter/q",
        ),
        (
            json!({"name": "x", "threshold": threshold, "filter": {"operation": "explode"}}),
            "/filter/operation",
        ),
        (json!({"name": "x"}), ""),
    ] {
        let problem = expect_problem(
            app.post("/v1/alerts/rules", &body).await,
            StatusCode::BAD_REQUEST,
            "invalid-input",
        )
        .await;
        assert_eq!(pointers(&problem), [pointer], "{body}");
    }
    let res = app
        .request(Method::DELETE, "/v1/alerts/rules/not-a-uuid")
        .send()
        .await
        .unwrap();
    expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await;
    assert_eq!(app.tree_size().await, before);
}

/// A receiver on 127.0.0.1 that refuses the first delivery with 500 and accepts the next;
/// every body it is sent arrives on the channel.
async fn receiver() -> (String, mpsc::UnboundedReceiver<(usize, Value)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let attempts = Arc::new(AtomicUsize::new(0));
    let hook = move |body: axum::Json<Value>| {
        let (tx, attempts) = (tx.clone(), attempts.clone());
        async move {
            let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
            let _ = tx.send((n, body.0));
            if n == 1 {
                AxumStatus::INTERNAL_SERVER_ERROR
            } else {
                AxumStatus::OK
            }
        }
    };
    let app = axum::Router::new().route("/hook", axum::routing::post(hook));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, rx)
}

/// The next delivery the receiver saw (a test that waits a minute for one has hung).
async fn delivery(rx: &mut mpsc::UnboundedReceiver<(usize, Value)>) -> (usize, Value) {
    let guard = std::time::Duration::from_secs(60);
    tokio::time::timeout(guard, rx.recv())
        .await
        .expect("a delivery within the hang guard")
        .expect("the receiver runs")
}

async fn webhooks_are_retried_until_the_receiver_accepts(app: TestApp) {
    let config = ServerConfig {
        alerts: AlertSettings {
            webhook_backoff_ms: 10,
            ..AlertSettings::default()
        },
        ..ServerConfig::default()
    };
    let app = spawn_app_with(app.backend, config).await.unwrap();
    let (url, mut deliveries) = receiver().await;
    let rule = create_rule(
        &app,
        json!({"name": "hooked", "filter": {"entity_type": "setting"},
            "threshold": {"count": 1, "window_secs": 60}, "webhook_url": url}),
    )
    .await;
    assert_eq!(rule["webhook_url"], url.as_str());
    app.create("setting", "s", json!({})).await;
    let (first, refused) = delivery(&mut deliveries).await;
    let (second, accepted) = delivery(&mut deliveries).await;
    assert_eq!((first, second), (1, 2));
    assert_eq!(refused, accepted);
    assert_eq!(accepted["rule_id"], rule["id"]);
    let alerts = expect_json(app.get("/v1/alerts").await, StatusCode::OK).await;
    assert_eq!(alerts["alerts"], json!([accepted]));
}
