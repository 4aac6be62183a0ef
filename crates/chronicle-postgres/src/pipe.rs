//! The group's connection, driven by a task of its own so that the writer can compute the
//! next rows (canonical bytes, hashes, diffs) while PostgreSQL stores the previous ones.
//!
//! The writer sends commands in order; the task runs them in that order on the connection.
//! Row inserts and savepoint commands are not answered: the first failure is kept, every
//! later command is skipped (the transaction is aborted anyway), and the failure is the
//! answer to the next command that has one (a load, or the final commit).

use crate::error::{self, Context};
use crate::rows::{self, ENTITY_COLUMNS, int};
use chronicle_core::EntityState;
use chronicle_core::merkle::Node;
use chronicle_store::executor::LedgerState;
use chronicle_store::{StoreError, SubjectKey};
use sqlx::{AssertSqlSafe, PgConnection};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use uuid::Uuid;

pub(crate) type Key = (String, String);

/// Entry rows, one vector per column (the shape `UNNEST` takes).
#[derive(Default)]
pub(crate) struct EntryColumns {
    pub(crate) seq: Vec<i64>,
    pub(crate) id: Vec<Uuid>,
    pub(crate) ts: Vec<OffsetDateTime>,
    pub(crate) actor_id: Vec<Option<String>>,
    pub(crate) actor_email: Vec<Option<String>>,
    pub(crate) operation: Vec<&'static str>,
    pub(crate) entity_type: Vec<Option<String>>,
    pub(crate) entity_id: Vec<Option<String>>,
    pub(crate) entity_version: Vec<Option<i64>>,
    pub(crate) correlation_id: Vec<Option<String>>,
    pub(crate) parent_id: Vec<Option<Uuid>>,
    pub(crate) transaction_id: Vec<Option<Uuid>>,
    pub(crate) rollback_id: Vec<Option<Uuid>>,
    pub(crate) severity: Vec<&'static str>,
    pub(crate) canonical: Vec<String>,
    pub(crate) leaf_hash: Vec<Vec<u8>>,
}

impl EntryColumns {
    pub(crate) fn len(&self) -> usize {
        self.seq.len()
    }

    /// Removes and returns the rows from `at` on.
    pub(crate) fn split_off(&mut self, at: usize) -> EntryColumns {
        fn split<T>(at: usize) -> impl Fn(&mut Vec<T>) -> Vec<T> {
            move |v| v.split_off(at)
        }
        let s = self;
        EntryColumns {
            seq: split(at)(&mut s.seq),
            id: split(at)(&mut s.id),
            ts: split(at)(&mut s.ts),
            actor_id: split(at)(&mut s.actor_id),
            actor_email: split(at)(&mut s.actor_email),
            operation: split(at)(&mut s.operation),
            entity_type: split(at)(&mut s.entity_type),
            entity_id: split(at)(&mut s.entity_id),
            entity_version: split(at)(&mut s.entity_version),
            correlation_id: split(at)(&mut s.correlation_id),
            parent_id: split(at)(&mut s.parent_id),
            transaction_id: split(at)(&mut s.transaction_id),
            rollback_id: split(at)(&mut s.rollback_id),
            severity: split(at)(&mut s.severity),
            canonical: split(at)(&mut s.canonical),
            leaf_hash: split(at)(&mut s.leaf_hash),
        }
    }
}

/// Rows to append: entries and the tree nodes they completed.
pub(crate) struct Rows {
    pub(crate) entries: EntryColumns,
    pub(crate) nodes: Vec<Node>,
}

/// What the commit writes besides the rows: the final state of every entity the group
/// changed, and the new ledger head.
pub(crate) struct Finish {
    pub(crate) entities: Vec<EntityState>,
    /// The final state of every subject key the group created or erased.
    pub(crate) subject_keys: Vec<SubjectKey>,
    /// None: the group appended nothing and the head stays as it is.
    pub(crate) head: Option<LedgerState>,
}

/// Why a group did not commit.
pub(crate) enum FinishError {
    /// Before COMMIT was sent: nothing took effect.
    Before(StoreError),
    /// COMMIT itself failed: if the connection broke, it may have taken effect.
    Commit(StoreError),
}

enum Cmd {
    Rows(Box<Rows>),
    Sql(&'static str),
    Prefetch(
        Vec<Key>,
        oneshot::Sender<Result<Vec<EntityState>, StoreError>>,
    ),
    Load(
        Key,
        oneshot::Sender<Result<Option<EntityState>, StoreError>>,
    ),
    SubjectKey(
        String,
        oneshot::Sender<Result<Option<SubjectKey>, StoreError>>,
    ),
    Finish(Finish, oneshot::Sender<Result<(), FinishError>>),
}

/// The writer's end of the pipe.
pub(crate) struct Pipe {
    tx: mpsc::UnboundedSender<Cmd>,
    aborted: Arc<AtomicBool>,
}

/// The task's end: await it for the connection back (None when it is no longer usable).
pub(crate) type Task = JoinHandle<Option<PgConnection>>;

pub(crate) fn spawn(conn: PgConnection) -> (Pipe, Task) {
    let (tx, rx) = mpsc::unbounded_channel();
    let aborted = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn(run(conn, rx, aborted.clone()));
    (Pipe { tx, aborted }, task)
}

fn gone() -> StoreError {
    StoreError::internal_msg("the group's connection task has stopped")
}

impl Pipe {
    /// Queues rows; the answer comes with the commit.
    pub(crate) async fn send_rows(&self, rows: Rows) {
        let _ = self.tx.send(Cmd::Rows(Box::new(rows)));
        // Let the connection task write the statement out now, also on a single-threaded
        // runtime, so that PostgreSQL works on it while the writer computes.
        tokio::task::yield_now().await;
    }

    /// Queues a transaction-control statement (savepoints); the answer comes with the commit.
    pub(crate) fn send_sql(&self, sql: &'static str) {
        let _ = self.tx.send(Cmd::Sql(sql));
    }

    pub(crate) async fn prefetch(&self, keys: Vec<Key>) -> Result<Vec<EntityState>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Cmd::Prefetch(keys, reply))
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    pub(crate) async fn load(&self, key: Key) -> Result<Option<EntityState>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Cmd::Load(key, reply)).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    pub(crate) async fn subject_key(
        &self,
        subject: String,
    ) -> Result<Option<SubjectKey>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Cmd::SubjectKey(subject, reply))
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Writes the entities and the head, and commits.
    pub(crate) async fn finish(&self, finish: Finish) -> Result<(), FinishError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Cmd::Finish(finish, reply))
            .map_err(|_| FinishError::Before(gone()))?;
        answer.await.map_err(|_| FinishError::Before(gone()))?
    }

    /// Makes the task skip whatever is still queued; the caller discards the connection (and
    /// with it the transaction).
    pub(crate) fn abort(&self) {
        self.aborted.store(true, Ordering::Relaxed);
    }
}

impl Drop for Pipe {
    /// A pipe dropped before its group finished (an error, a panic) leaves the rest of the
    /// queue unsent.
    fn drop(&mut self) {
        self.abort();
    }
}

async fn run(
    mut conn: PgConnection,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
    aborted: Arc<AtomicBool>,
) -> Option<PgConnection> {
    let mut failed: Option<StoreError> = None;
    let mut committed = false;
    while let Some(cmd) = rx.recv().await {
        if aborted.load(Ordering::Relaxed) {
            return None;
        }
        let failure = || failed.as_ref().map(StoreError::replicate);
        match cmd {
            Cmd::Rows(rows) => {
                if failed.is_none() {
                    failed = insert_rows(&mut conn, *rows).await.err();
                }
            }
            Cmd::Sql(sql) => {
                if failed.is_none() {
                    failed = sqlx::raw_sql(sql).execute(&mut conn).await.ctx(sql).err();
                }
            }
            Cmd::Prefetch(keys, reply) => {
                let result = match failure() {
                    Some(e) => Err(e),
                    None => prefetch(&mut conn, keys).await,
                };
                if let Err(e) = &result {
                    failed.get_or_insert_with(|| e.replicate());
                }
                let _ = reply.send(result);
            }
            Cmd::Load(key, reply) => {
                let result = match failure() {
                    Some(e) => Err(e),
                    None => load(&mut conn, &key).await,
                };
                if let Err(e) = &result {
                    failed.get_or_insert_with(|| e.replicate());
                }
                let _ = reply.send(result);
            }
            Cmd::SubjectKey(subject, reply) => {
                let result = match failure() {
                    Some(e) => Err(e),
                    None => rows::subject_key(&mut conn, &subject).await,
                };
                if let Err(e) = &result {
                    failed.get_or_insert_with(|| e.replicate());
                }
                let _ = reply.send(result);
            }
            Cmd::Finish(finish, reply) => {
                let result = match failed.take() {
                    Some(e) => Err(FinishError::Before(e)),
                    None => commit(&mut conn, finish).await,
                };
                committed = result.is_ok();
                let _ = reply.send(result);
                break;
            }
        }
    }
    // A connection is reused only after a clean commit; any other end discards it, which
    // rolls its transaction back.
    committed.then_some(conn)
}

async fn insert_rows(conn: &mut PgConnection, rows: Rows) -> Result<(), StoreError> {
    let e = rows.entries;
    if !e.seq.is_empty() {
        sqlx::query(
            "INSERT INTO entries (seq, id, ts, actor_id, actor_email, operation, entity_type, \
               entity_id, entity_version, correlation_id, parent_id, transaction_id, \
               rollback_id, severity, canonical, leaf_hash) \
             SELECT * FROM UNNEST($1::int8[], $2::uuid[], $3::timestamptz[], $4::text[], \
               $5::text[], $6::text[], $7::text[], $8::text[], $9::int8[], $10::text[], \
               $11::uuid[], $12::uuid[], $13::uuid[], $14::text[], $15::text[], $16::bytea[])",
        )
        .bind(e.seq)
        .bind(e.id)
        .bind(e.ts)
        .bind(e.actor_id)
        .bind(e.actor_email)
        .bind(e.operation)
        .bind(e.entity_type)
        .bind(e.entity_id)
        .bind(e.entity_version)
        .bind(e.correlation_id)
        .bind(e.parent_id)
        .bind(e.transaction_id)
        .bind(e.rollback_id)
        .bind(e.severity)
        .bind(e.canonical)
        .bind(e.leaf_hash)
        .execute(&mut *conn)
        .await
        .ctx("appending entries")?;
    }
    if !rows.nodes.is_empty() {
        let level: Vec<i16> = rows.nodes.iter().map(|n| i16::from(n.level)).collect();
        let idx: Vec<i64> = rows.nodes.iter().map(|n| int(n.index)).collect();
        let hash: Vec<Vec<u8>> = rows.nodes.iter().map(|n| n.hash.to_vec()).collect();
        sqlx::query(
            "INSERT INTO merkle_nodes (level, idx, hash) \
             SELECT * FROM UNNEST($1::int2[], $2::int8[], $3::bytea[])",
        )
        .bind(level)
        .bind(idx)
        .bind(hash)
        .execute(&mut *conn)
        .await
        .ctx("appending tree nodes")?;
    }
    Ok(())
}

async fn prefetch(conn: &mut PgConnection, keys: Vec<Key>) -> Result<Vec<EntityState>, StoreError> {
    let (types, ids): (Vec<String>, Vec<String>) = keys.into_iter().unzip();
    // One primary-key probe per key, whatever the statistics say: the LIMIT keeps the
    // planner from turning this into a hash join over the whole table (which it picks while
    // the table's statistics still describe it as small).
    let sql = format!(
        "SELECT e.* FROM UNNEST($1::text[], $2::text[]) AS k(t, i) \
         CROSS JOIN LATERAL (SELECT {ENTITY_COLUMNS} FROM entities \
           WHERE entity_type = k.t AND id = k.i LIMIT 1) AS e"
    );
    let found = sqlx::query(AssertSqlSafe(sql))
        .bind(types)
        .bind(ids)
        .fetch_all(&mut *conn)
        .await
        .ctx("prefetching entities")?;
    found.iter().map(rows::entity_of).collect()
}

async fn load(conn: &mut PgConnection, key: &Key) -> Result<Option<EntityState>, StoreError> {
    let sql = format!("SELECT {ENTITY_COLUMNS} FROM entities WHERE entity_type = $1 AND id = $2");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(&key.0)
        .bind(&key.1)
        .fetch_optional(&mut *conn)
        .await
        .ctx("reading an entity")?;
    row.as_ref().map(rows::entity_of).transpose()
}

async fn commit(conn: &mut PgConnection, finish: Finish) -> Result<(), FinishError> {
    if !finish.subject_keys.is_empty() {
        write_subject_keys(conn, finish.subject_keys)
            .await
            .map_err(FinishError::Before)?;
    }
    if let Some(head) = finish.head {
        write_head_and_entities(conn, &head, finish.entities)
            .await
            .map_err(FinishError::Before)?;
    }
    sqlx::raw_sql("COMMIT")
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(|e| FinishError::Commit(error::map("committing the group", e)))
}

/// Creates or replaces the keys (an erased key is a row with `wrapped` NULL).
async fn write_subject_keys(
    conn: &mut PgConnection,
    keys: Vec<SubjectKey>,
) -> Result<(), StoreError> {
    let n = keys.len();
    let mut subject = Vec::with_capacity(n);
    let mut wrapped = Vec::with_capacity(n);
    let mut created_at = Vec::with_capacity(n);
    let mut erased_at = Vec::with_capacity(n);
    for k in keys {
        subject.push(k.subject);
        wrapped.push(k.wrapped);
        created_at.push(k.created_at);
        erased_at.push(k.erased_at);
    }
    sqlx::query(
        "INSERT INTO subject_keys (subject, wrapped, created_at, erased_at) \
         SELECT * FROM UNNEST($1::text[], $2::bytea[], $3::timestamptz[], $4::timestamptz[]) \
         ON CONFLICT (subject) DO UPDATE SET wrapped = excluded.wrapped, \
           created_at = excluded.created_at, erased_at = excluded.erased_at",
    )
    .bind(subject)
    .bind(wrapped)
    .bind(created_at)
    .bind(erased_at)
    .execute(&mut *conn)
    .await
    .ctx("writing subject keys")?;
    Ok(())
}

/// The new head and the final state of every changed entity, in one statement.
async fn write_head_and_entities(
    conn: &mut PgConnection,
    head: &LedgerState,
    states: Vec<EntityState>,
) -> Result<(), StoreError> {
    let n = states.len();
    let mut entity_type = Vec::with_capacity(n);
    let mut id = Vec::with_capacity(n);
    let mut version = Vec::with_capacity(n);
    let mut data = Vec::with_capacity(n);
    let mut deleted = Vec::with_capacity(n);
    let mut created_at = Vec::with_capacity(n);
    let mut updated_at = Vec::with_capacity(n);
    let mut last_seq = Vec::with_capacity(n);
    for state in states {
        let text = serde_json::to_string(&state.data)
            .map_err(|e| StoreError::internal("encoding entity data", e))?;
        version.push(int(state.version));
        data.push(text);
        deleted.push(state.deleted);
        created_at.push(state.created_at);
        updated_at.push(state.updated_at);
        last_seq.push(int(state.last_seq));
        entity_type.push(state.entity_type);
        id.push(state.id);
    }
    let (frontier, _) = head.encode();
    let (heads, _saved): (i64, i64) = sqlx::query_as(
        "WITH head AS ( \
           UPDATE ledger_head SET tree_size = $1, frontier = $2, last_ts = $3 WHERE id = 1 \
           RETURNING 1), \
         saved AS ( \
           INSERT INTO entities (entity_type, id, version, data, deleted, created_at, \
             updated_at, last_seq) \
           SELECT t, i, v, d::jsonb, x, c, u, s FROM UNNEST($4::text[], $5::text[], \
             $6::int8[], $7::text[], $8::bool[], $9::timestamptz[], $10::timestamptz[], \
             $11::int8[]) AS r(t, i, v, d, x, c, u, s) \
           ON CONFLICT (entity_type, id) DO UPDATE SET version = excluded.version, \
             data = excluded.data, deleted = excluded.deleted, \
             created_at = excluded.created_at, updated_at = excluded.updated_at, \
             last_seq = excluded.last_seq \
           RETURNING 1) \
         SELECT (SELECT count(*) FROM head), (SELECT count(*) FROM saved)",
    )
    .bind(int(head.frontier.size()))
    .bind(frontier)
    .bind(head.last_timestamp)
    .bind(entity_type)
    .bind(id)
    .bind(version)
    .bind(data)
    .bind(deleted)
    .bind(created_at)
    .bind(updated_at)
    .bind(last_seq)
    .fetch_one(&mut *conn)
    .await
    .ctx("writing the ledger head and entities")?;
    if heads != 1 {
        return Err(StoreError::Corrupt("the ledger head row is missing".into()));
    }
    Ok(())
}
