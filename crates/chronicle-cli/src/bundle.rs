//! `chronicle export --proof-bundle FILE` and `chronicle verify --bundle FILE`: entries with a
//! signed checkpoint and inclusion proofs, checked offline with no database
//! (`chronicle_engine::bundle` does the work).

use crate::settings::Settings;
use crate::store::open_store;
use anyhow::{Context, Result, bail};
use chronicle_core::schema::Schema;
use chronicle_engine::bundle::{self, Bundle};
use chronicle_engine::checkpoints::CheckpointSigner;
use std::path::Path;
use std::sync::Arc;

/// Writes entries `from..=to` (default: all) with a checkpoint signed now by the local key.
pub async fn export(
    settings: &Settings,
    path: &Path,
    from: Option<u64>,
    to: Option<u64>,
) -> Result<()> {
    let key = settings.checkpoint_key_path();
    if !key.is_file() {
        bail!(
            "no checkpoint key at {} (start the server once, or set checkpoint_key_file)",
            key.display()
        );
    }
    let signer = CheckpointSigner::load_or_create(&key, "unused")
        .with_context(|| format!("cannot read {}", key.display()))?;
    let opened = open_store(settings.location(), Arc::new(Schema::default())).await?;
    if opened.created {
        bail!("no ledger at {}", settings.describe_store());
    }
    let b = bundle::export(
        opened.store.as_ref(),
        &signer,
        from.unwrap_or(1),
        to.unwrap_or(u64::MAX),
    )
    .await?;
    std::fs::write(path, serde_json::to_vec_pretty(&b)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!(
        "wrote {} entries with inclusion proofs to {}",
        b.entries.len(),
        path.display()
    );
    // An export is a read of the audit trail: on the record as an `access` entry.
    let event = chronicle_core::write::EventInput {
        operation: Some(chronicle_core::Operation::Access),
        summary: Some(format!("exported {} entries with proofs", b.entries.len())),
        metadata: Some(serde_json::json!({
            "command": "export --proof-bundle",
            "from": from,
            "to": to,
            "count": b.entries.len(),
            "file": path.display().to_string(),
        })),
        ..Default::default()
    };
    crate::store::record_event(opened.store.as_ref(), "export", event).await;
    Ok(())
}

/// Checks a bundle offline; `Ok(true)` when the signature and every proof check.
pub fn verify(path: &Path, keys: &[String], json: bool) -> Result<bool> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let b: Bundle = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a proof bundle", path.display()))?;
    // Without --key the bundle's own key is used: that proves the entries are in the signed
    // tree, not who signed it.
    let self_asserted = keys.is_empty();
    let trusted = if self_asserted {
        vec![b.vkey.clone()]
    } else {
        keys.to_vec()
    };
    let outcome = bundle::check(&b, &trusted);
    if json {
        let v = serde_json::json!({
            "ok": outcome.is_ok(),
            "entries": b.entries.len(),
            "tree_size": outcome.as_ref().ok(),
            "key_self_asserted": self_asserted,
            "failure": outcome.as_ref().err(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        if self_asserted {
            eprintln!("warning: no --key given: trusting the key inside the bundle");
        }
        match &outcome {
            Ok(size) => println!(
                "ok: the checkpoint signature and {} inclusion proofs (tree size {size}) check",
                b.entries.len()
            ),
            Err(why) => println!("FAILED: {why}"),
        }
    }
    Ok(outcome.is_ok())
}
