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
    an_entry_page_shows_each_field_before_and_after,
    an_entity_page_shows_versions_a_diff_and_the_state_at_a_time,
    the_ledger_page_verifies_the_signed_checkpoint_it_shows,
    snapshots_and_alert_rules_are_listed,
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
    // A cursor is `base64(<after seq>.<head bound>)`; the bound is the head each first page
    // saw, which the dashboard's own access entries move, so only the position must agree.
    let after = |c: &str| {
        use base64::Engine as _;
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(c)
            .expect("a cursor is base64");
        String::from_utf8(text)
            .unwrap()
            .split('.')
            .next()
            .unwrap()
            .to_owned()
    };
    let cursor = api["next_cursor"].as_str().unwrap();
    let page_cursor = html
        .split("cursor=")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a next-page link");
    assert_eq!(after(page_cursor), after(cursor), "{html}");
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

async fn an_entry_page_shows_each_field_before_and_after(web: WebApp) {
    web.create("note", "n", json!({"text": "old", "keep": 1}))
        .await;
    let res = web
        .api(
            "ann",
            Method::PATCH,
            "/v1/entities/note/n",
            Some(json!({"data": {"text": "new"}})),
        )
        .await;
    let entry = expect_json(res, StatusCode::OK).await["entry"].clone();
    let mut v = web.signed_in("vic").await;
    let html = v
        .page(&format!("/entries/{}", entry["id"].as_str().unwrap()))
        .await;
    let changes = &html[html.find("id=\"changes\"").expect("a changes table")..];
    let row = &changes[changes
        .find("<code>/text</code>")
        .expect("the changed field")..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains(">old<") && row.contains(">new<"), "{row}");
    assert!(
        !changes.contains("<code>/keep</code>"),
        "unchanged fields are not listed"
    );
    // A viewer is offered no rollback.
    assert!(!html.contains("/rollbacks/new"));
}

async fn an_entity_page_shows_versions_a_diff_and_the_state_at_a_time(web: WebApp) {
    let first = web.create("note", "n", json!({"text": "one"})).await;
    let at_one = first["entry"]["timestamp"].as_str().unwrap().to_owned();
    for text in ["two", "three"] {
        let res = web
            .api(
                "ann",
                Method::PATCH,
                "/v1/entities/note/n",
                Some(json!({"data": {"text": text}})),
            )
            .await;
        expect_json(res, StatusCode::OK).await;
    }
    let mut v = web.signed_in("vic").await;
    let now = v.page("/entities/note/n").await;
    assert!(
        now.contains("&quot;three&quot;") || now.contains("\"three\""),
        "{now}"
    );
    // The timeline lists every version, oldest first.
    let history = &now[now.find("id=\"history\"").unwrap()..];
    assert_eq!(seqs(history).len(), 3);
    let v1 = v.page("/entities/note/n?version=1").await;
    assert!(v1.contains("At version 1") && v1.contains("one"), "{v1}");
    let then = v
        .page(&format!(
            "/entities/note/n?as_of={}",
            at_one.replace('+', "%2B")
        ))
        .await;
    let data = &then[then.find("id=\"entity-data\"").unwrap()..];
    assert!(data.contains("one") && !data.contains("three"), "{data}");
    let diff = v.page("/entities/note/n?diff=1,3").await;
    let table = &diff[diff.find("id=\"diff\"").expect("a diff table")..];
    assert!(
        table.contains("<code>/text</code>")
            && table.contains(">one<")
            && table.contains(">three<"),
        "{table}"
    );
    // The diff form's two boxes give the same table.
    let boxes = v.page("/entities/note/n?diff_a=1&diff_b=3").await;
    assert!(boxes.contains("id=\"diff\""));
    let res = v.get("/entities/note/missing").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

async fn the_ledger_page_verifies_the_signed_checkpoint_it_shows(web: WebApp) {
    for i in 0..3 {
        web.create("note", &format!("n-{i}"), json!({"text": "x"}))
            .await;
    }
    let mut v = web.signed_in("vic").await;
    let html = v.page("/ledger").await;
    assert!(html.contains("Verification passes"), "{html}");
    assert!(!html.contains("FAILS"), "{html}");
    let size: u64 = {
        let at = html.find("id=\"tree-size\">").unwrap() + "id=\"tree-size\">".len();
        html[at..at + html[at..].find('<').unwrap()]
            .parse()
            .unwrap()
    };
    assert!(size >= 3, "{size}");
    assert!(html.contains("is included under the signed root"), "{html}");
}

async fn snapshots_and_alert_rules_are_listed(web: WebApp) {
    web.create("note", "n", json!({"text": "x"})).await;
    let res = web
        .api(
            "ann",
            Method::POST,
            "/v1/snapshots",
            Some(json!({"entity_types": ["note"], "label": "<b>before</b>"})),
        )
        .await;
    let snapshot = expect_json(res, StatusCode::CREATED).await;
    let rule = json!({"name": "many deletes", "filter": {"operation": "delete"}, "threshold": {"count": 5, "window_secs": 60}});
    expect_json(
        web.api("ann", Method::POST, "/v1/alerts/rules", Some(rule))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let mut otto = web.signed_in("otto").await;
    let html = otto.page("/snapshots").await;
    assert!(html.contains(snapshot["id"].as_str().unwrap()), "{html}");
    assert!(html.contains("&lt;b&gt;before&lt;/b&gt;"), "{html}");
    assert!(html.contains("kind=snapshot&amp;snapshot_id="), "{html}");
    let mut vic = web.signed_in("vic").await;
    assert!(!vic.page("/snapshots").await.contains("kind=snapshot"));
    let alerts = vic.page("/alerts").await;
    assert!(alerts.contains("many deletes"), "{alerts}");
}
