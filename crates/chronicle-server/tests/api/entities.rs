use crate::helpers::{TestApp, expect_json, expect_problem, pointers};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

backend_tests!(
    creating_an_entity_records_an_entry_with_the_request_context,
    creating_an_entity_without_an_id_assigns_one,
    creating_an_existing_id_is_a_conflict_and_writes_nothing,
    reading_an_entity_returns_its_current_state_with_an_etag,
    patching_merges_the_data_and_records_only_what_changed,
    a_patch_that_changes_nothing_writes_no_entry,
    put_creates_a_missing_entity_and_replaces_an_existing_one,
    deleting_an_entity_records_an_entry_and_leaves_it_readable_as_deleted,
    stale_versions_are_refused_through_if_match_and_expected_version,
    listing_entities_pages_through_each_live_entity_once,
    history_is_oldest_first_and_field_history_keeps_only_changes_to_that_field,
    an_entity_can_be_read_as_it_was_at_a_version_and_at_a_time,
    schema_violations_are_refused_with_pointers_and_write_nothing,
    reads_of_read_audited_types_are_recorded_as_read_entries,
    forwarded_for_is_believed_only_from_a_trusted_proxy,
);

async fn creating_an_entity_records_an_entry_with_the_request_context(app: TestApp) {
    let res = app
        .client
        .post(app.url("/v1/entities/shipment"))
        .header("x-actor-id", "u-17")
        .header("x-actor-email", "ada@example.com")
        .header("x-actor-role", "admin")
        .header("x-session-id", "sess-1")
        .header("x-reason", "customer called — weight was wrong")
        .header("x-correlation-id", "ticket-99")
        .header("user-agent", "chronicle-tests/1")
        .json(&json!({"id": "s1", "data": {"status": "pending", "weight": 2.5}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["etag"], "\"1\"");
    let body = expect_json(res, StatusCode::CREATED).await;
    assert_eq!(
        (
            body["type"].as_str(),
            body["id"].as_str(),
            body["version"].as_u64()
        ),
        (Some("shipment"), Some("s1"), Some(1))
    );
    assert_eq!(body["data"], json!({"status": "pending", "weight": 2.5}));
    assert_eq!(body["deleted"], false);
    let entry = &body["entry"];
    assert_eq!(entry["operation"], "create");
    assert_eq!(
        entry["actor"],
        json!({"id": "u-17", "email": "ada@example.com", "role": "admin"})
    );
    assert_eq!(entry["session_id"], "sess-1");
    assert_eq!(entry["reason"], "customer called — weight was wrong");
    assert_eq!(entry["correlation_id"], "ticket-99");
    assert_eq!(entry["user_agent"], "chronicle-tests/1");
    assert_eq!(entry["ip"], "127.0.0.1");
    assert_eq!(entry["entity_version"], 1);
    assert_eq!(entry["seq"], 1);
    let paths: Vec<&str> = entry["change_set"]["field_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/status", "/weight"]);
    assert_eq!(entry["change_set"]["field_changes"][0]["impact"], "high");
    assert_eq!(entry["leaf_hash"].as_str().unwrap().len(), 64);

    // The stored entry is the one the write answered with.
    let id = entry["id"].as_str().unwrap();
    let stored = expect_json(
        app.get(&format!("/v1/audit/entries/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(&stored, entry);
}

async fn creating_an_entity_without_an_id_assigns_one(app: TestApp) {
    let res = app
        .post("/v1/entities/note", &json!({"data": {"text": "hello"}}))
        .await;
    let body = expect_json(res, StatusCode::CREATED).await;
    let id = body["id"].as_str().unwrap();
    assert!(
        uuid::Uuid::parse_str(id).is_ok(),
        "assigned id {id} is a UUID"
    );
    let read = expect_json(
        app.get(&format!("/v1/entities/note/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(read["data"], json!({"text": "hello"}));
}

async fn creating_an_existing_id_is_a_conflict_and_writes_nothing(app: TestApp) {
    app.create("note", "n1", json!({"text": "first"})).await;
    let before = app.tree_size().await;
    let res = app
        .post(
            "/v1/entities/note",
            &json!({"id": "n1", "data": {"text": "second"}}),
        )
        .await;
    expect_problem(res, StatusCode::CONFLICT, "already-exists").await;
    assert_eq!(app.tree_size().await, before);
    let read = expect_json(app.get("/v1/entities/note/n1").await, StatusCode::OK).await;
    assert_eq!(read["data"], json!({"text": "first"}));
}

async fn reading_an_entity_returns_its_current_state_with_an_etag(app: TestApp) {
    app.create("shipment", "s1", json!({"status": "pending"}))
        .await;
    let res = app.get("/v1/entities/shipment/s1").await;
    assert_eq!(res.headers()["etag"], "\"1\"");
    let body = expect_json(res, StatusCode::OK).await;
    assert_eq!(body["data"], json!({"status": "pending"}));
    assert!(body.get("entry").is_none() && body.get("changed").is_none());
    let missing = app.get("/v1/entities/shipment/nope").await;
    expect_problem(missing, StatusCode::NOT_FOUND, "not-found").await;
}

async fn patching_merges_the_data_and_records_only_what_changed(app: TestApp) {
    app.create(
        "note",
        "n1",
        json!({"a": 1, "dims": {"h": 1, "w": 2}, "gone": true}),
    )
    .await;
    let patch = json!({"data": {"dims": {"h": 5}, "gone": null, "a": 1}});
    let res = app
        .send_json(Method::PATCH, "/v1/entities/note/n1", &patch)
        .await;
    assert_eq!(res.headers()["etag"], "\"2\"");
    let body = expect_json(res, StatusCode::OK).await;
    assert_eq!(body["data"], json!({"a": 1, "dims": {"h": 5, "w": 2}}));
    assert_eq!(body["version"], 2);
    assert_eq!(body["changed"], true);
    let changes = body["entry"]["change_set"]["field_changes"]
        .as_array()
        .unwrap();
    let summary: Vec<(&str, &str)> = changes
        .iter()
        .map(|c| (c["path"].as_str().unwrap(), c["change"].as_str().unwrap()))
        .collect();
    assert_eq!(summary, [("/dims/h", "update"), ("/gone", "delete")]);
    assert_eq!(changes[0]["old"], 1);
    assert_eq!(changes[0]["new"], 5);
    assert_eq!(body["entry"]["operation"], "update");
}

async fn a_patch_that_changes_nothing_writes_no_entry(app: TestApp) {
    app.create("note", "n1", json!({"a": 1})).await;
    let before = app.tree_size().await;
    let res = app
        .send_json(
            Method::PATCH,
            "/v1/entities/note/n1",
            &json!({"data": {"a": 1}}),
        )
        .await;
    let body = expect_json(res, StatusCode::OK).await;
    assert_eq!(body["changed"], false);
    assert!(body.get("entry").is_none());
    assert_eq!(body["version"], 1);
    let res = app
        .send_json(
            Method::PUT,
            "/v1/entities/note/n1",
            &json!({"data": {"a": 1}}),
        )
        .await;
    assert_eq!(expect_json(res, StatusCode::OK).await["changed"], false);
    assert_eq!(app.tree_size().await, before);
}

async fn put_creates_a_missing_entity_and_replaces_an_existing_one(app: TestApp) {
    let res = app
        .send_json(
            Method::PUT,
            "/v1/entities/note/n1",
            &json!({"data": {"a": 1, "b": 2}}),
        )
        .await;
    let created = expect_json(res, StatusCode::CREATED).await;
    assert_eq!(created["entry"]["operation"], "create");
    let res = app
        .send_json(
            Method::PUT,
            "/v1/entities/note/n1",
            &json!({"data": {"c": 3}}),
        )
        .await;
    let replaced = expect_json(res, StatusCode::OK).await;
    assert_eq!(replaced["data"], json!({"c": 3}));
    assert_eq!(replaced["version"], 2);
    assert_eq!(replaced["changed"], true);
    assert_eq!(replaced["entry"]["operation"], "update");
    assert_eq!(
        replaced["entry"]["change_set"]["field_changes"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

async fn deleting_an_entity_records_an_entry_and_leaves_it_readable_as_deleted(app: TestApp) {
    app.create("note", "n1", json!({"a": 1})).await;
    app.create("note", "n2", json!({"a": 2})).await;
    let res = app
        .request(Method::DELETE, "/v1/entities/note/n1")
        .send()
        .await
        .unwrap();
    let body = expect_json(res, StatusCode::OK).await;
    assert_eq!(body["entry"]["operation"], "delete");
    assert_eq!(body["entry"]["old_values"], json!({"a": 1}));
    assert_eq!(body["entry"]["severity"], "warning");
    let read = expect_json(app.get("/v1/entities/note/n1").await, StatusCode::OK).await;
    assert_eq!(
        (read["deleted"].as_bool(), read["version"].as_u64()),
        (Some(true), Some(2))
    );
    let list = expect_json(app.get("/v1/entities/note").await, StatusCode::OK).await;
    let ids: Vec<&str> = list["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["n2"]);
    let patch = app
        .send_json(
            Method::PATCH,
            "/v1/entities/note/n1",
            &json!({"data": {"a": 3}}),
        )
        .await;
    expect_problem(patch, StatusCode::NOT_FOUND, "not-found").await;
    let again = app
        .request(Method::DELETE, "/v1/entities/note/n1")
        .send()
        .await
        .unwrap();
    expect_problem(again, StatusCode::NOT_FOUND, "not-found").await;
    let never = app
        .request(Method::DELETE, "/v1/entities/note/never")
        .send()
        .await
        .unwrap();
    expect_problem(never, StatusCode::NOT_FOUND, "not-found").await;
}

async fn stale_versions_are_refused_through_if_match_and_expected_version(app: TestApp) {
    app.create("note", "n1", json!({"a": 1})).await;
    let patch = |v: i64| json!({"data": {"a": v}});
    // Version 1 → 2 with If-Match.
    let res = app
        .request(Method::PATCH, "/v1/entities/note/n1")
        .header("if-match", "\"1\"")
        .json(&patch(2))
        .send()
        .await
        .unwrap();
    expect_json(res, StatusCode::OK).await;
    let before = app.tree_size().await;

    // Stale If-Match, stale expected_version, on PATCH, PUT and DELETE: 409 and nothing written.
    let res = app
        .request(Method::PATCH, "/v1/entities/note/n1")
        .header("if-match", "\"1\"")
        .json(&patch(3))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(res, StatusCode::CONFLICT, "version-conflict").await;
    assert_eq!(problem["current_version"], 2);
    let res = app
        .send_json(
            Method::PATCH,
            "/v1/entities/note/n1",
            &json!({"data": {"a": 3}, "expected_version": 1}),
        )
        .await;
    expect_problem(res, StatusCode::CONFLICT, "version-conflict").await;
    let res = app
        .send_json(
            Method::PUT,
            "/v1/entities/note/n1",
            &json!({"data": {"a": 3}, "expected_version": 7}),
        )
        .await;
    expect_problem(res, StatusCode::CONFLICT, "version-conflict").await;
    let res = app
        .request(Method::PUT, "/v1/entities/note/n1")
        .header("if-match", "1")
        .json(&patch(3))
        .send()
        .await
        .unwrap();
    expect_problem(res, StatusCode::CONFLICT, "version-conflict").await;
    let res = app
        .request(Method::DELETE, "/v1/entities/note/n1?expected_version=1")
        .send()
        .await
        .unwrap();
    expect_problem(res, StatusCode::CONFLICT, "version-conflict").await;
    let res = app
        .request(Method::DELETE, "/v1/entities/note/n1")
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    expect_problem(res, StatusCode::CONFLICT, "version-conflict").await;
    assert_eq!(app.tree_size().await, before);

    // If-Match and expected_version must agree; a malformed If-Match is invalid input.
    let res = app
        .request(Method::PATCH, "/v1/entities/note/n1")
        .header("if-match", "\"2\"")
        .json(&json!({"data": {"a": 3}, "expected_version": 1}))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await;
    assert_eq!(pointers(&problem), ["/expected_version"]);
    let res = app
        .request(Method::PATCH, "/v1/entities/note/n1")
        .header("if-match", "W/\"x\"")
        .json(&patch(3))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await;
    assert_eq!(pointers(&problem), ["/headers/if-match"]);
    assert_eq!(app.tree_size().await, before);

    // The current version succeeds everywhere.
    let res = app
        .send_json(
            Method::PUT,
            "/v1/entities/note/n1",
            &json!({"data": {"a": 4}, "expected_version": 2}),
        )
        .await;
    expect_json(res, StatusCode::OK).await;
    let res = app
        .request(Method::DELETE, "/v1/entities/note/n1")
        .header("if-match", "\"3\"")
        .send()
        .await
        .unwrap();
    expect_json(res, StatusCode::OK).await;
}

async fn listing_entities_pages_through_each_live_entity_once(app: TestApp) {
    let mut ids: Vec<String> = (0..7).map(|i| format!("n{i}")).collect();
    for id in &ids {
        app.create("note", id, json!({})).await;
    }
    app.create("counter", "other-type", json!({"n": 0})).await;
    let mut seen = Vec::new();
    let mut path = "/v1/entities/note?limit=3".to_owned();
    let mut pages = 0;
    loop {
        let page = expect_json(app.get(&path).await, StatusCode::OK).await;
        pages += 1;
        let entities = page["entities"].as_array().unwrap();
        assert!(entities.len() <= 3);
        seen.extend(
            entities
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/entities/note?limit=3&cursor={c}"),
            None => break,
        }
    }
    ids.sort();
    assert_eq!(seen, ids);
    assert_eq!(pages, 3);
}

async fn history_is_oldest_first_and_field_history_keeps_only_changes_to_that_field(app: TestApp) {
    app.create("shipment", "s1", json!({"status": "pending", "weight": 1}))
        .await;
    for (k, v) in [
        ("weight", json!(2)),
        ("status", json!("in_transit")),
        ("weight", json!(3)),
        ("status", json!("delivered")),
    ] {
        let res = app
            .send_json(
                Method::PATCH,
                "/v1/entities/shipment/s1",
                &json!({"data": {k: v}}),
            )
            .await;
        expect_json(res, StatusCode::OK).await;
    }
    app.create("shipment", "s2", json!({"status": "pending"}))
        .await;

    let all = expect_json(
        app.get("/v1/entities/shipment/s1/history").await,
        StatusCode::OK,
    )
    .await;
    let versions: Vec<u64> = all["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entity_version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2, 3, 4, 5]);
    assert!(all["next_cursor"].is_null());

    let status = expect_json(
        app.get("/v1/entities/shipment/s1/history?field=/status")
            .await,
        StatusCode::OK,
    )
    .await;
    let values: Vec<&Value> = status["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["new_values"]["status"])
        .collect();
    assert_eq!(
        values,
        [&json!("pending"), &json!("in_transit"), &json!("delivered")]
    );

    // Paging the history.
    let first = expect_json(
        app.get("/v1/entities/shipment/s1/history?limit=2").await,
        StatusCode::OK,
    )
    .await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = expect_json(
        app.get(&format!(
            "/v1/entities/shipment/s1/history?limit=2&cursor={cursor}"
        ))
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(second["entries"][0]["entity_version"], 3);

    expect_problem(
        app.get("/v1/entities/shipment/nope/history").await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    let bad = app
        .get("/v1/entities/shipment/s1/history?field=status")
        .await;
    assert_eq!(
        pointers(&expect_problem(bad, StatusCode::BAD_REQUEST, "invalid-input").await),
        ["/query/field"]
    );
}

async fn an_entity_can_be_read_as_it_was_at_a_version_and_at_a_time(app: TestApp) {
    let mut entries = vec![
        app.create("note", "n1", json!({"a": 1, "n": {"x": 1}}))
            .await["entry"]
            .clone(),
    ];
    for patch in [json!({"a": 2}), json!({"n": {"y": 2}}), json!({"a": null})] {
        let res = app
            .send_json(
                Method::PATCH,
                "/v1/entities/note/n1",
                &json!({"data": patch}),
            )
            .await;
        entries.push(expect_json(res, StatusCode::OK).await["entry"].clone());
    }
    let res = app
        .request(Method::DELETE, "/v1/entities/note/n1")
        .send()
        .await
        .unwrap();
    entries.push(expect_json(res, StatusCode::OK).await["entry"].clone());
    let expected = [
        json!({"a": 1, "n": {"x": 1}}),
        json!({"a": 2, "n": {"x": 1}}),
        json!({"a": 2, "n": {"x": 1, "y": 2}}),
        json!({"n": {"x": 1, "y": 2}}),
        json!({"n": {"x": 1, "y": 2}}),
    ];
    for (i, data) in expected.iter().enumerate() {
        let version = i + 1;
        let body = expect_json(
            app.get(&format!("/v1/entities/note/n1?version={version}"))
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(
            (&body["data"], body["version"].as_u64()),
            (data, Some(version as u64)),
            "version {version}"
        );
        assert_eq!(body["deleted"], version == 5);
    }
    // At a time: the newest entry at or before it (entries may share a timestamp).
    for entry in &entries {
        let t = entry["timestamp"].as_str().unwrap();
        let expected_version = entries
            .iter()
            .filter(|e| e["timestamp"].as_str().unwrap() <= t)
            .count();
        let body = expect_json(
            app.get(&format!("/v1/entities/note/n1?as_of={t}")).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(body["version"], expected_version, "as of {t}");
        assert_eq!(body["data"], expected[expected_version - 1]);
    }
    let end_of_time = app
        .get("/v1/entities/note/n1?as_of=9999-12-31T23:59:59.999999Z")
        .await;
    assert_eq!(expect_json(end_of_time, StatusCode::OK).await["version"], 5);
    let missing = app
        .get("/v1/entities/note/n1?as_of=2000-01-01T00:00:00Z")
        .await;
    expect_problem(missing, StatusCode::NOT_FOUND, "not-found").await;
    expect_problem(
        app.get("/v1/entities/note/n1?version=6").await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    let both = app
        .get("/v1/entities/note/n1?version=1&as_of=2000-01-01T00:00:00Z")
        .await;
    assert_eq!(
        pointers(&expect_problem(both, StatusCode::BAD_REQUEST, "invalid-input").await),
        ["/query/as_of"]
    );
    let zero = app.get("/v1/entities/note/n1?version=0").await;
    assert_eq!(
        pointers(&expect_problem(zero, StatusCode::BAD_REQUEST, "invalid-input").await),
        ["/query/version"]
    );
}

async fn schema_violations_are_refused_with_pointers_and_write_nothing(app: TestApp) {
    let before = app.tree_size().await;
    let res = app
        .post(
            "/v1/entities/shipment",
            &json!({"id": "s1", "data": {"status": "teleported", "weight": "heavy"}}),
        )
        .await;
    let problem = expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await;
    assert_eq!(pointers(&problem), ["/data/status", "/data/weight"]);
    let res = app
        .post(
            "/v1/entities/customer",
            &json!({"id": "c1", "data": {"name": "no email"}}),
        )
        .await;
    assert_eq!(
        pointers(&expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await),
        ["/data/email"]
    );
    let res = app
        .post("/v1/entities/planet", &json!({"id": "p1", "data": {}}))
        .await;
    assert_eq!(
        pointers(&expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await),
        ["/type"]
    );
    let res = app
        .post("/v1/entities/note", &json!({"id": "n1", "data": [1, 2]}))
        .await;
    assert_eq!(
        pointers(&expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await),
        ["/data"]
    );

    app.create("shipment", "s2", json!({"status": "pending"}))
        .await;
    let after_create = app.tree_size().await;
    assert_eq!(after_create, before + 1);
    let res = app
        .send_json(
            Method::PATCH,
            "/v1/entities/shipment/s2",
            &json!({"data": {"weight": false}}),
        )
        .await;
    assert_eq!(
        pointers(&expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await),
        ["/data/weight"]
    );
    let res = app
        .send_json(
            Method::PATCH,
            "/v1/entities/shipment/s2",
            &json!({"data": "not a patch"}),
        )
        .await;
    assert_eq!(
        pointers(&expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await),
        ["/data"]
    );
    assert_eq!(app.tree_size().await, after_create);
}

async fn reads_of_read_audited_types_are_recorded_as_read_entries(app: TestApp) {
    app.create("customer", "c1", json!({"email": "c1@example.com"}))
        .await;
    app.create("shipment", "s1", json!({"status": "pending"}))
        .await;
    let res = app
        .client
        .get(app.url("/v1/entities/customer/c1"))
        .header("x-actor-id", "auditor-7")
        .send()
        .await
        .unwrap();
    expect_json(res, StatusCode::OK).await;
    expect_json(app.get("/v1/entities/shipment/s1").await, StatusCode::OK).await;

    let reads = app.all_entries("operation=read").await;
    assert_eq!(
        reads.len(),
        1,
        "only the read-audited type is recorded: {reads:?}"
    );
    assert_eq!(reads[0]["entity_type"], "customer");
    assert_eq!(reads[0]["entity_id"], "c1");
    assert_eq!(reads[0]["actor"]["id"], "auditor-7");
    assert_eq!(reads[0]["metadata"]["version"], 1);

    // A read that finds nothing records nothing.
    expect_problem(
        app.get("/v1/entities/customer/nope").await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    assert_eq!(app.all_entries("operation=read").await.len(), 1);

    // Lists and histories of the type show its data too, and are recorded the same way.
    expect_json(app.get("/v1/entities/customer").await, StatusCode::OK).await;
    expect_json(
        app.get("/v1/entities/customer/c1/history").await,
        StatusCode::OK,
    )
    .await;
    expect_json(app.get("/v1/entities/shipment").await, StatusCode::OK).await;
    let reads = app.all_entries("operation=read").await;
    let summaries: Vec<&str> = reads
        .iter()
        .map(|e| e["summary"].as_str().unwrap())
        .collect();
    assert_eq!(
        summaries,
        ["read customer c1", "list customer", "read customer c1"]
    );
    assert_eq!(reads[1]["entity_id"], Value::Null);
    assert_eq!(reads[2]["metadata"]["history"], true);
}

async fn forwarded_for_is_believed_only_from_a_trusted_proxy(app: TestApp) {
    let send = |app: &TestApp, id: &str| {
        app.request(Method::POST, "/v1/entities/note")
            .header("x-forwarded-for", "198.51.100.4, 203.0.113.7")
            .json(&json!({"id": id, "data": {}}))
            .send()
    };
    // Not configured as a proxy: the socket peer is the client.
    let body = expect_json(send(&app, "n1").await.unwrap(), StatusCode::CREATED).await;
    assert_eq!(body["entry"]["ip"], "127.0.0.1");

    let config = chronicle_server::ServerConfig {
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..Default::default()
    };
    let Some(proxied) = crate::helpers::spawn_app_with(app.backend, config).await else {
        return;
    };
    let body = expect_json(send(&proxied, "n1").await.unwrap(), StatusCode::CREATED).await;
    assert_eq!(body["entry"]["ip"], "203.0.113.7");
}
