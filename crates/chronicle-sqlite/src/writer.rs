//! The single writer: one thread owns the connection that writes, and commits requests in
//! groups.
//!
//! Requests queue on a bounded channel. The thread takes one (blocking), then every other
//! request already waiting, up to `max_group`, and runs them all in one `BEGIN IMMEDIATE`
//! transaction, each inside its own savepoint; one `COMMIT` (one WAL sync) makes the whole
//! group durable, and only then does any caller hear back. Throughput comes from the size of
//! the groups, not from parallel appenders: under load the queue fills while a group syncs,
//! and the next group takes everything that arrived meanwhile.

use crate::error::Context;
use crate::rows;
use chronicle_core::merkle::{Hash, Node};
use chronicle_core::schema::Schema;
use chronicle_core::{EntityState, Entry};
use chronicle_store::executor::{self, LedgerTxn, WriteEnv};
use chronicle_store::seal::Sealer;
use chronicle_store::{StoreError, SubjectKey, WriteKind, WriteRequest, WriteResponse};
use rusqlite::Connection;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

/// Requests that may wait for the writer before senders are made to wait too.
const QUEUE: usize = 8192;

type Reply = oneshot::Sender<Result<WriteResponse, StoreError>>;

enum Job {
    Write(Box<WriteRequest>, Reply),
    /// Holds the writer until the paired sender is dropped (tests use it to pile requests up
    /// and observe a group form, without timing).
    Pause {
        paused: oneshot::Sender<()>,
        resume: std::sync::mpsc::Receiver<()>,
    },
}

/// The handle to the writer thread. Dropping it closes the queue; the thread finishes the
/// requests already queued, and the drop waits for it, so the file is closed afterwards.
pub(crate) struct Writer {
    queue: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    commits: Arc<AtomicU64>,
}

/// While this lives the writer takes no request (see `SqliteStore::pause_writer`).
pub struct WriterPause<'a> {
    _resume: std::sync::mpsc::Sender<()>,
    _store: PhantomData<&'a ()>,
}

impl Writer {
    pub(crate) fn spawn(
        conn: Connection,
        schema: Arc<Schema>,
        sealer: Option<Arc<Sealer>>,
        max_group: usize,
    ) -> Result<Writer, StoreError> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let commits = Arc::new(AtomicU64::new(0));
        let counter = commits.clone();
        let thread = std::thread::Builder::new()
            .name("chronicle-sqlite-writer".into())
            .spawn(move || {
                let env = WriteEnv {
                    schema: &schema,
                    sealer: sealer.as_deref(),
                };
                run(conn, env, rx, max_group.max(1), &counter)
            })
            .map_err(|e| StoreError::internal("starting the writer thread", e))?;
        Ok(Writer {
            queue: Some(tx),
            thread: Some(thread),
            commits,
        })
    }

    pub(crate) async fn write(&self, req: WriteRequest) -> Result<WriteResponse, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue()?
            .send(Job::Write(Box::new(req), reply))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    pub(crate) async fn pause(&self) -> Result<WriterPause<'_>, StoreError> {
        let (paused, is_paused) = oneshot::channel();
        let (resume, wait) = std::sync::mpsc::channel();
        self.queue()?
            .send(Job::Pause {
                paused,
                resume: wait,
            })
            .await
            .map_err(|_| stopped())?;
        is_paused.await.map_err(|_| stopped())?;
        Ok(WriterPause {
            _resume: resume,
            _store: PhantomData,
        })
    }

    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    fn queue(&self) -> Result<&mpsc::Sender<Job>, StoreError> {
        self.queue.as_ref().ok_or_else(stopped)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.queue = None;
        if let Some(thread) = self.thread.take() {
            // A panic has already been reported on the writer's own thread.
            let _ = thread.join();
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable {
        message: "the SQLite writer has stopped".into(),
        source: None,
    }
}

fn run(
    conn: Connection,
    env: WriteEnv<'_>,
    mut rx: mpsc::Receiver<Job>,
    max_group: usize,
    commits: &AtomicU64,
) {
    let mut next = None;
    loop {
        let Some(first) = next.take().or_else(|| rx.blocking_recv()) else {
            break;
        };
        let mut group = match first {
            Job::Pause { paused, resume } => {
                let _ = paused.send(());
                // Returns when the pause's sender is dropped.
                let _ = resume.recv();
                continue;
            }
            Job::Write(req, reply) => vec![(*req, reply)],
        };
        while group.len() < max_group {
            match rx.try_recv() {
                Ok(Job::Write(req, reply)) => group.push((*req, reply)),
                Ok(pause) => {
                    next = Some(pause);
                    break;
                }
                Err(_) => break,
            }
        }
        let (requests, replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
        let count = requests.len();
        let erases = requests
            .iter()
            .any(|r| matches!(r.kind, WriteKind::Erase { .. }));
        let results = match catch_unwind(AssertUnwindSafe(|| commit_group(&conn, env, requests))) {
            Ok(Ok(results)) => {
                commits.fetch_add(1, Ordering::Relaxed);
                if erases {
                    checkpoint_after_erasure(&conn);
                }
                results
            }
            Ok(Err(e)) => fail_all(e, count),
            Err(_) => {
                // The transaction may still be open; nothing of it may survive.
                let _ = conn.execute_batch("ROLLBACK");
                fail_all(
                    StoreError::internal_msg(
                        "the SQLite writer panicked; the group was rolled back",
                    ),
                    count,
                )
            }
        };
        for (reply, result) in replies.into_iter().zip(results) {
            // A caller that stopped waiting does not undo a committed write.
            let _ = reply.send(result);
        }
    }
    // Lets SQLite refresh its query planner statistics before the file closes.
    let _ = conn.execute_batch("PRAGMA optimize");
}

/// Copies the WAL into the database file and truncates it, so that the page images that held
/// an erased key leave the log now rather than at some later checkpoint. Readers holding an
/// older snapshot can keep the log from being emptied; then the next checkpoint finishes it.
fn checkpoint_after_erasure(conn: &Connection) {
    let result = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    });
    match result {
        Ok((0, _, _)) => {}
        Ok((busy, log, done)) => {
            tracing::warn!(
                busy,
                log,
                done,
                "the WAL checkpoint after an erasure was incomplete"
            )
        }
        Err(e) => tracing::warn!(error = %e, "the WAL checkpoint after an erasure failed"),
    }
}

/// The group's error for each of its requests: the first gets the error itself (with its
/// source), the others a copy of its classification and message.
fn fail_all(e: StoreError, count: usize) -> Vec<Result<WriteResponse, StoreError>> {
    let copies: Vec<_> = (1..count).map(|_| Err(e.replicate())).collect();
    std::iter::once(Err(e)).chain(copies).take(count).collect()
}

/// One group in one transaction. `Err` means nothing of the group was written.
fn commit_group(
    conn: &Connection,
    env: WriteEnv<'_>,
    requests: Vec<WriteRequest>,
) -> Result<Vec<Result<WriteResponse, StoreError>>, StoreError> {
    exec(conn, "BEGIN IMMEDIATE")?;
    let results = match run_group(conn, env, requests) {
        Ok(results) => results,
        Err(e) => {
            rollback(conn);
            return Err(e);
        }
    };
    if let Err(e) = exec(conn, "COMMIT") {
        rollback(conn);
        return Err(e);
    }
    Ok(results)
}

fn run_group(
    conn: &Connection,
    env: WriteEnv<'_>,
    requests: Vec<WriteRequest>,
) -> Result<Vec<Result<WriteResponse, StoreError>>, StoreError> {
    // Read under the write lock at every group, not cached between groups: another process
    // (a `chronicle demo` beside a running server) may have appended since.
    let start = rows::read_head(conn)?;
    let mut ledger = start.clone();
    let mut results = Vec::with_capacity(requests.len());
    for req in requests {
        exec(conn, "SAVEPOINT request")?;
        let before = ledger.clone();
        let mut txn = SqlTxn { conn };
        // The transaction's methods do synchronous SQLite work and never pend, so this
        // completes in one poll.
        let outcome =
            futures::executor::block_on(executor::execute(&mut txn, &mut ledger, env, req));
        match outcome {
            Ok(executed) if executed.keep => {
                exec(conn, "RELEASE request")?;
                results.push(Ok(executed.response));
            }
            // An atomic batch with a failing operation: its answer stands, its writes go.
            Ok(executed) => {
                undo(conn)?;
                ledger = before;
                results.push(Ok(executed.response));
            }
            Err(e) => {
                // Some failures (I/O, a full disk) make SQLite roll the whole transaction
                // back; then the group has failed. Otherwise only this request failed, and
                // its savepoint undoes it without disturbing the others.
                if conn.is_autocommit() {
                    return Err(e);
                }
                undo(conn)?;
                ledger = before;
                results.push(Err(e));
            }
        }
    }
    if ledger != start {
        rows::write_head(conn, &ledger)?;
    }
    Ok(results)
}

fn undo(conn: &Connection) -> Result<(), StoreError> {
    exec(conn, "ROLLBACK TO request")?;
    exec(conn, "RELEASE request")
}

fn rollback(conn: &Connection) {
    // Fails only when SQLite already rolled back, which is what we want anyway.
    if !conn.is_autocommit() {
        let _ = exec(conn, "ROLLBACK");
    }
}

fn exec(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .ctx(sql)?;
    Ok(())
}

/// The executor's view of the open transaction.
struct SqlTxn<'c> {
    conn: &'c Connection,
}

impl LedgerTxn for SqlTxn<'_> {
    async fn load_entity(
        &mut self,
        entity_type: &str,
        id: &str,
    ) -> Result<Option<EntityState>, StoreError> {
        rows::load_entity(self.conn, entity_type, id)
    }

    async fn save_entity(&mut self, state: &EntityState) -> Result<(), StoreError> {
        rows::save_entity(self.conn, state)
    }

    async fn append_entry(
        &mut self,
        entry: &Entry,
        canonical: &[u8],
        leaf: &Hash,
        nodes: &[Node],
    ) -> Result<(), StoreError> {
        rows::append_entry(self.conn, entry, canonical, leaf, nodes)
    }

    async fn subject_key(&mut self, subject: &str) -> Result<Option<SubjectKey>, StoreError> {
        rows::subject_key(self.conn, subject)
    }

    async fn insert_subject_key(&mut self, key: &SubjectKey) -> Result<(), StoreError> {
        rows::insert_subject_key(self.conn, key)
    }

    async fn erase_subject_key(
        &mut self,
        subject: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        rows::erase_subject_key(self.conn, subject, at)
    }
}
