//! Classifies sqlx's errors as [`StoreError`]s. No sqlx type leaves this crate except as an
//! error's source, for the log.

use chronicle_store::StoreError;

/// Maps an sqlx error met while doing `what` to the store's classification.
pub(crate) fn map(what: &str, e: sqlx::Error) -> StoreError {
    let message = format!("{what}: {e}");
    match classify(&e) {
        Class::Unavailable => StoreError::unavailable(message, e),
        Class::Busy => StoreError::Busy(message),
        Class::Corrupt => StoreError::Corrupt(message),
        Class::Internal => StoreError::internal(message, e),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    Unavailable,
    Busy,
    Corrupt,
    Internal,
}

pub(crate) fn classify(e: &sqlx::Error) -> Class {
    match e {
        // The connection is gone or never came: the database is down, restarting, or out of
        // reach. The pool replaces broken connections, so a later attempt may work.
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Class::Unavailable,
        sqlx::Error::Database(db) => sqlstate_class(db.code().as_deref().unwrap_or("")),
        // A column that does not decode as the type it must have: the stored data is wrong.
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => Class::Corrupt,
        _ => Class::Internal,
    }
}

/// The classification of a PostgreSQL SQLSTATE (Appendix A of its manual).
pub(crate) fn sqlstate_class(code: &str) -> Class {
    match code {
        // 57P01 admin_shutdown (pg_terminate_backend, a fast shutdown), 57P02 crash_shutdown,
        // 57P03 cannot_connect_now (starting up or in recovery), 57014 query_canceled.
        "57P01" | "57P02" | "57P03" | "57P05" | "57014" => Class::Unavailable,
        // 25006 read_only_sql_transaction: a hot standby, e.g. during a failover.
        "25006" => Class::Unavailable,
        // 40001 serialization_failure, 40P01 deadlock_detected, 55P03 lock_not_available.
        "40001" | "40P01" | "55P03" => Class::Busy,
        // XX001 data_corrupted, XX002 index_corrupted.
        "XX001" | "XX002" => Class::Corrupt,
        // Class 08: connection exceptions; class 53: insufficient resources (too many
        // connections, disk full, out of memory); class 58: system errors (I/O).
        c if c.starts_with("08") || c.starts_with("53") || c.starts_with("58") => {
            Class::Unavailable
        }
        _ => Class::Internal,
    }
}

/// Extension to attach a description of the operation to sqlx results.
pub(crate) trait Context<T> {
    fn ctx(self, what: &str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, sqlx::Error> {
    fn ctx(self, what: &str) -> Result<T, StoreError> {
        self.map_err(|e| map(what, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_are_classified() {
        let cases = [
            ("57P01", Class::Unavailable),
            ("08006", Class::Unavailable),
            ("08001", Class::Unavailable),
            ("53300", Class::Unavailable),
            ("53100", Class::Unavailable),
            ("58030", Class::Unavailable),
            ("25006", Class::Unavailable),
            ("40001", Class::Busy),
            ("40P01", Class::Busy),
            ("XX001", Class::Corrupt),
            ("23505", Class::Internal),
            ("42P01", Class::Internal),
            ("22P05", Class::Internal),
        ];
        for (code, want) in cases {
            assert_eq!(sqlstate_class(code), want, "{code}");
        }
    }

    #[test]
    fn lost_connections_are_unavailable_and_bad_columns_corrupt() {
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(classify(&io), Class::Unavailable);
        assert_eq!(classify(&sqlx::Error::PoolTimedOut), Class::Unavailable);
        assert_eq!(classify(&sqlx::Error::Decode("x".into())), Class::Corrupt);
        assert_eq!(classify(&sqlx::Error::RowNotFound), Class::Internal);
        assert!(matches!(
            map("reading", io),
            StoreError::Unavailable {
                source: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn replicate_keeps_the_classification_and_message() {
        let e = map("write", sqlx::Error::PoolTimedOut);
        let copy = e.replicate();
        assert_eq!(copy.to_string(), e.to_string());
        assert!(matches!(copy, StoreError::Unavailable { .. }));
    }
}
