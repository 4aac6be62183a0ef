//! The live feed (`/`) and search (`/search`). Both read `GET /v1/audit/entries` with the
//! query names of the API; the feed, on its first page, follows `/events` for new entries.

use super::{ENTRY_FILTERS, entry_table, get, pick};
use crate::WebState;
use crate::api::{Client, Entries};
use crate::layout::{Nav, failed, next_page, page, problem, query};
use crate::session::{Signed, field};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

/// Entries per page.
const PAGE: &str = "50";

/// The operations a filter may pick (the API takes any; these are the common ones).
const OPERATIONS: &[&str] = &[
    "create",
    "update",
    "delete",
    "bulk",
    "transaction",
    "rollback",
    "read",
    "access",
    "security",
    "system",
    "config",
    "user_management",
    "erasure",
];

const SEVERITIES: &[&str] = &["info", "warning", "error", "critical"];

/// `GET /`: newest first, with a small filter and a pause button; new entries arrive live.
pub async fn feed(
    State(state): State<WebState>,
    Signed(session): Signed,
    client: Client,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let filters = pick(&params, &["actor", "entity_type", "operation"]);
    let cursor = field(&params, "cursor");
    let mut api_query = filters.clone();
    api_query.extend([("order", "desc"), ("limit", PAGE)]);
    if let Some(c) = cursor {
        api_query.push(("cursor", c));
    }
    let page_of = get::<Entries>(
        &state,
        &session,
        &client,
        format!("/v1/audit/entries?{}", query(&api_query)),
    )
    .await;
    let entries = match page_of {
        Ok(p) => p,
        Err(f) if f.status == StatusCode::BAD_REQUEST => {
            let body = html! { (feed_form(&filters)) (problem(&f)) };
            return (f.status, page("Live feed", Nav::Feed, Some(&session), body)).into_response();
        }
        Err(f) => return failed(&state, &session, f),
    };
    // Only the newest page follows the stream, from the newest entry shown.
    let stream = cursor.is_none().then(|| {
        let after = entries
            .entries
            .first()
            .map(|e| e.seq)
            .unwrap_or(0)
            .to_string();
        let mut q = filters.clone();
        q.push(("after_seq", &after));
        format!("/events?{}", query(&q))
    });
    let body = html! {
        (feed_form(&filters))
        @if stream.is_some() {
            div class="live" {
                button type="button" id="pause" aria-pressed="false" { "Pause" }
                span id="live-status" role="status" aria-live="polite" { "Connecting…" }
            }
        }
        (entry_table(&entries.entries, "feed", stream.as_deref()))
        (next_page("/", &filters, entries.next_cursor.as_deref()))
    };
    page("Live feed", Nav::Feed, Some(&session), body).into_response()
}

fn value_of<'a>(filters: &[(&str, &'a str)], name: &str) -> &'a str {
    filters
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| *v)
        .unwrap_or("")
}

fn feed_form(filters: &[(&str, &str)]) -> Markup {
    html! {
        form method="get" action="/" class="filters" role="search" aria-label="Filter the feed" {
            div { label for="f-actor" { "Actor" } input id="f-actor" name="actor" value=(value_of(filters, "actor")); }
            div { label for="f-type" { "Entity type" } input id="f-type" name="entity_type" value=(value_of(filters, "entity_type")); }
            div { label for="f-op" { "Operation" } (select("f-op", "operation", OPERATIONS, value_of(filters, "operation"))) }
            div { button type="submit" { "Filter" } }
        }
    }
}

fn select(id: &str, name: &str, options: &[&str], chosen: &str) -> Markup {
    html! {
        select id=(id) name=(name) {
            option value="" { "any" }
            @for o in options {
                option value=(o) selected[*o == chosen] { (o) }
            }
        }
    }
}

/// `GET /search`: every entry filter as a form field of the same name.
pub async fn search(
    State(state): State<WebState>,
    Signed(session): Signed,
    client: Client,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let mut names: Vec<&str> = ENTRY_FILTERS.to_vec();
    names.extend(["order", "limit", "cursor"]);
    let given = pick(&params, &names);
    let filters: Vec<(&str, &str)> = given
        .iter()
        .filter(|(k, _)| *k != "cursor")
        .copied()
        .collect();
    let searched = !filters.is_empty() || field(&params, "go").is_some();
    let form = search_form(&filters);
    if !searched {
        return page("Search", Nav::Search, Some(&session), form).into_response();
    }
    let mut api_query = given.clone();
    if field(&params, "limit").is_none() {
        api_query.push(("limit", PAGE));
    }
    let found = get::<Entries>(
        &state,
        &session,
        &client,
        format!("/v1/audit/entries?{}", query(&api_query)),
    )
    .await;
    match found {
        Ok(entries) => {
            let body = html! {
                (form)
                h2 { "Results" }
                (entry_table(&entries.entries, "results", None))
                (next_page("/search", &filters, entries.next_cursor.as_deref()))
            };
            page("Search", Nav::Search, Some(&session), body).into_response()
        }
        Err(f) if f.status == StatusCode::BAD_REQUEST => {
            let body = html! { (form) (problem(&f)) };
            (f.status, page("Search", Nav::Search, Some(&session), body)).into_response()
        }
        Err(f) => failed(&state, &session, f),
    }
}

fn search_form(filters: &[(&str, &str)]) -> Markup {
    let text = |id: &str, name: &str, label: &str, hint: Option<&str>| {
        html! {
            div {
                label for=(id) { (label) }
                input id=(id) name=(name) value=(value_of(filters, name)) placeholder=[hint];
            }
        }
    };
    html! {
        form method="get" action="/search" class="filters search" role="search" aria-label="Search entries" {
            input type="hidden" name="go" value="1";
            (text("s-actor", "actor", "Actor (id or email)", None))
            (text("s-type", "entity_type", "Entity type", None))
            (text("s-id", "entity_id", "Entity id", None))
            div { label for="s-op" { "Operation" } (select("s-op", "operation", OPERATIONS, value_of(filters, "operation"))) }
            (text("s-from", "from", "From (RFC 3339)", Some("2026-12-01T00:00:00Z")))
            (text("s-to", "to", "To (RFC 3339)", Some("2026-12-02T00:00:00Z")))
            (text("s-corr", "correlation_id", "Correlation id", None))
            (text("s-tx", "transaction_id", "Transaction id", None))
            (text("s-parent", "parent_id", "Parent (bulk) id", None))
            (text("s-rb", "rollback_id", "Rollback id", None))
            (text("s-field", "field", "Changed field (JSON Pointer)", Some("/rate")))
            div { label for="s-sev" { "Severity" } (select("s-sev", "severity", SEVERITIES, value_of(filters, "severity"))) }
            (text("s-tag", "tag", "Tag", None))
            (text("s-q", "q", "Text in reason or summary", None))
            div { label for="s-order" { "Order" } (select("s-order", "order", &["asc", "desc"], value_of(filters, "order"))) }
            div { button type="submit" { "Search" } }
        }
    }
}
