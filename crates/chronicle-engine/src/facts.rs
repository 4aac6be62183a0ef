//! Gathering the ledger facts the planner asks for, until it has enough to plan.

use crate::error::EngineError;
use crate::target::all_entries;
use chronicle_core::rollback::{self, EntityRef, Facts, Goal, History, Plan, Step, Strategy};
use chronicle_core::schema::Schema;
use chronicle_store::{EntryQuery, Store};
use futures::StreamExt;

/// Rounds of fact gathering before giving up: each round follows relationships one step
/// further, so this bounds how far a cascade may reach.
const MAX_ROUNDS: usize = 64;
/// Entity histories read at once while gathering facts.
const READ_CONCURRENCY: usize = 8;

/// Plans a goal, fetching histories and referrers as the planner asks for them.
pub async fn plan(
    store: &dyn Store,
    schema: &Schema,
    goal: &Goal,
    strategy: Strategy,
) -> Result<Plan, EngineError> {
    let mut facts = Facts::default();
    for _ in 0..MAX_ROUNDS {
        match rollback::plan(goal, strategy, &facts, schema) {
            Step::Plan(plan) => return Ok(plan),
            Step::Need(needs) => {
                // Histories are independent reads: run several at once (the backends have
                // pools of readers).
                let fetched: Vec<Result<(EntityRef, History), EngineError>> =
                    futures::stream::iter(needs.histories)
                        .map(|r| async move {
                            let h = history(store, &r).await?;
                            Ok((r, h))
                        })
                        .buffer_unordered(READ_CONCURRENCY)
                        .collect()
                        .await;
                for item in fetched {
                    let (r, h) = item?;
                    facts.histories.insert(r, h);
                }
                for r in needs.referrers {
                    let refs = referrers(store, schema, &r).await?;
                    facts.referrers.insert(r, refs);
                }
            }
        }
    }
    Err(EngineError::TooLarge(format!(
        "the rollback's dependencies reach further than {MAX_ROUNDS} steps"
    )))
}

/// An entity's current state and every entry of it, oldest first.
pub async fn history(store: &dyn Store, r: &EntityRef) -> Result<History, EngineError> {
    let current = store.entity(&r.entity_type, &r.id).await?;
    let q = EntryQuery {
        entity_type: Some(r.entity_type.clone()),
        entity_id: Some(r.id.clone()),
        ..EntryQuery::default()
    };
    let entries = all_entries(store, q).await?;
    Ok(History { current, entries })
}

/// Live entities whose relationship fields point at `r`. This scans the referencing types;
/// a backend index on relationship fields would make it a lookup.
pub async fn referrers(
    store: &dyn Store,
    schema: &Schema,
    r: &EntityRef,
) -> Result<Vec<EntityRef>, EngineError> {
    let mut out = Vec::new();
    for (ty, def) in &schema.types {
        let fields: Vec<&str> = def
            .fields
            .iter()
            .filter(|(_, f)| f.references.as_deref() == Some(r.entity_type.as_str()))
            .map(|(n, _)| n.as_str())
            .collect();
        if fields.is_empty() {
            continue;
        }
        let mut after: Option<String> = None;
        loop {
            let page = store.list_entities(ty, after.as_deref(), 1000).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            for e in &page {
                if fields
                    .iter()
                    .any(|f| e.data.get(*f).and_then(|v| v.as_str()) == Some(r.id.as_str()))
                {
                    out.push(EntityRef::new(&e.entity_type, &e.id));
                }
            }
        }
    }
    Ok(out)
}
