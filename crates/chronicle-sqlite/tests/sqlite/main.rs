//! Behaviour specific to the SQLite backend: the file on disk, migrations, group commit, and
//! a ledger edited behind the store's back. Each test uses its own file in a temp dir.
//!
//! One test binary; the modules group the cases, this file holds the shared helpers.

mod encryption;
mod file;
mod group_commit;
mod queries;
mod tamper;

use chronicle_core::entry::{Actor, RequestContext};
use chronicle_core::merkle::{self, Hash};
use chronicle_core::schema::Schema;
use chronicle_core::write::{EntityOp, OpError};
use chronicle_sqlite::{SqliteConfig, SqliteStore};
use chronicle_store::verify::{FailureKind, VerifyReport, verify};
use chronicle_store::{EntryQuery, Store, StoreError, WriteKind, WriteRequest, WriteResponse};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tempfile::TempDir;

// ---- Helpers.

fn temp() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("chronicle.db");
    (dir, path)
}

async fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(SqliteConfig::new(path, Arc::new(Schema::default())))
        .await
        .expect("open the store")
}

/// A second connection to the file, as another program (or an attacker) would have.
fn raw(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).expect("open the file directly");
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    conn
}

fn ctx(actor: &str) -> RequestContext {
    RequestContext {
        actor: Actor {
            via: None,
            id: Some(actor.into()),
            email: Some(format!("{actor}@example.com")),
            role: None,
        },
        reason: Some(format!("{actor} asked")),
        ..RequestContext::default()
    }
}

fn create(ty: &str, id: &str, data: Value) -> EntityOp {
    EntityOp::Create {
        entity_type: ty.into(),
        id: Some(id.into()),
        data,
    }
}

fn update(ty: &str, id: &str, patch: Value) -> EntityOp {
    EntityOp::Update {
        entity_type: ty.into(),
        id: id.into(),
        patch,
        expected_version: None,
    }
}

fn single(op: EntityOp) -> WriteRequest {
    WriteRequest {
        context: ctx("ann"),
        kind: WriteKind::Single(op),
    }
}

fn outcome(resp: WriteResponse) -> chronicle_store::OpOutcome {
    match resp {
        WriteResponse::Single(Ok(o)) => o,
        other => panic!("expected an applied single write, got {other:?}"),
    }
}

async fn write_items(store: &SqliteStore, n: usize) {
    for i in 0..n {
        let resp = store
            .write(single(create("item", &format!("i{i}"), json!({"i": i}))))
            .await;
        outcome(resp.expect("write"));
    }
}

async fn report(store: &SqliteStore) -> VerifyReport {
    verify(store, |_, _| {}).await.expect("verify runs")
}

async fn assert_verifies(store: &SqliteStore) -> u64 {
    let r = report(store).await;
    assert!(r.ok(), "verify failed: {:?}", r.failure);
    r.tree_size
}

async fn assert_fails_at(store: &SqliteStore, seq: u64, kind: FailureKind) {
    let failure = report(store).await.failure.expect("verify must fail");
    assert_eq!(
        (failure.seq, failure.kind),
        (seq, kind),
        "{}",
        failure.detail
    );
}

async fn seqs(store: &SqliteStore, q: EntryQuery) -> Vec<u64> {
    let q = EntryQuery { limit: 10_000, ..q };
    store
        .search(&q)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.seq)
        .collect()
}

/// Sends every request while the writer is held, so that all of them are queued before it
/// takes the first; they then run as exactly one group, which commits (or, when `commits` is
/// 0, fails as a whole).
async fn in_one_group(
    store: &SqliteStore,
    reqs: Vec<WriteRequest>,
    commits: u64,
) -> Vec<Result<WriteResponse, StoreError>> {
    let before = store.group_commits();
    let pause = store.pause_writer().await.unwrap();
    let mut pending: Vec<_> = reqs.into_iter().map(|r| store.write(r)).collect();
    // One poll each puts the request on the queue; `unconstrained` keeps tokio's per-task
    // budget from making a send wait although the queue has room.
    tokio::task::unconstrained(async {
        for f in &mut pending {
            assert!(
                futures::poll!(f.as_mut()).is_pending(),
                "the writer is held"
            );
        }
    })
    .await;
    drop(pause);
    let results = futures::future::join_all(pending).await;
    assert_eq!(store.group_commits(), before + commits, "group commits");
    results
}
