//! Engine failures. Expected refusals (a strict conflict, a forbidden approval) are variants
//! the server maps to 4xx; storage failures pass through.

use chronicle_core::rollback::Plan;
use chronicle_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0} not found")]
    NotFound(String),
    /// Input that cannot be acted on; `pointer` names the offending field of the request.
    #[error("{message}")]
    Invalid { pointer: String, message: String },
    /// A strict rollback found conflicts; nothing was written.
    #[error("the rollback conflicts with later changes")]
    Conflict(Box<Plan>),
    /// The rollback is not in a state that allows this step.
    #[error("{0}")]
    WrongState(String),
    /// The caller may not take this step (e.g. approving their own rollback).
    #[error("{0}")]
    Forbidden(String),
    /// The target reaches more entries than one rollback may handle.
    #[error("{0}")]
    TooLarge(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl EngineError {
    pub fn invalid(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        EngineError::Invalid {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}
