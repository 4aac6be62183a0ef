//! Wire types: request and response bodies as API.md names them, with their OpenAPI schemas.
//! Entries and entities are core's own types ([`Entry`], [`EntityState`]), serialized as they
//! are hashed and stored.

use chronicle_core::entry::{Operation, Severity};
use chronicle_core::schema::FieldError;
use chronicle_core::{EntityState, Entry};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /v1/entities/{type}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEntity {
    /// The id; a UUIDv7 is assigned when absent.
    pub id: Option<String>,
    #[schema(value_type = Object)]
    pub data: Value,
    /// Recorded in the entry's `metadata`; `source: {system, record_id?, import_id?}` says
    /// where the data came from (provenance, see lineage).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// `PATCH` (a JSON Merge Patch in `data`) and `PUT` (the whole new data).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteEntity {
    #[schema(value_type = Object)]
    pub data: Value,
    /// Refuse with 409 unless the entity is at this version (same as `If-Match: "N"`).
    pub expected_version: Option<u64>,
    /// Recorded in the entry's `metadata`; `source: {system, record_id?, import_id?}` says
    /// where the data came from (provenance, see lineage).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// An entity, with what the write did when the answer is to a write.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntityResponse {
    #[serde(flatten)]
    pub entity: EntityState,
    /// Whether the write changed anything (absent on reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed: Option<bool>,
    /// The entry the write recorded (absent when nothing changed, and on reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<Entry>,
}

/// `DELETE /v1/entities/{type}/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteResponse {
    pub entry: Entry,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntityList {
    pub entities: Vec<EntityState>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryList {
    pub entries: Vec<Entry>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Create,
    Update,
    Replace,
    Delete,
}

/// One operation of a bulk request or transaction.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpRequest {
    pub op: OpKind,
    #[serde(rename = "type")]
    pub entity_type: String,
    /// Required except for `create`.
    pub id: Option<String>,
    /// The data (`create`, `replace`) or merge patch (`update`); not for `delete`.
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
    pub expected_version: Option<u64>,
    /// Recorded in the entry's `metadata`; `source: {system, record_id?, import_id?}` says
    /// where the data came from (provenance, see lineage).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// `POST /v1/bulk`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    pub operations: Vec<OpRequest>,
    /// All or nothing (the default), or each operation on its own.
    pub atomic: Option<bool>,
}

/// `POST /v1/transactions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransactionRequest {
    pub operations: Vec<OpRequest>,
}

/// The result of one operation of a batch. `status` is the HTTP status the operation would
/// have had alone; 424 marks an operation not applied because another one failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpResult {
    pub index: usize,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity: Option<EntityState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<Entry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Problem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkResponse {
    /// The id of the parent `bulk` entry; every child entry has it as `parent_id`.
    pub bulk_id: Uuid,
    pub results: Vec<OpResult>,
    /// The parent `bulk` entry.
    pub entry: Option<Entry>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionResponse {
    /// Every entry of the transaction carries it as `transaction_id`.
    pub transaction_id: Uuid,
    pub results: Vec<OpResult>,
    /// The closing `transaction` entry.
    pub entry: Option<Entry>,
}

/// `POST /v1/audit/events`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventRequest {
    /// One of `read`, `system`, `config`, `user_management`, `security`.
    pub operation: Operation,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub summary: Option<String>,
    pub severity: Option<Severity>,
    #[schema(value_type = Option<Object>)]
    pub old_values: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub new_values: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryGroup {
    pub key: String,
    pub count: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Summary {
    pub groups: Vec<SummaryGroup>,
}

/// The ledger's tree head.
#[derive(Debug, Serialize, ToSchema)]
pub struct Checkpoint {
    pub tree_size: u64,
    /// Lowercase hex of the RFC 6962 root hash.
    pub root_hash: String,
    /// The C2SP tlog-checkpoint (origin line, tree size, base64 root) signed as a C2SP
    /// signed note with Ed25519: body, blank line, `— <origin> <base64 signature>`.
    pub checkpoint: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Leaf {
    pub seq: u64,
    /// Lowercase hex of the stored leaf hash.
    pub leaf_hash: String,
    /// Standard base64 of the exact bytes hashed (RFC 8785 canonical JSON of the entry).
    pub canonical: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Leaves {
    pub leaves: Vec<Leaf>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
    /// What an operator must know, e.g. that authentication is off.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// An RFC 9457 problem document (`application/problem+json`). Extension members such as
/// `current_version` (version conflicts) or `failed_index` and `results` (a refused atomic
/// batch) appear beside these.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:chronicle:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extensions: serde_json::Map<String, Value>,
}

impl From<&crate::error::ApiError> for Problem {
    fn from(e: &crate::error::ApiError) -> Problem {
        let (_, status, title) = e.code.info();
        Problem {
            problem_type: e.code.type_uri(),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: e.detail.clone(),
            errors: (!e.errors.is_empty()).then(|| e.errors.clone()),
            extensions: (*e.extensions).clone(),
        }
    }
}

/// An RFC 9162 inclusion proof of one leaf in the tree of `tree_size` leaves.
#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionProof {
    /// `seq - 1`.
    pub leaf_index: u64,
    pub tree_size: u64,
    /// Lowercase hex.
    pub leaf_hash: String,
    /// Sibling hashes from the leaf upwards, lowercase hex.
    pub proof: Vec<String>,
}

/// An RFC 9162 consistency proof between two tree sizes.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    /// Lowercase hex.
    pub proof: Vec<String>,
}
