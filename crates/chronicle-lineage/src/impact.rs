//! Impact: what a change to, or an undo of, an entity would touch. Computed by the rollback
//! planner itself (the engine's preview of a `cascade` rollback), so `/impact` and the
//! cascade preview of the same target can never disagree: there is one implementation.

use chronicle_core::rollback::{Action, EntityRef, Strategy};
use chronicle_engine::record::Mode;
use chronicle_engine::{Engine, EngineError, Preview, RollbackRequest, Target};
use chronicle_store::{EntryQuery, Order};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// One entity the undo would write.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Touched {
    #[serde(rename = "type")]
    pub entity_type: String,
    pub id: String,
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Impact {
    pub entity: EntityRef,
    /// The rollback request whose preview this is: `POST /v1/rollbacks/preview` with it
    /// answers `preview`.
    pub request: RollbackRequest,
    /// Every entity the undo would write, the entity itself included, in plan order.
    pub touched: Vec<Touched>,
    pub preview: Preview,
}

/// The impact of undoing `entry_id` (an entry of the entity), or by default of undoing the
/// entity's first entry — its creation, so everything that depends on it.
pub async fn impact(
    engine: &Engine,
    entity: &EntityRef,
    entry_id: Option<Uuid>,
) -> Result<Impact, EngineError> {
    let store = engine.store().as_ref();
    let entry = match entry_id {
        Some(id) => store
            .entry(id)
            .await?
            .filter(|e| {
                e.entity_type.as_deref() == Some(entity.entity_type.as_str())
                    && e.entity_id.as_deref() == Some(entity.id.as_str())
            })
            // An entry that does not exist for this entity is a resource not found, as the
            // path's entity would be.
            .ok_or_else(|| {
                EngineError::NotFound(format!(
                    "entry {id} of {} {}",
                    entity.entity_type, entity.id
                ))
            })?,
        None => {
            let q = EntryQuery {
                entity_type: Some(entity.entity_type.clone()),
                entity_id: Some(entity.id.clone()),
                order: Order::Asc,
                limit: 1,
                ..EntryQuery::default()
            };
            store.search(&q).await?.into_iter().next().ok_or_else(|| {
                EngineError::NotFound(format!("{} {}", entity.entity_type, entity.id))
            })?
        }
    };
    let request = RollbackRequest {
        target: Target::Entry { entry_id: entry.id },
        strategy: Strategy::Cascade,
        reason: None,
        mode: Mode::Atomic,
        stage_size: None,
    };
    let preview = engine.preview(&request).await?;
    let touched = preview
        .plan
        .operations
        .iter()
        .map(|o| Touched {
            entity_type: o.entity_type.clone(),
            id: o.id.clone(),
            action: o.action,
        })
        .collect();
    Ok(Impact {
        entity: entity.clone(),
        request,
        touched,
        preview,
    })
}
