use crate::helpers::{TestApp, expect_json, expect_problem, pointers};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

backend_tests!(
    entity_writes_record_their_metadata_and_the_source_filters_find_them,
    bad_metadata_is_refused_naming_the_pointer_and_nothing_is_written,
    lineage_has_references_sources_batches_and_rollbacks_each_with_its_entry,
    references_are_shown_as_they_were_at_as_of,
    a_large_bulk_is_summarised_by_one_counted_node,
    dot_mermaid_and_svg_are_served_and_escape_labels,
    impact_is_the_cascade_preview_and_writes_nothing,
    provenance_lists_every_entry_that_set_the_field_back_to_its_source,
    lineage_parameters_are_checked_and_an_unknown_entity_is_not_found,
);

async fn get_json(app: &TestApp, path: &str) -> Value {
    expect_json(app.get(path).await, StatusCode::OK).await
}

async fn bulk(app: &TestApp, ops: Value) -> Value {
    expect_json(
        app.post("/v1/bulk", &json!({"operations": ops})).await,
        StatusCode::OK,
    )
    .await
}

fn edges<'a>(graph: &'a Value, kind: &str) -> Vec<&'a Value> {
    graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

fn has_edge(graph: &Value, from: &str, to: &str, kind: &str) -> Option<Value> {
    edges(graph, kind)
        .into_iter()
        .find(|e| e["from"] == from && e["to"] == to)
        .cloned()
}

fn node<'a>(graph: &'a Value, key: &str) -> Option<&'a Value> {
    graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["key"] == key)
}

async fn entity_writes_record_their_metadata_and_the_source_filters_find_them(app: TestApp) {
    let source = json!({"system": "crm", "record_id": "r1", "import_id": "imp-1"});
    let created = expect_json(
        app.post(
            "/v1/entities/customer",
            &json!({"id": "c1", "data": {"email": "a@example.com"}, "metadata": {"source": source, "batch": 7}}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["entry"]["metadata"]["source"], source);
    assert_eq!(created["entry"]["metadata"]["batch"], 7);
    let patched = expect_json(
        app.send_json(
            Method::PATCH,
            "/v1/entities/customer/c1",
            &json!({"data": {"email": "b@example.com"}, "metadata": {"source": {"system": "erp"}}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(patched["entry"]["metadata"]["source"]["system"], "erp");
    let answer = bulk(
        &app,
        json!([
            {"op": "create", "type": "note", "id": "n1", "data": {},
             "metadata": {"source": {"system": "crm", "record_id": "r2", "import_id": "imp-1"}}},
            {"op": "create", "type": "note", "id": "n2", "data": {}},
        ]),
    )
    .await;
    assert_eq!(answer["results"][1]["entry"]["metadata"], json!({}));
    let ids = |entries: Vec<Value>| -> Vec<String> {
        entries
            .iter()
            .map(|e| e["entity_id"].as_str().unwrap_or("-").to_owned())
            .collect()
    };
    assert_eq!(
        ids(app.all_entries("source_system=crm").await),
        ["c1", "n1"]
    );
    assert_eq!(ids(app.all_entries("import_id=imp-1").await), ["c1", "n1"]);
    assert_eq!(
        ids(app
            .all_entries("source_system=crm&source_record_id=r2")
            .await),
        ["n1"]
    );
    assert_eq!(ids(app.all_entries("source_system=erp").await), ["c1"]);
    assert!(app.all_entries("source_system=nowhere").await.is_empty());
    // An event's free-form metadata without a system is not a source.
    expect_json(
        app.post(
            "/v1/audit/events",
            &json!({"operation": "system", "metadata": {"source": {"import_id": "imp-1"}}}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(app.all_entries("import_id=imp-1").await.len(), 2);
}

async fn bad_metadata_is_refused_naming_the_pointer_and_nothing_is_written(app: TestApp) {
    app.create("note", "n1", json!({})).await;
    let size = app.tree_size().await;
    let cases = [
        (
            Method::POST,
            "/v1/entities/note",
            json!({"data": {}, "metadata": {"source": {"record_id": "r"}}}),
            vec!["/metadata/source/system"],
        ),
        (
            Method::PATCH,
            "/v1/entities/note/n1",
            json!({"data": {"a": 1}, "metadata": []}),
            vec!["/metadata"],
        ),
        (
            Method::PUT,
            "/v1/entities/note/n1",
            json!({"data": {}, "metadata": {"source": {"system": 5, "import_id": "x".repeat(300)}}}),
            vec!["/metadata/source/system", "/metadata/source/import_id"],
        ),
        (
            Method::POST,
            "/v1/bulk",
            json!({"operations": [
                {"op": "create", "type": "note", "data": {}},
                {"op": "create", "type": "note", "data": {}, "metadata": {"source": "crm"}},
            ]}),
            vec!["/operations/1/metadata/source"],
        ),
        (
            Method::POST,
            "/v1/transactions",
            json!({"operations": [
                {"op": "create", "type": "note", "data": {}, "metadata": {"source": {"system": "s", "extra": 1}}},
            ]}),
            vec!["/operations/0/metadata/source/extra"],
        ),
    ];
    for (method, path, body, expected) in cases {
        let problem = expect_problem(
            app.send_json(method.clone(), path, &body).await,
            StatusCode::BAD_REQUEST,
            "invalid-input",
        )
        .await;
        assert_eq!(pointers(&problem), expected, "{method} {path}");
    }
    assert_eq!(app.tree_size().await, size, "nothing was written");
}

/// customer c1 (from crm record r1) is referenced by s1 and s2 (one bulk) and s3 (a
/// transaction); s2's later update is rolled back.
async fn seed(app: &TestApp) -> (Value, Value, Value) {
    expect_json(
        app.post(
            "/v1/entities/customer",
            &json!({"id": "c1", "data": {"email": "a@example.com"},
                    "metadata": {"source": {"system": "crm", "record_id": "r1", "import_id": "i1"}}}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let b = bulk(
        app,
        json!([
            {"op": "create", "type": "shipment", "id": "s1", "data": {"customer_id": "c1", "weight": 1}},
            {"op": "create", "type": "shipment", "id": "s2", "data": {"customer_id": "c1", "weight": 2}},
        ]),
    )
    .await;
    let t = expect_json(
        app.post(
            "/v1/transactions",
            &json!({"operations": [
                {"op": "create", "type": "shipment", "id": "s3", "data": {"customer_id": "c1"}}
            ]}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let update = expect_json(
        app.send_json(
            Method::PATCH,
            "/v1/entities/shipment/s2",
            &json!({"data": {"weight": 20}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let rollback = expect_json(
        app.post(
            "/v1/rollbacks",
            &json!({"target": {"kind": "entry", "entry_id": update["entry"]["id"]}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rollback["status"], "completed", "{rollback}");
    (b, t, rollback)
}

async fn lineage_has_references_sources_batches_and_rollbacks_each_with_its_entry(app: TestApp) {
    let (b, t, rollback) = seed(&app).await;
    let down = get_json(&app, "/v1/lineage/customer/c1?direction=downstream&depth=1").await;
    assert_eq!(down["root"], "customer/c1");
    for (i, s) in ["s1", "s2"].iter().enumerate() {
        let e = has_edge(&down, &format!("shipment/{s}"), "customer/c1", "references")
            .unwrap_or_else(|| panic!("{s} references c1: {down}"));
        assert_eq!(e["entry_id"], b["results"][i]["entry"]["id"]);
        assert_eq!(e["at"], b["results"][i]["entry"]["timestamp"]);
    }
    let e = has_edge(&down, "shipment/s3", "customer/c1", "references").expect("s3");
    assert_eq!(e["entry_id"], t["results"][0]["entry"]["id"]);
    assert!(edges(&down, "source").is_empty(), "sources are upstream");

    let up = get_json(&app, "/v1/lineage/customer/c1?direction=upstream").await;
    let e = has_edge(&up, "_source/crm/r1", "customer/c1", "source").expect("source edge");
    assert!(e["entry_id"].is_string());
    assert_eq!(node(&up, "_source/crm/r1").unwrap()["type"], "_source");
    assert!(
        edges(&up, "references").is_empty(),
        "referrers are downstream"
    );

    let s1 = get_json(&app, "/v1/lineage/shipment/s1?depth=2").await;
    assert!(has_edge(&s1, "shipment/s1", "customer/c1", "references").is_some());
    let bulk_key = format!("_bulk/{}", b["bulk_id"].as_str().unwrap());
    assert!(has_edge(&s1, "shipment/s1", &bulk_key, "same_bulk").is_some());
    assert!(
        has_edge(&s1, "shipment/s2", &bulk_key, "same_bulk").is_some(),
        "the sibling is listed: {s1}"
    );
    // Two steps up: c1's source.
    assert!(has_edge(&s1, "_source/crm/r1", "customer/c1", "source").is_some());

    let s3 = get_json(&app, "/v1/lineage/shipment/s3?depth=1").await;
    let txn_key = format!("_transaction/{}", t["transaction_id"].as_str().unwrap());
    assert!(has_edge(&s3, "shipment/s3", &txn_key, "same_transaction").is_some());
    assert_eq!(node(&s3, &txn_key).unwrap()["cut"], "depth");

    let s2 = get_json(&app, "/v1/lineage/shipment/s2?direction=upstream&depth=1").await;
    let rollback_key = format!("_rollback/{}", rollback["id"].as_str().unwrap());
    let e = has_edge(&s2, &rollback_key, "shipment/s2", "rollback_of").expect("rollback edge");
    let written = app
        .all_entries(&format!(
            "rollback_id={}&entity_type=shipment",
            rollback["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(e["entry_id"], written[0]["id"]);
}

async fn references_are_shown_as_they_were_at_as_of(app: TestApp) {
    app.create("customer", "c1", json!({"email": "a@example.com"}))
        .await;
    app.create("customer", "c2", json!({"email": "b@example.com"}))
        .await;
    let s = app
        .create("shipment", "s1", json!({"customer_id": "c1"}))
        .await;
    let then = s["entry"]["timestamp"].as_str().unwrap().to_owned();
    expect_json(
        app.send_json(
            Method::PATCH,
            "/v1/entities/shipment/s1",
            &json!({"data": {"customer_id": "c2"}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let path = |c: &str, as_of: Option<&str>| {
        let mut p = format!("/v1/lineage/customer/{c}?direction=downstream&depth=1");
        if let Some(t) = as_of {
            p.push_str(&format!("&as_of={}", t.replace('+', "%2B")));
        }
        p
    };
    let refs = |g: &Value| edges(g, "references").len();
    assert_eq!(refs(&get_json(&app, &path("c1", None)).await), 0);
    assert_eq!(refs(&get_json(&app, &path("c2", None)).await), 1);
    assert_eq!(refs(&get_json(&app, &path("c1", Some(&then))).await), 1);
    assert_eq!(refs(&get_json(&app, &path("c2", Some(&then))).await), 0);
    let up = get_json(
        &app,
        &format!(
            "/v1/lineage/shipment/s1?direction=upstream&depth=1&as_of={}",
            then.replace('+', "%2B")
        ),
    )
    .await;
    assert!(has_edge(&up, "shipment/s1", "customer/c1", "references").is_some());
    assert!(has_edge(&up, "shipment/s1", "customer/c2", "references").is_none());
}

async fn a_large_bulk_is_summarised_by_one_counted_node(app: TestApp) {
    let ops: Vec<Value> = (0..60)
        .map(|i| json!({"op": "create", "type": "note", "id": format!("n{i:02}"), "data": {}}))
        .collect();
    let b = bulk(&app, json!(ops)).await;
    let g = get_json(&app, "/v1/lineage/note/n00?depth=2&max_siblings=10").await;
    let bulk_key = format!("_bulk/{}", b["bulk_id"].as_str().unwrap());
    let listed = edges(&g, "same_bulk")
        .iter()
        .filter(|e| e["to"] == bulk_key)
        .count();
    assert_eq!(listed, 10, "n00 and nine siblings: {g}");
    let more = node(&g, &format!("_more/{bulk_key}")).expect("a _more node");
    assert_eq!(more["count"], 50);
    assert_eq!(node(&g, &bulk_key).unwrap()["cut"], "siblings");
    assert_eq!(g["truncated"], true);
    let small = get_json(&app, "/v1/lineage/note/n00?depth=1&max_nodes=1").await;
    assert_eq!(small["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(small["nodes"][0]["cut"], "nodes");
    assert_eq!(small["truncated"], true);
}

async fn dot_mermaid_and_svg_are_served_and_escape_labels(app: TestApp) {
    let id = r#"we"ird\id #<x>"#;
    let created = expect_json(
        app.post("/v1/entities/note", &json!({"id": id, "data": {}}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["id"], id);
    let encoded = "we%22ird%5Cid%20%23%3Cx%3E";
    let fetch = |format: &'static str| {
        let app = &app;
        async move {
            let res = app
                .get(&format!("/v1/lineage/note/{encoded}?format={format}"))
                .await;
            assert_eq!(res.status(), StatusCode::OK);
            let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
            (ct, res.text().await.unwrap())
        }
    };
    let (ct, dot) = fetch("dot").await;
    assert!(ct.starts_with("text/vnd.graphviz"), "{ct}");
    assert!(dot.starts_with("digraph lineage {"), "{dot}");
    assert!(
        dot.contains(r#""note/we\"ird\\id #<x>" [label="note we\"ird\\id #<x>""#),
        "{dot}"
    );
    let (ct, mermaid) = fetch("mermaid").await;
    assert!(ct.starts_with("text/vnd.mermaid"), "{ct}");
    assert!(
        mermaid.contains(r#"n0["note we#quot;ird\id #35;#lt;x#gt;"]"#),
        "{mermaid}"
    );
    let (ct, svg) = fetch("svg").await;
    assert_eq!(ct, "image/svg+xml");
    assert!(svg.contains("note we&quot;ird\\id #&lt;x&gt;"), "{svg}");
    assert!(
        svg.contains(&format!("href=\"/entities/note/{encoded}\"")),
        "{svg}"
    );
}

async fn impact_is_the_cascade_preview_and_writes_nothing(app: TestApp) {
    seed(&app).await;
    let size = app.tree_size().await;
    let impact = get_json(&app, "/v1/lineage/customer/c1/impact").await;
    assert_eq!(impact["request"]["strategy"], "cascade");
    let preview = expect_json(
        app.post("/v1/rollbacks/preview", &impact["request"]).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(impact["preview"], preview, "one implementation, one answer");
    let mut touched: Vec<String> = impact["touched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}/{} {}",
                t["type"].as_str().unwrap(),
                t["id"].as_str().unwrap(),
                t["action"].as_str().unwrap()
            )
        })
        .collect();
    touched.sort();
    assert_eq!(
        touched,
        [
            "customer/c1 delete",
            "shipment/s1 delete",
            "shipment/s2 delete",
            "shipment/s3 delete"
        ],
        "{impact}"
    );
    assert_eq!(app.tree_size().await, size, "nothing was written");
    // The impact of one entry of the entity.
    let s1 = app.all_entries("entity_type=shipment&entity_id=s1").await;
    let one = get_json(
        &app,
        &format!(
            "/v1/lineage/shipment/s1/impact?entry_id={}",
            s1[0]["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(one["touched"].as_array().unwrap().len(), 1, "{one}");
    let other = get_json(&app, "/v1/lineage/shipment/s2/impact").await;
    // Another entity's entry is no entry of this one: not found.
    expect_problem(
        app.get(&format!(
            "/v1/lineage/shipment/s1/impact?entry_id={}",
            other["request"]["target"]["entry_id"].as_str().unwrap()
        ))
        .await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
}

async fn provenance_lists_every_entry_that_set_the_field_back_to_its_source(app: TestApp) {
    let first = expect_json(
        app.post(
            "/v1/entities/shipment",
            &json!({"id": "s1", "data": {"status": "pending", "weight": 1},
                    "metadata": {"source": {"system": "wms", "record_id": "w1"}}}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    for (data, metadata) in [
        (json!({"weight": 2}), json!({})),
        (
            json!({"status": "in_transit"}),
            json!({"source": {"system": "carrier", "record_id": "k9"}}),
        ),
    ] {
        expect_json(
            app.send_json(
                Method::PATCH,
                "/v1/entities/shipment/s1",
                &json!({"data": data, "metadata": metadata}),
            )
            .await,
            StatusCode::OK,
        )
        .await;
    }
    let p = get_json(&app, "/v1/entities/shipment/s1/provenance?field=/status").await;
    assert_eq!(p["value"], "in_transit");
    let chain = p["chain"].as_array().unwrap();
    assert_eq!(chain.len(), 2, "the weight change is not in the chain: {p}");
    assert_eq!(chain[0]["old"], "pending");
    assert_eq!(chain[0]["new"], "in_transit");
    assert_eq!(chain[0]["source"]["system"], "carrier");
    assert_eq!(chain[1]["entry_id"], first["entry"]["id"]);
    assert_eq!(chain[1]["old"], Value::Null);
    assert_eq!(
        chain[1]["source"],
        json!({"system": "wms", "record_id": "w1"})
    );
    assert_eq!(p["origin"]["system"], "carrier");
    let then = first["entry"]["timestamp"].as_str().unwrap();
    let earlier = get_json(
        &app,
        &format!("/v1/entities/shipment/s1/provenance?field=/status&as_of={then}"),
    )
    .await;
    assert_eq!(earlier["value"], "pending");
    assert_eq!(earlier["origin"]["system"], "wms");
}

async fn lineage_parameters_are_checked_and_an_unknown_entity_is_not_found(app: TestApp) {
    app.create("note", "n1", json!({})).await;
    let size = app.tree_size().await;
    for (query, pointer) in [
        ("depth=0", "/query/depth"),
        ("depth=11", "/query/depth"),
        ("direction=sideways", "/query/direction"),
        ("format=png", "/query/format"),
        ("max_nodes=0", "/query/max_nodes"),
        ("max_siblings=x", "/query/max_siblings"),
        ("as_of=yesterday", "/query/as_of"),
        ("colour=red", "/query/colour"),
    ] {
        let problem = expect_problem(
            app.get(&format!("/v1/lineage/note/n1?{query}")).await,
            StatusCode::BAD_REQUEST,
            "invalid-input",
        )
        .await;
        assert_eq!(pointers(&problem), [pointer], "{query}");
    }
    for path in [
        "/v1/entities/note/n1/provenance",
        "/v1/entities/note/n1/provenance?field=status",
    ] {
        let problem = expect_problem(
            app.get(path).await,
            StatusCode::BAD_REQUEST,
            "invalid-input",
        )
        .await;
        assert_eq!(pointers(&problem), ["/query/field"], "{path}");
    }
    for path in [
        "/v1/lineage/note/nobody",
        "/v1/lineage/note/nobody/impact",
        "/v1/entities/note/nobody/provenance?field=/a",
    ] {
        expect_problem(app.get(path).await, StatusCode::NOT_FOUND, "not-found").await;
    }
    let problem = expect_problem(
        app.get("/v1/lineage/Bad%20Type/x").await,
        StatusCode::BAD_REQUEST,
        "invalid-input",
    )
    .await;
    assert!(!pointers(&problem).is_empty());
    assert_eq!(app.tree_size().await, size, "nothing was written");
}
