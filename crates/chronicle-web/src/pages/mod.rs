//! The pages, one file per family, and the entry table they share.

pub mod entities;
pub mod entries;
pub mod events;
pub mod feed;
pub mod ledger;
pub mod login;
pub mod rollbacks;

use crate::api::{Call, Client, Failure};
use crate::layout::{entity_link, time};
use crate::session::Session;
use crate::{WebState, api};
use axum::http::Method;
use maud::{Markup, html};
use serde::de::DeserializeOwned;

/// The filters of `GET /v1/audit/entries` (and of the stream), by their API names: the
/// dashboard's query strings use the same names, so a search is a shareable link.
pub const ENTRY_FILTERS: &[&str] = &[
    "actor",
    "entity_type",
    "entity_id",
    "operation",
    "from",
    "to",
    "correlation_id",
    "transaction_id",
    "parent_id",
    "rollback_id",
    "field",
    "severity",
    "tag",
    "q",
];

/// A GET of the API as the session's user.
pub(crate) async fn get<T: DeserializeOwned>(
    state: &WebState,
    session: &Session,
    client: &Client,
    path: String,
) -> Result<T, Failure> {
    let call = Call {
        method: Method::GET,
        path,
        token: Some(&session.token),
        client,
        reason: None,
        body: None,
    };
    state.api.call(call).await.map(|(_, v)| v)
}

/// The pairs of `params` whose names are in `names` and whose values are not blank.
pub(crate) fn pick<'a>(params: &'a [(String, String)], names: &[&str]) -> Vec<(&'a str, &'a str)> {
    params
        .iter()
        .filter(|(k, v)| names.contains(&k.as_str()) && !v.trim().is_empty())
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// A table of entries, newest or oldest first as given. Each row links to its entry and its
/// entity. The feed's script builds rows of the same shape for live entries.
pub fn entry_table(entries: &[api::Entry], id: &str, stream: Option<&str>) -> Markup {
    html! {
        div class="scroll" {
            table id=(id) class="entries" data-stream=[stream] {
                caption class="visually-hidden" { "Audit entries" }
                thead {
                    tr {
                        th scope="col" { "Seq" }
                        th scope="col" { "Time" }
                        th scope="col" { "Actor" }
                        th scope="col" { "Operation" }
                        th scope="col" { "Entity" }
                        th scope="col" { "Summary" }
                    }
                }
                tbody {
                    @for e in entries { (entry_row(e)) }
                }
            }
        }
        @if entries.is_empty() { p class="empty" { "No entries." } }
    }
}

fn entry_row(e: &api::Entry) -> Markup {
    let summary = e
        .summary
        .clone()
        .or_else(|| e.reason.clone())
        .unwrap_or_default();
    html! {
        tr data-seq=(e.seq) {
            td { a href=(format!("/entries/{}", e.id)) { (e.seq) } }
            td { (time(&e.timestamp)) }
            td { (e.actor.label()) }
            td { span class=(format!("op op-{}", e.operation)) { (e.operation) } }
            td { (entity_link(e.entity_type.as_deref(), e.entity_id.as_deref())) }
            td { (summary) }
        }
    }
}
