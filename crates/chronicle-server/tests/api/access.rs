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
