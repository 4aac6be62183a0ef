//! Classifies rusqlite's errors as [`StoreError`]s. No rusqlite type leaves this crate except
//! as an error's source, for the log.

use chronicle_store::StoreError;
use rusqlite::ErrorCode;

/// Maps a rusqlite error met while doing `what` to the store's classification.
pub(crate) fn map(what: &str, e: rusqlite::Error) -> StoreError {
    let message = format!("{what}: {e}");
    match &e {
        rusqlite::Error::SqliteFailure(failure, _) => match failure.code {
            // Another connection (perhaps another process) holds the lock past the busy
            // timeout: the caller may retry.
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => StoreError::Busy(message),
            ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::PermissionDenied
            | ErrorCode::ReadOnly
            | ErrorCode::FileLockingProtocolFailed
            | ErrorCode::NoLargeFileSupport
            | ErrorCode::OutOfMemory => StoreError::unavailable(message, e),
            ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => StoreError::Corrupt(message),
            _ => StoreError::internal(message, e),
        },
        // A column holding a value of an unexpected type: the stored data does not make sense.
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::Utf8Error(..) => StoreError::Corrupt(message),
        _ => StoreError::internal(message, e),
    }
}

/// Extension to attach a description of the operation to rusqlite results.
pub(crate) trait Context<T> {
    fn ctx(self, what: &str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, rusqlite::Error> {
    fn ctx(self, what: &str) -> Result<T, StoreError> {
        self.map_err(|e| map(what, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn busy_and_locked_are_busy_io_is_unavailable_corruption_is_corrupt() {
        use rusqlite::ffi;
        let kind = |e: StoreError| match e {
            StoreError::Unavailable { .. } => "unavailable",
            StoreError::Corrupt(_) => "corrupt",
            StoreError::Busy(_) => "busy",
            StoreError::Internal { .. } => "internal",
        };
        let cases = [
            (ffi::SQLITE_BUSY, "busy"),
            (ffi::SQLITE_LOCKED, "busy"),
            (ffi::SQLITE_CANTOPEN, "unavailable"),
            (ffi::SQLITE_IOERR, "unavailable"),
            (ffi::SQLITE_FULL, "unavailable"),
            (ffi::SQLITE_CORRUPT, "corrupt"),
            (ffi::SQLITE_NOTADB, "corrupt"),
            (ffi::SQLITE_CONSTRAINT, "internal"),
            (ffi::SQLITE_ERROR, "internal"),
        ];
        for (code, want) in cases {
            assert_eq!(kind(map("op", failure(code))), want, "code {code}");
        }
        assert_eq!(
            kind(map("op", rusqlite::Error::QueryReturnedNoRows)),
            "internal"
        );
    }

    #[test]
    fn replicate_keeps_the_classification_and_message() {
        let e = map("write", failure(rusqlite::ffi::SQLITE_BUSY));
        let copy = e.replicate();
        assert_eq!(copy.to_string(), e.to_string());
        assert!(matches!(copy, StoreError::Busy(_)));
    }
}
