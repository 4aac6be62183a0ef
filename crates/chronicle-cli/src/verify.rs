//! `chronicle verify`: recomputes every leaf and the tree from the stored rows and compares
//! them with the stored head. Exit status 0 only when everything checks.

use crate::progress;
use crate::settings::Settings;
use crate::store::{open_store, sqlite_path};
use anyhow::{Result, bail};
use async_trait::async_trait;
use chronicle_core::merkle::Hash;
use chronicle_core::schema::Schema;
use chronicle_core::{EntityState, Entry};
use chronicle_store::verify::{Failure, FailureKind, VerifyReport, verify};
use chronicle_store::{
    EntryQuery, Group, GroupBy, LedgerHead, RawRow, Store, StoreError, StoreStats, WriteRequest,
    WriteResponse,
};
use std::sync::Arc;
use uuid::Uuid;

/// Verifies the ledger; `Ok(true)` when it checks.
pub async fn run(settings: &Settings, json: bool) -> Result<bool> {
    if settings.database_url.is_none() {
        // Opening would create an empty ledger, which verifies trivially: refuse instead.
        let path = sqlite_path(&settings.data_dir);
        if !path.is_file() {
            bail!("no ledger at {} (is --data-dir right?)", path.display());
        }
    }
    // Verification reads stored rows only; the schema plays no part.
    let opened = open_store(
        settings.database_url.as_deref(),
        &settings.data_dir,
        Arc::new(Schema::default()),
    )
    .await;
    let store = match opened {
        Ok(store) => store,
        Err(e) => match e.chain().find_map(|c| c.downcast_ref::<StoreError>()) {
            Some(StoreError::Corrupt(detail)) => {
                print_corrupt(detail, &settings.describe_store(), json)?;
                return Ok(false);
            }
            _ => return Err(e),
        },
    };
    let bar = progress::bar(0, "verify", json);
    let result = verify_as_of_head(store, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await;
    bar.finish_and_clear();
    let report = match result {
        Ok(report) => report,
        // Data the store cannot even read (a mangled head row) fails verification like any
        // other tampering, rather than being reported as an operational error.
        Err(StoreError::Corrupt(detail)) => {
            print_corrupt(&detail, &settings.describe_store(), json)?;
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        print_json(&report)?;
    } else {
        print_human(&report, &settings.describe_store());
    }
    Ok(report.ok())
}

/// Rows read past the head to look for inserted ones.
const TAIL_ROWS: u64 = 5_000;

/// Verifies the ledger as of the head at the start, so that a server appending meanwhile
/// does not make a live ledger fail: `chronicle_store::verify` reads the head once and then
/// rows in chunks, and a row appended in between looks like a row inserted beyond the head.
/// Rows past the pinned head are then judged against a head read after them: one that the
/// current head does not cover was inserted (the writer commits rows and head together).
async fn verify_as_of_head(
    store: Arc<dyn Store>,
    progress: impl FnMut(u64, u64),
) -> Result<VerifyReport, StoreError> {
    let head = store.head().await?;
    let pinned = AsOfHead {
        inner: store.clone(),
        head: head.clone(),
    };
    let mut report = verify(&pinned, progress).await?;
    if report.ok() {
        let next = head.tree_size + 1;
        let beyond = store.rows(next, next + TAIL_ROWS).await?;
        if let Some(last) = beyond.last() {
            let now = store.head().await?;
            if last.seq > now.tree_size {
                let seq = beyond
                    .iter()
                    .map(|r| r.seq)
                    .find(|&s| s > now.tree_size)
                    .unwrap_or(last.seq);
                report.failure = Some(Failure {
                    seq,
                    kind: FailureKind::RowInserted,
                    detail: format!("row {seq} is beyond the head's tree size {}", now.tree_size),
                });
            }
        }
    }
    Ok(report)
}

/// A store whose head is fixed and whose rows end there.
struct AsOfHead {
    inner: Arc<dyn Store>,
    head: LedgerHead,
}

#[async_trait]
impl Store for AsOfHead {
    async fn write(&self, req: WriteRequest) -> Result<WriteResponse, StoreError> {
        self.inner.write(req).await
    }
    async fn entity(&self, entity_type: &str, id: &str) -> Result<Option<EntityState>, StoreError> {
        self.inner.entity(entity_type, id).await
    }
    async fn list_entities(
        &self,
        entity_type: &str,
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<EntityState>, StoreError> {
        self.inner.list_entities(entity_type, after_id, limit).await
    }
    async fn entry(&self, id: Uuid) -> Result<Option<Entry>, StoreError> {
        self.inner.entry(id).await
    }
    async fn search(&self, query: &EntryQuery) -> Result<Vec<Entry>, StoreError> {
        self.inner.search(query).await
    }
    async fn summary(&self, query: &EntryQuery, by: GroupBy) -> Result<Vec<Group>, StoreError> {
        self.inner.summary(query, by).await
    }
    async fn head(&self) -> Result<LedgerHead, StoreError> {
        Ok(self.head.clone())
    }
    async fn rows(&self, start: u64, end: u64) -> Result<Vec<RawRow>, StoreError> {
        let end = end.min(self.head.tree_size);
        if start > end {
            return Ok(Vec::new());
        }
        self.inner.rows(start, end).await
    }
    async fn node(&self, level: u8, index: u64) -> Result<Option<Hash>, StoreError> {
        self.inner.node(level, index).await
    }
    async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.inner.stats().await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

fn print_corrupt(detail: &str, location: &str, json: bool) -> Result<()> {
    if json {
        let v = serde_json::json!({
            "ok": false,
            "entries_checked": 0,
            "tree_size": null,
            "root": null,
            "failure": {"seq": 0, "kind": "corrupt", "detail": detail},
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("ledger          {location}");
        println!("result          FAILED (corrupt): {detail}");
    }
    Ok(())
}

fn print_json(report: &VerifyReport) -> Result<()> {
    let mut v = serde_json::to_value(report)?;
    v["ok"] = report.ok().into();
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

fn print_human(report: &VerifyReport, location: &str) {
    println!("ledger          {location}");
    println!(
        "entries checked {}",
        progress::thousands(report.entries_checked)
    );
    println!("tree size       {}", progress::thousands(report.tree_size));
    println!("root            {}", hex(&report.root));
    match &report.failure {
        None => println!("result          ok: every entry, the tree and the head check"),
        Some(f) => {
            let kind = serde_json::to_value(f.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            if f.seq == 0 {
                println!("result          FAILED ({kind}): {}", f.detail);
            } else {
                println!(
                    "result          FAILED at seq {} ({kind}): {}",
                    f.seq, f.detail
                );
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
