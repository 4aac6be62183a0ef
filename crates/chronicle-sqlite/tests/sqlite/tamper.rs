//! A ledger edited behind the store's back: the verifier names the row.

use super::*;

#[tokio::test]
async fn verify_names_a_row_whose_canonical_bytes_were_edited() {
    let (_dir, path) = temp();
    let store = open(&path).await;
    write_items(&store, 5).await;
    let changed = raw(&path)
        .execute("UPDATE entries SET canonical = replace(canonical, '\"i\":2', '\"i\":20') WHERE seq = 3", [])
        .unwrap();
    assert_eq!(changed, 1);
    assert_fails_at(&store, 3, FailureKind::ContentChanged).await;
}

#[tokio::test]
async fn verify_names_a_row_whose_search_columns_were_edited() {
    let (_dir, path) = temp();
    let store = open(&path).await;
    write_items(&store, 5).await;
    let conn = raw(&path);
    conn.execute("UPDATE entries SET actor_id = 'mallory' WHERE seq = 2", [])
        .unwrap();
    assert_fails_at(&store, 2, FailureKind::ContentChanged).await;
    // The search sees the forged actor, which is exactly why verify compares columns.
    assert_eq!(
        seqs(
            &store,
            EntryQuery {
                actor: Some("mallory".into()),
                ..EntryQuery::default()
            }
        )
        .await,
        [2]
    );

    conn.execute("UPDATE entries SET actor_id = 'ann' WHERE seq = 2", [])
        .unwrap();
    assert_verifies(&store).await;
    // A value of the wrong type is reported as the row's, not as a failed read.
    conn.execute(
        "UPDATE entries SET entity_version = 'one' WHERE seq = 4",
        [],
    )
    .unwrap();
    assert_fails_at(&store, 4, FailureKind::ContentChanged).await;
}

#[tokio::test]
async fn verify_names_a_deleted_row() {
    let (_dir, path) = temp();
    let store = open(&path).await;
    write_items(&store, 5).await;
    let conn = raw(&path);
    conn.execute("DELETE FROM entries WHERE seq = 3", [])
        .unwrap();
    assert_fails_at(&store, 3, FailureKind::RowMissing).await;

    let (_dir2, path2) = temp();
    let store2 = open(&path2).await;
    write_items(&store2, 5).await;
    raw(&path2)
        .execute("DELETE FROM entries WHERE seq = 5", [])
        .unwrap();
    assert_fails_at(&store2, 5, FailureKind::RowMissing).await;
}

#[tokio::test]
async fn verify_names_a_row_inserted_past_the_head() {
    let (_dir, path) = temp();
    let store = open(&path).await;
    write_items(&store, 5).await;
    raw(&path)
        .execute(
            "INSERT INTO entries (seq, id, ts, operation, severity, canonical, leaf_hash) \
             SELECT seq + 1, id || '-copy', ts, operation, severity, canonical, leaf_hash \
             FROM entries WHERE seq = 5",
            [],
        )
        .unwrap();
    assert_fails_at(&store, 6, FailureKind::RowInserted).await;
    // The writer refuses to append over the forged row rather than hide it.
    let err = store
        .write(single(create("item", "next", json!({}))))
        .await
        .expect_err("the ledger is tampered with");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert_eq!(store.head().await.unwrap().tree_size, 5);
}

#[tokio::test]
async fn verify_catches_a_row_rewritten_with_a_matching_leaf_hash_by_the_tree_head() {
    let (_dir, path) = temp();
    let store = open(&path).await;
    write_items(&store, 5).await;
    let conn = raw(&path);
    let canonical: String = conn
        .query_row("SELECT canonical FROM entries WHERE seq = 3", [], |r| {
            r.get(0)
        })
        .unwrap();
    let forged = canonical.replace("\"i\":2", "\"i\":20");
    assert_ne!(forged, canonical);
    let leaf = merkle::leaf_hash(forged.as_bytes());
    conn.execute(
        "UPDATE entries SET canonical = ?1, leaf_hash = ?2 WHERE seq = 3",
        rusqlite::params![forged, leaf.as_slice()],
    )
    .unwrap();
    assert_fails_at(&store, 0, FailureKind::HeadMismatch).await;
}
