//! Two real HTTP servers (as two `chronicle serve` processes would be) on one database:
//! 64 concurrent HTTP clients spread over both, then one dense ledger that verifies, and
//! both servers answering the same search.

mod common;

use chronicle_core::schema::Schema;
use chronicle_postgres::PgStore;
use chronicle_server::auth::{ConfiguredToken, Role};
use chronicle_server::{AppState, ServerConfig};

const TOKEN: &str = "two-servers-service-token-000000";
use chronicle_store::Store;
use chronicle_store::verify::verify;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::oneshot;

struct Node {
    address: String,
    store: Arc<PgStore>,
    _stop: oneshot::Sender<()>,
}

async fn serve(store: Arc<PgStore>, schema: Arc<Schema>) -> Node {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    // Both nodes accept the same configured service token, as a deployment's nodes share
    // their configuration.
    let mut config = ServerConfig::default();
    config
        .auth
        .tokens
        .push(ConfiguredToken::new("loadgen", Role::Service, TOKEN));
    // The test counts entries: its own reads are not to be among them.
    config.auth.audit_access = false;
    let state = AppState::new(store.clone(), schema, config);
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        chronicle_server::run(listener, state, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    Node {
        address,
        store,
        _stop: stop,
    }
}

async fn get(client: &reqwest::Client, url: String) -> Value {
    let res = client.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Every entry the node lists for `query`, following cursors.
async fn entries(client: &reqwest::Client, node: &Node, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{}/v1/audit/entries?limit=1000&{query}", node.address);
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = get(client, url).await;
        out.extend(page["entries"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_keep_one_ledger_under_64_concurrent_clients() {
    let Some(config) = common::fresh_config("http", Schema::default()).await else {
        return;
    };
    let schema = config.schema.clone();
    let mut nodes = Vec::new();
    for n in ["a", "b"] {
        let mut c = config.clone();
        c.application_name = format!("{}_{n}", config.application_name);
        let store = Arc::new(PgStore::connect(c).await.unwrap());
        nodes.push(serve(store, schema.clone()).await);
    }
    let nodes = Arc::new(nodes);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {TOKEN}").parse().unwrap(),
    );
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    for node in nodes.iter() {
        let ready = client
            .get(format!("{}/readyz", node.address))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), 200);
    }

    let mut tasks = Vec::new();
    for w in 0..64usize {
        let nodes = nodes.clone();
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let node = &nodes[w % 2];
            for i in 0..4 {
                let id = format!("w{w}-{i}");
                let res = client
                    .post(format!("{}/v1/entities/shipment", node.address))
                    .header("X-Actor-Id", format!("user-{w}"))
                    .json(&json!({"id": id, "data": {"status": "new", "w": w}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
                // The update goes to the other node: it sees the create at once.
                let other = &nodes[(w + 1) % 2];
                let res = client
                    .patch(format!("{}/v1/entities/shipment/{id}", other.address))
                    .header("X-Actor-Id", format!("user-{w}"))
                    .json(&json!({"data": {"status": "packed"}, "expected_version": 1}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    let n = 64 * 4 * 2;
    let on_a = entries(&client, &nodes[0], "order=asc").await;
    let seqs: Vec<u64> = on_a.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=n).collect::<Vec<u64>>(), "one dense seq");
    let on_b = entries(&client, &nodes[1], "order=asc").await;
    for (a, b) in on_a.iter().zip(&on_b) {
        assert_eq!(a, b);
    }
    assert_eq!(on_a.len(), on_b.len());
    for node in nodes.iter() {
        let report = verify(node.store.as_ref(), |_, _| {}).await.unwrap();
        assert!(report.ok(), "{:?}", report.failure);
        assert_eq!(report.tree_size, n);
        let checkpoint = get(&client, format!("{}/v1/ledger/checkpoint", node.address)).await;
        assert_eq!(checkpoint["tree_size"], json!(n));
    }
    let query = "actor=user-9&field=/status&order=desc";
    let found = entries(&client, &nodes[0], query).await;
    assert_eq!(found.len(), 8);
    assert_eq!(found, entries(&client, &nodes[1], query).await);
    assert_eq!(
        nodes[0].store.head().await.unwrap(),
        nodes[1].store.head().await.unwrap()
    );
}
