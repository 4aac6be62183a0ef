//! Opening the ledger a command works on. Every command goes through [`open_store`], so that
//! adding a backend is one match arm here.

use anyhow::{Context, Result, bail};
use chronicle_core::schema::Schema;
use chronicle_postgres::{PgConfig, PgStore};
use chronicle_sqlite::{SqliteConfig, SqliteStore};
use chronicle_store::Store;
use chronicle_store::seal::{MASTER_KEY_ENV, MasterKey, Sealer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The embedded database's file name inside the data directory.
pub const SQLITE_FILE: &str = "chronicle.db";

pub fn sqlite_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SQLITE_FILE)
}

/// Where a ledger lives: the database at `database_url` when one is given, else the embedded
/// SQLite file in `data_dir`.
#[derive(Clone, Copy, Debug)]
pub struct Location<'a> {
    pub database_url: Option<&'a str>,
    /// The PostgreSQL schema holding every table (created when absent); PostgreSQL only.
    pub pg_schema: Option<&'a str>,
    pub data_dir: &'a Path,
}

/// An opened ledger.
pub struct Opened {
    pub store: Arc<dyn Store>,
    /// No ledger was there before: opening created an empty one (a new SQLite file, or a
    /// PostgreSQL schema migrated from nothing).
    pub created: bool,
}

pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl Location<'_> {
    /// The SQLite file of an embedded ledger; None for PostgreSQL (or an unsupported URL).
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        match self.database_url {
            None => Some(sqlite_path(self.data_dir)),
            Some(url) if url.starts_with("sqlite:") => Some(PathBuf::from(
                url.trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:"),
            )),
            Some(_) => None,
        }
    }
}

/// The master key's file inside the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";

/// The sealer of sensitive values: the master key from `CHRONICLE_MASTER_KEY` (base64 of 32
/// bytes) when set, else from `<data-dir>/master.key`, created (0600) on first use. The data
/// directory holds it for PostgreSQL ledgers too; every node and every `chronicle demo` that
/// writes to one ledger must use the same key.
pub fn load_sealer(data_dir: &Path) -> Result<Arc<Sealer>> {
    let env = std::env::var(MASTER_KEY_ENV).ok();
    let path = data_dir.join(MASTER_KEY_FILE);
    let key = MasterKey::load(env.as_deref(), &path).with_context(|| match env {
        Some(_) => format!("invalid {MASTER_KEY_ENV}"),
        None => format!("cannot load or create the master key {}", path.display()),
    })?;
    Ok(Arc::new(Sealer::new(key)))
}

/// Opens (creating when absent) the ledger at `at`. Writes through it store sensitive values
/// as they are: for readers and verifiers (see [`open_sealed_store`] for writers).
pub async fn open_store(at: Location<'_>, schema: Arc<Schema>) -> Result<Opened> {
    open_with(at, schema, None).await
}

/// Opens the ledger at `at` for writing with encryption at rest: the schema's sensitive values
/// are sealed with `sealer`. Reads through the returned store are raw (ciphertext); wrap it in
/// `chronicle_store::unseal::Unsealing` to read plaintext.
pub async fn open_sealed_store(
    at: Location<'_>,
    schema: Arc<Schema>,
    sealer: Arc<Sealer>,
) -> Result<Opened> {
    open_with(at, schema, Some(sealer)).await
}

async fn open_with(
    at: Location<'_>,
    schema: Arc<Schema>,
    sealer: Option<Arc<Sealer>>,
) -> Result<Opened> {
    match at.database_url {
        Some(url) if is_postgres(url) => {
            let mut config = PgConfig::new(url, schema);
            config.search_path = at.pg_schema.map(str::to_owned);
            config.sealer = sealer;
            let store = PgStore::connect(config).await.with_context(|| {
                let schema = at
                    .pg_schema
                    .map(|s| format!(" (schema {s})"))
                    .unwrap_or_default();
                format!(
                    "cannot open the PostgreSQL ledger {}{schema}",
                    crate::settings::mask_url(url)
                )
            })?;
            let created = store.migrated().from == 0;
            Ok(Opened {
                store: Arc::new(store),
                created,
            })
        }
        Some(url) if url.starts_with("sqlite:") => {
            warn_unused_pg_schema(at.pg_schema);
            let path = at.sqlite_file().unwrap_or_default();
            open_sqlite(&path, schema, sealer).await
        }
        Some(url) => bail!(
            "unsupported database URL {}: expected postgres://... or sqlite:PATH",
            crate::settings::mask_url(url)
        ),
        None => {
            warn_unused_pg_schema(at.pg_schema);
            std::fs::create_dir_all(at.data_dir).with_context(|| {
                format!("cannot create the data directory {}", at.data_dir.display())
            })?;
            open_sqlite(&sqlite_path(at.data_dir), schema, sealer).await
        }
    }
}

fn warn_unused_pg_schema(pg_schema: Option<&str>) {
    if let Some(s) = pg_schema {
        tracing::warn!("pg_schema {s:?} ignored: the ledger is not on PostgreSQL");
    }
}

async fn open_sqlite(
    path: &Path,
    schema: Arc<Schema>,
    sealer: Option<Arc<Sealer>>,
) -> Result<Opened> {
    let created = !path.exists();
    let mut config = SqliteConfig::new(path, schema);
    config.sealer = sealer;
    let store = SqliteStore::open(config)
        .await
        .with_context(|| format!("cannot open the SQLite ledger {}", path.display()))?;
    Ok(Opened {
        store: Arc::new(store),
        created,
    })
}

/// Reads a schema file (TOML, or JSON when it starts with `{`).
pub fn load_schema(path: &Path) -> Result<Schema> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the schema {}", path.display()))?;
    Schema::parse(&text).with_context(|| format!("invalid schema {}", path.display()))
}

/// Records an event of a command run against the ledger directly (`verify`, `export`): the
/// actor is the operating-system user (`os:<name>`), the reason the command. A failure to
/// record is reported on stderr, not fatal: the command's own answer matters more.
pub async fn record_event(
    store: &dyn chronicle_store::Store,
    command: &str,
    event: chronicle_core::write::EventInput,
) {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let ctx = chronicle_core::RequestContext {
        actor: chronicle_core::entry::Actor {
            id: Some(format!("os:{user}")),
            ..Default::default()
        },
        reason: Some(format!("chronicle {command}")),
        ..chronicle_core::RequestContext::default()
    };
    let request = chronicle_store::WriteRequest {
        context: ctx,
        kind: chronicle_store::WriteKind::Event(event),
    };
    if let Err(e) = store.write(request).await {
        eprintln!("warning: could not record this on the ledger: {e}");
    }
}
