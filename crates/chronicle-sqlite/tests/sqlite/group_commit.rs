//! Group commit: one transaction for many requests, each undone alone when it fails.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_queued_writes_commit_as_one_durable_group() {
    let (_dir, path) = temp();
    let store = open(&path).await;
    let reqs = (0..200)
        .map(|i| single(create("item", &format!("i{i:03}"), json!({"i": i}))))
        .collect();
    let results = in_one_group(&store, reqs, 1).await;
    let mut seqs: Vec<u64> = results
        .into_iter()
        .map(|r| outcome(r.unwrap()).entry.unwrap().seq)
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
    drop(store);

    let store = open(&path).await;
    assert_eq!(assert_verifies(&store).await, 200);
    assert_eq!(
        store.list_entities("item", None, 1000).await.unwrap().len(),
        200
    );
}

/// Two hundred writers, each in its own task, queue while the writer is held: they commit
/// as one group (not one commit each), and the ledger is dense and verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_writers_share_one_group_commit_and_a_dense_verified_ledger() {
    let (_dir, path) = temp();
    let store = Arc::new(open(&path).await);
    let before = store.group_commits();
    let pause = store.pause_writer().await.unwrap();
    let (queued, mut all_queued) = tokio::sync::mpsc::unbounded_channel();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = store.clone();
            let queued = queued.clone();
            tokio::spawn(async move {
                let req = single(create("item", &format!("i{i:03}"), json!({"i": i})));
                let mut write = std::pin::pin!(store.write(req));
                // One poll puts the request on the writer's queue (see `in_one_group`); then
                // this writer says so, and waits for its answer.
                let first =
                    tokio::task::unconstrained(async { futures::poll!(write.as_mut()) }).await;
                assert!(first.is_pending(), "the writer is held");
                queued.send(()).unwrap();
                outcome(write.await.unwrap()).entry.unwrap().seq
            })
        })
        .collect();
    for _ in 0..200 {
        all_queued.recv().await.expect("every writer queues");
    }
    drop(pause);
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
    assert_eq!(
        store.group_commits(),
        before + 1,
        "the 200 queued writers commit together"
    );
    assert_eq!(assert_verifies(&store).await, 200);
    drop(Arc::into_inner(store).expect("every task has finished"));

    let store = open(&path).await;
    assert_eq!(assert_verifies(&store).await, 200);
    assert_eq!(store.stats().await.unwrap().entries, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_atomic_request_leaves_the_rest_of_its_group_committed() {
    let (_dir, path) = temp();
    let store = open(&path).await;
    outcome(
        store
            .write(single(create("item", "existing", json!({"v": 0}))))
            .await
            .unwrap(),
    );
    let bulk = WriteRequest {
        context: ctx("bulk"),
        kind: WriteKind::Bulk {
            ops: vec![
                create("item", "b1", json!({})),
                update("item", "existing", json!({"v": 9})),
                update("item", "missing", json!({})),
            ],
            atomic: true,
        },
    };
    let transaction = WriteRequest {
        context: ctx("tx"),
        kind: WriteKind::Transaction {
            ops: vec![
                create("item", "t1", json!({})),
                create("item", "existing", json!({})),
            ],
        },
    };
    let results = in_one_group(
        &store,
        vec![
            single(create("item", "a", json!({}))),
            bulk,
            single(create("item", "c", json!({}))),
            transaction,
            single(create("item", "d", json!({}))),
        ],
        1,
    )
    .await;
    let mut results = results.into_iter().map(Result::unwrap);
    assert_eq!(outcome(results.next().unwrap()).entry.unwrap().seq, 2);
    let WriteResponse::Batch {
        id: bulk_id,
        results: ops,
        committed: false,
        entry: None,
    } = results.next().unwrap()
    else {
        panic!("the atomic bulk must not commit")
    };
    assert!(matches!(ops[2], Err(OpError::NotFound { .. })));
    assert_eq!(
        outcome(results.next().unwrap()).entry.unwrap().seq,
        3,
        "the failed bulk used no seq"
    );
    let WriteResponse::Batch {
        id: tx_id,
        committed: false,
        ..
    } = results.next().unwrap()
    else {
        panic!("the transaction must not commit")
    };
    assert_eq!(outcome(results.next().unwrap()).entry.unwrap().seq, 4);

    assert_eq!(store.head().await.unwrap().tree_size, 4);
    assert_eq!(store.entity("item", "b1").await.unwrap(), None);
    assert_eq!(store.entity("item", "t1").await.unwrap(), None);
    assert_eq!(
        store
            .entity("item", "existing")
            .await
            .unwrap()
            .unwrap()
            .data,
        json!({"v": 0})
    );
    assert_eq!(store.entry(bulk_id).await.unwrap(), None);
    assert_eq!(
        seqs(
            &store,
            EntryQuery {
                parent_id: Some(bulk_id),
                ..EntryQuery::default()
            }
        )
        .await,
        Vec::<u64>::new()
    );
    assert_eq!(
        seqs(
            &store,
            EntryQuery {
                transaction_id: Some(tx_id),
                ..EntryQuery::default()
            }
        )
        .await,
        Vec::<u64>::new()
    );
    assert_eq!(assert_verifies(&store).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_database_refuses_is_undone_alone_within_its_group() {
    let (_dir, path) = temp();
    let store = open(&path).await;
    // Break the store on purpose for one id: the entity write fails after its entry row was
    // already appended, so the savepoint must take the entry back too.
    raw(&path)
        .execute_batch(
            "CREATE TRIGGER boom BEFORE INSERT ON entities WHEN NEW.id = 'boom' \
             BEGIN SELECT RAISE(ABORT, 'boom refused'); END;",
        )
        .unwrap();
    let results = in_one_group(
        &store,
        vec![
            single(create("item", "a", json!({}))),
            single(create("item", "boom", json!({}))),
            single(create("item", "c", json!({}))),
        ],
        1,
    )
    .await;
    let mut results = results.into_iter();
    assert_eq!(
        outcome(results.next().unwrap().unwrap()).entry.unwrap().seq,
        1
    );
    let err = results
        .next()
        .unwrap()
        .expect_err("the refused request fails");
    assert!(err.to_string().contains("boom refused"), "{err}");
    assert_eq!(
        outcome(results.next().unwrap().unwrap()).entry.unwrap().seq,
        2
    );

    assert_eq!(store.entity("item", "boom").await.unwrap(), None);
    assert_eq!(
        seqs(
            &store,
            EntryQuery {
                entity_id: Some("boom".into()),
                ..EntryQuery::default()
            }
        )
        .await,
        Vec::<u64>::new()
    );
    assert_eq!(assert_verifies(&store).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_at_the_end_of_a_group_fails_every_request_and_writes_nothing() {
    let (_dir, path) = temp();
    let store = open(&path).await;
    let conn = raw(&path);
    conn.execute_batch(
        "CREATE TRIGGER head_frozen BEFORE UPDATE ON ledger_head \
         BEGIN SELECT RAISE(ABORT, 'head frozen'); END;",
    )
    .unwrap();
    let results = in_one_group(
        &store,
        (0..3)
            .map(|i| single(create("item", &format!("i{i}"), json!({}))))
            .collect(),
        0,
    )
    .await;
    for r in results {
        let err = r.expect_err("nothing of the group commits");
        assert!(err.to_string().contains("head frozen"), "{err}");
    }
    assert_eq!(store.head().await.unwrap().tree_size, 0);
    assert_eq!(store.stats().await.unwrap().entities, 0);
    assert!(store.rows(1, 100).await.unwrap().is_empty());

    conn.execute_batch("DROP TRIGGER head_frozen").unwrap();
    let next = outcome(
        store
            .write(single(create("item", "i0", json!({}))))
            .await
            .unwrap(),
    );
    assert_eq!(next.entry.unwrap().seq, 1);
    assert_eq!(assert_verifies(&store).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_file_append_to_one_dense_ledger() {
    // Like `chronicle demo` writing to the data dir of a running server.
    let (_dir, path) = temp();
    let a = Arc::new(open(&path).await);
    let b = Arc::new(open(&path).await);
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                store
                    .write(single(create("item", &format!("i{i}"), json!({"i": i}))))
                    .await
                    .unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(a.head().await.unwrap(), b.head().await.unwrap());
    assert_eq!(assert_verifies(&a).await, 40);
    let entries = a
        .search(&EntryQuery {
            limit: 100,
            ..EntryQuery::default()
        })
        .await
        .unwrap();
    assert!(
        entries.windows(2).all(|w| w[0].timestamp <= w[1].timestamp),
        "time follows seq across both stores"
    );
}
