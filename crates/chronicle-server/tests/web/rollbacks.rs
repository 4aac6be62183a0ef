//! Rollbacks through the dashboard over plain HTTP: preview, request, the role checks and the
//! CSRF rule, each checked against what the API then shows.

use crate::helpers::expect_json;
use crate::support::{Visitor, WebApp, location};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

web_tests!(
    an_operator_previews_and_runs_a_rollback_of_an_entry_and_the_entity_is_restored,
    a_viewer_sees_no_rollback_form_and_a_forged_request_is_refused_with_nothing_written,
    a_rollback_posted_without_the_csrf_token_is_refused_and_nothing_is_written,
    a_missing_target_field_is_named_and_nothing_is_requested,
);

/// A rate at price 10, then a mistaken change to 99; returns the mistaken entry.
pub async fn mistake(web: &WebApp) -> Value {
    web.create("setting", "r-1", json!({"price": 10})).await;
    let res = web
        .api(
            "ann",
            Method::PATCH,
            "/v1/entities/setting/r-1",
            Some(json!({"data": {"price": 99}})),
        )
        .await;
    expect_json(res, StatusCode::OK).await["entry"].clone()
}

pub async fn price(web: &WebApp) -> Value {
    let res = web
        .api("ann", Method::GET, "/v1/entities/setting/r-1", None)
        .await;
    expect_json(res, StatusCode::OK).await["data"]["price"].clone()
}

pub async fn rollbacks(web: &WebApp) -> Vec<Value> {
    let res = web.api("ann", Method::GET, "/v1/rollbacks", None).await;
    expect_json(res, StatusCode::OK).await["rollbacks"]
        .as_array()
        .unwrap()
        .clone()
}

pub fn preview_path(entry: &Value) -> String {
    format!(
        "/rollbacks/new?kind=entry&entry_id={}&strategy=strict&preview=1&reason=wrong+price",
        entry["id"].as_str().unwrap()
    )
}

/// Posts the request form of a preview of `entry` (strict, reason "wrong price").
pub async fn request_previewed(v: &mut Visitor<'_>, preview: &str, entry: &Value) -> Response {
    let fields = [
        ("kind", "entry"),
        ("entry_id", entry["id"].as_str().unwrap()),
        ("strategy", "strict"),
        ("reason", "wrong price"),
    ];
    v.submit("/rollbacks/new", preview, &fields).await
}

async fn an_operator_previews_and_runs_a_rollback_of_an_entry_and_the_entity_is_restored(
    web: WebApp,
) {
    let entry = mistake(&web).await;
    let mut otto = web.signed_in("otto").await;
    let preview = otto.page(&preview_path(&entry)).await;
    assert!(preview.contains("id=\"operations\""), "{preview}");
    assert!(
        preview.contains("href=\"/entities/setting/r-1\""),
        "{preview}"
    );
    // Before and after, per entity.
    assert!(
        preview.contains("&quot;price&quot;: 99") || preview.contains("\"price\": 99"),
        "{preview}"
    );
    assert!(preview.contains("No approval needed"), "{preview}");
    assert_eq!(rollbacks(&web).await.len(), 0, "a preview writes nothing");

    let res = request_previewed(&mut otto, &preview, &entry).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let at = location(&res);
    let record = &rollbacks(&web).await[0];
    assert_eq!(at, format!("/rollbacks/{}", record["id"].as_str().unwrap()));
    assert_eq!(record["status"], "completed");
    // The rollback was requested by the signed-in token's actor.
    assert_eq!(record["requested_by"]["id"], "otto");
    assert_eq!(price(&web).await, json!(10));
    let page = otto.page(&at).await;
    assert!(page.contains("completed"), "{page}");
    // The entries it wrote carry the reason typed in the dashboard.
    let res = web
        .api(
            "ann",
            Method::GET,
            &format!(
                "/v1/audit/entries?rollback_id={}",
                record["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    let written = expect_json(res, StatusCode::OK).await;
    let restore = written["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entity_id"] == "r-1")
        .expect("the restoring entry");
    assert_eq!(restore["actor"]["id"], "otto");
    assert!(
        restore["reason"].as_str().unwrap().ends_with("wrong price"),
        "{restore}"
    );
}

async fn a_viewer_sees_no_rollback_form_and_a_forged_request_is_refused_with_nothing_written(
    web: WebApp,
) {
    let entry = mistake(&web).await;
    let mut vic = web.signed_in("vic").await;
    let page = vic
        .page(&format!("/entries/{}", entry["id"].as_str().unwrap()))
        .await;
    assert!(
        !page.contains("/rollbacks/new"),
        "no rollback link for a viewer: {page}"
    );
    let res = vic.get(&preview_path(&entry)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let text = res.text().await.unwrap();
    assert!(!text.contains("id=\"request\""), "{text}");
    // Forging the request with the viewer's own CSRF token: the API refuses it.
    let home = vic.page("/").await;
    let res = vic
        .submit(
            "/rollbacks/new",
            &home,
            &[
                ("kind", "entry"),
                ("entry_id", entry["id"].as_str().unwrap()),
                ("strategy", "force"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(rollbacks(&web).await.len(), 0);
    assert_eq!(price(&web).await, json!(99));
}

async fn a_rollback_posted_without_the_csrf_token_is_refused_and_nothing_is_written(web: WebApp) {
    let entry = mistake(&web).await;
    let mut otto = web.signed_in("otto").await;
    let fields = [
        ("kind", "entry"),
        ("entry_id", entry["id"].as_str().unwrap()),
        ("strategy", "strict"),
    ];
    let res = otto.post("/rollbacks/new", &fields).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Another session's token does not do either.
    let mut ann = web.signed_in("ann").await;
    let ann_page = ann.page("/").await;
    let res = otto.submit("/rollbacks/new", &ann_page, &fields).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(rollbacks(&web).await.len(), 0);
    assert_eq!(price(&web).await, json!(99));
}

async fn a_missing_target_field_is_named_and_nothing_is_requested(web: WebApp) {
    let mut otto = web.signed_in("otto").await;
    let res = otto.get("/rollbacks/new?kind=bulk&preview=1").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("<code>bulk_id</code>"));
    // A malformed id is named by the API.
    let res = otto
        .get("/rollbacks/new?kind=entry&entry_id=nope&preview=1")
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let text = res.text().await.unwrap();
    assert!(text.contains("entry_id"), "{text}");
    assert_eq!(rollbacks(&web).await.len(), 0);
}
