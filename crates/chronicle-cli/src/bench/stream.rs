//! `chronicle bench stream`: commit-to-delivery latency of the audit stream with N Server-Sent
//! Events subscribers under a steady write load, against a server started in this process
//! over a fresh temporary ledger.
//!
//! Latency is measured from the moment the writer receives the acknowledgement of a write
//! (the entry is committed by then) to the moment each subscriber has parsed its event; an
//! event that arrives before the acknowledgement counts as 0.

use crate::bench::target::Target;
use anyhow::{Context, Result, bail};
use chronicle_core::schema::Schema;
use clap::Args;
use futures::StreamExt;
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct StreamArgs {
    /// Subscriber counts to measure, one run each.
    #[arg(long, value_delimiter = ',', default_value = "1,100,1000")]
    pub subscribers: Vec<u64>,
    /// Writes per second during each run.
    #[arg(long, default_value_t = 200)]
    pub rate: u64,
    /// Seconds of writing per run.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct Run {
    subscribers: u64,
    writes: u64,
    writes_per_second: f64,
    deliveries: u64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

pub async fn stream(args: StreamArgs) -> Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("chronicle-bench-stream-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let opened = crate::store::open_store(
        crate::store::Location {
            database_url: None,
            pg_schema: None,
            data_dir: dir.path(),
        },
        Arc::new(Schema::default()),
    )
    .await?;
    let mut config = chronicle_server::ServerConfig::default();
    config.stream.max_subscribers = 20_000;
    // Subscribers connect without credentials to a throwaway loopback server: this measures
    // delivery, not authentication (and no `access` entry per subscription).
    config.auth.enabled = false;
    config.auth.audit_access = false;
    let target = Target::in_process(opened.store.clone(), config, 64).await?;
    let base = target
        .url()
        .context("the in-process server has an address")?;
    let mut runs = Vec::new();
    for &n in &args.subscribers {
        runs.push(run_one(&base, n, args.rate, args.seconds).await?);
    }
    target.shutdown().await;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"rate": args.rate, "seconds": args.seconds, "runs": runs})
            )?
        );
    } else {
        println!(
            "{:>11} {:>8} {:>10} {:>11} {:>9} {:>9} {:>9}",
            "subscribers", "writes", "writes/s", "deliveries", "p50 ms", "p99 ms", "max ms"
        );
        for r in &runs {
            println!(
                "{:>11} {:>8} {:>10.0} {:>11} {:>9.2} {:>9.2} {:>9.2}",
                r.subscribers,
                r.writes,
                r.writes_per_second,
                r.deliveries,
                r.p50_ms,
                r.p99_ms,
                r.max_ms
            );
        }
    }
    Ok(())
}

type Received = Arc<Mutex<Vec<(u64, Instant)>>>;

/// One subscriber: records (seq, arrival) for every audit event until `stop_at` is reached.
async fn subscriber(
    client: reqwest::Client,
    url: String,
    received: Received,
    ready: Arc<AtomicU64>,
    stop_at: Arc<AtomicU64>,
) -> Result<()> {
    let res = client.get(&url).send().await?;
    if !res.status().is_success() {
        bail!("the stream answered {}", res.status());
    }
    ready.fetch_add(1, Ordering::SeqCst);
    let mut body = res.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut id: Option<u64> = None;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        buf.extend_from_slice(&chunk);
        while let Some(at) = buf.iter().position(|b| *b == b'\n') {
            let raw: Vec<u8> = buf.drain(..=at).collect();
            let line = String::from_utf8_lossy(&raw);
            let line = line.trim_end();
            if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().parse().ok();
            } else if line.is_empty()
                && let Some(seq) = id.take()
            {
                received
                    .lock()
                    .expect("not poisoned")
                    .push((seq, Instant::now()));
                let stop = stop_at.load(Ordering::SeqCst);
                if stop > 0 && seq >= stop {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

async fn run_one(base: &str, n: u64, rate: u64, seconds: u64) -> Result<Run> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let url = format!("{base}/v1/stream");
    let ready = Arc::new(AtomicU64::new(0));
    let stop_at = Arc::new(AtomicU64::new(0));
    let mut subs = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let received: Received = Arc::new(Mutex::new(Vec::new()));
        subs.push(received.clone());
        tasks.spawn(subscriber(
            client.clone(),
            url.clone(),
            received,
            ready.clone(),
            stop_at.clone(),
        ));
    }
    // Wait (bounded) until every subscriber is connected.
    for _ in 0..3000 {
        if ready.load(Ordering::SeqCst) >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if ready.load(Ordering::SeqCst) < n {
        bail!(
            "only {} of {n} subscribers connected",
            ready.load(Ordering::SeqCst)
        );
    }
    let writer = reqwest::Client::new();
    let acks: Arc<Mutex<HashMap<u64, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let total = rate * seconds;
    let started = Instant::now();
    let mut last_seq = 0;
    for i in 0..total {
        // A steady rate: write i is due at i / rate seconds.
        let due = started + Duration::from_micros(i * 1_000_000 / rate.max(1));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let res = writer
            .post(format!("{base}/v1/entities/bench_item"))
            .json(&json!({"data": {"i": i}}))
            .send()
            .await?;
        let at = Instant::now();
        let body: serde_json::Value = res.json().await?;
        let seq = body["entry"]["seq"]
            .as_u64()
            .context("the write answered an entry")?;
        acks.lock().expect("not poisoned").insert(seq, at);
        last_seq = seq;
    }
    let elapsed = started.elapsed().as_secs_f64();
    stop_at.store(last_seq, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !tasks.is_empty() && Instant::now() < deadline {
        if tokio::time::timeout(Duration::from_secs(1), tasks.join_next())
            .await
            .is_err()
        {
            continue;
        }
    }
    tasks.abort_all();
    let acks = acks.lock().expect("not poisoned").clone();
    let mut latencies: Vec<f64> = Vec::new();
    for r in &subs {
        for (seq, at) in r.lock().expect("not poisoned").iter() {
            if let Some(acked) = acks.get(seq) {
                latencies.push(at.saturating_duration_since(*acked).as_secs_f64() * 1000.0);
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    Ok(Run {
        subscribers: n,
        writes: total,
        writes_per_second: total as f64 / elapsed,
        deliveries: latencies.len() as u64,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        max_ms: latencies.last().copied().unwrap_or(f64::NAN),
    })
}
