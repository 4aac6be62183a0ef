//! Reads of the audit trail: recorded, but never growing the ledger without bound. Paging
//! ends at the head the first page saw; `access` entries are aggregated per credential, route
//! and window. Each test on both backends, with access auditing on.

use crate::helpers::{Backend, TestApp, expect_json, spawn_configured};
use chronicle_server::ServerConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

macro_rules! access_tests {
    ($($name:ident),* $(,)?) => {
        access_tests!(@backend sqlite, Sqlite; $($name),*);
        access_tests!(@backend postgres, Postgres; $($name),*);
    };
    (@backend $module:ident, $variant:ident; $($name:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if let Some(app) = super::audited_app(crate::helpers::Backend::$variant).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
}

access_tests!(
    paging_the_whole_log_with_limit_1_ends_while_entries_keep_arriving,
    paging_the_history_of_a_read_audited_entity_with_limit_1_ends,
    searches_in_one_window_make_one_aggregate_entry_with_their_count,
    many_subscribers_on_one_credential_add_at_most_two_entries,
    reads_of_read_audited_entities_stay_one_entry_each,
);

/// Authentication off (the headers name the actor), access auditing on.
async fn audited_app(backend: Backend) -> Option<TestApp> {
    let mut config = ServerConfig::default();
    config.auth.enabled = false;
    config.auth.audit_access = true;
    spawn_configured(backend, config).await
}

static NOTES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Follows `next_cursor` from `path` (which has `limit=1`) until the last page, writing a
/// note between pages; fails if paging has not ended after `cap` pages. The seqs seen.
async fn page_to_the_end(app: &TestApp, path: &str, cap: usize) -> Vec<u64> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for i in 0..cap {
        let url = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_owned(),
        };
        let page = expect_json(app.get(&url).await, StatusCode::OK).await;
        seen.extend(
            page["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_u64().unwrap()),
        );
        // Entries keep arriving while the client pages.
        let n = NOTES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        app.create("note", &format!("meanwhile-{n}"), json!({"page": i}))
            .await;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return seen,
        }
    }
    panic!("paging {path} did not end after {cap} pages (seen {seen:?})");
}

async fn paging_the_whole_log_with_limit_1_ends_while_entries_keep_arriving(app: TestApp) {
    for i in 0..5 {
        app.create("note", &format!("n{i}"), json!({"i": i})).await;
    }
    let head = app.tree_size().await;
    let seen = page_to_the_end(&app, "/v1/audit/entries?limit=1", 200).await;
    // Exactly the log as the first page found it, each entry once, in order.
    assert_eq!(seen, (1..=head).collect::<Vec<u64>>());
    // Newest first ends too, and starts at that head rather than at what arrives later.
    let head = app.tree_size().await;
    let seen = page_to_the_end(&app, "/v1/audit/entries?limit=1&order=desc", 200).await;
    assert_eq!(seen, (1..=head).rev().collect::<Vec<u64>>());
}

async fn paging_the_history_of_a_read_audited_entity_with_limit_1_ends(app: TestApp) {
    app.create("customer", "c1", json!({"email": "a@example.com"}))
        .await;
    for email in ["b@example.com", "c@example.com"] {
        let res = app
            .send_json(
                reqwest::Method::PATCH,
                "/v1/entities/customer/c1",
                &json!({"data": {"email": email}}),
            )
            .await;
        expect_json(res, StatusCode::OK).await;
    }
    // Every page of a read-audited entity's history writes a `read` entry about that very
    // entity: each is individually attributable, and the listing still ends.
    let seen = page_to_the_end(&app, "/v1/entities/customer/c1/history?limit=1", 50).await;
    assert_eq!(seen.len(), 3, "{seen:?}");
    let history: Value = expect_json(
        app.get("/v1/entities/customer/c1/history?limit=100").await,
        StatusCode::OK,
    )
    .await;
    let reads = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["operation"] == "read")
        .count();
    assert_eq!(reads, 3, "one read entry per page: {history:#}");
}

/// The `access` entries in the store, oldest first.
async fn access_entries(store: &dyn chronicle_store::Store) -> Vec<chronicle_core::Entry> {
    store
        .search(&chronicle_store::EntryQuery {
            operation: Some(chronicle_core::Operation::Access),
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap()
}

async fn search_as(app: &TestApp, actor: &str, query: &str) -> Value {
    let res = app
        .request(reqwest::Method::GET, &format!("/v1/audit/entries?{query}"))
        .header("x-actor-id", actor)
        .send()
        .await
        .unwrap();
    expect_json(res, StatusCode::OK).await
}

async fn searches_in_one_window_make_one_aggregate_entry_with_their_count(app: TestApp) {
    app.create("note", "n1", json!({})).await;
    app.create("shipment", "s1", json!({"status": "pending"}))
        .await;
    const N: usize = 12;
    for i in 0..N {
        let query = ["limit=5", "entity_type=note", "entity_type=shipment"][i % 3];
        search_as(&app, "ann", query).await;
    }
    search_as(&app, "bob", "limit=1").await;
    // So far: one entry for the first read of each credential's window, and nothing else,
    // however many reads followed.
    assert_eq!(access_entries(app.store.as_ref()).await.len(), 2);
    let (store, _dir) = app.stop().await;
    let access = access_entries(store.as_ref()).await;
    let ann: Vec<_> = access
        .iter()
        .filter(|e| e.actor.id.as_deref() == Some("ann"))
        .collect();
    assert_eq!(ann.len(), 2, "{ann:#?}");
    let first = &ann[0].metadata;
    assert_eq!(first["count"], 1);
    assert_eq!(first["query"], "limit=5");
    assert_eq!(first["route"], "/v1/audit/entries");
    let window = ann[1];
    assert_eq!(window.tags, ["aggregate"]);
    let m = &window.metadata;
    assert_eq!(m["count"], N as u64, "{m:#}");
    assert_eq!(m["window_secs"], 60);
    assert_eq!(
        m["queries"],
        json!(["entity_type=note", "entity_type=shipment", "limit=5"])
    );
    assert_eq!(m["entities"], json!(["note/n1", "shipment/s1"]));
    // Bob read once: his read is on the record on its own, with no aggregate.
    let bob: Vec<_> = access
        .iter()
        .filter(|e| e.actor.id.as_deref() == Some("bob"))
        .collect();
    assert_eq!(bob.len(), 1);
    assert_eq!(bob[0].metadata["count"], 1);
}

async fn many_subscribers_on_one_credential_add_at_most_two_entries(app: TestApp) {
    let mut streams = Vec::new();
    for _ in 0..25 {
        streams.push(
            crate::sse::SseStream::from_request(
                app.request(reqwest::Method::GET, "/v1/stream?entity_type=note")
                    .header("x-actor-id", "watcher"),
            )
            .await,
        );
    }
    assert_eq!(access_entries(app.store.as_ref()).await.len(), 1);
    drop(streams);
    let (store, _dir) = app.stop().await;
    let access = access_entries(store.as_ref()).await;
    assert_eq!(access.len(), 2, "{access:#?}");
    let m = &access[1].metadata;
    assert_eq!(m["route"], "/v1/stream");
    assert_eq!(m["count"], 25);
    assert_eq!(m["queries"], json!(["entity_type=note"]));
}

async fn reads_of_read_audited_entities_stay_one_entry_each(app: TestApp) {
    app.create("customer", "c9", json!({"email": "c9@example.com"}))
        .await;
    for actor in ["ann", "ann", "bob"] {
        let res = app
            .request(reqwest::Method::GET, "/v1/entities/customer/c9")
            .header("x-actor-id", actor)
            .send()
            .await
            .unwrap();
        expect_json(res, StatusCode::OK).await;
    }
    let reads = app.all_entries("operation=read&entity_id=c9").await;
    let actors: Vec<&str> = reads
        .iter()
        .map(|e| e["actor"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(actors, ["ann", "ann", "bob"]);
}
