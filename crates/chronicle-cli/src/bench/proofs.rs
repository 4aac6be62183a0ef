//! `chronicle bench proofs`: latency of inclusion and consistency proofs over an existing
//! ledger, answered from the stored complete-subtree nodes exactly as the HTTP routes answer
//! them (without the HTTP), at the ledger's current size. Read-only.

use crate::bench::percentile;
use crate::settings::Settings;
use crate::store::open_store;
use anyhow::{Result, bail};
use chronicle_core::schema::Schema;
use chronicle_store::proofs;
use clap::Args;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct ProofArgs {
    /// Directory of the embedded SQLite ledger [default: ./chronicle-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<std::path::PathBuf>,
    /// A PostgreSQL ledger instead.
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
    #[arg(long, value_name = "NAME")]
    pub pg_schema: Option<String>,
    /// Proofs of each kind to time.
    #[arg(long, default_value_t = 2000)]
    pub count: u64,
    #[arg(long)]
    pub json: bool,
}

pub async fn proofs(settings: &Settings, args: &ProofArgs) -> Result<()> {
    let opened = open_store(settings.location(), Arc::new(Schema::default())).await?;
    if opened.created {
        bail!("no ledger at {}", settings.describe_store());
    }
    let store = opened.store;
    let size = store.head().await?.tree_size;
    if size < 2 {
        bail!("the ledger has {size} entries; proofs need at least 2");
    }
    // A fixed pseudo-random walk over the leaves (xorshift), so runs are comparable.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |bound: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % bound
    };
    let mut inclusion = Vec::with_capacity(args.count as usize);
    let mut hashes = 0usize;
    for _ in 0..args.count {
        let index = next(size);
        let t = Instant::now();
        hashes += proofs::inclusion(store.as_ref(), index, size).await?.len();
        inclusion.push(t.elapsed());
    }
    let mut consistency = Vec::with_capacity(args.count as usize);
    for _ in 0..args.count {
        let m = 1 + next(size - 1);
        let t = Instant::now();
        hashes += proofs::consistency(store.as_ref(), m, size).await?.len();
        consistency.push(t.elapsed());
    }
    inclusion.sort();
    consistency.sort();
    let summary = |v: &[Duration]| {
        json!({
            "p50_ms": percentile(v, 0.50),
            "p99_ms": percentile(v, 0.99),
            "max_ms": percentile(v, 1.0),
        })
    };
    let report = json!({
        "ledger": settings.describe_store(),
        "tree_size": size,
        "count": args.count,
        "mean_proof_hashes": hashes as f64 / (2 * args.count) as f64,
        "inclusion": summary(&inclusion),
        "consistency": summary(&consistency),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "ledger       {} ({size} entries)",
            report["ledger"].as_str().unwrap_or("")
        );
        for kind in ["inclusion", "consistency"] {
            let r = &report[kind];
            println!(
                "{kind:<12} p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms  ({} proofs)",
                r["p50_ms"].as_f64().unwrap_or(0.0),
                r["p99_ms"].as_f64().unwrap_or(0.0),
                r["max_ms"].as_f64().unwrap_or(0.0),
                args.count
            );
        }
    }
    Ok(())
}
