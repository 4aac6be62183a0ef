//! Versioned schema migrations, embedded in the binary and tracked in `PRAGMA user_version`.
//!
//! Migration `n` (1-based) is `MIGRATIONS[n - 1]`; a database at `user_version = v` gets
//! every migration after `v`, all in one transaction, so a failed upgrade leaves the file as
//! it was. A database newer than this binary is refused rather than misread.

use crate::error::Context;
use chronicle_store::StoreError;
use rusqlite::Connection;

/// Every migration, in order. Append; never edit one that has shipped.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_subject_keys.sql"),
    include_str!("../migrations/0003_source.sql"),
];

/// Brings the database up to the newest version; returns the version it was at.
pub(crate) fn migrate(conn: &mut Connection) -> Result<u32, StoreError> {
    apply(conn, MIGRATIONS)
}

fn apply(conn: &mut Connection, migrations: &[&str]) -> Result<u32, StoreError> {
    let newest = u32::try_from(migrations.len()).expect("fewer than 2^32 migrations");
    // IMMEDIATE: two processes opening a fresh file at once must not both migrate it, so the
    // version is read under the write lock.
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .ctx("starting the migration transaction")?;
    let current: u32 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .ctx("reading user_version")?;
    if current > newest {
        return Err(StoreError::internal_msg(format!(
            "the database is at schema version {current}, newer than this build's {newest}: \
             upgrade Chronicle to open it"
        )));
    }
    for (i, sql) in migrations.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)
            .ctx(&format!("applying migration {}", i + 1))?;
    }
    if current < newest {
        tx.pragma_update(None, "user_version", newest)
            .ctx("setting user_version")?;
    }
    tx.commit().ctx("committing migrations")?;
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(conn: &Connection) -> u32 {
        conn.pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap()
    }

    fn tables(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
            .unwrap();
        stmt.query_map([], |row| row.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn a_fresh_database_gets_every_migration_and_a_second_run_changes_nothing() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), 0);
        assert_eq!(version(&conn), MIGRATIONS.len() as u32);
        let before = tables(&conn);
        assert!(before.contains(&"entries".to_owned()), "{before:?}");
        assert_eq!(migrate(&mut conn).unwrap(), MIGRATIONS.len() as u32);
        assert_eq!(tables(&conn), before);
        let head_rows: i64 = conn
            .query_row("SELECT count(*) FROM ledger_head", [], |r| r.get(0))
            .unwrap();
        assert_eq!(head_rows, 1, "the head row is inserted once");
    }

    #[test]
    fn a_database_from_an_older_version_upgrades_and_keeps_its_data() {
        let v1 = "CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (7);";
        let v2 = "ALTER TABLE t ADD COLUMN b TEXT; UPDATE t SET b = 'x';";
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(apply(&mut conn, &[v1]).unwrap(), 0);
        assert_eq!(version(&conn), 1);
        assert_eq!(apply(&mut conn, &[v1, v2]).unwrap(), 1);
        assert_eq!(version(&conn), 2);
        let row: (i64, String) = conn
            .query_row("SELECT a, b FROM t", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!(row, (7, "x".to_owned()));
    }

    #[test]
    fn a_failing_migration_leaves_the_database_at_its_old_version() {
        let v1 = "CREATE TABLE t (a INTEGER);";
        let broken = "CREATE TABLE u (a INTEGER); THIS IS NOT SQL;";
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, &[v1]).unwrap();
        assert!(apply(&mut conn, &[v1, broken]).is_err());
        assert_eq!(version(&conn), 1);
        assert_eq!(tables(&conn), vec!["t".to_owned()], "u was rolled back");
    }

    #[test]
    fn a_database_newer_than_the_build_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(err.to_string().contains("schema version 99"), "{err}");
        assert_eq!(version(&conn), 99);
    }
}
