//! `chronicle demo`: a realistic cargo-admin data set, written through the store's write path
//! exactly as the server would write it, with backdated times over a simulated fortnight.
//!
//! # Layout
//! - [`world`]: the generator, a deterministic simulation that yields write requests: the
//!   model, clock and emitting in `world.rs`; day zero in `world/setup.rs`; the working day in
//!   `world/shipping.rs` and `world/office.rs`.
//! - [`names`]: its vocabulary.
//! - [`rng`]: the seeded PRNG that makes it deterministic.

mod names;
mod rng;
mod world;

use crate::progress;
use crate::settings::Settings;
use crate::store::{load_sealer, open_sealed_store};
use anyhow::{Context, Result, bail};
use chronicle_core::schema::Schema;
use chronicle_core::timefmt;
use chronicle_store::{Store, WriteKind, WriteRequest, WriteResponse};
use indicatif::ProgressBar;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use time::{Duration, OffsetDateTime, Time};

/// The demo schema, shipped in the binary.
pub const SCHEMA_TOML: &str = include_str!("../../demo/schema.toml");

pub fn schema() -> Result<Schema> {
    Schema::parse(SCHEMA_TOML).context("the embedded demo schema is invalid")
}

/// What the demo wrote.
#[derive(Debug, Default, Serialize)]
pub struct Loaded {
    pub requests: u64,
    pub entries: u64,
    pub tree_size: u64,
    pub entities: u64,
    pub by_operation: BTreeMap<String, u64>,
    pub by_entity_type: BTreeMap<String, u64>,
    /// The tree size just before the planted incident (the mistaken 2 a.m. rate card), so
    /// `serve --demo` can have the alert rules evaluate it.
    pub incident_after_seq: Option<u64>,
    pub first_timestamp: Option<String>,
    pub last_timestamp: Option<String>,
    pub seconds: f64,
}

/// The requests of the demo at `scale`, over the fortnight before now.
pub fn requests(scale: f64) -> Vec<WriteRequest> {
    let now = OffsetDateTime::now_utc();
    let start = now.replace_time(Time::MIDNIGHT) - Duration::days(world::DAYS + 1);
    let mut requests = world::generate(scale, start);
    // The ledger never lets time go backwards, so an entry dated in the future would drag
    // every later real entry to that time: move the whole simulation back by whole days
    // (keeping its working hours) until it ends before now.
    let end = requests
        .iter()
        .filter_map(|r| r.context.at)
        .max()
        .unwrap_or(start);
    let overshoot = end - (now - Duration::hours(1));
    if overshoot.is_positive() {
        let days = Duration::days(overshoot.whole_days() + 1);
        for r in &mut requests {
            r.context.at = r.context.at.map(|t| t - days);
        }
    }
    requests
}

/// Writes the demo into `store`, which must hold an empty ledger. Every request must succeed:
/// the generator models the store's state, so a refusal is a bug worth stopping for.
pub async fn load(store: &dyn Store, scale: f64, quiet: bool) -> Result<Loaded> {
    let head = store.head().await?;
    if head.tree_size != 0 {
        bail!(
            "the ledger already holds {} entries; the demo loads only into an empty ledger",
            head.tree_size
        );
    }
    let started = std::time::Instant::now();
    let requests = requests(scale);
    let bar = progress::bar(requests.len() as u64, "demo", quiet);
    let mut loaded = Loaded::default();
    for (n, req) in requests.into_iter().enumerate() {
        let incident = req
            .context
            .correlation_id
            .as_deref()
            .is_some_and(|c| c.starts_with(world::INCIDENT_PREFIX));
        if incident && loaded.incident_after_seq.is_none() {
            loaded.incident_after_seq = Some(store.head().await?.tree_size);
        }
        write_one(store, n, req, &mut loaded).await?;
        bar.inc(1);
    }
    finish(&bar);
    loaded.tree_size = store.head().await?.tree_size;
    loaded.entities = store.stats().await?.entities;
    loaded.seconds = started.elapsed().as_secs_f64();
    Ok(loaded)
}

fn finish(bar: &ProgressBar) {
    bar.finish_and_clear();
}

async fn write_one(
    store: &dyn Store,
    n: usize,
    req: WriteRequest,
    loaded: &mut Loaded,
) -> Result<()> {
    let what = describe(&req.kind);
    let response = store
        .write(req)
        .await
        .with_context(|| format!("demo request {n} ({what}) failed"))?;
    let entries = match response {
        WriteResponse::Single(Ok(outcome)) => outcome.entry.into_iter().collect(),
        WriteResponse::Single(Err(e)) => bail!("demo request {n} ({what}) was refused: {e} {e:?}"),
        WriteResponse::Batch {
            committed: false,
            results,
            ..
        } => {
            let first = results.iter().position(Result::is_err).unwrap_or(0);
            bail!(
                "demo request {n} ({what}) was rolled back: operation {first}: {:?}",
                results.get(first)
            )
        }
        WriteResponse::Batch { results, entry, .. } => {
            let mut entries: Vec<_> = results
                .into_iter()
                .filter_map(|r| r.ok().and_then(|o| o.entry))
                .collect();
            entries.extend(entry);
            entries
        }
        WriteResponse::Event(entry) => vec![entry],
        WriteResponse::Erase(chronicle_store::Erasure::Erased(entry)) => vec![*entry],
        WriteResponse::Erase(_) => Vec::new(),
    };
    loaded.requests += 1;
    for e in entries {
        loaded.entries += 1;
        *loaded
            .by_operation
            .entry(e.operation.as_str().to_owned())
            .or_default() += 1;
        if let Some(ty) = &e.entity_type {
            *loaded.by_entity_type.entry(ty.clone()).or_default() += 1;
        }
        let ts = timefmt::format(e.timestamp);
        loaded.first_timestamp.get_or_insert_with(|| ts.clone());
        loaded.last_timestamp = Some(ts);
    }
    Ok(())
}

fn describe(kind: &WriteKind) -> String {
    match kind {
        WriteKind::Single(op) => format!("{} {}", op_name(op), op.entity_type()),
        WriteKind::Bulk { ops, .. } => format!("bulk of {}", ops.len()),
        WriteKind::Transaction { ops } => format!("transaction of {}", ops.len()),
        WriteKind::Event(e) => format!("{} event", e.operation.map_or("system", |o| o.as_str())),
        WriteKind::Erase { subject } => format!("erasure of {subject}"),
    }
}

fn op_name(op: &chronicle_core::write::EntityOp) -> &'static str {
    use chronicle_core::write::EntityOp::*;
    match op {
        Create { .. } => "create",
        Update { .. } => "update",
        Replace { .. } => "replace",
        Delete { .. } => "delete",
        Restore { .. } => "restore",
    }
}

/// `chronicle demo`: loads the demo into the configured ledger, with the demo schema.
pub async fn run(settings: &Settings, scale: f64, json: bool) -> Result<()> {
    if !(scale.is_finite() && scale > 0.0) {
        bail!("--scale must be a positive number, such as 0.1 or 2");
    }
    // Sealed like a server's writes, with the same master key (data dir or environment).
    let sealer = load_sealer(&settings.data_dir)?;
    let store = open_sealed_store(settings.location(), Arc::new(schema()?), sealer)
        .await?
        .store;
    let location = settings.describe_store();
    let loaded = load(&*store, scale, json)
        .await
        .with_context(|| format!("cannot load the demo into {location}"))?;
    if json {
        let mut out = serde_json::to_value(&loaded)?;
        out["location"] = location.into();
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_summary(&loaded, &location);
    }
    Ok(())
}

/// The human summary of a load.
pub fn print_summary(loaded: &Loaded, location: &str) {
    println!(
        "demo data loaded into {location}: {} entries from {} requests in {:.1}s",
        progress::thousands(loaded.entries),
        progress::thousands(loaded.requests),
        loaded.seconds
    );
    if let (Some(first), Some(last)) = (&loaded.first_timestamp, &loaded.last_timestamp) {
        println!("  simulated activity from {first} to {last}");
    }
    let join = |m: &BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k} {}", progress::thousands(*v)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("  by operation:   {}", join(&loaded.by_operation));
    println!("  by entity type: {}", join(&loaded.by_entity_type));
    println!(
        "  ledger size {}, entities {}",
        progress::thousands(loaded.tree_size),
        progress::thousands(loaded.entities)
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_ends_in_the_past() {
        let now = time::OffsetDateTime::now_utc();
        assert!(
            super::requests(1.0)
                .iter()
                .all(|r| r.context.at.unwrap() < now)
        );
    }

    #[test]
    fn the_embedded_schema_parses_and_declares_the_demo_types() {
        let s = super::schema().unwrap();
        for ty in [
            "customer",
            "shipment",
            "package",
            "invoice",
            "warehouse",
            "user",
            "setting",
        ] {
            assert!(s.entity_type(ty).is_some(), "{ty}");
        }
        assert!(s.is_read_audited("invoice"));
        assert_eq!(
            s.sensitive_fields("customer"),
            ["address", "email", "phone"]
        );
        assert_eq!(s.sensitive_fields("shipment"), ["notes"]);
        assert_eq!(s.sensitive_fields("user"), ["email"]);
        assert_eq!(
            s.subject_of("shipment", "s1", &serde_json::json!({"customer_id": "c7"})),
            "customer:c7"
        );
    }

    /// Every entity operation of the demo is valid against the demo schema, checked without a
    /// store by planning it against the generator's own sequence of states.
    #[test]
    fn every_demo_request_is_valid_against_the_demo_schema() {
        use chronicle_core::EntityState;
        use chronicle_core::write::{EntityOp, plan};
        use std::collections::HashMap;
        let schema = super::schema().unwrap();
        let mut states: HashMap<(String, String), EntityState> = HashMap::new();
        let now = chronicle_core::timefmt::now();
        let mut apply = |mut op: EntityOp| {
            let key = (op.entity_type().to_owned(), op.id_or_assign().to_owned());
            let planned = plan(&op, states.get(&key), &schema, now)
                .unwrap_or_else(|e| panic!("{op:?}: {e:?}"));
            states.insert(key, planned.state);
        };
        for req in super::requests(0.3) {
            match req.kind {
                super::WriteKind::Single(op) => apply(op),
                super::WriteKind::Bulk { ops, .. } | super::WriteKind::Transaction { ops } => {
                    ops.into_iter().for_each(&mut apply)
                }
                super::WriteKind::Event(_) | super::WriteKind::Erase { .. } => {}
            }
        }
        assert!(states.len() > 100);
    }
}
