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

/// Copies the row of `from` to seq `to` under a new id column; its bytes still say `from`,
/// with `from`'s id (a duplicate id as every parser of the bytes reads it).
fn forge_copy(conn: &rusqlite::Connection, from: u64, to: i64) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    let changed = conn
        .execute(
            "INSERT INTO entries (seq, id, ts, actor_id, actor_email, operation, entity_type, \
               entity_id, entity_version, correlation_id, parent_id, transaction_id, rollback_id, \
               severity, canonical, leaf_hash) \
             SELECT ?2, ?3, ts, actor_id, actor_email, operation, entity_type, entity_id, \
               entity_version, correlation_id, parent_id, transaction_id, rollback_id, severity, \
               canonical, leaf_hash FROM entries WHERE seq = ?1",
            rusqlite::params![from as i64, to, id],
        )
        .unwrap();
    assert_eq!(changed, 1);
    id
}

#[tokio::test]
async fn a_copy_forged_far_past_the_head_fails_verify_and_no_read_serves_it() {
    let (_dir, path) = temp();
    let store = open(&path).await;
    write_items(&store, 60).await;
    let forged = forge_copy(&raw(&path), 5, 100_000);
    assert_fails_at(&store, 100_000, FailureKind::RowInserted).await;

    // Searches, summaries and reads by id stop at the head: the copy is not served, not
    // under its own seq and not as the seq its bytes claim.
    let all = seqs(&store, EntryQuery::default()).await;
    assert_eq!(all, (1..=60).collect::<Vec<u64>>());
    let newest = store
        .search(&EntryQuery {
            order: chronicle_store::Order::Desc,
            limit: 1,
            ..EntryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(newest[0].seq, 60);
    let id = forged.parse().unwrap();
    assert_eq!(store.entry(id).await.unwrap(), None);
    let counted: u64 = store
        .summary(&EntryQuery::default(), chronicle_store::GroupBy::Operation)
        .await
        .unwrap()
        .iter()
        .map(|g| g.count)
        .sum();
    assert_eq!(counted, 60);
    // Verifiers still see the raw row.
    assert_eq!(store.rows(100_000, 100_000).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_row_forged_at_seq_zero_or_below_fails_verify_and_is_not_served() {
    for seq in [0, -7] {
        let (_dir, path) = temp();
        let store = open(&path).await;
        write_items(&store, 4).await;
        let forged = forge_copy(&raw(&path), 2, seq);
        let failure = report(&store).await.failure.expect("verify must fail");
        assert_eq!(failure.kind, FailureKind::RowInserted, "{}", failure.detail);
        assert!(
            failure.detail.contains(&seq.to_string()),
            "{}",
            failure.detail
        );
        assert_eq!(store.entry(forged.parse().unwrap()).await.unwrap(), None);
        assert_eq!(seqs(&store, EntryQuery::default()).await, [1, 2, 3, 4]);
    }
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

#[tokio::test]
async fn verify_names_the_first_of_two_swapped_rows() {
    let (_dir, path) = temp();
    let store = open(&path).await;
    write_items(&store, 6).await;
    let conn = raw(&path);
    // Swap everything but the seq between rows 2 and 5: each row now holds another's entry.
    conn.execute_batch(
        "CREATE TEMP TABLE t AS SELECT * FROM entries WHERE seq IN (2, 5);
         DELETE FROM entries WHERE seq IN (2, 5);
         INSERT INTO entries SELECT CASE seq WHEN 2 THEN 5 ELSE 2 END, id, ts, actor_id, actor_email, operation,
             entity_type, entity_id, entity_version, correlation_id, parent_id, transaction_id,
             rollback_id, severity, canonical, leaf_hash FROM t;",
    )
    .unwrap();
    assert_fails_at(&store, 2, FailureKind::OrderChanged).await;
}

#[tokio::test]
async fn verify_names_where_a_truncated_tail_begins() {
    let (_dir, path) = temp();
    let store = open(&path).await;
    write_items(&store, 9).await;
    raw(&path)
        .execute("DELETE FROM entries WHERE seq > 6", [])
        .unwrap();
    assert_fails_at(&store, 7, FailureKind::RowMissing).await;
}

/// One random change to the stored ledger, made directly in the file.
#[derive(Clone, Debug)]
enum Mutation {
    /// Replace one character of a row's canonical text.
    EditByte {
        seq: u64,
        at: usize,
    },
    DeleteRow {
        seq: u64,
    },
    SwapRows {
        a: u64,
        b: u64,
    },
    TruncateFrom {
        seq: u64,
    },
    EditColumn {
        seq: u64,
    },
    /// A copy of row `from` (same bytes, so the same entry id) `gap` seqs past the head: 1
    /// is right after it, anything more leaves a gap.
    InsertPastHead {
        from: u64,
        gap: i64,
    },
    /// A copy of row `from` at a seq below 1.
    InsertBelowOne {
        from: u64,
        seq: i64,
    },
}

fn mutation(n: u64) -> impl proptest::strategy::Strategy<Value = Mutation> {
    use proptest::prelude::*;
    prop_oneof![
        (1..=n, 0usize..2000).prop_map(|(seq, at)| Mutation::EditByte { seq, at }),
        (1..=n).prop_map(|seq| Mutation::DeleteRow { seq }),
        (1..=n, 1..=n)
            .prop_filter("two rows", |(a, b)| a != b)
            .prop_map(|(a, b)| Mutation::SwapRows { a, b }),
        (1..=n).prop_map(|seq| Mutation::TruncateFrom { seq }),
        (1..=n).prop_map(|seq| Mutation::EditColumn { seq }),
        (1..=n, prop_oneof![Just(1i64), 2i64..200_000])
            .prop_map(|(from, gap)| Mutation::InsertPastHead { from, gap }),
        (1..=n, -1000i64..=0).prop_map(|(from, seq)| Mutation::InsertBelowOne { from, seq }),
    ]
}

fn apply(conn: &rusqlite::Connection, m: &Mutation) {
    match m {
        Mutation::EditByte { seq, at } => {
            let text: String = conn
                .query_row(
                    "SELECT canonical FROM entries WHERE seq = ?1",
                    [*seq as i64],
                    |r| r.get(0),
                )
                .unwrap();
            let mut chars: Vec<char> = text.chars().collect();
            let i = at % chars.len();
            chars[i] = if chars[i] == 'X' { 'Y' } else { 'X' };
            let edited: String = chars.into_iter().collect();
            conn.execute(
                "UPDATE entries SET canonical = ?1 WHERE seq = ?2",
                rusqlite::params![edited, *seq as i64],
            )
            .unwrap();
        }
        Mutation::DeleteRow { seq } => {
            conn.execute("DELETE FROM entries WHERE seq = ?1", [*seq as i64])
                .unwrap();
        }
        Mutation::SwapRows { a, b } => {
            conn.execute_batch(&format!(
                "CREATE TEMP TABLE t AS SELECT * FROM entries WHERE seq IN ({a}, {b});
                 DELETE FROM entries WHERE seq IN ({a}, {b});
                 INSERT INTO entries SELECT CASE seq WHEN {a} THEN {b} ELSE {a} END, id, ts, actor_id, actor_email, operation,
                     entity_type, entity_id, entity_version, correlation_id, parent_id, transaction_id,
                     rollback_id, severity, canonical, leaf_hash FROM t;
                 DROP TABLE t;"
            ))
            .unwrap();
        }
        Mutation::TruncateFrom { seq } => {
            conn.execute("DELETE FROM entries WHERE seq >= ?1", [*seq as i64])
                .unwrap();
        }
        Mutation::EditColumn { seq } => {
            conn.execute(
                "UPDATE entries SET actor_id = 'mallory' WHERE seq = ?1",
                [*seq as i64],
            )
            .unwrap();
        }
        Mutation::InsertPastHead { from, gap } => {
            let head: i64 = conn
                .query_row("SELECT max(seq) FROM entries", [], |r| r.get(0))
                .unwrap();
            forge_copy(conn, *from, head + gap);
        }
        Mutation::InsertBelowOne { from, seq } => {
            forge_copy(conn, *from, *seq);
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 48, ..proptest::test_runner::Config::default() })]
    /// Every single mutation of the stored rows is detected: 100% of them, not most.
    #[test]
    fn every_random_single_mutation_is_detected(pick in mutation(23)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (_dir, path) = temp();
            let store = open(&path).await;
            write_items(&store, 23).await;
            apply(&raw(&path), &pick);
            let report = report(&store).await;
            assert!(report.failure.is_some(), "{pick:?} went undetected");
        });
    }
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 24, ..proptest::test_runner::Config::default() })]
    /// Copies forged at random seqs past the head — right after it or far beyond, one or
    /// several, with gaps between them or not — are named by the lowest, and no read serves
    /// any of them.
    #[test]
    fn rows_forged_anywhere_past_the_head_are_named_and_never_served(
        n in 1u64..30,
        forged in proptest::collection::vec((0u64..1000, 1i64..200_000), 1..4),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (_dir, path) = temp();
            let store = open(&path).await;
            write_items(&store, n as usize).await;
            let conn = raw(&path);
            let mut at: Vec<i64> = forged.iter().map(|&(_, gap)| n as i64 + gap).collect();
            at.sort_unstable();
            at.dedup();
            let ids: Vec<String> = at
                .iter()
                .zip(&forged)
                .map(|(&seq, &(from, _))| forge_copy(&conn, from % n + 1, seq))
                .collect();
            assert_fails_at(&store, at[0] as u64, FailureKind::RowInserted).await;
            assert_eq!(seqs(&store, EntryQuery::default()).await, (1..=n).collect::<Vec<_>>());
            for id in ids {
                assert_eq!(store.entry(id.parse().unwrap()).await.unwrap(), None);
            }
        });
    }
}
