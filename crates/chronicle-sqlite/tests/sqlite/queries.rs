//! Reads: tree nodes for proofs, statistics, and searches whose input is only ever data.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_nodes_answer_inclusion_and_consistency_proofs() {
    let (_dir, path) = temp();
    let store = open(&path).await;
    write_items(&store, 13).await;
    let head = store.head().await.unwrap();
    let get = |level: u8, index: u64| -> Result<Hash, String> {
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(store.node(level, index))
        })
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no node ({level}, {index})"))
    };
    let rows = store.rows(1, 13).await.unwrap();
    for (index, row) in rows.iter().enumerate() {
        let index = index as u64;
        let proof = merkle::inclusion_proof(index, 13, get).unwrap();
        let leaf: Hash = row.leaf_hash.as_slice().try_into().unwrap();
        assert_eq!(
            merkle::verify_inclusion(index, 13, &leaf, &proof, &head.root),
            Ok(())
        );
    }
    let leaves: Vec<Hash> = rows
        .iter()
        .map(|r| r.leaf_hash.as_slice().try_into().unwrap())
        .collect();
    let old_root = merkle::root_from_leaves(&leaves[..6]);
    let proof = merkle::consistency_proof(6, 13, get).unwrap();
    assert_eq!(
        merkle::verify_consistency(6, 13, &old_root, &head.root, &proof),
        Ok(())
    );
    assert_eq!(store.node(0, 13).await.unwrap(), None);
    assert_eq!(store.node(2, u64::MAX).await.unwrap(), None);
}

#[tokio::test]
async fn stats_count_entries_live_entities_and_bytes_on_disk() {
    let (_dir, path) = temp();
    let store = open(&path).await;
    write_items(&store, 4).await;
    let delete = EntityOp::Delete {
        entity_type: "item".into(),
        id: "i0".into(),
        expected_version: None,
    };
    outcome(store.write(single(delete)).await.unwrap());
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.entries, stats.entities), (5, 3));
    assert!(
        stats.bytes >= std::fs::metadata(&path).unwrap().len(),
        "{stats:?}"
    );
    store.ping().await.unwrap();
}

#[tokio::test]
async fn search_input_is_data_never_sql_or_a_pattern() {
    let (_dir, path) = temp();
    let store = open(&path).await;
    outcome(
        store
            .write(single(create(
                "item",
                "x",
                json!({"ab": 1, "a%": 2, "a_b": 3, "q'uote": 4}),
            )))
            .await
            .unwrap(),
    );
    let field = |f: &str| EntryQuery {
        field: Some(f.into()),
        ..EntryQuery::default()
    };
    assert_eq!(seqs(&store, field("/a%")).await, [1]);
    assert_eq!(
        seqs(&store, field("/a_")).await,
        Vec::<u64>::new(),
        "_ is not a wildcard"
    );
    assert_eq!(seqs(&store, field("/q'uote")).await, [1]);
    assert_eq!(
        seqs(&store, field("/a")).await,
        Vec::<u64>::new(),
        "/a is not a prefix of /ab"
    );
    for evil in ["' OR 1=1 --", "\"; DROP TABLE entries; --", "%", "_"] {
        for q in [
            EntryQuery {
                actor: Some(evil.into()),
                ..EntryQuery::default()
            },
            EntryQuery {
                entity_type: Some(evil.into()),
                ..EntryQuery::default()
            },
            EntryQuery {
                tag: Some(evil.into()),
                ..EntryQuery::default()
            },
            EntryQuery {
                q: Some(evil.into()),
                ..EntryQuery::default()
            },
            EntryQuery {
                correlation_id: Some(evil.into()),
                ..EntryQuery::default()
            },
        ] {
            assert_eq!(seqs(&store, q).await, Vec::<u64>::new(), "{evil}");
        }
    }
    assert_verifies(&store).await;
}

#[tokio::test]
async fn field_filters_see_a_removed_parent_and_text_search_folds_unicode_case() {
    let (_dir, path) = temp();
    let store = open(&path).await;
    outcome(
        store
            .write(single(create(
                "item",
                "x",
                json!({"address": {"city": "Oslo"}, "tags": ["a", "b"]}),
            )))
            .await
            .unwrap(),
    );
    // Replacing the address object with a string removes /address/city: a change at the
    // parent that touches the child.
    outcome(
        store
            .write(single(update("item", "x", json!({"address": "unknown"}))))
            .await
            .unwrap(),
    );
    // A change at /tags (an array replaced) holds /tags/1 but never held /tags/5.
    outcome(
        store
            .write(single(update("item", "x", json!({"tags": "none"}))))
            .await
            .unwrap(),
    );
    let field = |f: &str| EntryQuery {
        field: Some(f.into()),
        ..EntryQuery::default()
    };
    assert_eq!(seqs(&store, field("/address/city")).await, [1, 2]);
    assert_eq!(seqs(&store, field("/address/zip")).await, Vec::<u64>::new());
    assert_eq!(seqs(&store, field("/tags/1")).await, [1, 3]);
    assert_eq!(seqs(&store, field("/tags/5")).await, Vec::<u64>::new());

    let mut context = ctx("Ærlig");
    context.reason = Some("ÆRØ ÅLESUND".into());
    let event = WriteRequest {
        context,
        kind: WriteKind::Event(Default::default()),
    };
    let WriteResponse::Event(entry) = store.write(event).await.unwrap() else {
        panic!("an event")
    };
    let q = EntryQuery {
        q: Some("ærø å".into()),
        ..EntryQuery::default()
    };
    assert_eq!(seqs(&store, q).await, [entry.seq]);
}
