//! Searches that go beyond the conformance suite's cases: the `field` rule on awkward shapes
//! (checked against `Entry::touches_field`, the rule every backend follows), Unicode case in
//! `q`, and the query plans' use of the indexes.

mod common;

use chronicle_core::schema::Schema;
use chronicle_core::write::{EntityOp, EventInput};
use chronicle_core::{Entry, Operation, RequestContext};
use chronicle_store::{EntryQuery, Store, WriteKind, WriteRequest};
use serde_json::{Value, json};

async fn write(store: &dyn Store, kind: WriteKind, reason: &str) {
    let req = WriteRequest {
        context: RequestContext {
            reason: Some(reason.into()),
            ..RequestContext::default()
        },
        kind,
    };
    store.write(req).await.unwrap();
}

fn replace(id: &str, data: Value) -> WriteKind {
    WriteKind::Single(EntityOp::Replace {
        entity_type: "doc".into(),
        id: id.into(),
        data,
        expected_version: None,
    })
}

/// The seqs a search finds.
async fn seqs(store: &dyn Store, query: EntryQuery) -> Vec<u64> {
    store
        .search(&query)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect()
}

fn all() -> EntryQuery {
    EntryQuery {
        limit: 10_000,
        ..EntryQuery::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_field_filter_follows_touches_field_on_awkward_shapes() {
    let Some((store, _)) = common::fresh_store("search", Schema::default()).await else {
        return;
    };
    let s = &store;
    let shapes = [
        (
            "a",
            json!({"address": {"city": "Oslo", "zip": "0150"}, "tags": ["x", "y"]}),
        ),
        ("a", json!({"address": {"city": "Rome"}, "tags": ["x"]})),
        ("a", json!({"tags": [{"k": 1}, {"k": 2}]})),
        ("a", json!({})),
        (
            "b",
            json!({"a/b": {"~c": [0, [1, {"d": null}]]}, "": {"e": 1}}),
        ),
        ("b", json!({"a/b": {"~c": "flat"}})),
        ("c", json!([1, 2, {"x": 3}])),
        ("c", json!("scalar")),
        ("d", json!({"addr": 1, "address2": {"city": "X"}})),
        ("d", json!({"addr": 2})),
    ];
    for (id, data) in shapes {
        write(s, replace(id, data), "shape").await;
    }
    let delete = WriteKind::Single(EntityOp::Delete {
        entity_type: "doc".into(),
        id: "b".into(),
        expected_version: None,
    });
    write(s, delete, "gone").await;
    let entries: Vec<Entry> = s.search(&all()).await.unwrap();
    let pointers = [
        "",
        "/",
        "/address",
        "/address/city",
        "/address/zip",
        "/addr",
        "/address2",
        "/tags",
        "/tags/0",
        "/tags/1/k",
        "/tags/01",
        "/tags/-1",
        "/a~1b",
        "/a~1b/~0c",
        "/a~1b/~0c/1/1/d",
        "/a~1b/~0c/1/1/d/x",
        "/a~1b/~c",
        "//e",
        "/0",
        "/2/x",
        "/nothing",
        "address",
        "/%",
        "/_ddress",
    ];
    let mut matched = 0;
    for p in pointers {
        let want: Vec<u64> = entries
            .iter()
            .filter(|e| e.touches_field(p))
            .map(|e| e.seq)
            .collect();
        let got = seqs(
            s,
            EntryQuery {
                field: Some(p.into()),
                ..all()
            },
        )
        .await;
        assert_eq!(got, want, "field {p:?}");
        println!("{p:?}: {got:?}");
        matched += usize::from(!want.is_empty());
    }
    assert!(
        matched >= 15,
        "the shapes exercise the rule ({matched} pointers match)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_search_folds_case_as_rust_does_in_every_script() {
    let Some((store, _)) = common::fresh_store("search", Schema::default()).await else {
        return;
    };
    let summaries = [
        "Ærlig ØL på ÅS",
        "ΟΔΥΣΣΕΥΣ returned",
        "İstanbul office",
        "Straße closed",
        "100% done_ok",
        "plain",
    ];
    for text in summaries {
        let event = EventInput {
            operation: Some(Operation::System),
            summary: Some(text.into()),
            ..EventInput::default()
        };
        write(&store, WriteKind::Event(event), "ok").await;
    }
    let entries = store.search(&all()).await.unwrap();
    for needle in [
        "ærlig ø",
        "ÆRLIG",
        "οδυσσευς",
        "ΟΔΥΣΣΕΥΣ",
        "odysseus",
        "i̇stanbul",
        "İSTANBUL",
        "STRASSE",
        "straße",
        "0% DONE_",
        "%",
        "_",
        "",
    ] {
        let lower = needle.to_lowercase();
        let want: Vec<u64> = entries
            .iter()
            .filter(|e| {
                [&e.reason, &e.summary].iter().any(|t| {
                    t.as_ref()
                        .is_some_and(|t| t.to_lowercase().contains(&lower))
                })
            })
            .map(|e| e.seq)
            .collect();
        let got = seqs(
            &store,
            EntryQuery {
                q: Some(needle.into()),
                ..all()
            },
        )
        .await;
        assert_eq!(got, want, "q {needle:?}");
    }
}
