//! The file: persistence, shutdown, migrations, files that are not ours.

use super::*;

#[tokio::test]
async fn data_persists_across_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("dirs").join("chronicle.db");
    let store = open(&path).await;
    assert_eq!(store.path(), path);
    write_items(&store, 5).await;
    let updated = outcome(
        store
            .write(single(update("item", "i2", json!({"i": 20}))))
            .await
            .unwrap(),
    );
    let entry = updated.entry.unwrap();
    let head = store.head().await.unwrap();
    let entity = store.entity("item", "i2").await.unwrap().unwrap();
    let all = store
        .search(&EntryQuery {
            limit: 100,
            ..EntryQuery::default()
        })
        .await
        .unwrap();
    drop(store);

    let store = open(&path).await;
    assert_eq!(store.head().await.unwrap(), head);
    assert_eq!(store.entity("item", "i2").await.unwrap(), Some(entity));
    assert_eq!(store.entry(entry.id).await.unwrap(), Some(entry));
    assert_eq!(
        store
            .search(&EntryQuery {
                limit: 100,
                ..EntryQuery::default()
            })
            .await
            .unwrap(),
        all
    );
    assert_eq!(assert_verifies(&store).await, 6);
    // And the ledger goes on where it stopped.
    let next = outcome(
        store
            .write(single(create("item", "i9", json!({}))))
            .await
            .unwrap(),
    );
    assert_eq!(next.entry.unwrap().seq, 7);
    assert_eq!(assert_verifies(&store).await, 7);
}

#[tokio::test]
async fn dropping_the_store_stops_the_writer_and_closes_the_file() {
    let (_dir, path) = temp();
    let store = open(&path).await;
    write_items(&store, 3).await;
    let mut wal = path.clone().into_os_string();
    wal.push("-wal");
    assert!(
        Path::new(&wal).exists(),
        "a WAL file exists while the store is open"
    );
    drop(store);
    // SQLite checkpoints and removes the WAL when the last connection closes, so its
    // absence shows that the writer and every reader have closed.
    assert!(
        !Path::new(&wal).exists(),
        "the WAL is gone: every connection closed"
    );
    let count: i64 = raw(&path)
        .query_row("SELECT count(*) FROM entries", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 3);
}

#[tokio::test]
async fn reopening_applies_no_migration_twice_and_records_the_schema_version() {
    let (_dir, path) = temp();
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count() as i64;
    let schema_of = |path: &Path| -> Vec<String> {
        let conn = raw(path);
        let mut stmt = conn
            .prepare("SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let version = |path: &Path| -> i64 {
        raw(path)
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    };

    let store = open(&path).await;
    write_items(&store, 2).await;
    drop(store);
    assert_eq!(version(&path), migrations);
    let tables = schema_of(&path);
    for _ in 0..2 {
        let store = open(&path).await;
        assert_eq!(store.head().await.unwrap().tree_size, 2);
        drop(store);
        assert_eq!(version(&path), migrations);
        assert_eq!(schema_of(&path), tables);
    }
    let mode: String = raw(&path)
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn a_database_from_a_newer_build_is_refused_and_left_alone() {
    let (_dir, path) = temp();
    drop(open(&path).await);
    raw(&path).pragma_update(None, "user_version", 999).unwrap();
    let err = SqliteStore::open(SqliteConfig::new(&path, Arc::new(Schema::default())))
        .await
        .err()
        .expect("a newer schema is refused");
    assert!(err.to_string().contains("999"), "{err}");
    let v: i64 = raw(&path)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 999);
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_reported_not_overwritten() {
    let (_dir, path) = temp();
    std::fs::write(
        &path,
        b"this is not a database, it is a shopping list\n".repeat(200),
    )
    .unwrap();
    let err = SqliteStore::open(SqliteConfig::new(&path, Arc::new(Schema::default())))
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(
        std::fs::read(&path)
            .unwrap()
            .starts_with(b"this is not a database")
    );
}
