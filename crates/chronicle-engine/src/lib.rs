//! The engine drives the store for work that spans many writes: rollbacks (resolve the
//! target, gather ledger facts, plan with `chronicle_core::rollback`, check the approval
//! policy, execute atomically or in crash-safe stages, verify) and snapshots.
//!
//! # Layout
//! - [`target`]: rollback targets and their resolution into a planner goal.
//! - [`facts`]: gathering histories and referrers until the planner is satisfied.
//! - [`record`]: the rollback record and its statuses.
//! - [`policy`]: when a rollback needs approval, and how many.
//! - [`rollbacks`]: the [`Engine`]'s rollback operations and the stage runner.
//! - [`verify`]: checking a completed rollback against what replaying the ledger says.
//! - [`snapshot`]: capture and load of compressed, checksummed snapshots.
//! - [`bundle`]: proof bundles for offline checking.
//! - [`checkpoints`]: signed C2SP checkpoints, their keys, history and witness cosignatures.
//!
//! Rollback records and snapshots are entities of the reserved types `_rollback` and
//! `_snapshot`, written through the ordinary audited write path with a system context. So
//! every step of a rollback is itself on the ledger, and a stage's entity changes commit in
//! the same transaction as the record's progress: a crash can never leave a stage applied but
//! unrecorded, or recorded but unapplied. The record's version guards every step, so two
//! nodes can never run the same stage twice.

pub mod bundle;
pub mod checkpoints;
pub mod error;
pub mod facts;
pub mod policy;
pub mod record;
pub mod rollbacks;
pub mod snapshot;
pub mod target;
pub mod verify;

pub use error::EngineError;
pub use policy::ApprovalPolicy;
pub use record::{RollbackRecord, RollbackRequest, Status};
pub use rollbacks::{Engine, Preview};
pub use target::Target;

/// Entity type of rollback records.
pub const ROLLBACK_TYPE: &str = "_rollback";
/// Entity type of pause/stop requests to a rollback's stage runner.
pub const CONTROL_TYPE: &str = "_rollback_control";
/// Entity type of rollback plans (written once, beside their record).
pub const PLAN_TYPE: &str = "_rollback_plan";
/// Entity type of snapshots.
pub const SNAPSHOT_TYPE: &str = "_snapshot";
/// Entity type of kept signed checkpoints.
pub const CHECKPOINT_TYPE: &str = "_checkpoint";
