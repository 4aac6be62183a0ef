//! Encryption at rest and erasure, the same on every backend. A backend's test opens a store
//! with a [`Sealer`] and [`schema`], and passes a function that returns the raw bytes the
//! database keeps (files, or the tables' text), which must never contain a sensitive value.

use crate::Store;
use crate::model::*;
use crate::seal::{ERASED, Sealer, sealed_subject};
use crate::unseal::Unsealing;
use crate::verify::verify;
use chronicle_core::entry::{Operation, RequestContext};
use chronicle_core::schema::Schema;
use chronicle_core::write::{EntityOp, EventInput};
use chronicle_core::{Actor, Entry};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;

const EMAIL: &str = "ann.secret@example.com";
const NEW_EMAIL: &str = "ann.moved@example.com";
const ADDRESS: &str = "Hemmeligveien 9";

/// Customers are their own subjects; a shipment's personal data belongs to its customer.
pub fn schema() -> Schema {
    Schema::parse(
        r#"
        [types.customer.fields.email]
        type = "string"
        sensitive = true
        [types.customer.fields.name]
        type = "string"
        [types.shipment]
        subject = "customer_id"
        [types.shipment.fields.customer_id]
        type = "string"
        references = "customer"
        [types.shipment.fields.address]
        sensitive = true
    "#,
    )
    .expect("the suite's schema parses")
}

fn ctx() -> RequestContext {
    RequestContext {
        actor: Actor {
            id: Some("ann".into()),
            ..Actor::default()
        },
        ..RequestContext::default()
    }
}

async fn single(store: &dyn Store, op: EntityOp) -> OpOutcome {
    let req = WriteRequest {
        context: ctx(),
        kind: WriteKind::Single(op),
    };
    match store.write(req).await.expect("write") {
        WriteResponse::Single(Ok(o)) => o,
        other => panic!("expected an applied write, got {other:?}"),
    }
}

async fn erase(store: &dyn Store, subject: &str) -> Erasure {
    let req = WriteRequest {
        context: RequestContext {
            reason: Some("GDPR request 17".into()),
            ..ctx()
        },
        kind: WriteKind::Erase {
            subject: subject.into(),
        },
    };
    match store.write(req).await.expect("erase") {
        WriteResponse::Erase(e) => e,
        other => panic!("expected an erasure answer, got {other:?}"),
    }
}

fn update(ty: &str, id: &str, patch: Value) -> EntityOp {
    EntityOp::Update {
        entity_type: ty.into(),
        id: id.into(),
        patch,
        expected_version: None,
    }
}

async fn all_entries(store: &dyn Store) -> Vec<Entry> {
    store
        .search(&EntryQuery {
            limit: 1000,
            ..EntryQuery::default()
        })
        .await
        .expect("search")
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The whole story: sealed at rest, plaintext through [`Unsealing`], the same value writes no
/// entry, erasure makes every read path show [`ERASED`] and the ledger still verifies.
pub async fn sealed_values_are_unreadable_at_rest_and_erasure_destroys_them<F, Fut>(
    raw: Arc<dyn Store>,
    sealer: Arc<Sealer>,
    at_rest: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = Vec<u8>>,
{
    let store = Unsealing::new(raw.clone(), sealer, Arc::new(schema()));
    let created = single(
        &store,
        EntityOp::Create {
            entity_type: "customer".into(),
            id: Some("c1".into()),
            data: json!({"name": "Ann", "email": EMAIL}),
        },
    )
    .await;
    assert_eq!(
        created.entity.data["email"], EMAIL,
        "the writer gets plaintext"
    );
    let create_entry = created.entry.expect("an entry");
    assert_eq!(create_entry.new_values.as_ref().unwrap()["email"], EMAIL);
    single(
        &store,
        EntityOp::Create {
            entity_type: "shipment".into(),
            id: Some("s1".into()),
            data: json!({"customer_id": "c1", "address": ADDRESS, "weight": 3}),
        },
    )
    .await;
    single(
        &store,
        update("customer", "c1", json!({"email": NEW_EMAIL})),
    )
    .await;
    let same = single(
        &store,
        update("customer", "c1", json!({"email": NEW_EMAIL})),
    )
    .await;
    assert!(same.entry.is_none(), "the same value again changes nothing");
    assert_eq!(raw.head().await.unwrap().tree_size, 3);
    // An event about the customer that carries values is sealed like a change.
    let event = WriteRequest {
        context: ctx(),
        kind: WriteKind::Event(EventInput {
            operation: Some(Operation::System),
            entity_type: Some("customer".into()),
            entity_id: Some("c1".into()),
            new_values: Some(json!({"email": NEW_EMAIL, "source": "import"})),
            ..EventInput::default()
        }),
    };
    let WriteResponse::Event(recorded) = store.write(event).await.expect("event") else {
        panic!("an event answer");
    };
    assert_eq!(recorded.new_values.as_ref().unwrap()["email"], NEW_EMAIL);

    // At rest: envelopes only.
    let bytes = at_rest().await;
    for secret in [EMAIL, NEW_EMAIL, ADDRESS] {
        assert!(!contains(&bytes, secret), "{secret} is stored in plaintext");
    }
    assert!(
        contains(&bytes, "Ann"),
        "the check can see non-sensitive data"
    );
    let sealed = raw.entity("customer", "c1").await.unwrap().unwrap();
    assert_eq!(sealed_subject(&sealed.data["email"]), Some("customer:c1"));
    let sealed = raw.entity("shipment", "s1").await.unwrap().unwrap();
    assert_eq!(sealed_subject(&sealed.data["address"]), Some("customer:c1"));
    assert_eq!(sealed.data["weight"], 3);
    assert!(raw.subject_key("shipment:s1").await.unwrap().is_none());
    let key = raw
        .subject_key("customer:c1")
        .await
        .unwrap()
        .expect("a key");
    assert!(key.wrapped.is_some() && key.erased_at.is_none());

    // Through the decorator: plaintext everywhere.
    let c1 = store.entity("customer", "c1").await.unwrap().unwrap();
    assert_eq!(c1.data, json!({"name": "Ann", "email": NEW_EMAIL}));
    let s1 = store.list_entities("shipment", None, 10).await.unwrap();
    assert_eq!(s1[0].data["address"], ADDRESS);
    let entries = all_entries(&store).await;
    let update_entry = &entries[2];
    assert_eq!(update_entry.old_values, Some(json!({"email": EMAIL})));
    assert_eq!(
        update_entry.change_set.field_changes[0].new,
        Some(json!(NEW_EMAIL))
    );
    let read = store.entry(create_entry.id).await.unwrap().unwrap();
    assert_eq!(read, create_entry, "reads open what the write answered");
    assert_eq!(store.entry(recorded.id).await.unwrap().unwrap(), recorded);
    let stored = raw.entry(recorded.id).await.unwrap().unwrap();
    assert_eq!(stored.new_values.as_ref().unwrap()["source"], "import");
    assert!(sealed_subject(&stored.new_values.unwrap()["email"]).is_some());
    assert!(verify(&*raw, |_, _| {}).await.unwrap().ok());

    // Erasure.
    assert_eq!(erase(&store, "customer:nobody").await, Erasure::Unknown);
    let Erasure::Erased(entry) = erase(&store, "customer:c1").await else {
        panic!("the key is destroyed");
    };
    assert_eq!(entry.operation, Operation::Erasure);
    assert_eq!(entry.metadata["subject"], "customer:c1");
    assert_eq!(entry.reason.as_deref(), Some("GDPR request 17"));
    let text = serde_json::to_string(&entry).unwrap();
    assert!(!text.contains(EMAIL) && !text.contains("Ann"), "{text}");
    assert!(matches!(
        erase(&store, "customer:c1").await,
        Erasure::AlreadyErased { .. }
    ));
    let key = raw
        .subject_key("customer:c1")
        .await
        .unwrap()
        .expect("the row stays");
    assert!(key.wrapped.is_none() && key.erased_at.is_some());

    // Every read path shows the marker; nothing else changed.
    let c1 = store.entity("customer", "c1").await.unwrap().unwrap();
    assert_eq!(c1.data, json!({"name": "Ann", "email": ERASED}));
    let s1 = store.entity("shipment", "s1").await.unwrap().unwrap();
    assert_eq!(s1.data["address"], ERASED);
    assert_eq!(s1.data["weight"], 3);
    let entries = all_entries(&store).await;
    let text = serde_json::to_string(&entries).unwrap();
    for secret in [EMAIL, NEW_EMAIL, ADDRESS] {
        assert!(!text.contains(secret), "{secret} is still readable");
    }
    assert_eq!(entries[0].new_values.as_ref().unwrap()["email"], ERASED);
    assert_eq!(entries[1].new_values.as_ref().unwrap()["address"], ERASED);
    assert_eq!(
        entries[2].change_set.field_changes[0].old,
        Some(json!(ERASED))
    );
    assert_eq!(entries[3].new_values.as_ref().unwrap()["email"], ERASED);
    assert_eq!(entries[3].new_values.as_ref().unwrap()["source"], "import");
    assert_eq!(
        store
            .entry(create_entry.id)
            .await
            .unwrap()
            .unwrap()
            .new_values
            .unwrap()["email"],
        ERASED
    );
    let report = verify(&*raw, |_, _| {}).await.unwrap();
    assert!(report.ok(), "{:?}", report.failure);
    assert_eq!(report.tree_size, 5);

    // Later writes keep the erased envelope and do not revive the subject's key.
    let renamed = single(&store, update("customer", "c1", json!({"name": "A."}))).await;
    assert_eq!(renamed.entity.data["email"], ERASED);
    assert!(
        renamed
            .entry
            .unwrap()
            .new_values
            .unwrap()
            .get("email")
            .is_none()
    );
    let key = raw.subject_key("customer:c1").await.unwrap().unwrap();
    assert!(
        key.wrapped.is_none(),
        "a change of other fields needs no key"
    );
    let bytes = at_rest().await;
    for secret in [EMAIL, NEW_EMAIL, ADDRESS] {
        assert!(!contains(&bytes, secret), "{secret} is stored in plaintext");
    }
    let report = verify(&*raw, |_, _| {}).await.unwrap();
    assert!(report.ok(), "{:?}", report.failure);
}
