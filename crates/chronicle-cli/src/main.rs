//! The `chronicle` binary. Thin: it resolves settings, opens the ledger, and hands each
//! command to the store or the server.
//!
//! # Layout
//! - [`settings`]: defaults → `chronicle.toml` → `CHRONICLE_*` → flags.
//! - [`store`]: `open_store`, the one place that picks a backend.
//! - [`serve`], [`verify`], [`demo`], [`bench`]: one module per command.
//! - [`remote`], [`rollback`], [`snapshot`], [`subject`], [`token`]: commands that talk to a
//!   running server over HTTP.
//! - [`progress`]: progress bars that appear only for a person at a terminal.
//!
//! Exit status: 0 success; 1 the ledger does not verify, or a server refused a request (or a
//! rollback it ran failed); 2 bad usage, an unreachable server, or another error.

mod bench;
mod bundle;
mod demo;
mod lineage;
mod progress;
mod remote;
mod rollback;
mod serve;
mod settings;
mod snapshot;
mod store;
mod subject;
mod tail;
mod token;
mod verify;

use anyhow::Result;

/// mimalloc instead of glibc malloc: the writer allocates and frees small JSON values at a high
/// rate, and glibc's allocator cost about a fifth of its time in profiles.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Args, Parser, Subcommand};
use settings::{Layer, Settings};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "chronicle",
    version,
    about = "Chronicle: an audit ledger and rollback engine for the data administrators change"
)]
struct Cli {
    /// Settings file [default: ./chronicle.toml when it exists; also CHRONICLE_CONFIG].
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve(ServeArgs),
    /// Recompute every leaf and the tree from the stored rows; exit 0 only when all checks.
    Verify(VerifyArgs),
    /// Load a realistic cargo-admin data set (thousands of entries over a simulated fortnight).
    Demo(DemoArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Export entries with a signed checkpoint and inclusion proofs for offline checking.
    Export(ExportArgs),
    /// Follow the audit stream of a running server (human lines or --json).
    Tail(tail::TailArgs),
    /// Roll back changes on a running server: preview, apply, approve, pause, resume, stop.
    Rollback {
        #[command(flatten)]
        remote: remote::Remote,
        #[command(subcommand)]
        command: Box<rollback::RollbackCommand>,
    },
    /// Snapshots on a running server: create, list, show (restore: `rollback apply --snapshot`).
    Snapshot {
        #[command(flatten)]
        remote: remote::Remote,
        #[command(subcommand)]
        command: snapshot::SnapshotCommand,
    },
    /// Tokens on a running server (admin): create, list, revoke.
    Token {
        #[command(flatten)]
        remote: remote::Remote,
        #[command(subcommand)]
        command: token::TokenCommand,
    },
    /// An entity's lineage on a running server: what it came from, what depends on it (text,
    /// JSON, Graphviz DOT or Mermaid).
    Lineage {
        #[command(flatten)]
        remote: remote::Remote,
        #[command(flatten)]
        args: lineage::LineageArgs,
    },
    /// Data subjects on a running server: GDPR erasure of their sensitive values.
    Subject {
        #[command(flatten)]
        remote: remote::Remote,
        #[command(subcommand)]
        command: subject::SubjectCommand,
    },
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Directory of the embedded SQLite ledger [default: ./chronicle-data; CHRONICLE_DATA_DIR].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL instead of the embedded SQLite [CHRONICLE_DATABASE_URL].
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:8080; CHRONICLE_LISTEN].
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Schema file (TOML or JSON) declaring entity types [CHRONICLE_SCHEMA].
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// Load the demo data set first when the ledger is empty (and use the demo schema unless
    /// --schema is given).
    #[arg(long)]
    demo: bool,
    /// A PostgreSQL schema to keep the ledger in, created when absent [CHRONICLE_PG_SCHEMA].
    #[arg(long, value_name = "NAME")]
    pg_schema: Option<String>,
    /// Serve without authentication: anyone who can connect reads and changes everything,
    /// and the `X-Actor-*` headers name the actor. Only on a loopback address; the log and
    /// /readyz say so.
    #[arg(long)]
    insecure_no_auth: bool,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// Directory of the embedded SQLite ledger [default: ./chronicle-data; CHRONICLE_DATA_DIR].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL instead of the embedded SQLite [CHRONICLE_DATABASE_URL].
    #[arg(long, value_name = "URL", conflicts_with = "data_dir")]
    database: Option<String>,
    /// Print the report as JSON (and no progress bar).
    #[arg(long)]
    json: bool,
    /// A note verifier key kept checkpoints may be signed with (repeatable); the local
    /// signing key's is trusted when its file exists.
    #[arg(long = "key", value_name = "VKEY")]
    keys: Vec<String>,
    /// A PostgreSQL schema holding the ledger [CHRONICLE_PG_SCHEMA].
    #[arg(long, value_name = "NAME")]
    pg_schema: Option<String>,
    /// Verify only what came after this signed checkpoint (a file holding the `checkpoint`
    /// note of `GET /v1/ledger/checkpoint`), through a consistency proof.
    #[arg(long, value_name = "FILE", conflicts_with = "bundle")]
    from_checkpoint: Option<PathBuf>,
    /// Check a proof bundle (from `chronicle export --proof-bundle`) offline instead.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["data_dir", "database", "pg_schema"])]
    bundle: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// Write entries, a checkpoint signed now and an inclusion proof per entry to FILE.
    #[arg(long, value_name = "FILE", required = true)]
    proof_bundle: PathBuf,
    /// First seq [default: 1].
    #[arg(long, value_name = "SEQ")]
    from: Option<u64>,
    /// Last seq [default: the current tree size].
    #[arg(long, value_name = "SEQ")]
    to: Option<u64>,
    /// Directory of the embedded SQLite ledger [default: ./chronicle-data; CHRONICLE_DATA_DIR].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL instead of the embedded SQLite [CHRONICLE_DATABASE_URL].
    #[arg(long, value_name = "URL", conflicts_with = "data_dir")]
    database: Option<String>,
    /// A PostgreSQL schema holding the ledger [CHRONICLE_PG_SCHEMA].
    #[arg(long, value_name = "NAME")]
    pg_schema: Option<String>,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Directory of the embedded SQLite ledger [default: ./chronicle-data; CHRONICLE_DATA_DIR].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL instead of the embedded SQLite [CHRONICLE_DATABASE_URL].
    #[arg(long, value_name = "URL", conflicts_with = "data_dir")]
    database: Option<String>,
    /// A PostgreSQL schema to keep the ledger in [CHRONICLE_PG_SCHEMA].
    #[arg(long, value_name = "NAME")]
    pg_schema: Option<String>,
    /// Size multiplier: 1 is about 6,000 entries; 0.05 is a few hundred.
    #[arg(long, default_value_t = 1.0, value_name = "N")]
    scale: f64,
    /// Print the counts as JSON (and no progress bar).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Write throughput: atomic bulk requests and concurrent single-operation requests.
    Ingest(bench::IngestArgs),
    /// Commit-to-delivery latency of the audit stream with N subscribers under steady writes.
    Stream(bench::stream::StreamArgs),
    /// Inclusion and consistency proof latency over an existing ledger (read-only).
    Proofs(bench::proofs::ProofArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(matches!(cli.command, Command::Serve(_)));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let config = cli.config.as_deref();
    match cli.command {
        Command::Serve(a) => {
            let flags = Layer {
                data_dir: a.data_dir,
                database_url: a.database,
                listen: a.listen,
                schema: a.schema,
                pg_schema: a.pg_schema,
                ..Layer::default()
            };
            let options = serve::Options {
                demo: a.demo,
                insecure_no_auth: a.insecure_no_auth,
            };
            serve::run(&Settings::load(config, flags)?, options).await?;
        }
        Command::Verify(a) if a.bundle.is_some() => {
            let path = a.bundle.as_deref().expect("checked by the guard");
            let ok = bundle::verify(path, &a.keys, a.json)?;
            return Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        Command::Tail(a) => tail::run(a).await?,
        Command::Export(a) => {
            let flags = Layer {
                data_dir: a.data_dir,
                database_url: a.database,
                pg_schema: a.pg_schema,
                ..Layer::default()
            };
            bundle::export(
                &Settings::load(config, flags)?,
                &a.proof_bundle,
                a.from,
                a.to,
            )
            .await?;
        }
        Command::Verify(a) => {
            let flags = Layer {
                data_dir: a.data_dir,
                database_url: a.database,
                pg_schema: a.pg_schema,
                ..Layer::default()
            };
            let ok = verify::run(
                &Settings::load(config, flags)?,
                a.json,
                &a.keys,
                a.from_checkpoint.as_deref(),
            )
            .await?;
            return Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        Command::Demo(a) => {
            let flags = Layer {
                data_dir: a.data_dir,
                database_url: a.database,
                pg_schema: a.pg_schema,
                ..Layer::default()
            };
            demo::run(&Settings::load(config, flags)?, a.scale, a.json).await?;
        }
        // The benchmark never reads the configured ledger: it must not write into real data.
        Command::Bench(BenchCommand::Ingest(a)) => bench::ingest(a).await?,
        Command::Bench(BenchCommand::Stream(a)) => bench::stream::stream(a).await?,
        Command::Bench(BenchCommand::Proofs(a)) => {
            let flags = Layer {
                data_dir: a.data_dir.clone(),
                database_url: a.database.clone(),
                pg_schema: a.pg_schema.clone(),
                ..Layer::default()
            };
            bench::proofs::proofs(&Settings::load(config, flags)?, &a).await?
        }
        Command::Rollback { remote, command } => return rollback::run(&remote, *command).await,
        Command::Snapshot { remote, command } => return snapshot::run(&remote, command).await,
        Command::Token { remote, command } => return token::run(&remote, command).await,
        Command::Subject { remote, command } => return subject::run(&remote, command).await,
        Command::Lineage { remote, args } => return lineage::run(&remote, args).await,
    }
    Ok(ExitCode::SUCCESS)
}

/// Logs go to stderr; stdout is for results. `CHRONICLE_LOG` (or `RUST_LOG`) sets the filter;
/// the server logs at `info` by default, the other commands only warnings.
fn init_logging(serving: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if serving { "info" } else { "warn" };
    let filter = std::env::var("CHRONICLE_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}
