//! Rollback targets (the API's `target` object) and their resolution into a planner goal.

use crate::error::EngineError;
use chronicle_core::rollback::{EntityRef, Goal};
use chronicle_core::schema::Schema;
use chronicle_core::{Entry, Operation};
use chronicle_store::{EntryQuery, Order, Store};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use time::OffsetDateTime;
use uuid::Uuid;

/// Most entries one rollback may undo.
pub const MAX_TARGET_ENTRIES: usize = 1_000_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    Entry {
        entry_id: Uuid,
    },
    Bulk {
        bulk_id: Uuid,
    },
    Transaction {
        transaction_id: Uuid,
    },
    Correlation {
        correlation_id: String,
    },
    EntityVersion {
        #[serde(rename = "type")]
        entity_type: String,
        id: String,
        version: u64,
    },
    EntityTime {
        #[serde(rename = "type")]
        entity_type: String,
        id: String,
        #[serde(with = "chronicle_core::timefmt")]
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
        as_of: OffsetDateTime,
    },
    ScopeTime {
        entity_types: Option<Vec<String>>,
        entities: Option<Vec<EntityRef>>,
        #[serde(with = "chronicle_core::timefmt")]
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
        as_of: OffsetDateTime,
    },
    Fields {
        entry_id: Uuid,
        fields: Vec<String>,
    },
    Snapshot {
        snapshot_id: Uuid,
    },
    Rollback {
        rollback_id: Uuid,
    },
}

/// Every entry matching `query`, ascending, refusing more than [`MAX_TARGET_ENTRIES`].
pub async fn all_entries(
    store: &dyn Store,
    mut query: EntryQuery,
) -> Result<Vec<Entry>, EngineError> {
    query.order = Order::Asc;
    query.limit = 1000;
    let mut out: Vec<Entry> = Vec::new();
    loop {
        let page = store.search(&query).await?;
        let Some(last) = page.last() else { break };
        query.cursor = Some(last.seq);
        let full = page.len() < query.limit;
        out.extend(page);
        if out.len() > MAX_TARGET_ENTRIES {
            return Err(EngineError::TooLarge(format!(
                "the target reaches more than {MAX_TARGET_ENTRIES} entries"
            )));
        }
        if full {
            break;
        }
    }
    Ok(out)
}

/// The entries a query links together (a bulk, a transaction, ...); none is "not found".
async fn linked(
    store: &dyn Store,
    query: EntryQuery,
    what: String,
) -> Result<Vec<Entry>, EngineError> {
    let entries = all_entries(store, query).await?;
    if entries.is_empty() {
        return Err(EngineError::NotFound(what));
    }
    Ok(entries)
}

/// Entries that changed user entities (not Chronicle's own records).
fn user_changes(entries: Vec<Entry>) -> Vec<Entry> {
    entries
        .into_iter()
        .filter(|e| {
            matches!(
                e.operation,
                Operation::Create | Operation::Update | Operation::Delete | Operation::Restore
            )
        })
        .filter(|e| {
            e.entity_type
                .as_deref()
                .is_some_and(|t| !t.starts_with('_'))
        })
        .collect()
}

/// The seq of the last entry at or before `t` (0 when none).
async fn seq_at(
    store: &dyn Store,
    t: OffsetDateTime,
    mut query: EntryQuery,
) -> Result<u64, EngineError> {
    query.to = Some(t + time::Duration::microseconds(1));
    query.order = Order::Desc;
    query.limit = 1;
    Ok(store.search(&query).await?.first().map_or(0, |e| e.seq))
}

fn check_ref(entity_type: &str, id: &str, pointer: &str) -> Result<(), EngineError> {
    chronicle_core::limits::check_type_name(entity_type)
        .map_err(|m| EngineError::invalid(format!("{pointer}/type"), m))?;
    chronicle_core::limits::check_id(id)
        .map_err(|m| EngineError::invalid(format!("{pointer}/id"), m))
}

/// Resolves a target into the goal the planner works on.
pub async fn resolve(
    store: &dyn Store,
    schema: &Schema,
    target: &Target,
) -> Result<Goal, EngineError> {
    let undo = |entries: Vec<Entry>| Goal::Undo {
        entries: user_changes(entries),
        fields: None,
    };
    Ok(match target {
        Target::Entry { entry_id } => {
            let entry = store
                .entry(*entry_id)
                .await?
                .ok_or_else(|| EngineError::NotFound(format!("entry {entry_id}")))?;
            match entry.operation {
                // An entry that summarises a batch stands for the batch.
                Operation::Bulk => undo(
                    all_entries(
                        store,
                        EntryQuery {
                            parent_id: Some(entry.id),
                            ..EntryQuery::default()
                        },
                    )
                    .await?,
                ),
                Operation::Transaction => undo(
                    all_entries(
                        store,
                        EntryQuery {
                            transaction_id: Some(entry.id),
                            ..EntryQuery::default()
                        },
                    )
                    .await?,
                ),
                _ => undo(vec![entry]),
            }
        }
        Target::Bulk { bulk_id } => {
            let q = EntryQuery {
                parent_id: Some(*bulk_id),
                ..EntryQuery::default()
            };
            undo(linked(store, q, format!("bulk operation {bulk_id}")).await?)
        }
        Target::Transaction { transaction_id } => {
            let q = EntryQuery {
                transaction_id: Some(*transaction_id),
                ..EntryQuery::default()
            };
            undo(linked(store, q, format!("transaction {transaction_id}")).await?)
        }
        Target::Correlation { correlation_id } => {
            let q = EntryQuery {
                correlation_id: Some(correlation_id.clone()),
                ..EntryQuery::default()
            };
            undo(linked(store, q, format!("correlation id {correlation_id}")).await?)
        }
        Target::Rollback { rollback_id } => {
            let q = EntryQuery {
                rollback_id: Some(*rollback_id),
                ..EntryQuery::default()
            };
            let changes = user_changes(linked(store, q, format!("rollback {rollback_id}")).await?);
            if changes.is_empty() {
                return Err(EngineError::NotFound(format!(
                    "changes written by rollback {rollback_id}"
                )));
            }
            Goal::Undo {
                entries: changes,
                fields: None,
            }
        }
        Target::Fields { entry_id, fields } => {
            if fields.is_empty() {
                return Err(EngineError::invalid(
                    "/target/fields",
                    "name at least one field",
                ));
            }
            for (i, f) in fields.iter().enumerate() {
                if chronicle_core::diff::parse_pointer(f).is_none() {
                    return Err(EngineError::invalid(
                        format!("/target/fields/{i}"),
                        "must be a JSON Pointer",
                    ));
                }
            }
            let entry = store
                .entry(*entry_id)
                .await?
                .ok_or_else(|| EngineError::NotFound(format!("entry {entry_id}")))?;
            Goal::Undo {
                entries: user_changes(vec![entry]),
                fields: Some(fields.clone()),
            }
        }
        Target::EntityVersion {
            entity_type,
            id,
            version,
        } => {
            check_ref(entity_type, id, "/target")?;
            let q = EntryQuery {
                entity_type: Some(entity_type.clone()),
                entity_id: Some(id.clone()),
                ..EntryQuery::default()
            };
            let entries = all_entries(store, q).await?;
            let at = entries
                .iter()
                .find(|e| e.entity_version == Some(*version))
                .ok_or_else(|| {
                    EngineError::NotFound(format!("version {version} of {entity_type} {id}"))
                })?;
            Goal::RestoreTo {
                entities: vec![EntityRef::new(entity_type, id)],
                as_of_seq: at.seq,
            }
        }
        Target::EntityTime {
            entity_type,
            id,
            as_of,
        } => {
            check_ref(entity_type, id, "/target")?;
            let q = EntryQuery {
                entity_type: Some(entity_type.clone()),
                entity_id: Some(id.clone()),
                ..EntryQuery::default()
            };
            let as_of_seq = seq_at(store, *as_of, q).await?;
            Goal::RestoreTo {
                entities: vec![EntityRef::new(entity_type, id)],
                as_of_seq,
            }
        }
        Target::ScopeTime {
            entity_types,
            entities,
            as_of,
        } => {
            let types = entity_types.clone().unwrap_or_default();
            let named = entities.clone().unwrap_or_default();
            if types.is_empty() && named.is_empty() {
                return Err(EngineError::invalid(
                    "/target",
                    "name entity_types or entities",
                ));
            }
            for (i, t) in types.iter().enumerate() {
                chronicle_core::limits::check_type_name(t)
                    .map_err(|m| EngineError::invalid(format!("/target/entity_types/{i}"), m))?;
            }
            for (i, r) in named.iter().enumerate() {
                check_ref(&r.entity_type, &r.id, &format!("/target/entities/{i}"))?;
            }
            let as_of_seq = seq_at(store, *as_of, EntryQuery::default()).await?;
            let mut set: BTreeSet<EntityRef> = named.into_iter().collect();
            // Of the named types, only entities changed since then can differ from then.
            for t in types {
                let q = EntryQuery {
                    entity_type: Some(t),
                    cursor: Some(as_of_seq),
                    ..EntryQuery::default()
                };
                for e in user_changes(all_entries(store, q).await?) {
                    set.insert(EntityRef::new(
                        e.entity_type.unwrap_or_default(),
                        e.entity_id.unwrap_or_default(),
                    ));
                }
            }
            Goal::RestoreTo {
                entities: set.into_iter().collect(),
                as_of_seq,
            }
        }
        Target::Snapshot { snapshot_id } => {
            let mut snap = crate::snapshot::load(store, *snapshot_id).await?;
            crate::snapshot::forget_erased(store, schema, &mut snap.entities).await?;
            let mut states: Vec<(EntityRef, Option<serde_json::Value>)> = snap
                .entities
                .iter()
                .map(|e| (EntityRef::new(&e.entity_type, &e.id), Some(e.data.clone())))
                .collect();
            let captured: BTreeSet<EntityRef> = states.iter().map(|(r, _)| r.clone()).collect();
            // Entities of the captured types created since did not exist then.
            for t in &snap.meta.entity_types {
                let mut after = None;
                loop {
                    let page = store.list_entities(t, after.as_deref(), 1000).await?;
                    let Some(last) = page.last() else { break };
                    after = Some(last.id.clone());
                    for e in &page {
                        let r = EntityRef::new(&e.entity_type, &e.id);
                        if !captured.contains(&r) {
                            states.push((r, None));
                        }
                    }
                }
            }
            Goal::States(states)
        }
    })
}
