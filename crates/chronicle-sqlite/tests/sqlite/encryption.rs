//! Encryption at rest and erasure on the SQLite file: the database and its WAL never hold a
//! sensitive value in plaintext.

use super::*;
use chronicle_store::seal::{MasterKey, Sealer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensitive_values_are_sealed_in_the_file_and_erasure_makes_them_unreadable() {
    let (_dir, path) = temp();
    let sealer = Arc::new(Sealer::new(MasterKey::generate().unwrap()));
    let mut config = SqliteConfig::new(&path, Arc::new(chronicle_store::sealing_suite::schema()));
    config.sealer = Some(sealer.clone());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(config).await.unwrap());
    let files = path.clone();
    let at_rest = move || {
        let files = files.clone();
        async move {
            let mut bytes = std::fs::read(&files).unwrap();
            let wal = files.with_extension("db-wal");
            if let Ok(log) = std::fs::read(&wal) {
                bytes.extend(log);
            }
            bytes
        }
    };
    chronicle_store::sealing_suite::sealed_values_are_unreadable_at_rest_and_erasure_destroys_them(
        store.clone(),
        sealer,
        at_rest,
    )
    .await;
    let key_rows: i64 = raw(&path)
        .query_row(
            "SELECT count(*) FROM subject_keys WHERE wrapped IS NULL AND erased_at IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(key_rows, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_key_leaves_no_copy_in_the_file_or_the_wal() {
    let (_dir, path) = temp();
    let mut config = SqliteConfig::new(&path, Arc::new(chronicle_store::sealing_suite::schema()));
    config.sealer = Some(Arc::new(Sealer::new(MasterKey::generate().unwrap())));
    let store = SqliteStore::open(config).await.unwrap();
    outcome(
        store
            .write(single(create(
                "customer",
                "c1",
                json!({"email": "a@b.example"}),
            )))
            .await
            .unwrap(),
    );
    let wrapped = store
        .subject_key("customer:c1")
        .await
        .unwrap()
        .and_then(|k| k.wrapped)
        .expect("a wrapped key");
    let on_disk = |path: &Path| {
        let mut bytes = std::fs::read(path).unwrap();
        bytes.extend(std::fs::read(path.with_extension("db-wal")).unwrap_or_default());
        bytes
    };
    let holds = |bytes: &[u8]| {
        bytes
            .windows(wrapped.len())
            .any(|w| w == wrapped.as_slice())
    };
    assert!(
        holds(&on_disk(&path)),
        "the key is stored before the erasure"
    );
    let resp = store
        .write(WriteRequest {
            context: ctx("dpo"),
            kind: WriteKind::Erase {
                subject: "customer:c1".into(),
            },
        })
        .await
        .unwrap();
    assert!(matches!(
        resp,
        WriteResponse::Erase(chronicle_store::Erasure::Erased(_))
    ));
    assert!(!holds(&on_disk(&path)), "the erased key is still on disk");
}
