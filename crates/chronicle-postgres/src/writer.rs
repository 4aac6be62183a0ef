//! The node's writer: one task, one connection, group commit.
//!
//! Requests queue on a channel. The writer takes every queued request (up to a bound), opens
//! one transaction, locks the ledger head row (`SELECT ... FOR UPDATE`: every writer on every
//! node does, which keeps the ledger one dense sequence with one tree), prefetches every
//! entity the requests name, runs each request through the shared executor on a [`Group`]
//! (whose rows stream to PostgreSQL while later requests are computed), writes the entities
//! and the head, commits durably (`synchronous_commit = on`), and only then replies. A request
//! whose batch must not be kept is undone; an error that belongs to one request's data fails
//! that request alone; any other error rolls the whole group back and every request gets it.
//!
//! A connection found broken before the group started (the database restarted while the
//! writer was idle) is replaced and the group tried once more; a COMMIT whose answer was lost
//! is checked on a fresh connection before anyone is told it failed.

use crate::error::Context;
use crate::group::Group;
use crate::partitions::{Month, Partitions};
use crate::pipe::{self, FinishError};
use crate::rows;
use chronicle_core::schema::Schema;
use chronicle_core::timefmt;
use chronicle_core::write::EntityOp;
use chronicle_store::executor::{self, WriteEnv};
use chronicle_store::seal::Sealer;
use chronicle_store::{StoreError, WriteKind, WriteRequest, WriteResponse};
use futures::FutureExt;
use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{ConnectOptions, PgConnection};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

pub(crate) type Reply = oneshot::Sender<Result<WriteResponse, StoreError>>;

pub(crate) struct Job {
    pub(crate) req: WriteRequest,
    pub(crate) reply: Reply,
}

/// At most this many entries' worth of operations in one group (a single larger request
/// still runs, alone): bounds the group's memory and transaction size.
const MAX_GROUP_OPS: usize = 20_000;
/// Scheduler turns the writer gives callers to join a group before it closes.
const GATHER_YIELDS: usize = 2;
/// How long to wait for a connection to the database before answering "unavailable".
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct Writer {
    pub(crate) rx: mpsc::Receiver<Job>,
    pub(crate) options: PgConnectOptions,
    pub(crate) schema: Arc<Schema>,
    pub(crate) sealer: Option<Arc<Sealer>>,
    pub(crate) max_group: usize,
    /// The readers' pool, used to find out whether a COMMIT whose answer was lost took effect.
    pub(crate) pool: PgPool,
    pub(crate) conn: Option<PgConnection>,
    pub(crate) partitions: Partitions,
}

fn weight(req: &WriteRequest) -> usize {
    match &req.kind {
        WriteKind::Single(_) | WriteKind::Event(_) | WriteKind::Erase { .. } => 1,
        WriteKind::Bulk { ops, .. } | WriteKind::Transaction { ops } => ops.len() + 1,
    }
}

fn ops_mut(req: &mut WriteRequest) -> &mut [EntityOp] {
    match &mut req.kind {
        WriteKind::Single(op) => std::slice::from_mut(op),
        WriteKind::Bulk { ops, .. } | WriteKind::Transaction { ops } => ops,
        WriteKind::Event(_) | WriteKind::Erase { .. } => &mut [],
    }
}

impl Writer {
    pub(crate) async fn run(mut self) {
        while let Some(first) = self.rx.recv().await {
            let mut ops = weight(&first.req);
            let mut jobs = vec![first];
            // Callers woken by the previous group's replies may be about to send again: give
            // them a turn of the scheduler (not a timer) before the group closes.
            let mut yields = 0;
            while jobs.len() < self.max_group && ops < MAX_GROUP_OPS {
                match self.rx.try_recv() {
                    Ok(job) => {
                        ops += weight(&job.req);
                        jobs.push(job);
                    }
                    Err(_) if yields < GATHER_YIELDS => {
                        yields += 1;
                        tokio::task::yield_now().await;
                    }
                    Err(_) => break,
                }
            }
            // A caller that stopped waiting gets no answer; its write is not started.
            jobs.retain(|j| !j.reply.is_closed());
            if jobs.is_empty() {
                continue;
            }
            // A panic (a bug) must not take the writer down with it: the group's callers hear
            // that their requests were dropped, the connection is discarded (its transaction
            // rolls back with it), and the next group starts afresh.
            if AssertUnwindSafe(self.group(jobs))
                .catch_unwind()
                .await
                .is_err()
            {
                tracing::error!(
                    "the writer panicked during a group commit; the group was rolled back"
                );
                self.conn = None;
            }
        }
    }

    async fn connection(&mut self) -> Result<&mut PgConnection, StoreError> {
        if self.conn.is_none() {
            let conn = tokio::time::timeout(CONNECT_TIMEOUT, self.options.connect())
                .await
                .map_err(|_| StoreError::Unavailable {
                    message: "connecting to PostgreSQL timed out".into(),
                    source: None,
                })?
                .ctx("connecting the writer")?;
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }

    /// The months a group may write into: now, next month (for a group that crosses the
    /// boundary), and those of backdated requests.
    async fn ensure_partitions(&mut self, jobs: &[Job]) -> Result<(), StoreError> {
        let now = Month::of(timefmt::now());
        let mut months = vec![now, now.next()];
        months.extend(jobs.iter().filter_map(|j| j.req.context.at.map(Month::of)));
        months.sort();
        months.dedup();
        // Borrow the partition memory separately from the connection.
        let mut partitions = std::mem::take(&mut self.partitions);
        let result = match self.connection().await {
            Ok(conn) => partitions.ensure(conn, months).await,
            Err(e) => Err(e),
        };
        self.partitions = partitions;
        result
    }

    async fn group(&mut self, mut jobs: Vec<Job>) {
        // Give id-less creates their id now (as the executor would) so that every entity the
        // group touches is known before it starts and can be prefetched in one query.
        let mut keys = Vec::new();
        for job in &mut jobs {
            for op in ops_mut(&mut job.req) {
                let id = op.id_or_assign().to_owned();
                keys.push((op.entity_type().to_owned(), id));
            }
        }
        let erases = jobs
            .iter()
            .any(|j| matches!(j.req.kind, WriteKind::Erase { .. }));
        // A connection that broke while idle (the database restarted, an administrator
        // terminated it) fails before anything of the group ran: reconnect and try once more.
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            match self.attempt(&mut jobs, &keys).await {
                Err(Failure::BeforeStart(e)) if attempt < 2 && is_unavailable(&e) => {
                    self.conn = None;
                }
                other => break other,
            }
        };
        match result {
            Ok(replies) => {
                if erases {
                    self.vacuum_subject_keys().await;
                }
                for (job, reply) in jobs.into_iter().zip(replies) {
                    let _ = job.reply.send(reply);
                }
            }
            Err(Failure::BeforeStart(e) | Failure::Group(e)) => {
                self.conn = None;
                tracing::warn!(error = %e, requests = jobs.len(), "group commit failed");
                for job in jobs {
                    let _ = job.reply.send(Err(e.replicate()));
                }
            }
        }
    }

    /// Runs the group once. The requests are taken out of `jobs` only once the transaction
    /// holds the head lock, so a failure before that can be retried.
    async fn attempt(
        &mut self,
        jobs: &mut [Job],
        keys: &[(String, String)],
    ) -> Result<Vec<Result<WriteResponse, StoreError>>, Failure> {
        let t0 = Instant::now();
        self.ensure_partitions(jobs)
            .await
            .map_err(Failure::BeforeStart)?;
        let schema = self.schema.clone();
        let sealer = self.sealer.clone();
        let env = WriteEnv {
            schema: &schema,
            sealer: sealer.as_deref(),
        };
        let conn = self.connection().await.map_err(Failure::BeforeStart)?;
        // One round trip: BEGIN and the head lock together (the simple-query protocol).
        let head = sqlx::raw_sql(rows::BEGIN_AND_LOCK_HEAD)
            .fetch_optional(&mut *conn)
            .await
            .ctx("locking the ledger head")
            .map_err(Failure::BeforeStart)?;
        let mut ledger = rows::locked_head_of(head).map_err(Failure::BeforeStart)?;
        let conn = self.conn.take().expect("connected above");
        let (pipe, task) = pipe::spawn(conn);
        let mut group = Group::new(pipe);
        if let Err(e) = group.prefetch(keys.to_vec()).await {
            group.abort();
            let _ = task.await;
            return Err(Failure::BeforeStart(e));
        }

        let t1 = Instant::now();
        let mut replies = Vec::with_capacity(jobs.len());
        for job in jobs.iter_mut() {
            let req = std::mem::replace(&mut job.req, placeholder());
            let before = ledger.clone();
            group.begin_request();
            match executor::execute(&mut group, &mut ledger, env, req).await {
                Ok(done) => {
                    group.end_request(done.keep).await;
                    if !done.keep {
                        ledger = before;
                    }
                    replies.push(Ok(done.response));
                }
                Err(e) if group.take_request_error() => {
                    group.end_request(false).await;
                    ledger = before;
                    replies.push(Err(e));
                }
                Err(e) => {
                    group.abort();
                    let _ = task.await;
                    return Err(Failure::Group(e));
                }
            }
        }
        let last = group.last_entry();
        let head = last.is_some().then_some(ledger);
        let t2 = Instant::now();
        let outcome = group.finish(head).await;
        tracing::debug!(
            requests = jobs.len(),
            open_us = (t1 - t0).as_micros() as u64,
            execute_us = (t2 - t1).as_micros() as u64,
            finish_us = t2.elapsed().as_micros() as u64,
            "group commit"
        );
        // The connection comes back after a clean commit; otherwise it is discarded.
        self.conn = task.await.ok().flatten();
        match outcome {
            Ok(()) => Ok(replies),
            Err(FinishError::Before(e)) => Err(Failure::Group(e)),
            Err(FinishError::Commit(e)) => {
                let Some((seq, id)) = last else {
                    // Nothing was written, so the answers stand whatever became of the COMMIT.
                    tracing::warn!(error = %e, "COMMIT of a group that wrote nothing failed");
                    return Ok(replies);
                };
                if !is_unavailable(&e) {
                    return Err(Failure::Group(e));
                }
                // The connection broke during COMMIT: it may or may not have taken effect.
                // Ask the database (on a fresh connection) before answering.
                match self.committed(seq, id).await {
                    Some(true) => Ok(replies),
                    Some(false) => Err(Failure::Group(e)),
                    None => Err(Failure::Group(StoreError::Unavailable {
                        message: "the connection to PostgreSQL broke during COMMIT and the \
                                  outcome could not be checked: the write may have taken effect"
                            .into(),
                        source: None,
                    })),
                }
            }
        }
    }

    /// Reclaims the dead row versions that still hold erased keys, right after the erasure
    /// committed (VACUUM cannot run inside a transaction). Best effort: autovacuum would get
    /// there too, later.
    async fn vacuum_subject_keys(&mut self) {
        let result = match self.connection().await {
            Ok(conn) => sqlx::raw_sql("VACUUM subject_keys")
                .execute(conn)
                .await
                .ctx("vacuuming subject_keys")
                .map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "VACUUM after an erasure failed");
        }
    }

    /// Whether the entry `(seq, id)` is stored; None when the database cannot tell us.
    async fn committed(&self, seq: i64, id: uuid::Uuid) -> Option<bool> {
        for _ in 0..3 {
            let found =
                sqlx::query_scalar::<_, uuid::Uuid>("SELECT id FROM entries WHERE seq = $1")
                    .bind(seq)
                    .fetch_optional(&self.pool)
                    .await;
            match found {
                Ok(found) => return Some(found == Some(id)),
                Err(e) => {
                    tracing::warn!(error = %e, "checking a lost COMMIT");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        None
    }
}

enum Failure {
    /// Before any request ran: the requests are intact and the group may be retried.
    BeforeStart(StoreError),
    /// The group is lost; every request gets the error.
    Group(StoreError),
}

fn is_unavailable(e: &StoreError) -> bool {
    matches!(e, StoreError::Unavailable { .. })
}

/// What is left in a job once its request has been handed to the executor.
fn placeholder() -> WriteRequest {
    WriteRequest {
        context: Default::default(),
        kind: WriteKind::Bulk {
            ops: Vec::new(),
            atomic: false,
        },
    }
}
