//! Kept checkpoints are part of verification: signed by a trusted key, rooted in the rows.

use chronicle_core::RequestContext;
use chronicle_core::note::{NoteSigner, checkpoint_body};
use chronicle_core::schema::Schema;
use chronicle_core::write::EntityOp;
use chronicle_engine::checkpoints::{
    CheckpointSigner, SignedCheckpoint, issue, latest, verify_ledger,
};
use chronicle_sqlite::{SqliteConfig, SqliteStore};
use chronicle_store::verify::FailureKind;
use chronicle_store::{Store, WriteKind, WriteRequest};
use serde_json::json;
use std::sync::Arc;

async fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(SqliteConfig::new(
        dir.path().join("c.db"),
        Arc::new(Schema::default()),
    ))
    .await
    .unwrap();
    (dir, Arc::new(s))
}

async fn create(store: &dyn Store, id: &str) {
    let op = EntityOp::Create {
        entity_type: "note".into(),
        id: Some(id.into()),
        data: json!({"id": id}),
    };
    store
        .write(WriteRequest {
            context: RequestContext::default(),
            kind: WriteKind::Single(op),
        })
        .await
        .unwrap();
}

fn writer(store: &Arc<dyn Store>) -> chronicle_store::Writer {
    chronicle_store::Writer::new(store.clone(), Default::default(), Arc::new(()))
}

fn signer() -> CheckpointSigner {
    CheckpointSigner::parse(
        &NoteSigner::from_seed("chronicle.test/log", [5; 32])
            .unwrap()
            .to_private_string(),
    )
    .unwrap()
}

#[tokio::test]
async fn kept_checkpoints_verify_and_are_issued_only_when_something_new_arrived() {
    let (_d, s) = store().await;
    let signer = signer();
    for i in 0..5 {
        create(s.as_ref(), &format!("n{i}")).await;
    }
    let first = issue(&writer(&s), &signer, None, 1)
        .await
        .unwrap()
        .expect("kept");
    assert_eq!(first.tree_size, 5);
    // Only its own entry arrived since: nothing new to sign.
    assert_eq!(issue(&writer(&s), &signer, Some(5), 1).await.unwrap(), None);
    create(s.as_ref(), "n5").await;
    let second = issue(&writer(&s), &signer, Some(5), 1)
        .await
        .unwrap()
        .expect("kept");
    assert_eq!(second.tree_size, 7);
    assert_eq!(latest(s.as_ref()).await.unwrap(), Some(second));
    let (report, checked) = verify_ledger(s.as_ref(), &[signer.vkey()], |_, _| {})
        .await
        .unwrap();
    assert!(report.ok(), "{:?}", report.failure);
    assert_eq!(checked, 2);
}

#[tokio::test]
async fn a_checkpoint_by_an_untrusted_key_fails_verification() {
    let (_d, s) = store().await;
    create(s.as_ref(), "a").await;
    issue(&writer(&s), &signer(), None, 1).await.unwrap();
    let other = NoteSigner::from_seed("chronicle.test/log", [6; 32])
        .unwrap()
        .verifier_key();
    let (report, _) = verify_ledger(s.as_ref(), &[other], |_, _| {})
        .await
        .unwrap();
    let failure = report.failure.expect("untrusted");
    assert_eq!((failure.kind, failure.seq), (FailureKind::SignatureBad, 1));
}

#[tokio::test]
async fn a_signed_root_that_the_rows_do_not_give_fails_verification() {
    let (_d, s) = store().await;
    let signer = signer();
    for i in 0..3 {
        create(s.as_ref(), &format!("n{i}")).await;
    }
    // A correctly signed checkpoint for size 3 with another root: what a log that showed one
    // tree to a witness and kept another would leave behind.
    let body = checkpoint_body("chronicle.test/log", 3, &[7; 32]);
    let forged = SignedCheckpoint {
        tree_size: 3,
        root_hash: hex::encode([7u8; 32]),
        checkpoint: signer.signer.sign(&body).unwrap(),
        vkey: signer.vkey(),
        timestamp: chronicle_core::timefmt::now(),
    };
    let op = EntityOp::Create {
        entity_type: "_checkpoint".into(),
        id: Some(format!("{:020}", 3)),
        data: serde_json::to_value(&forged).unwrap(),
    };
    let ctx = RequestContext {
        system: true,
        ..RequestContext::default()
    };
    s.write(WriteRequest {
        context: ctx,
        kind: WriteKind::Single(op),
    })
    .await
    .unwrap();
    let (report, _) = verify_ledger(s.as_ref(), &[signer.vkey()], |_, _| {})
        .await
        .unwrap();
    let failure = report.failure.expect("mismatch");
    assert_eq!(
        (failure.kind, failure.seq),
        (FailureKind::CheckpointMismatch, 3)
    );
}

#[tokio::test]
async fn the_key_file_is_created_once_with_owner_only_permissions_and_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys/checkpoint.key");
    let a = CheckpointSigner::load_or_create(&path, "chronicle.test/log").unwrap();
    let b = CheckpointSigner::load_or_create(&path, "chronicle.test/log").unwrap();
    assert_eq!(a.vkey(), b.vkey());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    std::fs::write(&path, "not a key").unwrap();
    assert!(CheckpointSigner::load_or_create(&path, "x").is_err());
}

#[tokio::test]
async fn a_proof_bundle_checks_offline_and_any_change_to_it_fails() {
    use chronicle_engine::bundle::{check, export};
    let (_d, s) = store().await;
    for i in 0..11 {
        create(s.as_ref(), &format!("n{i}")).await;
    }
    let signer = signer();
    let bundle = export(s.as_ref(), &signer, 3, 9).await.unwrap();
    assert_eq!(bundle.entries.len(), 7);
    assert_eq!(check(&bundle, &[signer.vkey()]), Ok(11));
    // Another key, an edited entry, a swapped proof: each refused.
    let other = NoteSigner::from_seed("chronicle.test/log", [1; 32])
        .unwrap()
        .verifier_key();
    assert!(check(&bundle, &[other]).is_err());
    let mut edited = bundle.clone();
    let bytes = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        &edited.entries[2].canonical,
    )
    .unwrap();
    let text = String::from_utf8(bytes)
        .unwrap()
        .replace("\"n4\"", "\"n9\"");
    assert!(text.contains("\"n9\""), "the edit changed something");
    edited.entries[2].canonical =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, text);
    assert!(
        check(&edited, &[signer.vkey()])
            .unwrap_err()
            .starts_with("entry 5")
    );
    let mut swapped = bundle.clone();
    swapped.entries[0].proof = bundle.entries[1].proof.clone();
    assert!(check(&swapped, &[signer.vkey()]).is_err());
}
