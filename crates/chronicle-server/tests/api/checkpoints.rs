//! Signed checkpoints, checked with a signed-note parser written here from the C2SP spec
//! (not Chronicle's own), so that a bug shared by signer and verifier cannot hide.

use crate::helpers::{TestApp, expect_json, expect_problem, spawn_app_with};
use crate::sse::SseStream;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chronicle_core::note::{NoteSigner, checkpoint_body};
use chronicle_engine::checkpoints::CheckpointSigner;
use chronicle_server::{CheckpointSettings, ServerConfig};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};

backend_tests!(
    a_process_only_key_keeps_no_checkpoints,
    checkpoints_verify_with_the_published_key_by_an_independent_parser,
    checkpoints_are_kept_at_the_configured_cadence,
    witness_cosignatures_are_accepted_only_from_configured_keys,
);

/// Opens a signed note with a vkey (`name+hex id+base64(0x01 ‖ key)`), per C2SP signed-note:
/// the text up to the blank line, then `— name base64(id ‖ sig)` lines. Returns the text when
/// a line by that key verifies.
pub fn open_note(note: &str, vkey: &str) -> Option<String> {
    let mut parts = vkey.splitn(3, '+');
    let (name, id_hex, key_b64) = (parts.next()?, parts.next()?, parts.next()?);
    let key = STANDARD.decode(key_b64).ok()?;
    if key.len() != 33 || key[0] != 1 {
        return None;
    }
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update(&key);
    let id = h.finalize()[..4].to_vec();
    if hex::encode(&id) != id_hex {
        return None;
    }
    let split = note.rfind("\n\n")?;
    let text = &note[..split + 1];
    let public = VerifyingKey::from_bytes(key[1..].try_into().ok()?).ok()?;
    for line in note[split + 2..].lines() {
        let rest = line.strip_prefix("\u{2014} ")?;
        let (who, sig) = rest.split_once(' ')?;
        let blob = STANDARD.decode(sig).ok()?;
        if who == name && blob.len() == 68 && blob[..4] == id[..] {
            let sig = Signature::from_slice(&blob[4..]).ok()?;
            return public
                .verify(text.as_bytes(), &sig)
                .is_ok()
                .then(|| text.to_owned());
        }
    }
    None
}

async fn checkpoints_verify_with_the_published_key_by_an_independent_parser(app: TestApp) {
    for i in 0..3 {
        app.create("note", &format!("n{i}"), json!({"i": i})).await;
    }
    let key = expect_json(app.get("/v1/ledger/public-key").await, StatusCode::OK).await;
    let head = expect_json(app.get("/v1/ledger/checkpoint").await, StatusCode::OK).await;
    let text = open_note(
        head["checkpoint"].as_str().unwrap(),
        key["vkey"].as_str().unwrap(),
    )
    .expect("the checkpoint verifies");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], key["origin"]);
    assert_eq!(lines[1], head["tree_size"].to_string());
    assert_eq!(
        hex::encode(STANDARD.decode(lines[2]).unwrap()),
        head["root_hash"]
    );
    // A changed tree size no longer verifies.
    let forged =
        head["checkpoint"]
            .as_str()
            .unwrap()
            .replacen(&format!("\n{}\n", lines[1]), "\n999\n", 1);
    assert_eq!(open_note(&forged, key["vkey"].as_str().unwrap()), None);
}

async fn checkpoints_are_kept_at_the_configured_cadence(app: TestApp) {
    let log = NoteSigner::from_seed("chronicle.local/ledger", [4; 32]).unwrap();
    let settings = CheckpointSettings {
        signer: Some(CheckpointSigner::parse(&log.to_private_string()).unwrap()),
        every_entries: 4,
        every_secs: 0,
        ..CheckpointSettings::default()
    };
    let app = with_checkpoints(&app, settings).await;
    // Two rounds of writes, each waited out: the cadence runs in the background, and each
    // checkpoint it keeps is itself an entry, which the stream delivers.
    let mut stream = SseStream::open(&app, "/v1/stream?after_seq=0", None).await;
    for round in 0..2 {
        for i in 0..5 {
            app.create("note", &format!("n{round}-{i}"), json!({"i": i}))
                .await;
        }
        kept_one(&mut stream).await;
    }
    let page = expect_json(app.get("/v1/ledger/checkpoints").await, StatusCode::OK).await;
    let kept = page["checkpoints"].as_array().unwrap().clone();
    assert!(kept.len() >= 2, "{kept:?}");
    let key = expect_json(app.get("/v1/ledger/public-key").await, StatusCode::OK).await;
    let sizes: Vec<u64> = kept
        .iter()
        .map(|c| c["tree_size"].as_u64().unwrap())
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    for cp in &kept {
        assert!(
            open_note(
                cp["checkpoint"].as_str().unwrap(),
                key["vkey"].as_str().unwrap()
            )
            .is_some()
        );
        // Each kept root is the root of the tree of that size: a consistency proof to now verifies.
        let size = cp["tree_size"].as_u64().unwrap();
        let now = expect_json(app.get("/v1/ledger/checkpoint").await, StatusCode::OK).await;
        let proof = expect_json(
            app.get(&format!(
                "/v1/ledger/proof/consistency?from={size}&to={}",
                now["tree_size"]
            ))
            .await,
            StatusCode::OK,
        )
        .await;
        let hashes: Vec<[u8; 32]> = proof["proof"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                hex::decode(h.as_str().unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap()
            })
            .collect();
        let root_m: [u8; 32] = hex::decode(cp["root_hash"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let root_n: [u8; 32] = hex::decode(now["root_hash"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        chronicle_core::merkle::verify_consistency(
            size,
            now["tree_size"].as_u64().unwrap(),
            &root_m,
            &root_n,
            &hashes,
        )
        .expect("kept checkpoints are prefixes of today's tree");
    }
}

async fn witness_cosignatures_are_accepted_only_from_configured_keys(app: TestApp) {
    let witness = NoteSigner::from_seed("witness.example/w1", [9; 32]).unwrap();
    let log = CheckpointSigner::parse(
        &NoteSigner::from_seed("chronicle.test/log", [3; 32])
            .unwrap()
            .to_private_string(),
    )
    .unwrap();
    let settings = CheckpointSettings {
        signer: Some(log),
        every_entries: 1,
        every_secs: 0,
        witnesses: vec![witness.cosigner_key()],
        ..CheckpointSettings::default()
    };
    let app = with_checkpoints(&app, settings).await;
    let mut stream = SseStream::open(&app, "/v1/stream?after_seq=0", None).await;
    app.create("note", "a", json!({})).await;
    kept_one(&mut stream).await;
    let page = expect_json(app.get("/v1/ledger/checkpoints").await, StatusCode::OK).await;
    let kept = page["checkpoints"][0].clone();
    let size = kept["tree_size"].as_u64().expect("a checkpoint was kept");
    let root: [u8; 32] = hex::decode(kept["root_hash"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let body = checkpoint_body("chronicle.test/log", size, &root);
    let line = witness.cosign(&body, 1_764_000_000);
    let with = expect_json(
        app.post(
            "/v1/ledger/cosignatures",
            &json!({"tree_size": size, "cosignature": line}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(with["checkpoint"].as_str().unwrap().ends_with(&line));
    let stranger = NoteSigner::from_seed("witness.example/w2", [8; 32]).unwrap();
    let res = app
        .post(
            "/v1/ledger/cosignatures",
            &json!({"tree_size": size, "cosignature": stranger.cosign(&body, 1)}),
        )
        .await;
    expect_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app
        .post(
            "/v1/ledger/cosignatures",
            &json!({"tree_size": 424242, "cosignature": line}),
        )
        .await;
    expect_problem(res, StatusCode::NOT_FOUND, "not-found").await;
    let listed = expect_json(app.get("/v1/ledger/checkpoints").await, StatusCode::OK).await;
    assert!(
        listed["checkpoints"][0]["checkpoint"]
            .as_str()
            .unwrap()
            .ends_with(&line),
        "the cosignature is kept"
    );
}

/// Without a configured key the server signs on request but keeps nothing: a kept checkpoint
/// signed by a key that dies with the process could never be verified again. (That the
/// cadence task ends at once without a key, keeping nothing, is the unit test
/// `routes::checkpoints::tests`; here, the API's view of it.)
async fn a_process_only_key_keeps_no_checkpoints(app: TestApp) {
    let settings = CheckpointSettings {
        every_entries: 1,
        every_secs: 0,
        ..CheckpointSettings::default()
    };
    let app = with_checkpoints(&app, settings).await;
    for i in 0..3 {
        app.create("note", &format!("n{i}"), json!({})).await;
    }
    let page = expect_json(app.get("/v1/ledger/checkpoints").await, StatusCode::OK).await;
    assert_eq!(page["checkpoints"], json!([]));
    assert!(
        expect_json(app.get("/v1/ledger/checkpoint").await, StatusCode::OK).await["checkpoint"]
            .as_str()
            .unwrap()
            .contains("\n\n\u{2014} ")
    );
}

/// Waits for the stream to deliver the entry of a kept checkpoint (the stream's hang guard
/// fails a test that waits in vain).
async fn kept_one(stream: &mut SseStream) {
    loop {
        let event = stream.next().await.expect("the stream goes on");
        if event.json()["entity_type"] == "_checkpoint" {
            return;
        }
    }
}

/// A fresh app on `app`'s backend with these checkpoint settings.
async fn with_checkpoints(app: &TestApp, settings: CheckpointSettings) -> TestApp {
    let config = ServerConfig {
        checkpoints: settings,
        ..ServerConfig::default()
    };
    spawn_app_with(app.backend, config)
        .await
        .expect("the backend answered a moment ago")
}
