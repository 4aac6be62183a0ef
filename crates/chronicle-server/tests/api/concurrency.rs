use crate::helpers::{TestApp, expect_json};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;

backend_tests!(sixty_four_concurrent_read_modify_writes_on_one_entity_lose_no_update);

const WRITERS: u64 = 64;

/// Each writer reads the counter and writes n + 1 with the version it read, retrying on 409.
/// Without optimistic concurrency two writers that read the same n would both write n + 1.
async fn sixty_four_concurrent_read_modify_writes_on_one_entity_lose_no_update(app: TestApp) {
    app.create("counter", "c", json!({"n": 0})).await;
    let app = Arc::new(app);
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let app = app.clone();
            tokio::spawn(async move {
                let mut conflicts = 0u64;
                loop {
                    let current =
                        expect_json(app.get("/v1/entities/counter/c").await, StatusCode::OK).await;
                    let n = current["data"]["n"].as_u64().unwrap();
                    let version = current["version"].as_u64().unwrap();
                    let res = app
                        .request(Method::PATCH, "/v1/entities/counter/c")
                        .header("x-actor-id", format!("writer-{w}"))
                        .json(&json!({"data": {"n": n + 1}, "expected_version": version}))
                        .send()
                        .await
                        .unwrap();
                    match res.status() {
                        StatusCode::OK => return conflicts,
                        StatusCode::CONFLICT => conflicts += 1,
                        other => panic!(
                            "writer {w}: unexpected {other}: {}",
                            res.text().await.unwrap_or_default()
                        ),
                    }
                }
            })
        })
        .collect();
    for task in futures::future::join_all(tasks).await {
        task.expect("writer task");
    }
    let last = expect_json(app.get("/v1/entities/counter/c").await, StatusCode::OK).await;
    assert_eq!(last["data"]["n"], WRITERS);
    assert_eq!(last["version"], WRITERS + 1);
    let updates = app
        .all_entries("entity_type=counter&entity_id=c&operation=update")
        .await;
    assert_eq!(updates.len() as u64, WRITERS);
    // Every update moved the counter by exactly one, each from a distinct version.
    for (i, e) in updates.iter().enumerate() {
        assert_eq!(e["entity_version"], i as u64 + 2);
        assert_eq!(e["new_values"]["n"], i as u64 + 1);
        assert_eq!(e["old_values"]["n"], i as u64);
    }
}
