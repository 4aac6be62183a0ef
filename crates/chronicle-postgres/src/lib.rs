//! Chronicle on PostgreSQL: the same ledger as the embedded backend, for production and for
//! several server nodes sharing one database.
//!
//! Every node runs one writer task that commits requests in groups. Each group locks the one
//! `ledger_head` row for the length of its transaction, so appenders on all nodes take turns
//! and the ledger stays one dense `seq` with one Merkle tree; reads go straight to a pool of
//! connections and see every committed write, whichever node made it.
//!
//! # Layout
//! - [`PgConfig`], [`PgStore`] (this file): start-up (pool, migrations, writer task) and the
//!   read side of [`Store`].
//! - `writer`: the group-commit loop, the head lock, retries and lost-COMMIT checks.
//! - `group`: the [`chronicle_store::executor::LedgerTxn`] a group runs on: an overlay of
//!   entity states, rows sent in multi-row statements, savepoints only for large requests.
//! - `pipe`: the group's connection, driven by its own task so that PostgreSQL stores one
//!   chunk of rows while the writer computes the next.
//! - `query`: search and summary SQL from [`EntryQuery`] (and which index serves which filter).
//! - `partitions`: month partitions of `entries`, created ahead of the writes.
//! - `migrate`: versioned migrations (`migrations/*.sql`) under an advisory lock.
//! - `rows`: decoding stored rows; `error`: sqlx errors classified as [`StoreError`]s.
//!
//! *Invariant:* only the writer task writes, and only while its transaction holds the lock on
//! the `ledger_head` row.

mod error;
mod group;
mod migrate;
mod partitions;
mod pipe;
mod query;
mod rows;
mod writer;

pub use migrate::Migrated;

use crate::error::Context;
use crate::rows::{ENTITY_COLUMNS, RAW_ROWS_SQL, int, uint};
use async_trait::async_trait;
use chronicle_core::merkle::Hash;
use chronicle_core::schema::Schema;
use chronicle_core::{EntityState, Entry};
use chronicle_store::seal::Sealer;
use chronicle_store::{
    EntryQuery, Group, GroupBy, LedgerHead, RawRow, SeqExtent, Store, StoreError, StoreStats,
    SubjectKey, WriteRequest, WriteResponse,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// How to reach the database and how to use it.
#[derive(Clone, Debug)]
pub struct PgConfig {
    /// `postgres://user:password@host:port/database?...` (any libpq-style URL sqlx accepts).
    pub url: String,
    pub schema: Arc<Schema>,
    /// Connections for reads (the writer has one of its own). Default 16.
    pub pool_size: u32,
    /// A PostgreSQL schema to create and keep every table in (for isolation, e.g. per test);
    /// None uses the connection's default search_path.
    pub search_path: Option<String>,
    /// Most requests committed together in one transaction. Default 1024.
    pub max_group: usize,
    /// `application_name` of every connection (shown in `pg_stat_activity`).
    pub application_name: String,
    /// Seals sensitive values on writes (a master key is configured); None writes them as
    /// they are.
    pub sealer: Option<Arc<Sealer>>,
}

impl PgConfig {
    pub fn new(url: impl Into<String>, schema: Arc<Schema>) -> Self {
        PgConfig {
            url: url.into(),
            schema,
            pool_size: 16,
            search_path: None,
            max_group: 1024,
            application_name: "chronicle".into(),
            sealer: None,
        }
    }
}

/// A [`Store`] on PostgreSQL.
pub struct PgStore {
    pool: PgPool,
    writer: mpsc::Sender<writer::Job>,
    migrated: Migrated,
    text_search: query::TextSearch,
}

/// Requests waiting for the writer beyond this many make callers wait to enqueue.
const QUEUE: usize = 8192;
/// How long a read waits for a pooled connection before answering "unavailable".
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

impl PgStore {
    /// Connects, creates the schema when asked to, runs the migrations (waiting for another
    /// node that is running them), and starts the writer task.
    pub async fn connect(config: PgConfig) -> Result<PgStore, StoreError> {
        Self::connect_with(config, migrate::MIGRATIONS).await
    }

    /// Like [`PgStore::connect`], but migrates only up to `version`: for tests of upgrades
    /// from an older schema.
    #[doc(hidden)]
    pub async fn connect_at_version(config: PgConfig, version: i32) -> Result<PgStore, StoreError> {
        let upto: Vec<_> = migrate::MIGRATIONS
            .iter()
            .copied()
            .filter(|m| m.version <= version)
            .collect();
        Self::connect_with(config, &upto).await
    }

    /// The newest schema version this build knows.
    pub fn schema_version() -> i32 {
        migrate::MIGRATIONS.last().map_or(0, |m| m.version)
    }

    async fn connect_with(
        config: PgConfig,
        migrations: &[migrate::Migration],
    ) -> Result<PgStore, StoreError> {
        if let Some(schema) = &config.search_path {
            migrate::check_schema_name(schema)?;
        }
        let mut options = PgConnectOptions::from_str(&config.url)
            .map_err(|e| StoreError::internal("parsing the database URL", e))?
            .application_name(&config.application_name)
            // Durable commits whatever the server's default: a reply means the write is on disk.
            .options([("synchronous_commit", "on")]);
        if let Some(schema) = &config.search_path {
            options = options.options([("search_path", schema.as_str())]);
        }
        let mut conn = tokio::time::timeout(ACQUIRE_TIMEOUT, options.connect())
            .await
            .map_err(|_| StoreError::Unavailable {
                message: "connecting to PostgreSQL timed out".into(),
                source: None,
            })?
            .ctx("connecting to PostgreSQL")?;
        let migrated =
            migrate::migrate(&mut conn, config.search_path.as_deref(), migrations).await?;
        let icu: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu')",
        )
        .fetch_one(&mut conn)
        .await
        .ctx("looking for ICU")?;
        let _ = conn.close().await;

        let pool = PgPoolOptions::new()
            .max_connections(config.pool_size.max(1))
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(true)
            .connect_lazy_with(options.clone());
        // A writer that dies in a transaction must not hold the ledger head forever.
        let writer_options = options.options([("idle_in_transaction_session_timeout", "60s")]);
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer = writer::Writer {
            rx,
            options: writer_options,
            schema: config.schema.clone(),
            sealer: config.sealer.clone(),
            max_group: config.max_group.max(1),
            pool: pool.clone(),
            conn: None,
            partitions: Default::default(),
        };
        tokio::spawn(writer.run());
        Ok(PgStore {
            pool,
            writer: tx,
            migrated,
            text_search: query::TextSearch { icu },
        })
    }

    /// The schema versions the start-up migration found and left.
    pub fn migrated(&self) -> Migrated {
        self.migrated
    }

    /// Closes every pooled connection; the writer stops once the store is dropped.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Drops a PostgreSQL schema and everything in it: for throwaway ledgers such as
    /// `chronicle bench ingest --database`. The name must be a plain identifier.
    pub async fn drop_schema(url: &str, schema: &str) -> Result<(), StoreError> {
        let plain = !schema.is_empty()
            && schema.len() <= 63
            && schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !plain {
            return Err(StoreError::internal_msg(format!(
                "refusing to drop schema {schema:?}: not a plain identifier"
            )));
        }
        let options = PgConnectOptions::from_str(url).ctx("parsing the database URL")?;
        let mut conn = options.connect().await.ctx("connecting to PostgreSQL")?;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
        )))
        .execute(&mut conn)
        .await
        .ctx("dropping a schema")?;
        conn.close().await.ctx("closing a connection")?;
        Ok(())
    }
}

#[async_trait]
impl Store for PgStore {
    async fn write(&self, req: WriteRequest) -> Result<WriteResponse, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(writer::Job { req, reply })
            .await
            .map_err(|_| StoreError::internal_msg("the writer task has stopped"))?;
        answer
            .await
            .map_err(|_| StoreError::internal_msg("the writer task dropped a request"))?
    }

    async fn entity(&self, entity_type: &str, id: &str) -> Result<Option<EntityState>, StoreError> {
        let sql =
            format!("SELECT {ENTITY_COLUMNS} FROM entities WHERE entity_type = $1 AND id = $2");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(entity_type)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .ctx("reading an entity")?;
        row.as_ref().map(rows::entity_of).transpose()
    }

    async fn list_entities(
        &self,
        entity_type: &str,
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<EntityState>, StoreError> {
        // Two statements rather than `($2 IS NULL OR id > $2)`, which would keep PostgreSQL
        // from seeking straight to `after_id` in the primary key.
        let sql = match after_id {
            Some(_) => format!(
                "SELECT {ENTITY_COLUMNS} FROM entities \
                 WHERE entity_type = $1 AND id > $2 AND NOT deleted ORDER BY id LIMIT $3"
            ),
            None => format!(
                "SELECT {ENTITY_COLUMNS} FROM entities \
                 WHERE entity_type = $1 AND $2::text IS NULL AND NOT deleted ORDER BY id LIMIT $3"
            ),
        };
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(entity_type)
            .bind(after_id)
            .bind(int(limit as u64))
            .fetch_all(&self.pool)
            .await
            .ctx("listing entities")?;
        rows.iter().map(rows::entity_of).collect()
    }

    async fn entry(&self, id: Uuid) -> Result<Option<Entry>, StoreError> {
        let sql = format!(
            "SELECT seq, canonical, leaf_hash FROM entries WHERE id = $1 AND {}",
            chronicle_store::WITHIN_HEAD_SQL
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .ctx("reading an entry")?;
        row.as_ref().map(rows::entry_of).transpose()
    }

    async fn search(&self, query: &EntryQuery) -> Result<Vec<Entry>, StoreError> {
        let mut b = query::search(query, self.text_search);
        let rows = b
            .build()
            .fetch_all(&self.pool)
            .await
            .ctx("searching entries")?;
        rows.iter().map(rows::entry_of).collect()
    }

    async fn summary(&self, query: &EntryQuery, by: GroupBy) -> Result<Vec<Group>, StoreError> {
        let mut b = query::summary(query, by, self.text_search);
        let rows = b
            .build()
            .fetch_all(&self.pool)
            .await
            .ctx("summarising entries")?;
        rows.iter()
            .map(|r| {
                let key: String = r.try_get(0).ctx("reading a summary")?;
                let n: i64 = r.try_get(1).ctx("reading a summary")?;
                Ok(Group {
                    key,
                    count: uint(n, "a count")?,
                })
            })
            .collect()
    }

    async fn head(&self) -> Result<LedgerHead, StoreError> {
        let state = rows::read_head(&self.pool).await?;
        Ok(LedgerHead {
            tree_size: state.frontier.size(),
            root: state.frontier.root(),
        })
    }

    async fn rows(&self, start: u64, end: u64) -> Result<Vec<RawRow>, StoreError> {
        let rows = sqlx::query(RAW_ROWS_SQL)
            .bind(int(start))
            .bind(int(end))
            .fetch_all(&self.pool)
            .await
            .ctx("reading ledger rows")?;
        rows.iter().map(rows::raw_row_of).collect()
    }

    async fn seq_extent(&self, after: u64) -> Result<SeqExtent, StoreError> {
        let (min, max, first_after) = sqlx::query_as(rows::SEQ_EXTENT_SQL)
            .bind(int(after))
            .fetch_one(&self.pool)
            .await
            .ctx("reading the ledger's seq extent")?;
        Ok(SeqExtent {
            min,
            max,
            first_after,
        })
    }

    async fn node(&self, level: u8, index: u64) -> Result<Option<Hash>, StoreError> {
        let found: Option<Vec<u8>> = if level == 0 {
            let Some(seq) = index.checked_add(1).and_then(|s| i64::try_from(s).ok()) else {
                return Ok(None);
            };
            sqlx::query_scalar("SELECT leaf_hash FROM entries WHERE seq = $1")
                .bind(seq)
                .fetch_optional(&self.pool)
                .await
                .ctx("reading a leaf hash")?
        } else {
            let Ok(index) = i64::try_from(index) else {
                return Ok(None);
            };
            sqlx::query_scalar("SELECT hash FROM merkle_nodes WHERE level = $1 AND idx = $2")
                .bind(i16::from(level))
                .bind(index)
                .fetch_optional(&self.pool)
                .await
                .ctx("reading a tree node")?
        };
        found
            .map(|b| rows::hash(&b, &format!("tree node ({level}, {index})")))
            .transpose()
    }

    async fn nodes(&self, wanted: &[(u8, u64)]) -> Result<Vec<Option<Hash>>, StoreError> {
        // Two queries at most, whatever the proof's length: interior nodes by primary key,
        // then leaf hashes (level 0) from the entries. (One query joining both made the
        // planner visit every entries partition: slower than a query per node.)
        let mut levels = Vec::new();
        let mut indexes = Vec::new();
        let mut seqs = Vec::new();
        for &(level, index) in wanted {
            let Ok(i) = i64::try_from(index) else {
                continue;
            };
            if level == 0 {
                seqs.push(i.saturating_add(1));
            } else {
                levels.push(i16::from(level));
                indexes.push(i);
            }
        }
        let mut found: std::collections::HashMap<(u8, u64), Vec<u8>> =
            std::collections::HashMap::with_capacity(wanted.len());
        if !levels.is_empty() {
            let interior: Vec<(i16, i64, Vec<u8>)> = sqlx::query_as(
                "SELECT n.level, n.idx, n.hash FROM merkle_nodes n \
                 JOIN UNNEST($1::int2[], $2::int8[]) AS w(level, idx) \
                 ON n.level = w.level AND n.idx = w.idx",
            )
            .bind(&levels)
            .bind(&indexes)
            .fetch_all(&self.pool)
            .await
            .ctx("reading tree nodes")?;
            for (level, idx, hash) in interior {
                if let (Ok(level), Ok(idx)) = (u8::try_from(level), u64::try_from(idx)) {
                    found.insert((level, idx), hash);
                }
            }
        }
        if !seqs.is_empty() {
            let leaves: Vec<(i64, Vec<u8>)> =
                sqlx::query_as("SELECT seq, leaf_hash FROM entries WHERE seq = ANY($1::int8[])")
                    .bind(&seqs)
                    .fetch_all(&self.pool)
                    .await
                    .ctx("reading leaf hashes")?;
            for (seq, hash) in leaves {
                if let Ok(seq) = u64::try_from(seq) {
                    found.insert((0, seq - 1), hash);
                }
            }
        }
        wanted
            .iter()
            .map(|&(level, index)| {
                found
                    .get(&(level, index))
                    .map(|b| rows::hash(b, &format!("tree node ({level}, {index})")))
                    .transpose()
            })
            .collect()
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        // The head's size is the number of entries (the ledger is dense and append-only) and
        // costs one row instead of a scan.
        let entries = rows::read_head(&self.pool).await?.frontier.size();
        let row = sqlx::query(
            "SELECT (SELECT count(*) FROM entities WHERE NOT deleted), \
               (SELECT coalesce(sum(pg_total_relation_size(relid)), 0) \
                  FROM pg_partition_tree('entries'::regclass))::int8 \
               + pg_total_relation_size('entities'::regclass) \
               + pg_total_relation_size('merkle_nodes'::regclass) \
               + pg_total_relation_size('ledger_head'::regclass)",
        )
        .fetch_one(&self.pool)
        .await
        .ctx("measuring the database")?;
        let entities: i64 = row.try_get(0).ctx("counting entities")?;
        let bytes: i64 = row.try_get(1).ctx("measuring the database")?;
        Ok(StoreStats {
            entries,
            entities: uint(entities, "entity count")?,
            bytes: uint(bytes, "database size")?,
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .ctx("pinging PostgreSQL")?;
        Ok(())
    }

    async fn subject_key(&self, subject: &str) -> Result<Option<SubjectKey>, StoreError> {
        rows::subject_key(&self.pool, subject).await
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
