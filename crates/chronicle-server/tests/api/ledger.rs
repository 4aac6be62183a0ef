use crate::helpers::{TestApp, expect_json, expect_problem, pointers};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chronicle_core::merkle;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

backend_tests!(
    an_empty_ledger_has_the_empty_root,
    the_checkpoint_commits_to_every_leaf_served,
    leaves_are_served_by_inclusive_range_within_bounds,
    inclusion_and_consistency_proofs_verify_against_the_root_of_every_tree_size,
);

async fn an_empty_ledger_has_the_empty_root(app: TestApp) {
    let head = expect_json(app.get("/v1/ledger/checkpoint").await, StatusCode::OK).await;
    assert_eq!(head["tree_size"], 0);
    // SHA-256 of the empty string (RFC 6962 §2.1).
    assert_eq!(
        head["root_hash"],
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let leaves = expect_json(
        app.get("/v1/ledger/leaves?start=1&end=10").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(leaves["leaves"], json!([]));
}

async fn the_checkpoint_commits_to_every_leaf_served(app: TestApp) {
    app.create("note", "a", json!({"x": [1, 2, {"y": "ü"}]}))
        .await;
    app.send_json(
        Method::PATCH,
        "/v1/entities/note/a",
        &json!({"data": {"x": null, "z": 1.5}}),
    )
    .await;
    let bulk = json!({"operations": [{"op": "create", "type": "note", "data": {}}, {"op": "delete", "type": "note", "id": "a"}]});
    expect_json(app.post("/v1/bulk", &bulk).await, StatusCode::OK).await;

    let head = expect_json(app.get("/v1/ledger/checkpoint").await, StatusCode::OK).await;
    let size = head["tree_size"].as_u64().unwrap();
    assert_eq!(size, 5);
    let leaves = expect_json(
        app.get(&format!("/v1/ledger/leaves?start=1&end={size}"))
            .await,
        StatusCode::OK,
    )
    .await;
    let leaves = leaves["leaves"].as_array().unwrap();
    let entries = app.all_entries("").await;
    assert_eq!(leaves.len() as u64, size);
    let mut hashes = Vec::new();
    for (leaf, entry) in leaves.iter().zip(&entries) {
        let canonical = STANDARD
            .decode(leaf["canonical"].as_str().unwrap())
            .unwrap();
        let hash = merkle::leaf_hash(&canonical);
        assert_eq!(leaf["leaf_hash"], hex::encode(hash), "leaf {}", leaf["seq"]);
        assert_eq!(leaf["leaf_hash"], entry["leaf_hash"]);
        // The canonical bytes are the entry as served, without its leaf hash.
        let mut served = entry.clone();
        served.as_object_mut().unwrap().remove("leaf_hash");
        assert_eq!(serde_json::from_slice::<Value>(&canonical).unwrap(), served);
        hashes.push(hash);
    }
    let root = merkle::root_from_leaves(&hashes);
    assert_eq!(head["root_hash"], hex::encode(root));
    let expected = format!(
        "chronicle.local/ledger\n{size}\n{}\n",
        STANDARD.encode(root)
    );
    let note = head["checkpoint"].as_str().unwrap();
    assert!(
        note.starts_with(&format!("{expected}\n— chronicle.local/ledger ")),
        "{note}"
    );
    let vkey = expect_json(app.get("/v1/ledger/public-key").await, StatusCode::OK).await;
    assert_eq!(
        crate::checkpoints::open_note(note, vkey["vkey"].as_str().unwrap()),
        Some(expected)
    );
    // The store's own verifier agrees with what was served.
    let report = chronicle_store::verify::verify(&*app.store, |_, _| {})
        .await
        .unwrap();
    assert!(report.ok(), "{report:?}");
}

async fn leaves_are_served_by_inclusive_range_within_bounds(app: TestApp) {
    for i in 0..4 {
        app.create("note", &format!("n{i}"), json!({})).await;
    }
    let seqs = |v: &Value| -> Vec<u64> {
        v["leaves"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["seq"].as_u64().unwrap())
            .collect()
    };
    let body = expect_json(
        app.get("/v1/ledger/leaves?start=2&end=3").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(seqs(&body), [2, 3]);
    let body = expect_json(
        app.get("/v1/ledger/leaves?start=3&end=1002").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(seqs(&body), [3, 4]);
    for (query, pointer) in [
        ("start=3&end=2", "/query/end"),
        ("start=1&end=1001", "/query/end"),
        ("start=0&end=1", "/query/start"),
        ("start=x&end=1", "/query/start"),
        ("end=1", "/query/start"),
        ("start=1", "/query/end"),
        ("start=1&end=2&from=3", "/query/from"),
    ] {
        let res = app.get(&format!("/v1/ledger/leaves?{query}")).await;
        assert_eq!(
            pointers(&expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await),
            [pointer],
            "{query}"
        );
    }
}

fn hash_of(v: &Value) -> merkle::Hash {
    hex::decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

fn proof_of(v: &Value) -> Vec<merkle::Hash> {
    v["proof"].as_array().unwrap().iter().map(hash_of).collect()
}

async fn inclusion_and_consistency_proofs_verify_against_the_root_of_every_tree_size(app: TestApp) {
    const N: u64 = 13;
    for i in 0..N {
        app.create("note", &format!("n{i}"), json!({})).await;
    }
    let leaves = expect_json(
        app.get(&format!("/v1/ledger/leaves?start=1&end={N}")).await,
        StatusCode::OK,
    )
    .await;
    let hashes: Vec<merkle::Hash> = leaves["leaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| hash_of(&l["leaf_hash"]))
        .collect();
    let root = |size: u64| merkle::root_from_leaves(&hashes[..size as usize]);

    for size in 1..=N {
        for seq in 1..=size {
            let body = expect_json(
                app.get(&format!(
                    "/v1/ledger/proof/inclusion?seq={seq}&tree_size={size}"
                ))
                .await,
                StatusCode::OK,
            )
            .await;
            assert_eq!(
                (body["leaf_index"].as_u64(), body["tree_size"].as_u64()),
                (Some(seq - 1), Some(size))
            );
            let leaf = hash_of(&body["leaf_hash"]);
            assert_eq!(leaf, hashes[seq as usize - 1]);
            merkle::verify_inclusion(seq - 1, size, &leaf, &proof_of(&body), &root(size))
                .unwrap_or_else(|e| panic!("inclusion of {seq} in {size}: {e:?}"));
        }
        for from in 1..=size {
            let body = expect_json(
                app.get(&format!(
                    "/v1/ledger/proof/consistency?from={from}&to={size}"
                ))
                .await,
                StatusCode::OK,
            )
            .await;
            merkle::verify_consistency(from, size, &root(from), &root(size), &proof_of(&body))
                .unwrap_or_else(|e| panic!("consistency of {from} with {size}: {e:?}"));
        }
    }
    // The current tree is the default.
    let head = expect_json(app.get("/v1/ledger/checkpoint").await, StatusCode::OK).await;
    assert_eq!(hash_of(&head["root_hash"]), root(N));
    let body = expect_json(
        app.get("/v1/ledger/proof/inclusion?seq=5").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["tree_size"], N);
    let body = expect_json(
        app.get("/v1/ledger/proof/consistency?from=4").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["to"], N);

    for (query, pointer) in [
        ("inclusion?seq=0", "/query/seq"),
        ("inclusion?tree_size=3", "/query/seq"),
        ("inclusion?seq=14", "/query/seq"),
        ("inclusion?seq=4&tree_size=3", "/query/seq"),
        ("inclusion?seq=1&tree_size=14", "/query/tree_size"),
        ("consistency?to=3", "/query/from"),
        ("consistency?from=4&to=3", "/query/from"),
        ("consistency?from=1&to=99", "/query/to"),
        ("consistency?from=x", "/query/from"),
    ] {
        let res = app.get(&format!("/v1/ledger/proof/{query}")).await;
        assert_eq!(
            pointers(&expect_problem(res, StatusCode::BAD_REQUEST, "invalid-input").await),
            [pointer],
            "{query}"
        );
    }
}
