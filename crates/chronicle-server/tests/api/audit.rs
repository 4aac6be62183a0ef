use crate::helpers::{TestApp, expect_json, expect_problem, pointers};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;

backend_tests!(
    external_events_are_recorded_and_engine_operations_are_refused,
    every_search_filter_keeps_exactly_the_matching_entries,
    search_pages_cover_every_entry_exactly_once_in_both_orders,
    an_entry_is_fetched_by_its_id,
    summary_counts_entries_per_group_with_filters,
);

async fn external_events_are_recorded_and_engine_operations_are_refused(app: TestApp) {
    let res = app
        .request(Method::POST, "/v1/audit/events")
        .header("x-actor-id", "sec-bot")
        .header("x-correlation-id", "incident-4")
        .json(&json!({
            "operation": "security", "summary": "five failed logins", "severity": "critical",
            "entity_type": "customer", "entity_id": "c1",
            "metadata": {"attempts": 5}, "tags": ["login", "mfa"],
            "old_values": {"locked": false}, "new_values": {"locked": true}
        }))
        .send()
        .await
        .unwrap();
    let entry = expect_json(res, StatusCode::CREATED).await;
    assert_eq!(entry["operation"], "security");
    assert_eq!(entry["severity"], "critical");
    assert_eq!(entry["tags"], json!(["login", "mfa"]));
    assert_eq!(entry["actor"]["id"], "sec-bot");
    assert_eq!(entry["correlation_id"], "incident-4");
    assert_eq!(entry["change_set"]["field_changes"][0]["path"], "/locked");
    for op in ["read", "system", "config", "user_management"] {
        let res = app
            .post("/v1/audit/events", &json!({"operation": op}))
            .await;
        assert_eq!(expect_json(res, StatusCode::CREATED).await["operation"], op);
    }

    let before = app.tree_size().await;
    for op in [
        "create",
        "update",
        "delete",
        "bulk",
        "transaction",
        "rollback",
        "access",
        "retention",
        "erasure",
    ] {
        let res = app
            .post("/v1/audit/events", &json!({"operation": op}))
            .await;
        let problem = expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await;
        assert_eq!(pointers(&problem), ["/operation"], "{op}");
    }
    let bad = json!({"operation": "system", "entity_type": "planet", "metadata": [1], "tags": ["ok", ""]});
    let problem = expect_problem(
        app.post("/v1/audit/events", &bad).await,
        StatusCode::BAD_REQUEST,
        "invalid-input",
    )
    .await;
    assert_eq!(pointers(&problem), ["/entity_type", "/metadata", "/tags/1"]);
    let problem = expect_problem(
        app.post("/v1/audit/events", &json!({})).await,
        StatusCode::BAD_REQUEST,
        "invalid-input",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("operation"));
    let problem = expect_problem(
        app.post("/v1/audit/events", &json!({"operation": "gossip"}))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid-input",
    )
    .await;
    assert_eq!(pointers(&problem), ["/operation"]);
    assert_eq!(app.tree_size().await, before);
}

/// A ledger with something for every filter; returns (transaction id, bulk id).
async fn seed(app: &TestApp) -> (String, String) {
    let as_ = |actor: &str, email: &str, method: Method, path: &str| {
        app.client
            .request(method, app.url(path))
            .header("x-actor-id", actor)
            .header("x-actor-email", email)
    };
    let send = |rb: reqwest::RequestBuilder| async move { rb.send().await.unwrap() };
    let alice =
        |m, p: &str| as_("alice", "alice@example.com", m, p).header("x-correlation-id", "corr-1");
    expect_json(
        send(
            alice(Method::POST, "/v1/entities/shipment")
                .header("x-reason", "initial import")
                .json(&json!({"id": "s1", "data": {"status": "pending"}})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    expect_json(
        send(
            alice(Method::PATCH, "/v1/entities/shipment/s1")
                .json(&json!({"data": {"status": "in_transit"}})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let bob = |m, p: &str| as_("bob", "bob@example.com", m, p);
    expect_json(
        send(
            bob(Method::POST, "/v1/entities/note")
                .header("x-reason", "Quarterly CLEANUP of notes")
                .json(&json!({"id": "n1", "data": {"t": 1}})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    expect_json(
        send(bob(Method::DELETE, "/v1/entities/note/n1")).await,
        StatusCode::OK,
    )
    .await;
    let carol = |m, p: &str| as_("carol", "carol@example.com", m, p);
    let tx = json!({"operations": [
        {"op": "create", "type": "note", "id": "t1", "data": {}},
        {"op": "create", "type": "note", "id": "t2", "data": {"status": "x"}},
    ]});
    let tx = expect_json(
        send(carol(Method::POST, "/v1/transactions").json(&tx)).await,
        StatusCode::OK,
    )
    .await;
    let bulk =
        json!({"operations": [{"op": "create", "type": "counter", "id": "b1", "data": {"n": 1}}]});
    let bulk = expect_json(
        send(carol(Method::POST, "/v1/bulk").json(&bulk)).await,
        StatusCode::OK,
    )
    .await;
    let dave = |m, p: &str| as_("dave", "dave@example.com", m, p);
    let event = json!({"operation": "security", "severity": "critical", "tags": ["login", "mfa"], "summary": "failed login burst"});
    expect_json(
        send(dave(Method::POST, "/v1/audit/events").json(&event)).await,
        StatusCode::CREATED,
    )
    .await;
    let event = json!({"operation": "config", "tags": ["deploy"], "summary": "rate limit raised"});
    expect_json(
        send(dave(Method::POST, "/v1/audit/events").json(&event)).await,
        StatusCode::CREATED,
    )
    .await;
    (
        tx["transaction_id"].as_str().unwrap().to_owned(),
        bulk["bulk_id"].as_str().unwrap().to_owned(),
    )
}

fn seqs(entries: &[Value]) -> Vec<u64> {
    entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_lowercase()
}

async fn every_search_filter_keeps_exactly_the_matching_entries(app: TestApp) {
    let (tx, bulk) = seed(&app).await;
    let all = app.all_entries("").await;
    assert_eq!(seqs(&all), (1..=11).collect::<Vec<u64>>());
    let from = all[2]["timestamp"].as_str().unwrap().to_owned();
    let to = all[9]["timestamp"].as_str().unwrap().to_owned();
    type Pred = Box<dyn Fn(&Value) -> bool>;
    let cases: Vec<(String, Pred)> = vec![
        (
            "actor=alice".into(),
            Box::new(|e| e["actor"]["id"] == "alice"),
        ),
        (
            "actor=bob@example.com".into(),
            Box::new(|e| e["actor"]["email"] == "bob@example.com"),
        ),
        (
            "entity_type=note".into(),
            Box::new(|e| e["entity_type"] == "note"),
        ),
        ("entity_id=s1".into(), Box::new(|e| e["entity_id"] == "s1")),
        (
            "operation=delete".into(),
            Box::new(|e| e["operation"] == "delete"),
        ),
        (
            "operation=create".into(),
            Box::new(|e| e["operation"] == "create"),
        ),
        (
            format!("from={from}"),
            Box::new({
                let f = from.clone();
                move |e| e["timestamp"].as_str().unwrap() >= f.as_str()
            }),
        ),
        (
            format!("to={to}"),
            Box::new({
                let t = to.clone();
                move |e| e["timestamp"].as_str().unwrap() < t.as_str()
            }),
        ),
        (
            "correlation_id=corr-1".into(),
            Box::new(|e| e["correlation_id"] == "corr-1"),
        ),
        (
            format!("transaction_id={tx}"),
            Box::new({
                let tx = tx.clone();
                move |e| e["transaction_id"] == tx.as_str()
            }),
        ),
        (
            format!("parent_id={bulk}"),
            Box::new({
                let b = bulk.clone();
                move |e| e["parent_id"] == b.as_str()
            }),
        ),
        (
            "field=/status".into(),
            Box::new(|e| {
                e["change_set"]["field_changes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["path"] == "/status")
            }),
        ),
        (
            "severity=critical".into(),
            Box::new(|e| e["severity"] == "critical"),
        ),
        (
            "severity=warning".into(),
            Box::new(|e| e["severity"] == "warning"),
        ),
        (
            "tag=login".into(),
            Box::new(|e| e["tags"].as_array().unwrap().contains(&json!("login"))),
        ),
        (
            "q=CLEANUP".into(),
            Box::new(|e| {
                text(&e["reason"]).contains("cleanup") || text(&e["summary"]).contains("cleanup")
            }),
        ),
        (
            "actor=carol&entity_type=note".into(),
            Box::new(|e| e["actor"]["id"] == "carol" && e["entity_type"] == "note"),
        ),
    ];
    for (query, pred) in cases {
        let expected: Vec<u64> = seqs(&all.iter().filter(|e| pred(e)).cloned().collect::<Vec<_>>());
        assert!(
            !expected.is_empty() && expected.len() < all.len(),
            "{query} narrows the seed: {expected:?}"
        );
        assert_eq!(seqs(&app.all_entries(&query).await), expected, "{query}");
    }
    // No rollback has run: the filter is accepted and matches nothing.
    let none = app
        .all_entries(&format!("rollback_id={}", uuid::Uuid::now_v7()))
        .await;
    assert!(none.is_empty());
}

async fn search_pages_cover_every_entry_exactly_once_in_both_orders(app: TestApp) {
    for i in 0..23 {
        app.create("note", &format!("n{i:02}"), json!({"i": i}))
            .await;
    }
    for (order, limit) in [
        ("asc", 5),
        ("desc", 5),
        ("asc", 23),
        ("desc", 1000),
        ("desc", 1),
    ] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = format!("/v1/audit/entries?order={order}&limit={limit}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = expect_json(app.get(&path).await, StatusCode::OK).await;
            pages += 1;
            let entries = page["entries"].as_array().unwrap();
            assert!(entries.len() <= limit);
            seen.extend(seqs(entries));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let mut expected: Vec<u64> = (1..=23).collect();
        if order == "desc" {
            expected.reverse();
        }
        assert_eq!(seen, expected, "order={order} limit={limit}");
        assert_eq!(
            pages,
            23usize.div_ceil(limit),
            "order={order} limit={limit}: no empty last page"
        );
    }
    // Filters and cursors combine.
    let first = expect_json(
        app.get("/v1/audit/entries?entity_id=n05&limit=1").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(first["entries"][0]["entity_id"], "n05");
    assert!(first["next_cursor"].is_null());
}

async fn an_entry_is_fetched_by_its_id(app: TestApp) {
    let created = app.create("note", "n1", json!({})).await;
    let id = created["entry"]["id"].as_str().unwrap();
    let entry = expect_json(
        app.get(&format!("/v1/audit/entries/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(entry, created["entry"]);
    let missing = app
        .get(&format!("/v1/audit/entries/{}", uuid::Uuid::now_v7()))
        .await;
    expect_problem(missing, StatusCode::NOT_FOUND, "not-found").await;
    let bad = app.get("/v1/audit/entries/not-a-uuid").await;
    assert_eq!(
        pointers(&expect_problem(bad, StatusCode::BAD_REQUEST, "invalid-input").await),
        ["/path/id"]
    );
}

async fn summary_counts_entries_per_group_with_filters(app: TestApp) {
    seed(&app).await;
    let all = app.all_entries("").await;
    let key = |by: &str, e: &Value| -> String {
        let ts = e["timestamp"].as_str().unwrap();
        match by {
            "actor" => e["actor"]["id"].as_str().unwrap_or_default().to_owned(),
            "operation" => e["operation"].as_str().unwrap().to_owned(),
            "entity_type" => e["entity_type"].as_str().unwrap_or_default().to_owned(),
            "hour" => format!("{}:00:00Z", &ts[..13]),
            "day" => ts[..10].to_owned(),
            _ => unreachable!(),
        }
    };
    for (by, filter, keep) in [
        ("actor", "", None),
        ("operation", "", None),
        ("entity_type", "", None),
        ("hour", "", None),
        ("day", "", None),
        ("operation", "&actor=carol", Some("carol")),
    ] {
        let mut expected: BTreeMap<String, u64> = BTreeMap::new();
        for e in all
            .iter()
            .filter(|e| keep.is_none_or(|a| e["actor"]["id"] == a))
        {
            *expected.entry(key(by, e)).or_default() += 1;
        }
        let body = expect_json(
            app.get(&format!("/v1/audit/summary?group_by={by}{filter}"))
                .await,
            StatusCode::OK,
        )
        .await;
        let groups = body["groups"].as_array().unwrap();
        let counts: Vec<u64> = groups
            .iter()
            .map(|g| g["count"].as_u64().unwrap())
            .collect();
        assert!(
            counts.windows(2).all(|w| w[0] >= w[1]),
            "largest first: {counts:?}"
        );
        let actual: BTreeMap<String, u64> = groups
            .iter()
            .map(|g| {
                (
                    g["key"].as_str().unwrap().to_owned(),
                    g["count"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(actual, expected, "group_by={by}{filter}");
    }
    let missing = app.get("/v1/audit/summary").await;
    assert_eq!(
        pointers(&expect_problem(missing, StatusCode::BAD_REQUEST, "invalid-input").await),
        ["/query/group_by"]
    );
    let bad = app.get("/v1/audit/summary?group_by=planet").await;
    assert_eq!(
        pointers(&expect_problem(bad, StatusCode::BAD_REQUEST, "invalid-input").await),
        ["/query/group_by"]
    );
}
