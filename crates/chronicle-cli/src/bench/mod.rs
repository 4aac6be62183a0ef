//! `chronicle bench ingest`: write throughput and latency, as a client sees them.
//!
//! Two workloads: `bulk` (atomic bulk requests of `--batch` creates each; entries/s) and
//! `single` (`--clients` concurrent clients sending one create per request; requests/s and
//! latency percentiles). The target is a server at `--url`, or by default a server started in
//! this process on `127.0.0.1:0` over a fresh temporary data directory, or with `--no-http`
//! the store itself. Every write is acknowledged only once durable.
//!
//! # Layout
//! - [`target`]: where requests go (HTTP or the store) and the payloads.
//! - this file: arguments, the load loop, the report.

pub mod proofs;
pub mod stream;
mod target;

use crate::progress;
use crate::store::{Location, is_postgres, load_sealer, open_sealed_store, open_store};
use anyhow::{Context, Result, bail};
use chronicle_core::schema::Schema;
use chronicle_postgres::PgStore;
use clap::{Args, ValueEnum};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use target::Target;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Bulk,
    Single,
    Both,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Data directory of the in-process ledger [default: a fresh temporary directory, removed
    /// afterwards]. Ignored with --url.
    #[arg(long, value_name = "DIR", conflicts_with = "url")]
    pub data_dir: Option<PathBuf>,
    /// Benchmark a running server over HTTP instead (e.g. http://127.0.0.1:8080).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The token for --url (a `service` or `operator` token) [CHRONICLE_TOKEN].
    #[arg(
        long,
        env = "CHRONICLE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Benchmark on PostgreSQL (postgres://...). The run creates a fresh schema of its own,
    /// `chronicle_bench_<pid>_<unix time>`, and drops it when it ends (also after an error or
    /// Ctrl-C): the database's other schemas, real ledgers included, are never touched.
    #[arg(long, value_name = "DATABASE_URL", conflicts_with_all = ["url", "data_dir"])]
    pub database: Option<String>,
    /// Call the store directly instead of through an in-process HTTP server.
    #[arg(long, conflicts_with = "url")]
    pub no_http: bool,
    /// Declare two of the item's fields sensitive (sealed at rest under the key of the
    /// customer the item names; the master key in the data directory), to measure what
    /// encryption at rest costs.
    #[arg(long, conflicts_with = "url")]
    pub sealed: bool,
    /// Which workload to run.
    #[arg(long, value_enum, default_value = "both")]
    pub mode: Mode,
    /// Concurrent clients of the single-operation workload.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub clients: u64,
    /// Concurrent clients of the bulk workload.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub bulk_clients: u64,
    /// Requests per workload [default: 100 bulk requests, 20000 single requests].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,
    /// Create operations per bulk request.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub batch: u64,
    /// Print the results as JSON (and no progress bar).
    #[arg(long)]
    pub json: bool,
}

const DEFAULT_BULK_REQUESTS: u64 = 100;
const DEFAULT_SINGLE_REQUESTS: u64 = 20_000;
/// The in-process server accepts bodies this large, so that any `--batch` fits.
const BENCH_BODY_LIMIT: usize = 64 << 20;

#[derive(Debug, Serialize)]
struct ModeResult {
    mode: Mode,
    clients: u64,
    requests: u64,
    /// Create operations per request.
    batch: u64,
    /// Ledger entries written: the creates, plus one parent entry per bulk request.
    entries: u64,
    seconds: f64,
    entries_per_second: f64,
    requests_per_second: f64,
    latency_ms: Latency,
}

#[derive(Debug, Serialize)]
struct Latency {
    p50: f64,
    p99: f64,
    max: f64,
}

#[derive(Debug, Serialize)]
struct Database {
    /// Growth of the store's own size figure (`Store::stats`, the `chronicle_db_size_bytes`
    /// gauge) over the run.
    bytes: u64,
    entries: u64,
    bytes_per_entry: f64,
    /// The SQLite write-ahead log at the end (in-process only). The store's figure counts it
    /// on top of the database pages, which already include the pages it holds; without it
    /// the figure is the database's size once checkpointed.
    wal_bytes: Option<u64>,
    bytes_per_entry_without_wal: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Report {
    /// `http` (a running server), `http-in-process`, or `store` (no HTTP).
    target: &'static str,
    url: Option<String>,
    data_dir: Option<String>,
    /// The throwaway PostgreSQL schema of a `--database` run (dropped when the run ends).
    pg_schema: Option<String>,
    /// Whether sensitive fields were sealed (`--sealed`).
    sealed: bool,
    results: Vec<ModeResult>,
    /// Database growth for the entries written; unknown when a remote server does not
    /// publish its size in /metrics.
    database: Option<Database>,
}

/// The schema of a `--sealed` run: the item's notes and declared value are sensitive and
/// belong to the customer it names.
const SEALED_SCHEMA: &str = r#"
[types.customer]
[types.bench_item]
subject = "customer_id"
[types.bench_item.fields.customer_id]
type = "string"
references = "customer"
[types.bench_item.fields.notes]
sensitive = true
[types.bench_item.fields.declared_value]
sensitive = true
"#;

pub async fn ingest(args: IngestArgs) -> Result<()> {
    let Some(url) = &args.database else {
        return run_ingest(&args, None).await;
    };
    if !is_postgres(url) {
        bail!(
            "bench ingest --database takes a PostgreSQL URL (postgres://...); the embedded \
             ledger is benchmarked without it, in a temporary directory"
        );
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let schema = format!("chronicle_bench_{}_{secs}", std::process::id());
    // The schema goes however the run ends: finished, failed, or interrupted with Ctrl-C.
    let outcome = tokio::select! {
        r = run_ingest(&args, Some(&schema)) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let dropped = PgStore::drop_schema(url, &schema)
        .await
        .with_context(|| format!("cannot drop the benchmark schema {schema}"));
    outcome.and(dropped)
}

/// The benchmark; on PostgreSQL (`--database`) in the schema `pg_schema`.
async fn run_ingest(args: &IngestArgs, pg_schema: Option<&str>) -> Result<()> {
    let modes: &[Mode] = match args.mode {
        Mode::Both => &[Mode::Bulk, Mode::Single],
        Mode::Bulk => &[Mode::Bulk],
        Mode::Single => &[Mode::Single],
    };

    // The in-process ledger lives in the chosen or a temporary directory; the temporary one
    // is removed when `_temp` drops at the end.
    let mut _temp = None;
    let (target, store, data_dir, kind) = match &args.url {
        Some(url) => (
            Target::http(
                url.trim_end_matches('/'),
                args.clients,
                args.token.as_deref(),
            )?,
            None,
            None,
            "http",
        ),
        None => {
            let dir = match &args.data_dir {
                Some(d) => d.clone(),
                None => {
                    let t = tempfile::Builder::new()
                        .prefix("chronicle-bench-")
                        .tempdir()
                        .context("cannot create a temporary directory")?;
                    let path = t.path().to_path_buf();
                    _temp = Some(t);
                    path
                }
            };
            let at = Location {
                database_url: args.database.as_deref(),
                pg_schema,
                data_dir: &dir,
            };
            let store = if args.sealed {
                let schema = Schema::parse(SEALED_SCHEMA).context("the sealed bench schema")?;
                let sealer = load_sealer(&dir)?;
                open_sealed_store(at, Arc::new(schema), sealer).await?.store
            } else {
                open_store(at, Arc::new(Schema::default())).await?.store
            };
            let target = if args.no_http {
                Target::Store(store.clone())
            } else {
                let config = chronicle_server::ServerConfig {
                    body_limit: BENCH_BODY_LIMIT,
                    ..Default::default()
                };
                Target::in_process(store.clone(), config, args.clients).await?
            };
            let kind = match (args.no_http, args.database.is_some()) {
                (true, false) => "store",
                (true, true) => "postgres-store",
                (false, false) => "http-in-process",
                (false, true) => "postgres-http-in-process",
            };
            // A PostgreSQL run keeps nothing in the directory: no SQLite file, no WAL.
            let dir = args.database.is_none().then_some(dir);
            (target, Some(store), dir, kind)
        }
    };
    let target = Arc::new(target);
    // Sizes come from the store in-process, or from the server's /metrics.
    let sizer = match &store {
        Some(s) => Target::Store(s.clone()),
        None => Target::http(
            target.url().as_deref().unwrap_or_default(),
            1,
            args.token.as_deref(),
        )?,
    };
    let before = sizer.stats().await?;

    let mut results = Vec::new();
    for &mode in modes {
        let (requests, clients, batch) = match mode {
            Mode::Bulk => (
                args.requests.unwrap_or(DEFAULT_BULK_REQUESTS),
                args.bulk_clients,
                args.batch,
            ),
            _ => (
                args.requests.unwrap_or(DEFAULT_SINGLE_REQUESTS),
                args.clients,
                1,
            ),
        };
        let r = run_mode(target.clone(), mode, requests, clients, batch, args.json).await?;
        results.push(r);
    }

    let wal_bytes = data_dir.as_ref().map(|d| {
        let mut wal = crate::store::sqlite_path(d).into_os_string();
        wal.push("-wal");
        std::fs::metadata(wal).map_or(0, |m| m.len())
    });
    let per = |bytes: u64, entries: u64| {
        if entries == 0 {
            0.0
        } else {
            bytes as f64 / entries as f64
        }
    };
    let database = match (before, sizer.stats().await?) {
        (Some((bytes_before, entries_before)), Some((bytes_after, entries_after))) => {
            let entries = entries_after.saturating_sub(entries_before);
            let bytes = bytes_after.saturating_sub(bytes_before);
            Some(Database {
                bytes,
                entries,
                bytes_per_entry: per(bytes, entries),
                wal_bytes,
                bytes_per_entry_without_wal: wal_bytes
                    .map(|w| per(bytes.saturating_sub(w), entries)),
            })
        }
        _ => None,
    };
    let report = Report {
        target: kind,
        url: target.url(),
        data_dir: if _temp.is_some() {
            None
        } else {
            data_dir.map(|d| d.display().to_string())
        },
        pg_schema: pg_schema.map(str::to_owned),
        sealed: args.sealed,
        results,
        database,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    target.shutdown().await;
    Ok(())
}

/// Runs `requests` requests from `clients` concurrent tasks, each taking the next request
/// number from a shared counter, and measures each request's latency.
async fn run_mode(
    target: Arc<Target>,
    mode: Mode,
    requests: u64,
    clients: u64,
    batch: u64,
    quiet: bool,
) -> Result<ModeResult> {
    let bar = progress::bar(requests, &format!("{mode:?}").to_lowercase(), quiet);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients.min(requests) {
        let (target, next, bar) = (target.clone(), next.clone(), bar.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= requests {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let t0 = Instant::now();
                match mode {
                    Mode::Bulk => target.bulk(n, batch).await?,
                    _ => target.single(n).await?,
                }
                latencies.push(t0.elapsed());
                bar.inc(1);
            }
        });
    }
    let mut latencies: Vec<Duration> = Vec::with_capacity(requests as usize);
    while let Some(joined) = tasks.join_next().await {
        match joined.context("a benchmark client panicked")? {
            Ok(l) => latencies.extend(l),
            Err(e) => {
                tasks.abort_all();
                bar.abandon();
                return Err(e.context(format!("the {mode:?} workload failed")));
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    if latencies.len() as u64 != requests {
        bail!("{} of {requests} requests completed", latencies.len());
    }
    latencies.sort_unstable();
    let entries = match mode {
        Mode::Bulk => requests * (batch + 1),
        _ => requests,
    };
    Ok(ModeResult {
        mode,
        clients: clients.min(requests),
        requests,
        batch,
        entries,
        seconds,
        entries_per_second: entries as f64 / seconds,
        requests_per_second: requests as f64 / seconds,
        latency_ms: Latency {
            p50: percentile(&latencies, 0.50),
            p99: percentile(&latencies, 0.99),
            max: percentile(&latencies, 1.0),
        },
    })
}

/// The nearest-rank percentile of sorted latencies, in milliseconds.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

fn print_table(r: &Report) {
    let ledger = match &r.pg_schema {
        Some(schema) => format!("PostgreSQL schema {schema} (dropped at the end)"),
        None => describe_dir(&r.data_dir),
    };
    let where_ = match (r.target, &r.url) {
        ("http", Some(url)) => format!("server at {url}"),
        (_, Some(url)) => format!("in-process server at {url}, {ledger}"),
        (_, None) => format!("store called directly, {ledger}"),
    };
    println!("chronicle bench ingest: {where_}");
    println!(
        "{:<8} {:>7} {:>9} {:>6} {:>11} {:>8} {:>12} {:>12} {:>9} {:>9}",
        "mode",
        "clients",
        "requests",
        "batch",
        "entries",
        "seconds",
        "entries/s",
        "requests/s",
        "p50 ms",
        "p99 ms"
    );
    for m in &r.results {
        println!(
            "{:<8} {:>7} {:>9} {:>6} {:>11} {:>8.2} {:>12} {:>12} {:>9.2} {:>9.2}",
            format!("{:?}", m.mode).to_lowercase(),
            m.clients,
            progress::thousands(m.requests),
            m.batch,
            progress::thousands(m.entries),
            m.seconds,
            progress::thousands(m.entries_per_second.round() as u64),
            progress::thousands(m.requests_per_second.round() as u64),
            m.latency_ms.p50,
            m.latency_ms.p99,
        );
    }
    match &r.database {
        Some(d) => {
            println!(
                "database: {} bytes for {} entries = {:.0} bytes/entry (Store::stats)",
                progress::thousands(d.bytes),
                progress::thousands(d.entries),
                d.bytes_per_entry
            );
            if let (Some(wal), Some(without)) = (d.wal_bytes, d.bytes_per_entry_without_wal) {
                println!(
                    "          of which {} bytes WAL; without it {without:.0} bytes/entry",
                    progress::thousands(wal)
                );
            }
        }
        None => println!("database: size unknown (the server publishes no size in /metrics)"),
    }
}

fn describe_dir(dir: &Option<String>) -> String {
    match dir {
        Some(d) => format!("SQLite in {d}"),
        None => "SQLite in a temporary directory".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let ms = |n: u64| Duration::from_millis(n);
        let sorted: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(percentile(&sorted, 0.5), 50.0);
        assert_eq!(percentile(&sorted, 0.99), 99.0);
        assert_eq!(percentile(&sorted, 1.0), 100.0);
        assert_eq!(percentile(&[ms(7)], 0.5), 7.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
