use crate::helpers::{TestApp, expect_json, expect_problem, pointers};
use reqwest::StatusCode;
use serde_json::{Value, json};

backend_tests!(
    a_bulk_request_links_every_child_entry_to_its_parent,
    an_atomic_bulk_with_a_failing_operation_writes_nothing,
    a_non_atomic_bulk_reports_failures_per_operation_and_keeps_the_rest,
    a_transaction_commits_every_operation_with_its_transaction_id,
    a_transaction_with_a_failing_operation_writes_nothing,
    batch_operations_of_the_wrong_shape_refuse_the_whole_request,
    a_batch_over_the_operation_limit_is_refused,
);

fn statuses(results: &Value) -> Vec<u64> {
    results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect()
}

async fn a_bulk_request_links_every_child_entry_to_its_parent(app: TestApp) {
    app.create("note", "old", json!({"v": 1})).await;
    let body = json!({"operations": [
        {"op": "create", "type": "note", "id": "a", "data": {"v": 1}},
        {"op": "create", "type": "shipment", "id": "s", "data": {"status": "pending"}},
        {"op": "update", "type": "note", "id": "old", "data": {"v": 2}, "expected_version": 1},
        {"op": "replace", "type": "note", "id": "b", "data": {"v": 3}},
        {"op": "delete", "type": "note", "id": "a"},
    ]});
    let res = app
        .client
        .post(app.url("/v1/bulk"))
        .header("x-actor-id", "importer")
        .json(&body)
        .send()
        .await
        .unwrap();
    let answer = expect_json(res, StatusCode::OK).await;
    assert_eq!(statuses(&answer["results"]), [201, 201, 200, 201, 200]);
    let bulk_id = answer["bulk_id"].as_str().unwrap();
    assert_eq!(answer["entry"]["id"], bulk_id);
    assert_eq!(answer["entry"]["operation"], "bulk");
    for (i, r) in answer["results"].as_array().unwrap().iter().enumerate() {
        assert_eq!(r["index"], i);
        assert_eq!(r["entry"]["parent_id"], bulk_id, "child {i}");
    }
    // The executor links the parent entry to itself as well; its children are the rest.
    let linked = app.all_entries(&format!("parent_id={bulk_id}")).await;
    let children: Vec<_> = linked.iter().filter(|e| e["operation"] != "bulk").collect();
    assert_eq!(children.len(), 5);
    assert!(children.iter().all(|e| e["actor"]["id"] == "importer"));
    let old = expect_json(app.get("/v1/entities/note/old").await, StatusCode::OK).await;
    assert_eq!(old["data"], json!({"v": 2}));
}

async fn an_atomic_bulk_with_a_failing_operation_writes_nothing(app: TestApp) {
    app.create("note", "x", json!({"v": 1})).await;
    let before = app.tree_size().await;
    let body = json!({"operations": [
        {"op": "create", "type": "note", "id": "fresh", "data": {"v": 1}},
        {"op": "update", "type": "note", "id": "x", "data": {"v": 2}},
        {"op": "update", "type": "note", "id": "x", "data": {"v": 3}, "expected_version": 1},
        {"op": "create", "type": "note", "id": "later", "data": {}},
    ]});
    let problem = expect_problem(
        app.post("/v1/bulk", &body).await,
        StatusCode::CONFLICT,
        "version-conflict",
    )
    .await;
    assert_eq!(problem["failed_index"], 2);
    assert_eq!(statuses(&problem["results"]), [424, 424, 409, 424]);
    assert_eq!(
        problem["results"][2]["error"]["type"],
        "urn:chronicle:problem:version-conflict"
    );
    assert_eq!(app.tree_size().await, before);
    expect_problem(
        app.get("/v1/entities/note/fresh").await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    let x = expect_json(app.get("/v1/entities/note/x").await, StatusCode::OK).await;
    assert_eq!(
        (x["version"].as_u64(), &x["data"]),
        (Some(1), &json!({"v": 1}))
    );

    // `atomic: true` spelled out behaves the same; a schema refusal points into the operation.
    let body = json!({"atomic": true, "operations": [
        {"op": "create", "type": "note", "id": "fresh", "data": {}},
        {"op": "create", "type": "shipment", "id": "s", "data": {"status": "teleported"}},
    ]});
    let problem = expect_problem(
        app.post("/v1/bulk", &body).await,
        StatusCode::BAD_REQUEST,
        "invalid-input",
    )
    .await;
    assert_eq!(pointers(&problem), ["/operations/1/data/status"]);
    assert_eq!(app.tree_size().await, before);
}

async fn a_non_atomic_bulk_reports_failures_per_operation_and_keeps_the_rest(app: TestApp) {
    let before = app.tree_size().await;
    let body = json!({"atomic": false, "operations": [
        {"op": "create", "type": "note", "id": "a", "data": {}},
        {"op": "create", "type": "shipment", "id": "s", "data": {"status": "teleported"}},
        {"op": "delete", "type": "note", "id": "missing"},
        {"op": "create", "type": "note", "id": "a", "data": {}},
        {"op": "create", "type": "note", "id": "b", "data": {}},
    ]});
    let answer = expect_json(app.post("/v1/bulk", &body).await, StatusCode::OK).await;
    assert_eq!(statuses(&answer["results"]), [201, 400, 404, 409, 201]);
    let invalid = &answer["results"][1]["error"];
    assert_eq!(invalid["type"], "urn:chronicle:problem:invalid-input");
    assert_eq!(invalid["errors"][0]["pointer"], "/operations/1/data/status");
    assert_eq!(
        answer["results"][3]["error"]["type"],
        "urn:chronicle:problem:already-exists"
    );
    assert_eq!(answer["entry"]["metadata"]["failed"], 3);
    // Two creates and the parent entry.
    assert_eq!(app.tree_size().await, before + 3);
    expect_json(app.get("/v1/entities/note/b").await, StatusCode::OK).await;
}

async fn a_transaction_commits_every_operation_with_its_transaction_id(app: TestApp) {
    app.create("customer", "c1", json!({"email": "a@example.com"}))
        .await;
    let body = json!({"operations": [
        {"op": "create", "type": "shipment", "id": "s1", "data": {"status": "pending", "customer_id": "c1"}},
        {"op": "update", "type": "customer", "id": "c1", "data": {"email": "b@example.com"}},
    ]});
    let answer = expect_json(app.post("/v1/transactions", &body).await, StatusCode::OK).await;
    let tx = answer["transaction_id"].as_str().unwrap();
    assert_eq!(statuses(&answer["results"]), [201, 200]);
    assert_eq!(answer["entry"]["operation"], "transaction");
    let entries = app.all_entries(&format!("transaction_id={tx}")).await;
    let ops: Vec<&str> = entries
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["create", "update", "transaction"]);
    let rel = &entries[0]["change_set"]["relationship_changes"][0];
    assert_eq!(
        (rel["target_type"].as_str(), rel["new_id"].as_str()),
        (Some("customer"), Some("c1"))
    );
}

async fn a_transaction_with_a_failing_operation_writes_nothing(app: TestApp) {
    app.create("note", "x", json!({})).await;
    let before = app.tree_size().await;
    let body = json!({"operations": [
        {"op": "create", "type": "note", "id": "y", "data": {}},
        {"op": "delete", "type": "note", "id": "x"},
        {"op": "update", "type": "note", "id": "nope", "data": {"v": 1}},
    ]});
    let problem = expect_problem(
        app.post("/v1/transactions", &body).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    assert_eq!(problem["failed_index"], 2);
    assert_eq!(statuses(&problem["results"]), [424, 424, 404]);
    assert_eq!(app.tree_size().await, before);
    expect_problem(
        app.get("/v1/entities/note/y").await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    let x = expect_json(app.get("/v1/entities/note/x").await, StatusCode::OK).await;
    assert_eq!(x["deleted"], false);
}

async fn batch_operations_of_the_wrong_shape_refuse_the_whole_request(app: TestApp) {
    let before = app.tree_size().await;
    let body = json!({"atomic": false, "operations": [
        {"op": "create", "type": "note", "id": "fine", "data": {}},
        {"op": "update", "type": "note", "data": {}},
        {"op": "delete", "type": "note", "id": "x", "data": {}},
        {"op": "replace", "type": "Bad Type", "id": "x"},
        {"op": "create", "type": "note", "id": "x".repeat(300), "data": {}, "expected_version": 1},
    ]});
    let problem = expect_problem(
        app.post("/v1/bulk", &body).await,
        StatusCode::BAD_REQUEST,
        "invalid-input",
    )
    .await;
    assert_eq!(
        pointers(&problem),
        [
            "/operations/1/id",
            "/operations/2/data",
            "/operations/3/type",
            "/operations/3/data",
            "/operations/4/id",
            "/operations/4/expected_version"
        ]
    );
    let unknown_op = json!({"operations": [{"op": "explode", "type": "note", "id": "x"}]});
    let problem = expect_problem(
        app.post("/v1/transactions", &unknown_op).await,
        StatusCode::BAD_REQUEST,
        "invalid-input",
    )
    .await;
    assert_eq!(pointers(&problem), ["/operations/0/op"]);
    let empty = json!({"operations": []});
    let problem = expect_problem(
        app.post("/v1/bulk", &empty).await,
        StatusCode::BAD_REQUEST,
        "invalid-input",
    )
    .await;
    assert_eq!(pointers(&problem), ["/operations"]);
    assert_eq!(app.tree_size().await, before);
}

async fn a_batch_over_the_operation_limit_is_refused(app: TestApp) {
    let before = app.tree_size().await;
    let op = json!({"op": "create", "type": "note", "data": {}});
    let ops: Vec<Value> =
        std::iter::repeat_n(op, chronicle_core::limits::MAX_BATCH_OPS + 1).collect();
    let problem = expect_problem(
        app.post("/v1/bulk", &json!({"operations": ops})).await,
        StatusCode::BAD_REQUEST,
        "invalid-input",
    )
    .await;
    assert_eq!(pointers(&problem), ["/operations"]);
    assert_eq!(app.tree_size().await, before);
}
