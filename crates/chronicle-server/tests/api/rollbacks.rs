use crate::helpers::{TestApp, expect_json, expect_problem, pointers, spawn_app_with};
use chronicle_engine::ApprovalPolicy;
use chronicle_server::ServerConfig;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

backend_tests!(
    a_bulk_delete_is_previewed_then_rolled_back_over_http,
    strict_refuses_with_409_and_the_conflicts_and_writes_nothing,
    a_staged_rollback_answers_202_and_reports_progress_until_completed,
    approval_is_required_above_the_policy_and_never_from_the_requester,
    a_rollback_of_a_rollback_restores_the_later_state,
    rollback_requests_with_bad_input_are_refused_and_write_nothing,
    a_snapshot_is_captured_listed_and_restored,
);

async fn bulk(app: &TestApp, ops: Value) -> Value {
    expect_json(
        app.post("/v1/bulk", &json!({"operations": ops})).await,
        StatusCode::OK,
    )
    .await
}

async fn as_actor(
    app: &TestApp,
    path: &str,
    actor: &str,
    role: &str,
    body: &Value,
) -> reqwest::Response {
    app.request(Method::POST, path)
        .header("X-Actor-Id", actor)
        .header("X-Actor-Role", role)
        .json(body)
        .send()
        .await
        .expect("request sent")
}

async fn seed_and_delete(app: &TestApp, n: usize) -> String {
    let creates: Vec<Value> = (0..n)
        .map(|i| json!({"op": "create", "type": "note", "id": format!("n{i}"), "data": {"i": i}}))
        .collect();
    bulk(app, json!(creates)).await;
    let deletes: Vec<Value> = (0..n)
        .map(|i| json!({"op": "delete", "type": "note", "id": format!("n{i}")}))
        .collect();
    bulk(app, json!(deletes)).await["bulk_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn a_bulk_delete_is_previewed_then_rolled_back_over_http(app: TestApp) {
    let bulk_id = seed_and_delete(&app, 25).await;
    let size = app.tree_size().await;
    let target = json!({"kind": "bulk", "bulk_id": bulk_id});
    let preview = expect_json(
        app.post(
            "/v1/rollbacks/preview",
            &json!({"target": target, "strategy": "strict"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(preview["feasible"], true);
    assert_eq!(preview["counts"]["restores"], 25);
    assert_eq!(preview["operations"][0]["action"], "restore");
    assert_eq!(preview["requires_approval"], false);
    assert_eq!(app.tree_size().await, size, "a preview writes nothing");

    let done = expect_json(
        as_actor(
            &app,
            "/v1/rollbacks",
            "ann",
            "operator",
            &json!({"target": target, "strategy": "strict", "reason": "wrong file"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["verification"]["passed"], true);
    assert_eq!(done["progress"]["done"], 25);
    let id = done["id"].as_str().unwrap();
    let note = expect_json(app.get("/v1/entities/note/n7").await, StatusCode::OK).await;
    assert_eq!(
        (note["deleted"].clone(), note["data"].clone()),
        (json!(false), json!({"i": 7}))
    );
    let written = app
        .all_entries(&format!("rollback_id={id}&entity_type=note"))
        .await;
    assert_eq!(written.len(), 25);
    assert!(
        written
            .iter()
            .all(|e| e["operation"] == "restore" && e["actor"]["id"] == "ann")
    );
    let read = expect_json(
        app.get(&format!("/v1/rollbacks/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(read["status"], "completed");
    let list = expect_json(app.get("/v1/rollbacks").await, StatusCode::OK).await;
    assert_eq!(list["rollbacks"].as_array().unwrap().len(), 1);
}

async fn strict_refuses_with_409_and_the_conflicts_and_writes_nothing(app: TestApp) {
    app.create("note", "a", json!({"v": 1})).await;
    let edit = expect_json(
        app.send_json(
            Method::PATCH,
            "/v1/entities/note/a",
            &json!({"data": {"v": 2}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    expect_json(
        app.send_json(
            Method::PATCH,
            "/v1/entities/note/a",
            &json!({"data": {"v": 3}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let size = app.tree_size().await;
    let body =
        json!({"target": {"kind": "entry", "entry_id": edit["entry"]["id"]}, "strategy": "strict"});
    let problem = expect_problem(
        app.post("/v1/rollbacks", &body).await,
        StatusCode::CONFLICT,
        "rollback-conflict",
    )
    .await;
    assert_eq!(problem["conflicts"][0]["fields"], json!(["/v"]));
    assert_eq!(problem["conflicts"][0]["kind"], "later_change");
    assert_eq!(
        app.tree_size().await,
        size,
        "a refused rollback writes nothing"
    );
    // force writes the old value over the later change and says what it overwrote.
    let forced = expect_json(
        app.post(
            "/v1/rollbacks",
            &json!({"target": body["target"], "strategy": "force"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(forced["plan"]["overwritten"][0]["current"], 3);
    let note = expect_json(app.get("/v1/entities/note/a").await, StatusCode::OK).await;
    assert_eq!(note["data"], json!({"v": 1}));
}

async fn a_staged_rollback_answers_202_and_reports_progress_until_completed(app: TestApp) {
    let bulk_id = seed_and_delete(&app, 30).await;
    let body = json!({"target": {"kind": "bulk", "bulk_id": bulk_id}, "strategy": "strict", "mode": "staged", "stage_size": 7});
    let started = expect_json(app.post("/v1/rollbacks", &body).await, StatusCode::ACCEPTED).await;
    assert_eq!(started["progress"]["total"], 30);
    let id = started["id"].as_str().unwrap().to_owned();
    // Poll as a client would; the runner works in the background.
    let mut last = Value::Null;
    for _ in 0..400 {
        last = expect_json(
            app.get(&format!("/v1/rollbacks/{id}")).await,
            StatusCode::OK,
        )
        .await;
        if last["status"] == "completed" && last["verification"].is_object() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["progress"]["stages_done"], 5);
    assert_eq!(last["verification"]["passed"], true);
    assert_eq!(
        app.all_entries(&format!("rollback_id={id}&operation=transaction"))
            .await
            .len(),
        1 + 5,
        "one transaction records the request (record and plan), then one per stage"
    );
}

async fn approval_is_required_above_the_policy_and_never_from_the_requester(app: TestApp) {
    let config = ServerConfig {
        approval: ApprovalPolicy {
            max_entities: Some(3),
            ..ApprovalPolicy::default()
        },
        ..ServerConfig::default()
    };
    let app = spawn_app_with(app.backend, config)
        .await
        .expect("the backend is reachable");
    let bulk_id = seed_and_delete(&app, 5).await;
    let body = json!({"target": {"kind": "bulk", "bulk_id": bulk_id}, "strategy": "strict"});
    let preview = expect_json(
        app.post("/v1/rollbacks/preview", &body).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (
            preview["requires_approval"].clone(),
            preview["required_approvals"].clone()
        ),
        (json!(true), json!(1))
    );
    let waiting = expect_json(
        as_actor(&app, "/v1/rollbacks", "ann", "operator", &body).await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(waiting["status"], "awaiting_approval");
    let id = waiting["id"].as_str().unwrap().to_owned();
    let approve = format!("/v1/rollbacks/{id}/approve");
    let why = json!({"justification": "checked the import"});
    expect_problem(
        as_actor(&app, &approve, "ann", "approver", &why).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_problem(
        as_actor(&app, &approve, "bob", "viewer", &why).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let bad = expect_problem(
        as_actor(&app, &approve, "bob", "approver", &json!({})).await,
        StatusCode::BAD_REQUEST,
        "invalid-input",
    )
    .await;
    assert!(
        bad["detail"].as_str().unwrap().contains("justification"),
        "{bad}"
    );
    let blank = expect_problem(
        as_actor(
            &app,
            &approve,
            "bob",
            "approver",
            &json!({"justification": " "}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid-input",
    )
    .await;
    assert_eq!(pointers(&blank), ["/justification"]);
    let note = expect_json(app.get("/v1/entities/note/n1").await, StatusCode::OK).await;
    assert_eq!(note["deleted"], true, "nothing ran before approval");
    let done = expect_json(
        as_actor(&app, &approve, "bob", "approver", &why).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["approvals"][0]["actor"]["id"], "bob");
    expect_problem(
        as_actor(
            &app,
            &format!("/v1/rollbacks/{id}/reject"),
            "cyd",
            "approver",
            &why,
        )
        .await,
        StatusCode::CONFLICT,
        "invalid-state",
    )
    .await;
}

async fn a_rollback_of_a_rollback_restores_the_later_state(app: TestApp) {
    app.create("note", "a", json!({"v": 1})).await;
    let edit = expect_json(
        app.send_json(
            Method::PATCH,
            "/v1/entities/note/a",
            &json!({"data": {"v": 2}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let first = expect_json(
        app.post(
            "/v1/rollbacks",
            &json!({"target": {"kind": "entry", "entry_id": edit["entry"]["id"]}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        expect_json(app.get("/v1/entities/note/a").await, StatusCode::OK).await["data"],
        json!({"v": 1})
    );
    let redo = json!({"target": {"kind": "rollback", "rollback_id": first["id"]}});
    expect_json(app.post("/v1/rollbacks", &redo).await, StatusCode::OK).await;
    assert_eq!(
        expect_json(app.get("/v1/entities/note/a").await, StatusCode::OK).await["data"],
        json!({"v": 2})
    );
}

async fn rollback_requests_with_bad_input_are_refused_and_write_nothing(app: TestApp) {
    app.create("note", "a", json!({"v": 1})).await;
    let size = app.tree_size().await;
    let cases = [
        json!({"target": {"kind": "planet"}}),
        json!({"target": {"kind": "entry"}}),
        json!({"target": {"kind": "entry", "entry_id": "not-a-uuid"}}),
        json!({"target": {"kind": "bulk", "bulk_id": "018f0000-0000-7000-8000-000000000000"}, "strategy": "reckless"}),
        json!({"target": {"kind": "scope_time", "as_of": "2026-01-01T00:00:00Z"}}),
        json!({"target": {"kind": "fields", "entry_id": "018f0000-0000-7000-8000-000000000000", "fields": ["no-slash"]}}),
        json!({"target": {"kind": "entity_version", "type": "Bad Type", "id": "a", "version": 1}}),
        json!({"target": {"kind": "entry", "entry_id": "018f0000-0000-7000-8000-000000000000"}, "stage_size": 0}),
        json!({"target": {"kind": "entry", "entry_id": "018f0000-0000-7000-8000-000000000000"}, "surprise": 1}),
    ];
    for body in &cases {
        let res = app.post("/v1/rollbacks", body).await;
        expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await;
    }
    let missing =
        json!({"target": {"kind": "entry", "entry_id": "018f0000-0000-7000-8000-000000000000"}});
    expect_problem(
        app.post("/v1/rollbacks", &missing).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    expect_problem(
        app.get("/v1/rollbacks/nope").await,
        StatusCode::BAD_REQUEST,
        "invalid-input",
    )
    .await;
    expect_problem(
        app.get("/v1/rollbacks/018f0000-0000-7000-8000-000000000000")
            .await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    expect_problem(
        app.request(
            Method::POST,
            "/v1/rollbacks/018f0000-0000-7000-8000-000000000000/pause",
        )
        .send()
        .await
        .unwrap(),
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    assert_eq!(app.tree_size().await, size);
    // Chronicle's own records cannot be written through the entity API.
    expect_problem(
        app.post("/v1/entities/_rollback", &json!({"data": {}}))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid-input",
    )
    .await;
}

async fn a_snapshot_is_captured_listed_and_restored(app: TestApp) {
    for i in 0..10 {
        app.create(
            "note",
            &format!("n{i}"),
            json!({"text": "x".repeat(100), "i": i}),
        )
        .await;
    }
    let snap = expect_json(
        as_actor(
            &app,
            "/v1/snapshots",
            "ann",
            "operator",
            &json!({"entity_types": ["note"], "label": "before"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(snap["entity_count"], 10);
    assert_eq!(snap["created_by"]["id"], "ann");
    assert!(snap["compression_ratio"].as_f64().unwrap() > 1.0);
    let id = snap["id"].as_str().unwrap();
    assert_eq!(
        expect_json(
            app.get(&format!("/v1/snapshots/{id}")).await,
            StatusCode::OK
        )
        .await,
        snap
    );
    assert_eq!(
        expect_json(app.get("/v1/snapshots").await, StatusCode::OK).await["snapshots"][0],
        snap
    );
    expect_json(
        app.send_json(
            Method::PATCH,
            "/v1/entities/note/n1",
            &json!({"data": {"i": 100}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    expect_json(
        app.request(Method::DELETE, "/v1/entities/note/n2")
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let restored = expect_json(
        app.post(
            "/v1/rollbacks",
            &json!({"target": {"kind": "snapshot", "snapshot_id": id}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(restored["plan"]["counts"]["entities"], 2);
    assert_eq!(
        expect_json(app.get("/v1/entities/note/n1").await, StatusCode::OK).await["data"]["i"],
        1
    );
    assert_eq!(
        expect_json(app.get("/v1/entities/note/n2").await, StatusCode::OK).await["deleted"],
        false
    );
    expect_problem(
        app.post("/v1/snapshots", &json!({})).await,
        StatusCode::BAD_REQUEST,
        "invalid-input",
    )
    .await;
}
