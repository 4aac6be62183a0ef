//! Encryption at rest and erasure on PostgreSQL: the stored rows (entities' data, entries'
//! canonical text) never hold a sensitive value in plaintext, and an erased key is gone from
//! `subject_keys`.

mod common;

use chronicle_postgres::PgStore;
use chronicle_store::seal::{MasterKey, Sealer};
use chronicle_store::{SubjectKey, sealing_suite};
use sqlx::{AssertSqlSafe, Connection};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensitive_values_are_sealed_in_the_rows_and_erasure_makes_them_unreadable() {
    let Some(mut config) = common::fresh_config("enc", sealing_suite::schema()).await else {
        return;
    };
    let sealer = Arc::new(Sealer::new(MasterKey::generate().unwrap()));
    config.sealer = Some(sealer.clone());
    let schema = config.search_path.clone().unwrap();
    let store = Arc::new(PgStore::connect(config).await.unwrap());
    let at_rest = move || {
        let schema = schema.clone();
        async move {
            let mut admin = common::admin().await.expect("the test database answers");
            let text: String = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT coalesce((SELECT string_agg(data::text, ' ') FROM \"{schema}\".entities), '') \
                 || coalesce((SELECT string_agg(canonical, ' ') FROM \"{schema}\".entries), '') \
                 || coalesce((SELECT string_agg(subject || encode(coalesce(wrapped, ''), 'escape'), ' ') \
                              FROM \"{schema}\".subject_keys), '')"
            )))
            .fetch_one(&mut admin)
            .await
            .unwrap();
            let _ = admin.close().await;
            text.into_bytes()
        }
    };
    sealing_suite::sealed_values_are_unreadable_at_rest_and_erasure_destroys_them(
        store.clone(),
        sealer,
        at_rest,
    )
    .await;
    use chronicle_store::Store;
    let key: Option<SubjectKey> = store.subject_key("customer:c1").await.unwrap();
    assert!(key.is_some_and(|k| k.wrapped.is_none()));
}
