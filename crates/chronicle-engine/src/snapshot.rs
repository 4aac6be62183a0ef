//! Snapshots: the current state of chosen entity types or entities, compressed with zstd,
//! checksummed with SHA-256, kept as a `_snapshot` entity. Restoring one is a rollback with
//! target `snapshot`.

use crate::SNAPSHOT_TYPE;
use crate::error::EngineError;
use base64::Engine as _;
use chronicle_core::rollback::EntityRef;
use chronicle_core::schema::Schema;
use chronicle_core::write::EntityOp;
use chronicle_core::{Actor, EntityState, RequestContext, timefmt};
use chronicle_store::writer::system_context;
use chronicle_store::{Op, Store, StoreError, Writer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

/// Most entities one snapshot may hold.
pub const MAX_SNAPSHOT_ENTITIES: usize = 200_000;
const DEFAULT_RETENTION_DAYS: u32 = 90;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SnapshotRequest {
    pub entity_types: Option<Vec<String>>,
    pub entities: Option<Vec<EntityRef>>,
    pub label: Option<String>,
    pub retention_days: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SnapshotMeta {
    pub id: Uuid,
    #[serde(with = "chronicle_core::timefmt")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub timestamp: OffsetDateTime,
    pub created_by: Actor,
    pub label: Option<String>,
    pub entity_types: Vec<String>,
    pub entity_count: usize,
    /// Compressed size in bytes.
    pub size: usize,
    /// Uncompressed size in bytes.
    pub raw_size: usize,
    /// raw_size / size.
    pub compression_ratio: f64,
    /// SHA-256 (hex) of the uncompressed contents.
    pub checksum: String,
    #[serde(with = "chronicle_core::timefmt")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub retention_date: OffsetDateTime,
    /// The ledger's size when the snapshot was taken.
    pub ledger_size: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub meta: SnapshotMeta,
    pub entities: Vec<EntityState>,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(flatten)]
    meta: SnapshotMeta,
    /// base64 of the zstd-compressed JSON array of entity states.
    data: String,
}

fn corrupt(id: Uuid, what: impl std::fmt::Display) -> EngineError {
    EngineError::Store(StoreError::Corrupt(format!("snapshot {id}: {what}")))
}

pub async fn create(
    writer: &Writer,
    ctx: &RequestContext,
    req: SnapshotRequest,
) -> Result<SnapshotMeta, EngineError> {
    let types = req.entity_types.clone().unwrap_or_default();
    let named = req.entities.clone().unwrap_or_default();
    if types.is_empty() && named.is_empty() {
        return Err(EngineError::invalid(
            "/entity_types",
            "name entity_types or entities",
        ));
    }
    if let Some(l) = &req.label {
        chronicle_core::limits::check_text(l).map_err(|m| EngineError::invalid("/label", m))?;
    }
    let store = writer.store().as_ref();
    let ledger_size = store.head().await?.tree_size;
    // States as stored: sensitive fields stay sealed inside the snapshot, so it holds no
    // plaintext of them and an erasure reaches it (see `load`).
    let stored = store.stored().unwrap_or(store);
    let mut entities: Vec<EntityState> = Vec::new();
    for (i, t) in types.iter().enumerate() {
        chronicle_core::limits::check_type_name(t)
            .map_err(|m| EngineError::invalid(format!("/entity_types/{i}"), m))?;
        let mut after: Option<String> = None;
        loop {
            let page = stored.list_entities(t, after.as_deref(), 1000).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            entities.extend(page);
            if entities.len() > MAX_SNAPSHOT_ENTITIES {
                return Err(EngineError::TooLarge(format!(
                    "a snapshot holds at most {MAX_SNAPSHOT_ENTITIES} entities"
                )));
            }
        }
    }
    for (i, r) in named.iter().enumerate() {
        chronicle_core::limits::check_type_name(&r.entity_type)
            .map_err(|m| EngineError::invalid(format!("/entities/{i}/type"), m))?;
        if types.contains(&r.entity_type) {
            continue;
        }
        match stored.entity(&r.entity_type, &r.id).await? {
            Some(e) if !e.deleted => entities.push(e),
            _ => return Err(EngineError::NotFound(format!("{} {}", r.entity_type, r.id))),
        }
    }
    let raw = serde_json::to_vec(&entities).expect("entities serialize");
    let compressed = zstd::encode_all(raw.as_slice(), 9)
        .map_err(|e| EngineError::Store(StoreError::internal("compressing a snapshot", e)))?;
    let id = Uuid::now_v7();
    let timestamp = timefmt::now();
    let meta = SnapshotMeta {
        id,
        timestamp,
        created_by: ctx.actor.clone(),
        label: req.label,
        entity_types: types,
        entity_count: entities.len(),
        size: compressed.len(),
        raw_size: raw.len(),
        compression_ratio: raw.len() as f64 / compressed.len().max(1) as f64,
        checksum: hex::encode(Sha256::digest(&raw)),
        retention_date: timestamp
            + time::Duration::days(i64::from(
                req.retention_days.unwrap_or(DEFAULT_RETENTION_DAYS),
            )),
        ledger_size,
    };
    let stored = Stored {
        meta: meta.clone(),
        data: base64::engine::general_purpose::STANDARD.encode(&compressed),
    };
    let op = EntityOp::Create {
        entity_type: SNAPSHOT_TYPE.into(),
        id: Some(id.to_string()),
        data: serde_json::to_value(&stored).expect("serializes"),
    };
    // The label is the client's text; the rest is structure (and entity states that were
    // redacted when they were written).
    let op = Op::record(op, vec!["/label".to_owned()]);
    match writer.apply(system_context(ctx), op).await? {
        Ok(_) => Ok(meta),
        Err(e) => Err(EngineError::Store(StoreError::internal_msg(format!(
            "cannot store the snapshot: {e}"
        )))),
    }
}

fn parse(state: EntityState) -> Result<Stored, EngineError> {
    let id = Uuid::parse_str(&state.id).unwrap_or_default();
    serde_json::from_value(state.data).map_err(|e| corrupt(id, e))
}

/// The snapshot with its contents, checked against its checksum.
pub async fn load(store: &dyn Store, id: Uuid) -> Result<Snapshot, EngineError> {
    let state = store
        .entity(SNAPSHOT_TYPE, &id.to_string())
        .await?
        .filter(|s| !s.deleted)
        .ok_or_else(|| EngineError::NotFound(format!("snapshot {id}")))?;
    let stored = parse(state)?;
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(&stored.data)
        .map_err(|e| corrupt(id, e))?;
    let raw = zstd::decode_all(compressed.as_slice()).map_err(|e| corrupt(id, e))?;
    if hex::encode(Sha256::digest(&raw)) != stored.meta.checksum {
        return Err(corrupt(id, "contents do not match the checksum"));
    }
    let mut entities: Vec<EntityState> =
        serde_json::from_slice(&raw).map_err(|e| corrupt(id, e))?;
    // Sealed fields opened (an erased subject's read "[erased]").
    let states = entities
        .iter_mut()
        .map(|e| {
            (
                e.entity_type.clone(),
                e.id.clone(),
                std::mem::take(&mut e.data),
            )
        })
        .collect();
    let opened = store.open_states(states).await?;
    for (e, data) in entities.iter_mut().zip(opened) {
        e.data = data;
    }
    Ok(Snapshot {
        meta: stored.meta,
        entities,
    })
}

/// A snapshot holds entity states as they were read, in plaintext. Restoring one taken
/// before a data subject was erased must not bring the subject's values back: their sensitive
/// fields become the erased marker, as they read everywhere else.
pub async fn forget_erased(
    store: &dyn Store,
    schema: &Schema,
    entities: &mut [EntityState],
) -> Result<(), EngineError> {
    let mut erased: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
    for e in entities.iter_mut() {
        let sensitive = schema.sensitive_fields(&e.entity_type);
        if sensitive.is_empty() {
            continue;
        }
        let subject = schema.subject_of(&e.entity_type, &e.id, &e.data);
        let gone = match erased.get(&subject) {
            Some(&gone) => gone,
            None => {
                let gone = store
                    .subject_key(&subject)
                    .await?
                    .is_some_and(|k| k.erased_at.is_some());
                erased.insert(subject, gone);
                gone
            }
        };
        if !gone {
            continue;
        }
        if let Some(map) = e.data.as_object_mut() {
            for name in sensitive {
                if let Some(v) = map.get_mut(name) {
                    *v = serde_json::Value::String(chronicle_store::seal::ERASED.to_owned());
                }
            }
        }
    }
    Ok(())
}

pub async fn meta(store: &dyn Store, id: Uuid) -> Result<SnapshotMeta, EngineError> {
    let state = store
        .entity(SNAPSHOT_TYPE, &id.to_string())
        .await?
        .filter(|s| !s.deleted)
        .ok_or_else(|| EngineError::NotFound(format!("snapshot {id}")))?;
    Ok(parse(state)?.meta)
}

/// Snapshots ordered by id (oldest first), after `after`.
pub async fn list(
    store: &dyn Store,
    after: Option<Uuid>,
    limit: usize,
) -> Result<Vec<SnapshotMeta>, EngineError> {
    let after = after.map(|u| u.to_string());
    let states = store
        .list_entities(SNAPSHOT_TYPE, after.as_deref(), limit)
        .await?;
    states
        .into_iter()
        .map(|s| parse(s).map(|s| s.meta))
        .collect()
}
