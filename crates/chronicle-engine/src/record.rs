//! The rollback record: what was asked, the plan, who approved, how far execution got, and
//! what verification found. Stored as the data of a `_rollback` entity.

use crate::target::Target;
use chronicle_core::Actor;
use chronicle_core::rollback::{Plan, Strategy};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    AwaitingApproval,
    Approved,
    Rejected,
    Running,
    Paused,
    Stopped,
    Completed,
    Failed,
}

impl Status {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::Rejected | Status::Stopped | Status::Completed | Status::Failed
        )
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// One transaction: all or nothing.
    #[default]
    Atomic,
    /// Stages of `stage_size` operations, each committed with the record's progress.
    Staged,
}

/// What a client asks for (`POST /v1/rollbacks` and `/preview`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    pub target: Target,
    #[serde(default)]
    pub strategy: Strategy,
    pub reason: Option<String>,
    #[serde(default)]
    pub mode: Mode,
    pub stage_size: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Approval {
    pub actor: Actor,
    pub approved: bool,
    pub justification: String,
    #[serde(with = "chronicle_core::timefmt")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: OffsetDateTime,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Progress {
    pub done: usize,
    pub total: usize,
    pub stages_done: usize,
}

/// An entity whose state after execution is not what the plan expected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Mismatch {
    #[serde(rename = "type")]
    pub entity_type: String,
    pub id: String,
    pub expected_deleted: bool,
    pub actual_deleted: Option<bool>,
    pub detail: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Verification {
    pub checked: usize,
    pub passed: bool,
    pub mismatches: Vec<Mismatch>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RollbackResult {
    /// Entries written for entity changes (the record's own updates are not counted).
    pub entities_changed: usize,
    pub error: Option<String>,
    /// When a stage failed because the schema refused a state: each refusal, as a refused
    /// write reports it.
    #[serde(default)]
    pub errors: Vec<chronicle_core::schema::FieldError>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RollbackRecord {
    pub id: Uuid,
    pub status: Status,
    pub target: Target,
    pub strategy: Strategy,
    pub mode: Mode,
    pub stage_size: usize,
    pub reason: Option<String>,
    pub requested_by: Actor,
    #[serde(with = "chronicle_core::timefmt")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub requested_at: OffsetDateTime,
    pub required_approvals: u32,
    pub approval_reasons: Vec<String>,
    pub approvals: Vec<Approval>,
    /// Stored apart, as a `_rollback_plan` entity written once with the record.
    #[serde(default)]
    pub plan: Plan,
    pub progress: Progress,
    pub result: Option<RollbackResult>,
    pub verification: Option<Verification>,
    /// The record entity's version: each step is written with it as the expected version.
    #[serde(default)]
    pub version: u64,
}

impl RollbackRecord {
    /// JSON Pointers to the client text the stored record carries (the request's reason,
    /// each approver's justification): what the write door redacts in it, and nothing else.
    pub fn free_text(&self) -> Vec<String> {
        let mut out = vec!["/reason".to_owned()];
        out.extend((0..self.approvals.len()).map(|i| format!("/approvals/{i}/justification")));
        out
    }
}
