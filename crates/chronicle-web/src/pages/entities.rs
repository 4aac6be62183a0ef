//! `/entities/{type}/{id}`: the entity now (or at `?version=N`, or `?as_of=TIME`), its
//! history as a timeline, and a diff between two versions (`?diff=A,B`).

use super::get;
use crate::WebState;
use crate::api::{Client, Entity, Entries};
use crate::layout::{
    Nav, encode, entity_href, failed, json_block, next_page, page, problem, query, time, value,
};
use crate::session::{Signed, field};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde_json::Value;
use std::collections::BTreeMap;

pub async fn entity(
    State(state): State<WebState>,
    Signed(session): Signed,
    client: Client,
    Path((kind, id)): Path<(String, String)>,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let base = format!("/v1/entities/{}/{}", encode(&kind), encode(&id));
    let href = entity_href(&kind, &id);
    let version = field(&params, "version");
    let as_of = field(&params, "as_of");
    // The two boxes of the diff form arrive as `diff_a` and `diff_b`; links use `diff=A,B`.
    let diff = field(&params, "diff").map(str::to_owned).or_else(|| {
        match (field(&params, "diff_a"), field(&params, "diff_b")) {
            (Some(a), Some(b)) => Some(format!("{a},{b}")),
            _ => None,
        }
    });
    let state_query = query(&[
        ("version", version.unwrap_or("")),
        ("as_of", as_of.unwrap_or("")),
    ]);
    let shown = get::<Entity>(&state, &session, &client, format!("{base}?{state_query}")).await;
    let cursor = field(&params, "cursor").unwrap_or("");
    let history_path = format!(
        "{base}/history?{}",
        query(&[("limit", "50"), ("cursor", cursor)])
    );
    let history = match get::<Entries>(&state, &session, &client, history_path).await {
        Ok(h) => h,
        Err(f) if f.status == StatusCode::FORBIDDEN => Entries::default(),
        Err(f) => return failed(&state, &session, f),
    };
    let (status, current) = match shown {
        Ok(e) => (StatusCode::OK, state_view(&e, version, as_of)),
        Err(f) if f.status == StatusCode::UNAUTHORIZED => return failed(&state, &session, f),
        Err(f) => (f.status, problem(&f)),
    };
    let diff_view = match &diff {
        Some(d) => match d.split_once(',') {
            Some((a, b)) => {
                let one = |v: &str| {
                    get::<Entity>(
                        &state,
                        &session,
                        &client,
                        format!("{base}?{}", query(&[("version", v)])),
                    )
                };
                match (one(a.trim()).await, one(b.trim()).await) {
                    (Ok(x), Ok(y)) => diff_table(&x, &y),
                    (Err(f), _) | (_, Err(f)) => problem(&f),
                }
            }
            None => {
                html! { p class="problem" role="alert" { "diff takes two versions: ?diff=A,B" } }
            }
        },
        None => html! {},
    };
    let may_roll_back = session.who.may("RollbackRequest");
    let title = format!("{kind}/{id}");
    let body = html! {
        (current)
        @if may_roll_back {
            @if let Some(v) = version {
                p { a href=(format!("/rollbacks/new?{}", query(&[("kind", "entity_version"), ("type", &kind), ("id", &id), ("version", v)]))) { "Restore this version" } }
            }
            @if let Some(t) = as_of {
                p { a href=(format!("/rollbacks/new?{}", query(&[("kind", "entity_time"), ("type", &kind), ("id", &id), ("as_of", t)]))) { "Restore the state at this time" } }
            }
        }
        (pickers(&href, version, as_of, diff.as_deref()))
        (diff_view)
        h2 { "History" }
        (timeline(&href, &history))
        (next_page(&href, &[], history.next_cursor.as_deref()))
    };
    (status, page(&title, Nav::None, Some(&session), body)).into_response()
}

fn state_view(e: &Entity, version: Option<&str>, as_of: Option<&str>) -> Markup {
    html! {
        section aria-labelledby="state-h" {
            h2 id="state-h" {
                @if let Some(v) = version { "At version " (v) }
                @else if let Some(t) = as_of { "As of " (time(t)) }
                @else { "Now" }
            }
            dl class="facts" {
                dt { "Version" } dd { (e.version) }
                @if e.deleted { dt { "State" } dd { strong { "deleted" } } }
                @if let Some(t) = &e.created_at { dt { "Created" } dd { (time(t)) } }
                @if let Some(t) = &e.updated_at { dt { "Updated" } dd { (time(t)) } }
            }
            div id="entity-data" { (json_block(&e.data)) }
        }
    }
}

/// The forms for a version, a time and a diff: plain GET forms whose fields carry the query
/// names of the page.
fn pickers(href: &str, version: Option<&str>, as_of: Option<&str>, diff: Option<&str>) -> Markup {
    let (a, b) = diff.and_then(|d| d.split_once(',')).unwrap_or(("", ""));
    html! {
        div class="actions" {
            form method="get" action=(href) {
                div { label for="p-version" { "Version" } input id="p-version" name="version" type="number" min="1" value=[version]; }
                button type="submit" class="secondary" { "Show version" }
            }
            form method="get" action=(href) {
                div { label for="p-asof" { "State at (RFC 3339)" } input id="p-asof" name="as_of" value=[as_of] placeholder="2026-12-01T02:00:00Z"; }
                button type="submit" class="secondary" { "Show state then" }
            }
            form method="get" action=(href) {
                div { label for="p-a" { "Diff from version" } input id="p-a" name="diff_a" type="number" min="1" value=(a.trim()); }
                div { label for="p-b" { "to version" } input id="p-b" name="diff_b" type="number" min="1" value=(b.trim()); }
                button type="submit" class="secondary" { "Compare" }
            }
        }
    }
}

/// Every leaf of a JSON document by its JSON Pointer (arrays are leaves).
fn leaves(v: &Value, prefix: String, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, child) in map {
                let token = k.replace('~', "~0").replace('/', "~1");
                leaves(child, format!("{prefix}/{token}"), out);
            }
        }
        other => {
            out.insert(prefix, other.clone());
        }
    }
}

/// The fields that differ between two versions, side by side.
fn diff_table(a: &Entity, b: &Entity) -> Markup {
    let (mut left, mut right) = (BTreeMap::new(), BTreeMap::new());
    leaves(&a.data, String::new(), &mut left);
    leaves(&b.data, String::new(), &mut right);
    let mut paths: Vec<&String> = left.keys().chain(right.keys()).collect();
    paths.sort();
    paths.dedup();
    let changed: Vec<_> = paths
        .into_iter()
        .filter(|p| left.get(*p) != right.get(*p))
        .collect();
    html! {
        section aria-labelledby="diff-h" {
            h2 id="diff-h" { "Version " (a.version) " → version " (b.version) }
            @if changed.is_empty() {
                p class="empty" { "No field differs." }
            } @else {
                div class="scroll" {
                    table id="diff" {
                        thead { tr {
                            th scope="col" { "Field" }
                            th scope="col" { "Version " (a.version) }
                            th scope="col" { "Version " (b.version) }
                        } }
                        tbody {
                            @for p in changed {
                                tr {
                                    td { code { (if p.is_empty() { "/" } else { p.as_str() }) } }
                                    td class="before" { pre { (left.get(p).map(value).unwrap_or_else(|| "(absent)".into())) } }
                                    td class="after" { pre { (right.get(p).map(value).unwrap_or_else(|| "(absent)".into())) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The history, oldest first: each version with who, when, what changed and links.
fn timeline(href: &str, history: &Entries) -> Markup {
    html! {
        div class="scroll" {
            table id="history" {
                thead { tr {
                    th scope="col" { "Version" }
                    th scope="col" { "Time" }
                    th scope="col" { "Actor" }
                    th scope="col" { "Operation" }
                    th scope="col" { "Fields" }
                    th scope="col" { "Reason" }
                    th scope="col" { "Links" }
                } }
                tbody {
                    @for e in &history.entries {
                        @let fields: Vec<&str> = e.change_set.as_ref().map(|c| c.field_changes.iter().map(|f| f.path.as_str()).collect()).unwrap_or_default();
                        tr data-seq=(e.seq) {
                            td { @if let Some(v) = e.entity_version { (v) } }
                            td { (time(&e.timestamp)) }
                            td { (e.actor.label()) }
                            td { span class=(format!("op op-{}", e.operation)) { (e.operation) } }
                            td { (fields.join(", ")) }
                            td { (e.reason.as_deref().unwrap_or("")) }
                            td {
                                a href=(format!("/entries/{}", e.id)) { "entry" }
                                @if let Some(v) = e.entity_version {
                                    " · " a href=(format!("{href}?version={v}")) { "view" }
                                    @if v > 1 { " · " a href=(format!("{href}?diff={},{v}", v - 1)) { "diff" } }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if history.entries.is_empty() { p class="empty" { "No history to show." } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leaves_are_named_by_escaped_json_pointers() {
        let mut out = BTreeMap::new();
        leaves(
            &json!({"a": {"b/c": 1, "d~": [1, 2]}, "e": {}}),
            String::new(),
            &mut out,
        );
        let keys: Vec<_> = out.keys().cloned().collect();
        assert_eq!(keys, ["/a/b~1c", "/a/d~0", "/e"]);
    }
}
