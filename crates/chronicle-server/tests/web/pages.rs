//! The pages over plain HTTP: what they show agrees with the API, and entity data is text.

use crate::helpers::expect_json;
use crate::support::WebApp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

web_tests!(
    the_feed_shows_the_newest_entries_with_links_and_escapes_entity_data,
    search_shows_exactly_what_the_api_finds_for_the_same_query,
    a_bad_search_filter_is_named_and_answered_with_the_api_status,
    the_event_proxy_streams_entries_for_the_session_only,
);

/// The seqs in a page's entry table, in order.
fn seqs(html: &str) -> Vec<u64> {
    html.split("<tr data-seq=\"")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].parse().unwrap())
        .collect()
}

async fn the_feed_shows_the_newest_entries_with_links_and_escapes_entity_data(web: WebApp) {
    let xss = "<script>alert('x')</script><img src=x onerror=alert(1)>";
    let created = web.create("note", "n-1", json!({"text": xss})).await;
    let mut v = web.signed_in("vic").await;
    let html = v.page("/").await;
    let seq = created["entry"]["seq"].as_u64().unwrap();
    assert!(seqs(&html).contains(&seq), "{html}");
    assert!(html.contains(&format!(
        "href=\"/entries/{}\"",
        created["entry"]["id"].as_str().unwrap()
    )));
    assert!(html.contains("href=\"/entities/note/n-1\""));
    let entity = v.page("/entities/note/n-1").await;
    assert!(!entity.contains("<script>alert"), "{entity}");
    assert!(!entity.contains("<img src=x"), "{entity}");
    assert!(entity.contains("&lt;script&gt;alert"), "{entity}");
}

async fn search_shows_exactly_what_the_api_finds_for_the_same_query(web: WebApp) {
    for i in 0..5 {
        web.create("shipment", &format!("s-{i}"), json!({"status": "pending"}))
            .await;
    }
    web.create("note", "other", json!({"text": "not a shipment"}))
        .await;
    let query = "entity_type=shipment&order=desc&limit=3";
    let mut v = web.signed_in("vic").await;
    let res = web
        .api(
            "vic",
            Method::GET,
            &format!("/v1/audit/entries?{query}"),
            None,
        )
        .await;
    let api: Value = expect_json(res, StatusCode::OK).await;
    let expected: Vec<u64> = api["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(expected.len(), 3);
    let html = v.page(&format!("/search?{query}")).await;
    assert_eq!(seqs(&html), expected);
    // The next page continues where the API's cursor says.
    let cursor = api["next_cursor"].as_str().unwrap();
    assert!(html.contains(&format!("cursor={cursor}")), "{html}");
    // The form shows the filters it searched with.
    assert!(
        html.contains("name=\"entity_type\" value=\"shipment\""),
        "{html}"
    );
}

async fn a_bad_search_filter_is_named_and_answered_with_the_api_status(web: WebApp) {
    let mut v = web.signed_in("vic").await;
    let res = v.get("/search?from=yesterday").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let html = res.text().await.unwrap();
    assert!(html.contains("/query/from"), "{html}");
    assert!(html.contains("role=\"alert\""), "{html}");
}

async fn the_event_proxy_streams_entries_for_the_session_only(web: WebApp) {
    let mut anonymous = web.visitor();
    let res = anonymous.get("/events").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let created = web
        .create("note", "streamed", json!({"text": "hello"}))
        .await;
    let seq = created["entry"]["seq"].as_u64().unwrap();
    let mut v = web.signed_in("vic").await;
    let res = v
        .get(&format!("/events?entity_type=note&after_seq={}", seq - 1))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    // Read until the event for the entry written before subscribing arrives (replayed from
    // the ledger, so no waiting on timing).
    let mut res = res;
    let mut text = String::new();
    while !text.contains("event: audit") {
        let chunk = res.chunk().await.unwrap().expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains(&format!("id: {seq}")), "{text}");
    assert!(text.contains("\"entity_id\":\"streamed\""), "{text}");
}
