//! Versioned schema migrations, embedded in the binary and recorded in `chronicle_migrations`.
//!
//! Migrations run at start-up under a session advisory lock keyed by the target schema, so two
//! nodes starting at once take turns: the second finds the work done. Each migration runs in
//! its own transaction together with the row that records it, so a failed upgrade leaves the
//! database at the last version that applied completely. A database newer than this build is
//! refused rather than misread.

use crate::error::Context;
use chronicle_store::StoreError;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// One schema version.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Migration {
    pub(crate) version: i32,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

/// Every migration, in order. Append; never edit one that has shipped.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "search_terms",
        sql: include_str!("../migrations/0002_search_terms.sql"),
    },
    Migration {
        version: 3,
        name: "subject_keys",
        sql: include_str!("../migrations/0003_subject_keys.sql"),
    },
    Migration {
        version: 4,
        name: "source",
        sql: include_str!("../migrations/0004_source.sql"),
    },
];

/// What a migration run found and did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Migrated {
    /// The version the database was at.
    pub from: i32,
    /// The version it is at now.
    pub to: i32,
}

/// Creates `schema` (when given) and brings it up to the newest of `migrations`.
pub(crate) async fn migrate(
    conn: &mut PgConnection,
    schema: Option<&str>,
    migrations: &[Migration],
) -> Result<Migrated, StoreError> {
    let key = lock_key(&format!("chronicle migrate {}", schema.unwrap_or("")));
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(key)
        .execute(&mut *conn)
        .await
        .ctx("waiting for the migration lock")?;
    let result = apply(conn, schema, migrations).await;
    // Closing the session would release the lock too; unlocking keeps the connection usable.
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(key)
        .execute(&mut *conn)
        .await
        .ctx("releasing the migration lock");
    let migrated = result?;
    unlocked?;
    Ok(migrated)
}

async fn apply(
    conn: &mut PgConnection,
    schema: Option<&str>,
    migrations: &[Migration],
) -> Result<Migrated, StoreError> {
    if let Some(schema) = schema {
        // The name was checked to be a plain identifier (see `check_schema_name`).
        let sql = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .ctx("creating the schema")?;
    }
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS chronicle_migrations (
            version    INTEGER     PRIMARY KEY,
            name       TEXT        NOT NULL,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
    )
    .execute(&mut *conn)
    .await
    .ctx("creating the migrations table")?;
    let from: i32 =
        sqlx::query_scalar("SELECT coalesce(max(version), 0) FROM chronicle_migrations")
            .fetch_one(&mut *conn)
            .await
            .ctx("reading the schema version")?;
    let newest = migrations.last().map_or(0, |m| m.version);
    if from > newest {
        return Err(StoreError::internal_msg(format!(
            "the database is at schema version {from}, newer than this build's {newest}: \
             upgrade Chronicle to open it"
        )));
    }
    for m in migrations.iter().filter(|m| m.version > from) {
        let what = format!("applying migration {} ({})", m.version, m.name);
        let mut tx = conn.begin().await.ctx(&what)?;
        sqlx::raw_sql(m.sql).execute(&mut *tx).await.ctx(&what)?;
        sqlx::query("INSERT INTO chronicle_migrations (version, name) VALUES ($1, $2)")
            .bind(m.version)
            .bind(m.name)
            .execute(&mut *tx)
            .await
            .ctx(&what)?;
        tx.commit().await.ctx(&what)?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
    }
    Ok(Migrated {
        from,
        to: newest.max(from),
    })
}

/// A schema name goes into SQL text (and search_path) as it is, so only plain lowercase
/// identifiers are accepted.
pub(crate) fn check_schema_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with("pg_")
        && name.as_bytes()[0].is_ascii_lowercase()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::internal_msg(format!(
            "search_path {name:?} must be 1-63 of a-z, 0-9 and _, starting with a letter \
             (and not pg_)"
        )))
    }
}

/// A stable 64-bit advisory lock key for a name (FNV-1a): the same on every node and build.
pub(crate) fn lock_key(name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_dense_and_increasing() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.name);
        }
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        for ok in ["chronicle", "t_1", "a"] {
            assert!(check_schema_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "A", "1a", "a-b", "a\"b", "pg_x", &"a".repeat(64)] {
            assert!(check_schema_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lock_keys_are_stable_and_distinct() {
        assert_eq!(lock_key("x"), lock_key("x"));
        assert_ne!(
            lock_key("chronicle migrate a"),
            lock_key("chronicle migrate b")
        );
    }
}
