//! The rollback laws over HTTP, on both backends, on generated histories with nested
//! objects, arrays, nulls, deletes and re-used ids. Every expectation comes from the ledger's
//! own reads (`?version=`, `?as_of=`), never from the plan; every rollback must also pass its
//! own verification.

use crate::helpers::{TestApp, expect_json, expect_problem};
use chronicle_core::rollback::overlaps;
use chronicle_core::testing::{Step, arb_history};
use proptest::prelude::any;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

backend_tests!(
    undo_of_an_undo_is_the_identity_over_random_histories,
    restore_to_a_time_equals_the_as_of_read_for_every_entity_in_scope,
    non_conflicting_undoes_exactly_the_fields_nothing_later_touched,
    force_lists_every_value_it_replaces,
    a_null_field_and_the_key_order_survive_as_of_reads_and_rollbacks,
    a_refused_pause_or_resume_writes_nothing,
);

/// Histories per test and backend: each is written over HTTP and rolled back at least once.
const CASES: usize = 16;

/// One generated case: a history on three ids, and a number that picks one of its entries.
struct Case {
    n: usize,
    steps: Vec<(u8, Step)>,
    pick: usize,
}

fn cases() -> Vec<Case> {
    let mut runner = TestRunner::default();
    let strategy = (arb_history(3, 18), any::<usize>());
    (0..CASES)
        .map(|n| {
            let (steps, pick) = strategy
                .new_tree(&mut runner)
                .expect("a generated case")
                .current();
            Case { n, steps, pick }
        })
        .collect()
}

impl Case {
    fn id(&self, i: u8) -> String {
        format!("h{}e{i}", self.n)
    }

    fn ids(&self) -> Vec<String> {
        (0..3).map(|i| self.id(i)).collect()
    }

    /// Writes the history (restores are the engine's alone: skipped) and returns the entry
    /// of every change, oldest first.
    async fn write(&self, app: &TestApp) -> Vec<Value> {
        let mut entries = Vec::new();
        for (i, step) in &self.steps {
            let id = self.id(*i);
            let path = format!("/v1/entities/note/{id}");
            let live = live(app, &id, "").await.is_some();
            let res = match (step, live) {
                (Step::Create(data), false) => {
                    app.post("/v1/entities/note", &json!({"id": id, "data": data}))
                        .await
                }
                (Step::Patch(data), true) => {
                    app.send_json(Method::PATCH, &path, &json!({ "data": data }))
                        .await
                }
                (Step::Replace(data), true) => {
                    app.send_json(Method::PUT, &path, &json!({ "data": data }))
                        .await
                }
                (Step::Delete, true) => app.request(Method::DELETE, &path).send().await.unwrap(),
                _ => continue,
            };
            assert!(
                res.status().is_success(),
                "{step:?} on {id}: {}",
                res.status()
            );
            let body: Value = res.json().await.unwrap();
            if body["entry"].is_object() {
                entries.push(body["entry"].clone());
            }
        }
        entries
    }

    fn picked<'a>(&self, entries: &'a [Value]) -> Option<&'a Value> {
        (!entries.is_empty()).then(|| &entries[self.pick % entries.len()])
    }
}

/// The entity's live data as the server serializes it (key order included), or `None` when
/// it does not exist or is deleted at that point.
async fn live(app: &TestApp, id: &str, query: &str) -> Option<Value> {
    let res = app.get(&format!("/v1/entities/note/{id}{query}")).await;
    if res.status() == StatusCode::NOT_FOUND {
        return None;
    }
    let body = expect_json(res, StatusCode::OK).await;
    (body["deleted"] == false).then(|| body["data"].clone())
}

async fn text(app: &TestApp, id: &str, query: &str) -> Option<String> {
    live(app, id, query).await.map(|d| d.to_string())
}

/// Runs a rollback to the end and checks that it passed its own verification.
async fn roll_back(app: &TestApp, target: Value, strategy: &str) -> Value {
    let done = expect_json(
        app.post(
            "/v1/rollbacks",
            &json!({"target": target, "strategy": strategy}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["verification"]["passed"], true, "{done}");
    done
}

fn at(data: Option<&Value>, path: &str) -> Value {
    data.and_then(|d| d.pointer(path))
        .cloned()
        .unwrap_or(Value::Null)
}

fn version_query(entry: &Value, back: u64) -> String {
    let v = entry["entity_version"].as_u64().unwrap();
    format!("?version={}", v - back)
}

async fn undo_of_an_undo_is_the_identity_over_random_histories(app: TestApp) {
    for case in cases() {
        let entries = case.write(&app).await;
        let Some(target) = case.picked(&entries) else {
            continue;
        };
        let mut before = Vec::new();
        for id in case.ids() {
            before.push(text(&app, &id, "").await);
        }
        let undo = roll_back(
            &app,
            json!({"kind": "entry", "entry_id": target["id"]}),
            "cascade",
        )
        .await;
        // An undo that had nothing to change wrote nothing there is to undo.
        if undo["plan"]["operations"] != json!([]) {
            roll_back(
                &app,
                json!({"kind": "rollback", "rollback_id": undo["id"]}),
                "cascade",
            )
            .await;
        }
        for (id, was) in case.ids().iter().zip(before) {
            assert_eq!(text(&app, id, "").await, was, "{id} in {:?}", case.steps);
        }
    }
}

async fn restore_to_a_time_equals_the_as_of_read_for_every_entity_in_scope(app: TestApp) {
    for case in cases() {
        let entries = case.write(&app).await;
        let Some(point) = case.picked(&entries) else {
            continue;
        };
        let as_of = point["timestamp"].as_str().unwrap();
        let scope: Vec<Value> = case
            .ids()
            .iter()
            .map(|id| json!({"type": "note", "id": id}))
            .collect();
        roll_back(
            &app,
            json!({"kind": "scope_time", "entities": scope, "as_of": as_of}),
            "strict",
        )
        .await;
        let query = format!("?as_of={}", as_of.replace('+', "%2B"));
        for id in case.ids() {
            assert_eq!(
                text(&app, &id, "").await,
                text(&app, &id, &query).await,
                "{id} at {as_of} in {:?}",
                case.steps
            );
        }
    }
}

async fn non_conflicting_undoes_exactly_the_fields_nothing_later_touched(app: TestApp) {
    for case in cases() {
        let entries = case.write(&app).await;
        let updates: Vec<&Value> = entries
            .iter()
            .filter(|e| e["operation"] == "update")
            .collect();
        if updates.is_empty() {
            continue;
        }
        let target = updates[case.pick % updates.len()];
        let id = target["entity_id"].as_str().unwrap();
        let later: Vec<&Value> = entries
            .iter()
            .filter(|e| e["entity_id"] == id && e["seq"].as_u64() > target["seq"].as_u64())
            .collect();
        let before_target = live(&app, id, &version_query(target, 1)).await;
        let now = live(&app, id, "").await;
        let done = roll_back(
            &app,
            json!({"kind": "entry", "entry_id": target["id"]}),
            "non_conflicting",
        )
        .await;
        let after = live(&app, id, "").await;
        let skipped: Vec<&Value> = done["plan"]["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["entry_id"] == target["id"])
            .flat_map(|s| s["fields"].as_array().unwrap())
            .collect();
        if later
            .iter()
            .any(|e| e["operation"] == "create" || e["operation"] == "delete")
        {
            assert_eq!(after, now, "{id}: a later create or delete leaves it all");
            continue;
        }
        for change in target["change_set"]["field_changes"].as_array().unwrap() {
            let path = change["path"].as_str().unwrap();
            let touched = later.iter().any(|e| {
                e["change_set"]["field_changes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|l| overlaps(l["path"].as_str().unwrap(), path))
            });
            let listed = skipped.iter().any(|f| *f == path);
            if touched {
                assert_eq!(
                    at(after.as_ref(), path),
                    at(now.as_ref(), path),
                    "{id}{path}"
                );
                assert!(
                    listed,
                    "{id}{path} was touched later but not listed: {done}"
                );
            } else {
                assert_eq!(
                    at(after.as_ref(), path),
                    at(before_target.as_ref(), path),
                    "{id}{path} was not undone"
                );
                assert!(!listed, "{id}{path} was undone but listed as skipped");
            }
        }
    }
}

async fn force_lists_every_value_it_replaces(app: TestApp) {
    for case in cases() {
        let entries = case.write(&app).await;
        let Some(target) = case.picked(&entries) else {
            continue;
        };
        let id = target["entity_id"].as_str().unwrap();
        // What the undone entry left: the entity at its version.
        let left = live(&app, id, &version_query(target, 0)).await;
        let now = live(&app, id, "").await;
        let done = roll_back(
            &app,
            json!({"kind": "entry", "entry_id": target["id"]}),
            "force",
        )
        .await;
        let after = live(&app, id, "").await;
        let overwritten = done["plan"]["overwritten"].as_array().unwrap();
        for c in chronicle_core::diff::diff(now.as_ref(), after.as_ref()) {
            if at(now.as_ref(), &c.path) == at(left.as_ref(), &c.path) {
                continue;
            }
            assert!(
                overwritten.iter().any(|o| o["path"] == c.path
                    && o["current"] == c.old.clone().unwrap_or_default()
                    && o["restored"] == c.new.clone().unwrap_or_default()),
                "{id}{} replaced without a record: {done}",
                c.path
            );
        }
        for o in overwritten {
            let path = o["path"].as_str().unwrap();
            assert_eq!(o["current"], at(now.as_ref(), path), "{o}");
            assert_eq!(o["restored"], at(after.as_ref(), path), "{o}");
        }
    }
}

async fn a_null_field_and_the_key_order_survive_as_of_reads_and_rollbacks(app: TestApp) {
    let sent = r#"{"id": "k", "data": {"z": 1, "m": {"y": null, "b": [{"q": 1, "a": 2}]}}}"#;
    let res = app
        .request(Method::POST, "/v1/entities/note")
        .header("content-type", "application/json")
        .body(sent)
        .send()
        .await
        .unwrap();
    expect_json(res, StatusCode::CREATED).await;
    let put = expect_json(
        app.send_json(
            Method::PUT,
            "/v1/entities/note/k",
            &json!({"data": {"c": {"n": null}}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let sorted_v1 = r#"{"m":{"b":[{"a":2,"q":1}],"y":null},"z":1}"#;
    assert_eq!(text(&app, "k", "?version=1").await.unwrap(), sorted_v1);
    assert_eq!(
        text(&app, "k", "?version=2").await.unwrap(),
        r#"{"c":{"n":null}}"#
    );
    assert_eq!(text(&app, "k", "").await.unwrap(), r#"{"c":{"n":null}}"#);
    roll_back(
        &app,
        json!({"kind": "entry", "entry_id": put["entry"]["id"]}),
        "strict",
    )
    .await;
    assert_eq!(text(&app, "k", "").await.unwrap(), sorted_v1);
    assert_eq!(text(&app, "k", "?version=3").await.unwrap(), sorted_v1);
}

async fn a_refused_pause_or_resume_writes_nothing(app: TestApp) {
    let e = app.create("note", "p", json!({"v": 1})).await;
    let done = roll_back(
        &app,
        json!({"kind": "entry", "entry_id": e["entry"]["id"]}),
        "strict",
    )
    .await;
    let id = done["id"].as_str().unwrap();
    let size = app.tree_size().await;
    for action in ["pause", "resume", "stop"] {
        let res = app
            .request(Method::POST, &format!("/v1/rollbacks/{id}/{action}"))
            .send()
            .await
            .unwrap();
        expect_problem(res, StatusCode::CONFLICT, "invalid-state").await;
        assert_eq!(app.tree_size().await, size, "a refused {action} wrote");
    }
}
