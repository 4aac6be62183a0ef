//! Opening the ledger a command works on. Every command goes through [`open_store`], so that
//! adding a backend is one match arm here.

use anyhow::{Context, Result, bail};
use chronicle_core::schema::Schema;
use chronicle_sqlite::{SqliteConfig, SqliteStore};
use chronicle_store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The embedded database's file name inside the data directory.
pub const SQLITE_FILE: &str = "chronicle.db";

pub fn sqlite_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SQLITE_FILE)
}

/// Opens (creating when absent) the ledger: the database at `database_url` when one is
/// given, else the embedded SQLite file in `data_dir`.
pub async fn open_store(
    database_url: Option<&str>,
    data_dir: &Path,
    schema: Arc<Schema>,
) -> Result<Arc<dyn Store>> {
    open_store_in(database_url, None, data_dir, schema).await
}

/// [`open_store`], keeping PostgreSQL's tables in `pg_schema` when one is named.
pub async fn open_store_in(
    database_url: Option<&str>,
    pg_schema: Option<&str>,
    data_dir: &Path,
    schema: Arc<Schema>,
) -> Result<Arc<dyn Store>> {
    match database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let mut config = chronicle_postgres::PgConfig::new(url, schema);
            config.search_path = pg_schema.map(str::to_owned);
            let store = chronicle_postgres::PgStore::connect(config)
                .await
                .with_context(|| {
                    format!(
                        "cannot open the PostgreSQL ledger {}",
                        crate::settings::mask_url(url)
                    )
                })?;
            Ok(Arc::new(store))
        }
        Some(url) if url.starts_with("sqlite:") => {
            let path = url
                .trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:");
            open_sqlite(Path::new(path), schema).await
        }
        Some(url) => bail!(
            "unsupported database URL {}: expected postgres://... or sqlite:PATH",
            crate::settings::mask_url(url)
        ),
        None => {
            std::fs::create_dir_all(data_dir).with_context(|| {
                format!("cannot create the data directory {}", data_dir.display())
            })?;
            open_sqlite(&sqlite_path(data_dir), schema).await
        }
    }
}

async fn open_sqlite(path: &Path, schema: Arc<Schema>) -> Result<Arc<dyn Store>> {
    let store = SqliteStore::open(SqliteConfig::new(path, schema))
        .await
        .with_context(|| format!("cannot open the SQLite ledger {}", path.display()))?;
    Ok(Arc::new(store))
}

/// Reads a schema file (TOML, or JSON when it starts with `{`).
pub fn load_schema(path: &Path) -> Result<Schema> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the schema {}", path.display()))?;
    Schema::parse(&text).with_context(|| format!("invalid schema {}", path.display()))
}
