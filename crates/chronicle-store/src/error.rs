//! Storage failures, classified. The domain never sees a driver's error type: it is kept as
//! the source, for the log.

use std::error::Error as StdError;

type Source = Box<dyn StdError + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or refused service; retrying later may work.
    #[error("storage unavailable: {message}")]
    Unavailable {
        message: String,
        #[source]
        source: Option<Source>,
    },
    /// Stored data does not make sense (a row that does not parse, a broken chain).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Two writers raced in a way the caller may retry.
    #[error("concurrent modification: {0}")]
    Busy(String),
    /// Anything else: a bug or an environment problem.
    #[error("storage failure: {message}")]
    Internal {
        message: String,
        #[source]
        source: Option<Source>,
    },
}

impl StoreError {
    pub fn unavailable(
        message: impl Into<String>,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        StoreError::Unavailable {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    pub fn internal(
        message: impl Into<String>,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        StoreError::Internal {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    pub fn internal_msg(message: impl Into<String>) -> Self {
        StoreError::Internal {
            message: message.into(),
            source: None,
        }
    }

    /// A copy of the classification and message (without the source), for every request of
    /// a group commit that failed as a whole: the error itself is not `Clone`.
    pub fn replicate(&self) -> StoreError {
        match self {
            StoreError::Unavailable { message, .. } => StoreError::Unavailable {
                message: message.clone(),
                source: None,
            },
            StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
            StoreError::Busy(m) => StoreError::Busy(m.clone()),
            StoreError::Internal { message, .. } => StoreError::internal_msg(message.clone()),
        }
    }
}
