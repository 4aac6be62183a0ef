//! Field-level provenance: for one field of an entity, the chain of entries that set it, each
//! with the value before and after and the source it named, back to where it came from.

use chronicle_core::rollback::EntityRef;
use chronicle_core::schema::Schema;
use chronicle_core::source::Source;
use chronicle_core::{Actor, EntityState, Operation, replay};
use chronicle_engine::EngineError;
use chronicle_engine::target::all_entries;
use chronicle_store::{EntryQuery, Store};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// One entry that changed the field.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Link {
    pub entry_id: Uuid,
    pub seq: u64,
    #[serde(with = "chronicle_core::timefmt")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    pub operation: Operation,
    pub actor: Actor,
    /// The field's value before and after the entry (absent: the field did not exist).
    #[schema(value_type = Option<Object>)]
    pub old: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub new: Option<Value>,
    /// The source the entry named (`metadata.source`).
    pub source: Option<Source>,
    /// Set when a rollback wrote the value back.
    pub rollback_id: Option<Uuid>,
    pub parent_id: Option<Uuid>,
    pub transaction_id: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Provenance {
    pub entity: EntityRef,
    /// The JSON Pointer asked about.
    pub field: String,
    /// The field's value now (or at `as_of`); absent when it has none.
    #[schema(value_type = Option<Object>)]
    pub value: Option<Value>,
    /// Newest first: the first link set the current value.
    pub chain: Vec<Link>,
    /// The source of the entry that set the current value, when it named one.
    pub origin: Option<Source>,
}

impl Provenance {
    /// Masks the values for a caller without unmask rights when the field is (beneath) a
    /// sensitive field.
    pub fn mask(&mut self, schema: &Schema) {
        let top =
            chronicle_core::diff::parse_pointer(&self.field).and_then(|t| t.into_iter().next());
        let sensitive = schema.sensitive_fields(&self.entity.entity_type);
        if !top.is_some_and(|t| sensitive.contains(&t.as_str())) {
            return;
        }
        let mask = |v: &mut Option<Value>| {
            if let Some(v) = v {
                *v = chronicle_core::mask::mask_value(v);
            }
        };
        mask(&mut self.value);
        for link in &mut self.chain {
            mask(&mut link.old);
            mask(&mut link.new);
        }
    }
}

fn value_at(state: &Option<EntityState>, pointer: &str) -> Option<Value> {
    state
        .as_ref()
        .filter(|s| !s.deleted)
        .and_then(|s| s.data.pointer(pointer))
        .cloned()
}

/// The chain of entries that set `field` (a JSON Pointer other than the root) of the
/// entity, up to `as_of`. Not found when the entity had no entry by then.
pub async fn provenance(
    store: &dyn Store,
    entity: &EntityRef,
    field: &str,
    as_of: Option<OffsetDateTime>,
) -> Result<Provenance, EngineError> {
    if field.is_empty() || chronicle_core::diff::parse_pointer(field).is_none() {
        return Err(EngineError::invalid(
            "/query/field",
            "must be a JSON Pointer to a field, such as /address/city",
        ));
    }
    let q = EntryQuery {
        entity_type: Some(entity.entity_type.clone()),
        entity_id: Some(entity.id.clone()),
        to: crate::walk::until(as_of),
        ..EntryQuery::default()
    };
    let history = all_entries(store, q).await?;
    if history.is_empty() {
        return Err(EngineError::NotFound(format!(
            "{} {}",
            entity.entity_type, entity.id
        )));
    }
    // Replaying gives the value before and after each entry exactly, whether the entry
    // changed the field itself, a parent of it, or something beneath it.
    let mut state: Option<EntityState> = None;
    let mut chain = Vec::new();
    for e in &history {
        let before = value_at(&state, field);
        state = replay::step(state, e);
        if !e.touches_field(field) {
            continue;
        }
        chain.push(Link {
            entry_id: e.id,
            seq: e.seq,
            at: e.timestamp,
            operation: e.operation,
            actor: e.actor.clone(),
            old: before,
            new: value_at(&state, field),
            source: Source::of_metadata(&e.metadata),
            rollback_id: e.rollback_id,
            parent_id: e.parent_id,
            transaction_id: e.transaction_id,
        });
    }
    chain.reverse();
    let origin = chain.first().and_then(|l| l.source.clone());
    Ok(Provenance {
        entity: entity.clone(),
        field: field.to_owned(),
        value: value_at(&state, field),
        chain,
        origin,
    })
}
