//! `GET /v1/stream` over real HTTP with a real SSE client: completeness and order under
//! concurrent writers, resuming, replay, failed writes, filters, slow subscribers, and
//! delivery across two nodes on one PostgreSQL database.

use crate::helpers::{
    Backend, TestApp, expect_json, expect_problem, pointers, spawn_app, spawn_app_with,
    spawn_second_node,
};
use crate::sse::{SseStream, assert_consecutive, audit_of};
use chronicle_server::{ServerConfig, StreamSettings};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;

backend_tests!(
    every_seq_arrives_exactly_once_in_order_under_concurrent_writers,
    resuming_with_last_event_id_after_random_disconnects_loses_and_repeats_nothing,
    after_seq_replays_a_long_history_then_continues_live,
    a_failed_atomic_transaction_or_bulk_emits_nothing,
    filters_select_the_same_entries_replayed_and_live_as_the_search,
    a_subscriber_that_never_reads_blocks_neither_writers_nor_a_fast_subscriber,
    subscribers_beyond_the_limit_are_refused_with_503,
    bad_stream_parameters_are_refused,
    an_idle_stream_gets_heartbeats_and_ends_when_the_server_shuts_down,
);

/// Creates notes `<prefix>-0..n` from `writers` concurrent clients, `n` each.
async fn write_notes(app: &Arc<TestApp>, prefix: &str, writers: usize, n: usize, data: Value) {
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (app, prefix, data) = (app.clone(), prefix.to_owned(), data.clone());
            tokio::spawn(async move {
                for i in 0..n {
                    app.create("note", &format!("{prefix}-{w}-{i}"), data.clone())
                        .await;
                }
            })
        })
        .collect();
    for t in futures::future::join_all(tasks).await {
        t.expect("writer");
    }
}

/// The seqs of every entry after `after` in the ledger.
async fn ledger_seqs(app: &TestApp, query: &str, after: u64) -> Vec<u64> {
    app.all_entries(query)
        .await
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .filter(|s| *s > after)
        .collect()
}

async fn every_seq_arrives_exactly_once_in_order_under_concurrent_writers(app: TestApp) {
    let app = Arc::new(app);
    let start = app.tree_size().await;
    let mut sse = SseStream::open(&app, &format!("/v1/stream?after_seq={start}"), None).await;
    write_notes(&app, "c", 8, 25, json!({})).await;
    let events = sse.collect(200, audit_of("note")).await;
    assert_consecutive(&events, start + 1);
    let ids: std::collections::BTreeSet<_> = events
        .iter()
        .filter(|e| audit_of("note")(e))
        .map(|e| e.json()["entity_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 200, "every write once");
    let seqs: Vec<_> = events.iter().map(|e| e.id.unwrap()).collect();
    let last = *seqs.last().unwrap();
    let ledger: Vec<_> = ledger_seqs(&app, "", start).await;
    assert_eq!(
        seqs,
        ledger
            .into_iter()
            .filter(|s| *s <= last)
            .collect::<Vec<_>>()
    );
}

/// A tiny deterministic generator: the seed is printed, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

async fn resuming_with_last_event_id_after_random_disconnects_loses_and_repeats_nothing(
    app: TestApp,
) {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("seed {seed}");
    let mut rng = Rng(seed);
    let app = Arc::new(app);
    let start = app.tree_size().await;
    // Writes go on while the subscriber comes and goes.
    let writer = {
        let app = app.clone();
        tokio::spawn(async move { write_notes(&app, "r", 3, 100, json!({})).await })
    };
    let mut received: Vec<u64> = Vec::new();
    let mut last = start;
    let mut connections = 0;
    while received.len() < 300 {
        // The header wins over after_seq=0, which would replay everything again.
        let mut sse = if connections == 0 {
            SseStream::open(
                &app,
                &format!("/v1/stream?entity_type=note&after_seq={start}"),
                None,
            )
            .await
        } else {
            SseStream::open(&app, "/v1/stream?entity_type=note&after_seq=0", Some(last)).await
        };
        connections += 1;
        for _ in 0..=rng.below(40) {
            if received.len() == 300 {
                break;
            }
            let entry = sse.next_audit().await;
            last = entry["seq"].as_u64().unwrap();
            received.push(last);
        }
    }
    writer.await.unwrap();
    assert!(connections > 1, "seed {seed}: the subscriber reconnected");
    assert_eq!(
        received,
        ledger_seqs(&app, "entity_type=note", start).await,
        "seed {seed}"
    );
}

async fn after_seq_replays_a_long_history_then_continues_live(app: TestApp) {
    let ops: Vec<_> = (0..1500)
        .map(|i| json!({"op": "create", "type": "note", "id": format!("h{i}"), "data": {"i": i}}))
        .collect();
    let res = app.post("/v1/bulk", &json!({"operations": ops})).await;
    expect_json(res, StatusCode::OK).await;
    for i in 0..5 {
        app.create("counter", &format!("k{i}"), json!({"n": i}))
            .await;
    }
    let size = app.tree_size().await;
    assert!(size > 1505);
    // Everything from the first entry, across several ledger pages, in order.
    let mut all = SseStream::open(&app, "/v1/stream?after_seq=0", None).await;
    let events = all.collect(5, audit_of("counter")).await;
    assert_consecutive(&events, 1);
    // A filtered replay from the middle of the bulk, then a live entry.
    let mut creates =
        SseStream::open(&app, "/v1/stream?operation=create&after_seq=700", None).await;
    let expected = ledger_seqs(&app, "operation=create", 700).await;
    let mut got = Vec::new();
    while got.len() < expected.len() {
        got.push(creates.next_audit().await["seq"].as_u64().unwrap());
    }
    assert_eq!(got, expected);
    app.create("note", "live", json!({})).await;
    let live = creates.next_audit_but_checkpoints().await;
    assert_eq!(live["entity_id"], "live");
}

async fn a_failed_atomic_transaction_or_bulk_emits_nothing(app: TestApp) {
    app.create("note", "exists", json!({})).await;
    let start = app.tree_size().await;
    let mut sse = SseStream::open(&app, &format!("/v1/stream?after_seq={start}"), None).await;
    let ops = json!([
        {"op": "create", "type": "note", "id": "t1", "data": {}},
        {"op": "update", "type": "note", "id": "missing", "data": {"x": 1}},
    ]);
    let res = app
        .post("/v1/transactions", &json!({"operations": ops}))
        .await;
    expect_problem(res, StatusCode::NOT_FOUND, "not-found").await;
    let ops = json!([
        {"op": "create", "type": "note", "id": "b1", "data": {}},
        {"op": "create", "type": "note", "id": "exists", "data": {}},
    ]);
    let res = app
        .post("/v1/bulk", &json!({"operations": ops, "atomic": true}))
        .await;
    expect_problem(res, StatusCode::CONFLICT, "already-exists").await;
    app.create("note", "marker", json!({})).await;
    let next = sse.next_audit_but_checkpoints().await;
    assert_eq!(
        next["entity_id"], "marker",
        "nothing before the marker: {next}"
    );
}

/// Writes shipments, notes and events by two actors; about half are written before the
/// subscribers connect (replayed), the rest after (live).
async fn write_mix(app: &TestApp, round: usize) {
    for i in 0..6 {
        let (actor, status) = if i % 2 == 0 {
            ("alice", "pending")
        } else {
            ("bob", "lost")
        };
        let id = format!("s{round}-{i}");
        let res = app
            .request(Method::POST, "/v1/entities/shipment")
            .header("x-actor-id", actor)
            .header("x-actor-email", format!("{actor}@example.com"))
            .json(&json!({"id": id, "data": {"weight": i}}))
            .send()
            .await
            .unwrap();
        expect_json(res, StatusCode::CREATED).await;
        let res = app
            .request(Method::PATCH, &format!("/v1/entities/shipment/{id}"))
            .header("x-actor-id", actor)
            .json(&json!({"data": {"status": status}}))
            .send()
            .await
            .unwrap();
        expect_json(res, StatusCode::OK).await;
        let tags = if i % 3 == 0 {
            json!(["urgent"])
        } else {
            json!(["routine"])
        };
        let res = app
            .request(Method::POST, "/v1/audit/events")
            .header("x-actor-id", actor)
            .json(&json!({"operation": "security", "summary": "login", "tags": tags}))
            .send()
            .await
            .unwrap();
        expect_json(res, StatusCode::CREATED).await;
        app.create("note", &format!("n{round}-{i}"), json!({"status": "x"}))
            .await;
    }
}

async fn filters_select_the_same_entries_replayed_and_live_as_the_search(app: TestApp) {
    write_mix(&app, 0).await;
    // (filter, whether the final marker entry matches it)
    let queries = [
        ("entity_type=shipment&field=/status", true),
        ("actor=alice@example.com", true),
        ("actor=bob&operation=update", false),
        ("tag=urgent", true),
        ("severity=info&entity_type=note", false),
    ];
    let mut streams = Vec::new();
    for (q, _) in queries {
        streams.push(SseStream::open(&app, &format!("/v1/stream?{q}&after_seq=0"), None).await);
    }
    write_mix(&app, 1).await;
    for ((q, _), sse) in queries.iter().zip(streams.iter_mut()) {
        let expected = ledger_seqs(&app, q, 0).await;
        assert!(!expected.is_empty(), "{q} selects something");
        let mut got = Vec::new();
        while got.len() < expected.len() {
            got.push(sse.next_audit().await["seq"].as_u64().unwrap());
        }
        assert_eq!(got, expected, "{q}");
    }
    // Nothing else was waiting: the next event of each stream the marker matches is the
    // marker (a change of /status on a shipment, by alice's email, tagged urgent).
    let res = app
        .request(Method::POST, "/v1/audit/events")
        .header("x-actor-id", "bob")
        .header("x-actor-email", "alice@example.com")
        .json(
            &json!({"operation": "security", "entity_type": "shipment", "tags": ["urgent"],
            "old_values": {"status": "pending"}, "new_values": {"status": "lost"}}),
        )
        .send()
        .await
        .unwrap();
    let marker = expect_json(res, StatusCode::CREATED).await;
    for ((q, matches), sse) in queries.iter().zip(streams.iter_mut()) {
        if *matches {
            assert_eq!(sse.next_audit().await["seq"], marker["seq"], "{q}");
        }
    }
}

async fn a_subscriber_that_never_reads_blocks_neither_writers_nor_a_fast_subscriber(app: TestApp) {
    // A channel of 8 entries: the silent subscriber falls behind almost at once.
    let config = ServerConfig {
        stream: StreamSettings {
            capacity: 8,
            ..StreamSettings::default()
        },
        ..ServerConfig::default()
    };
    let app = Arc::new(spawn_app_with(app.backend, config).await.unwrap());
    let start = app.tree_size().await;
    let mut slow = SseStream::open(&app, &format!("/v1/stream?after_seq={start}"), None).await;
    let mut fast = SseStream::open(&app, &format!("/v1/stream?after_seq={start}"), None).await;
    // Large entries, so the silent one's socket buffers fill up too.
    let payload = json!({"text": "x".repeat(16 * 1024)});
    write_notes(&app, "w", 4, 50, payload).await;
    let fast_events = fast.collect(200, audit_of("note")).await;
    assert_consecutive(&fast_events, start + 1);
    // The silent one, reading only now, still gets everything once, in order.
    let slow_events = slow.collect(200, audit_of("note")).await;
    assert_consecutive(&slow_events, start + 1);
    assert_eq!(fast_events.len(), slow_events.len());
}

async fn subscribers_beyond_the_limit_are_refused_with_503(app: TestApp) {
    let config = ServerConfig {
        stream: StreamSettings {
            max_subscribers: 1,
            ..StreamSettings::default()
        },
        ..ServerConfig::default()
    };
    let app = spawn_app_with(app.backend, config).await.unwrap();
    let _first = SseStream::open(&app, "/v1/stream", None).await;
    let res = app.get("/v1/stream").await;
    assert_eq!(res.headers()["retry-after"], "1");
    expect_problem(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
}

async fn bad_stream_parameters_are_refused(app: TestApp) {
    for (path, pointer) in [
        ("/v1/stream?bogus=1", "/query/bogus"),
        ("/v1/stream?field=status", "/query/field"),
        ("/v1/stream?entity_type=_alert", "/query/entity_type"),
        ("/v1/stream?after_seq=-1", "/query/after_seq"),
        ("/v1/stream?q=text", "/query/q"),
    ] {
        let problem = expect_problem(
            app.get(path).await,
            StatusCode::BAD_REQUEST,
            "invalid-input",
        )
        .await;
        assert_eq!(pointers(&problem), [pointer], "{path}");
    }
    let res = app
        .request(Method::GET, "/v1/stream")
        .header("last-event-id", "yesterday")
        .send()
        .await
        .unwrap();
    let problem = expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await;
    assert_eq!(pointers(&problem), ["/headers/last-event-id"]);
}

async fn an_idle_stream_gets_heartbeats_and_ends_when_the_server_shuts_down(app: TestApp) {
    let config = ServerConfig {
        stream: StreamSettings {
            heartbeat_secs: 1,
            ..StreamSettings::default()
        },
        ..ServerConfig::default()
    };
    let app = spawn_app_with(app.backend, config).await.unwrap();
    let mut sse = SseStream::open(&app, "/v1/stream", None).await;
    assert_eq!(
        sse.until_comment().await,
        Vec::<String>::new(),
        "nothing but a heartbeat"
    );
    // Dropping the app shuts the server down; graceful shutdown must not wait for streams.
    drop(app);
    while let Some(e) = sse.next().await {
        assert_eq!(e.json()["entity_type"], "_checkpoint", "{e:?}");
    }
}

/// Two servers on one PostgreSQL schema, as two processes would be: a subscriber on B gets
/// every entry written on A (found by B's poll of the ledger head) and on B, in one order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_on_one_node_receives_what_every_node_writes() {
    let Some(a) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let a = Arc::new(a);
    let b = Arc::new(spawn_second_node(&a, ServerConfig::default()).await);
    let start = a.tree_size().await;
    let mut sse = SseStream::open(&b, &format!("/v1/stream?after_seq={start}"), None).await;
    // Only A writes: nothing wakes B's tailer but its poll of the ledger head.
    write_notes(&a, "on-a", 2, 10, json!({})).await;
    let events = sse.collect(20, audit_of("note")).await;
    assert_consecutive(&events, start + 1);
    // Both write at once: one order, the ledger's.
    let on_b = {
        let b = b.clone();
        tokio::spawn(async move { write_notes(&b, "on-b", 2, 10, json!({})).await })
    };
    write_notes(&a, "again-a", 2, 10, json!({})).await;
    on_b.await.unwrap();
    let more = sse.collect(40, audit_of("note")).await;
    assert_consecutive(&more, events.last().unwrap().id.unwrap() + 1);
    let from_b = more
        .iter()
        .filter(|e| {
            e.event == "audit" && e.json()["entity_id"].as_str().unwrap().starts_with("on-b")
        })
        .count();
    assert_eq!(from_b, 20);
}
