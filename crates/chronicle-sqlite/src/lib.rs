//! Chronicle's embedded backend: the whole store in one SQLite file (WAL mode), written by one
//! dedicated thread with group commit and read through a small pool of read-only connections.
//!
//! # Layout
//! - [`SqliteConfig`], [`SqliteStore`]: opening a store and the [`Store`] implementation.
//! - `conn`: opening connections and their PRAGMAs.
//! - `migrate`: versioned migrations (`migrations/NNNN_*.sql`, tracked in `user_version`).
//! - `writer`: the writer thread, group commit, and the executor's transaction.
//! - `readers`: the read-only connection pool.
//! - `rows`: single-row reads and writes shared by the writer and the readers.
//! - `query`: searches and summaries built from an [`EntryQuery`] with bound parameters.
//! - `error`: rusqlite errors classified as [`StoreError`]s.
//!
//! *Invariant:* only the writer thread writes, and only through
//! [`chronicle_store::executor::execute`]; an `entries` row is never updated or deleted.
//!
//! *Invariant:* the `canonical` column is the entry; every other `entries` column is a copy
//! kept for searching, which `chronicle_store::verify` checks against it.

mod conn;
mod error;
mod migrate;
mod query;
mod readers;
mod rows;
mod writer;

#[doc(hidden)]
pub use writer::WriterPause;

use async_trait::async_trait;
use chronicle_core::merkle::Hash;
use chronicle_core::schema::Schema;
use chronicle_core::{EntityState, Entry};
use chronicle_store::seal::Sealer;
use chronicle_store::{
    EntryQuery, Group, GroupBy, LedgerHead, RawRow, SeqExtent, Store, StoreError, StoreStats,
    SubjectKey, WriteRequest, WriteResponse,
};
use readers::Readers;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use uuid::Uuid;
use writer::Writer;

/// How to open a [`SqliteStore`].
#[derive(Clone, Debug)]
pub struct SqliteConfig {
    /// The database file, e.g. `<data-dir>/chronicle.db`; missing parent directories are
    /// created.
    pub path: PathBuf,
    pub schema: Arc<Schema>,
    /// Read-only connections (default 4).
    pub readers: usize,
    /// The most write requests committed in one transaction (default 1024).
    pub max_group: usize,
    /// Seals sensitive values on writes (a master key is configured); None writes them as
    /// they are.
    pub sealer: Option<Arc<Sealer>>,
}

impl SqliteConfig {
    pub fn new(path: impl Into<PathBuf>, schema: Arc<Schema>) -> Self {
        SqliteConfig {
            path: path.into(),
            schema,
            readers: 4,
            max_group: 1024,
            sealer: None,
        }
    }
}

/// A Chronicle store in one SQLite file. Dropping it stops the writer (after the requests it
/// has already taken) and closes the file.
pub struct SqliteStore {
    path: PathBuf,
    readers: Arc<Readers>,
    writer: Writer,
}

impl SqliteStore {
    /// Opens (creating and migrating as needed) the database at `config.path`.
    pub async fn open(config: SqliteConfig) -> Result<SqliteStore, StoreError> {
        tokio::task::spawn_blocking(move || SqliteStore::open_blocking(config))
            .await
            .map_err(|e| StoreError::internal("opening the SQLite store", e))?
    }

    fn open_blocking(config: SqliteConfig) -> Result<SqliteStore, StoreError> {
        let mut conn = conn::open_writer(&config.path)?;
        migrate::migrate(&mut conn)?;
        let readers = Readers::open(config.path.clone(), config.readers)?;
        let writer = Writer::spawn(conn, config.schema, config.sealer, config.max_group)?;
        Ok(SqliteStore {
            path: config.path,
            readers,
            writer,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many group commits the writer has made since the store was opened.
    pub fn group_commits(&self) -> u64 {
        self.writer.commits()
    }

    /// Holds the writer between groups until the returned guard is dropped; requests sent
    /// meanwhile queue up and then commit together. For tests that need a group to form
    /// without relying on timing.
    #[doc(hidden)]
    pub async fn pause_writer(&self) -> Result<WriterPause<'_>, StoreError> {
        self.writer.pause().await
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn write(&self, req: WriteRequest) -> Result<WriteResponse, StoreError> {
        self.writer.write(req).await
    }

    async fn entity(&self, entity_type: &str, id: &str) -> Result<Option<EntityState>, StoreError> {
        let (entity_type, id) = (entity_type.to_owned(), id.to_owned());
        self.readers
            .run(move |c| rows::load_entity(c, &entity_type, &id))
            .await
    }

    async fn list_entities(
        &self,
        entity_type: &str,
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<EntityState>, StoreError> {
        let (entity_type, after_id) = (entity_type.to_owned(), after_id.map(str::to_owned));
        self.readers
            .run(move |c| rows::list_entities(c, &entity_type, after_id.as_deref(), limit))
            .await
    }

    async fn entry(&self, id: Uuid) -> Result<Option<Entry>, StoreError> {
        self.readers.run(move |c| rows::entry(c, id)).await
    }

    async fn search(&self, query: &EntryQuery) -> Result<Vec<Entry>, StoreError> {
        let query = query.clone();
        self.readers.run(move |c| query::search(c, &query)).await
    }

    async fn summary(&self, query: &EntryQuery, by: GroupBy) -> Result<Vec<Group>, StoreError> {
        let query = query.clone();
        self.readers
            .run(move |c| query::summary(c, &query, by))
            .await
    }

    async fn head(&self) -> Result<LedgerHead, StoreError> {
        self.readers.run(rows::head).await
    }

    async fn rows(&self, start: u64, end: u64) -> Result<Vec<RawRow>, StoreError> {
        self.readers
            .run(move |c| rows::raw_rows(c, start, end))
            .await
    }

    async fn seq_extent(&self, after: u64) -> Result<SeqExtent, StoreError> {
        self.readers.run(move |c| rows::seq_extent(c, after)).await
    }

    async fn node(&self, level: u8, index: u64) -> Result<Option<Hash>, StoreError> {
        self.readers.run(move |c| rows::node(c, level, index)).await
    }

    async fn nodes(&self, wanted: &[(u8, u64)]) -> Result<Vec<Option<Hash>>, StoreError> {
        // One reader, one hand-off: the reads themselves are page-cache hits.
        let wanted = wanted.to_vec();
        self.readers
            .run(move |c| {
                wanted
                    .iter()
                    .map(|&(level, index)| rows::node(c, level, index))
                    .collect()
            })
            .await
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let path = self.path.clone();
        self.readers.run(move |c| rows::stats(c, &path)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.readers
            .run(|c| {
                c.prepare_cached("SELECT 1")
                    .and_then(|mut s| s.query_row([], |_| Ok(())))
                    .map_err(|e| error::map("ping", e))
            })
            .await
    }

    async fn subject_key(&self, subject: &str) -> Result<Option<SubjectKey>, StoreError> {
        let subject = subject.to_owned();
        self.readers
            .run(move |c| rows::subject_key(c, &subject))
            .await
    }

    /// Reads are raw (sealed values stay sealed) and nothing here seals: sealing at rest is
    /// the `Unsealing` decorator's, which the engine is given when a master key is set.
    async fn seal_states(
        &self,
        states: Vec<(String, String, serde_json::Value)>,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        Ok(chronicle_store::unsealed_states(states))
    }

    async fn open_states(
        &self,
        states: Vec<(String, String, serde_json::Value)>,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        Ok(chronicle_store::unsealed_states(states))
    }
}
