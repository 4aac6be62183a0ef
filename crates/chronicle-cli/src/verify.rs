//! `chronicle verify`: recomputes every leaf and the tree from the stored rows, compares them
//! with the stored head, and checks every kept checkpoint's signature and root. Exit status 0
//! only when everything checks; a failure is also recorded as a `security` entry.

use crate::progress;
use crate::settings::Settings;
use crate::store::open_store;
use anyhow::{Context, Result, bail};
use chronicle_core::schema::Schema;
use chronicle_core::write::EventInput;
use chronicle_core::{Operation, Severity};
use chronicle_engine::EngineError;
use chronicle_engine::checkpoints::{self, CheckpointSigner};
use chronicle_store::verify::{Failure, VerifyReport};
use chronicle_store::{Store, StoreError};
use std::sync::Arc;

/// Verifies the ledger; `Ok(true)` when it checks.
pub async fn run(
    settings: &Settings,
    json: bool,
    keys: &[String],
    from_checkpoint: Option<&std::path::Path>,
) -> Result<bool> {
    let at = settings.location();
    // Opening would create an empty ledger, which verifies trivially: refuse instead.
    if let Some(path) = at.sqlite_file()
        && !path.is_file()
    {
        bail!("no ledger at {} (is --data-dir right?)", path.display());
    }
    // Verification reads stored rows only; the schema plays no part.
    let store = match open_store(at, Arc::new(Schema::default())).await {
        Ok(opened) if opened.created => {
            // PostgreSQL cannot be asked without creating: the migration just made an empty
            // ledger where none was. Say so rather than pass.
            bail!(
                "no ledger in {} (is --pg-schema right?); an empty one has now been created there",
                settings.describe_store()
            )
        }
        Ok(opened) => opened.store,
        Err(e) => match e.chain().find_map(|c| c.downcast_ref::<StoreError>()) {
            Some(StoreError::Corrupt(detail)) => {
                print_corrupt(detail, &settings.describe_store(), json)?;
                return Ok(false);
            }
            _ => return Err(e),
        },
    };
    let trusted = trusted_keys(settings, keys)?;
    // With --from-checkpoint, only what came after a checkpoint the user kept is checked.
    let since = match from_checkpoint {
        Some(path) => Some(kept_checkpoint(path, &trusted)?),
        None => None,
    };
    let bar = progress::bar(0, "verify", json);
    let progress = |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let result = match since {
        Some((size, root)) => {
            chronicle_store::verify::verify_from(store.as_ref(), size, &root, progress)
                .await
                .map(|r| (r, 0))
                .map_err(EngineError::from)
        }
        None => checkpoints::verify_ledger(store.as_ref(), &trusted, progress).await,
    };
    bar.finish_and_clear();
    let (report, checked) = match result {
        Ok(done) => done,
        // Data the store cannot even read (a mangled head row) fails verification like any
        // other tampering, rather than being reported as an operational error.
        Err(EngineError::Store(StoreError::Corrupt(detail))) => {
            print_corrupt(&detail, &settings.describe_store(), json)?;
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(f) = &report.failure {
        record_failure(store.as_ref(), f).await;
    } else {
        clear_failure(store.as_ref()).await;
    }
    if json {
        print_json(&report, checked)?;
    } else {
        print_human(&report, &settings.describe_store());
        println!("checkpoints     {checked} kept checkpoints verified (signature and root)");
    }
    Ok(report.ok())
}

/// A signed checkpoint the user kept (the `checkpoint` of `GET /v1/ledger/checkpoint`): its
/// tree size and root, once its signature checks with a trusted key.
fn kept_checkpoint(
    path: &std::path::Path,
    trusted: &[String],
) -> Result<(u64, chronicle_core::merkle::Hash)> {
    let note =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let body = trusted
        .iter()
        .filter_map(|k| chronicle_core::note::NoteVerifier::parse(k).ok())
        .find_map(|v| v.open(&note).ok())
        .with_context(|| {
            format!(
                "{} is not a checkpoint signed by a trusted key (give --key)",
                path.display()
            )
        })?;
    let (_, size, root) = chronicle_core::note::parse_checkpoint(body)
        .with_context(|| format!("{} is not a checkpoint", path.display()))?;
    Ok((size, root))
}

/// The keys kept checkpoints must be signed with: the local signing key's (when its file
/// exists; verify never creates one), earlier keys from `[checkpoints] previous_keys`, and
/// `--key` flags.
fn trusted_keys(settings: &Settings, keys: &[String]) -> Result<Vec<String>> {
    let mut trusted: Vec<String> = keys.to_vec();
    let path = settings.checkpoint_key_path();
    if path.is_file() {
        let signer = CheckpointSigner::load_or_create(&path, "unused")
            .with_context(|| format!("cannot read the checkpoint key {}", path.display()))?;
        trusted.push(signer.vkey());
    }
    if let Some(c) = &settings.checkpoints {
        trusted.extend(c.previous_keys.iter().flatten().cloned());
    }
    Ok(trusted)
}

/// After a failure was recorded, a passing verification records that it passes, which lowers
/// the servers' readiness signal again. Nothing is written when there was no failure.
async fn clear_failure(store: &dyn Store) {
    let query = chronicle_store::EntryQuery {
        tag: Some("integrity".into()),
        order: chronicle_store::Order::Desc,
        limit: 1,
        ..Default::default()
    };
    let Ok(latest) = store.search(&query).await else {
        return;
    };
    if latest
        .first()
        .is_none_or(|e| e.operation != Operation::Security)
    {
        return;
    }
    let event = EventInput {
        operation: Some(Operation::System),
        summary: Some("ledger verification passed".into()),
        tags: Some(vec!["integrity".into()]),
        ..EventInput::default()
    };
    crate::store::record_event(store, "verify", event).await;
}

/// A failed verification is itself an event on the ledger (a `security` entry), when the
/// ledger can still be written; a failure to record it is reported, not fatal.
async fn record_failure(store: &dyn Store, failure: &Failure) {
    let event = EventInput {
        operation: Some(Operation::Security),
        summary: Some(format!("ledger verification failed at seq {}", failure.seq)),
        severity: Some(Severity::Critical),
        metadata: Some(
            serde_json::json!({"seq": failure.seq, "kind": failure.kind, "detail": failure.detail}),
        ),
        tags: Some(vec!["integrity".into()]),
        ..EventInput::default()
    };
    crate::store::record_event(store, "verify", event).await;
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

fn print_json(report: &VerifyReport, checkpoints: usize) -> Result<()> {
    let mut v = serde_json::to_value(report)?;
    v["ok"] = report.ok().into();
    v["checkpoints_checked"] = checkpoints.into();
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
