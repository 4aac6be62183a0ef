//! `chronicle verify`: recomputes every leaf and the tree from the stored rows and compares
//! them with the stored head. Exit status 0 only when everything checks.

use crate::progress;
use crate::settings::Settings;
use crate::store::{open_store, sqlite_path};
use anyhow::{Result, bail};
use chronicle_core::schema::Schema;
use chronicle_store::verify::{VerifyReport, verify};
use std::sync::Arc;

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
    let store = open_store(
        settings.database_url.as_deref(),
        &settings.data_dir,
        Arc::new(Schema::default()),
    )
    .await?;
    let bar = progress::bar(0, "verify", json);
    let report = verify(&*store, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .await?;
    bar.finish_and_clear();
    if json {
        print_json(&report)?;
    } else {
        print_human(&report, &settings.describe_store());
    }
    Ok(report.ok())
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
