//! `/entries/{id}`: one entry's context and its field-by-field before and after, with the
//! rollbacks that start from it.

use super::get;
use crate::WebState;
use crate::api::{Client, Entry};
use crate::layout::{Nav, encode, entity_link, failed, page, query, time, value};
use crate::session::{Session, Signed};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

pub async fn entry(
    State(state): State<WebState>,
    Signed(session): Signed,
    client: Client,
    Path(id): Path<String>,
) -> Response {
    let path = format!("/v1/audit/entries/{}", encode(&id));
    let e = match get::<Entry>(&state, &session, &client, path).await {
        Ok(e) => e,
        Err(f) => return failed(&state, &session, f),
    };
    let title = format!("Entry {} · {}", e.seq, e.operation);
    let body = html! {
        (facts(&e))
        h2 { "Changes" }
        (changes(&e))
        (rollback_links(&e, &session))
    };
    page(&title, Nav::None, Some(&session), body).into_response()
}

/// A link to the search for entries sharing one of this entry's ids.
fn related(name: &str, id: &str) -> Markup {
    html! { a href=(format!("/search?{}", query(&[(name, id)]))) { code { (id) } } }
}

fn facts(e: &Entry) -> Markup {
    html! {
        dl class="facts" {
            dt { "Seq" } dd { (e.seq) }
            dt { "Time" } dd { (time(&e.timestamp)) }
            dt { "Actor" } dd {
                (e.actor.label())
                @if let Some(email) = &e.actor.email { " <" (email) ">" }
                @if let Some(role) = &e.actor.role { " · " (role) }
                @if let Some(via) = &e.actor.via { " · via " (via) }
            }
            dt { "Operation" } dd { span class=(format!("op op-{}", e.operation)) { (e.operation) } }
            dt { "Entity" } dd {
                (entity_link(e.entity_type.as_deref(), e.entity_id.as_deref()))
                @if let Some(v) = e.entity_version { " · version " (v) }
            }
            @if let Some(r) = &e.reason { dt { "Reason" } dd { (r) } }
            @if let Some(s) = &e.summary { dt { "Summary" } dd { (s) } }
            @if let Some(s) = &e.severity { dt { "Severity" } dd { (s) } }
            @if !e.tags.is_empty() { dt { "Tags" } dd { (e.tags.join(", ")) } }
            @if let Some(ip) = &e.ip { dt { "Address" } dd { (ip) } }
            @if let Some(ua) = &e.user_agent { dt { "User agent" } dd { (ua) } }
            @if let Some(s) = &e.session_id { dt { "Session" } dd { (s) } }
            @if let Some(c) = &e.correlation_id { dt { "Correlation" } dd { (related("correlation_id", c)) } }
            @if let Some(t) = &e.transaction_id { dt { "Transaction" } dd { (related("transaction_id", t)) } }
            @if let Some(p) = &e.parent_id { dt { "Bulk" } dd { (related("parent_id", p)) } }
            @if let Some(r) = &e.rollback_id { dt { "Rollback" } dd { a href=(format!("/rollbacks/{}", encode(r))) { code { (r) } } } }
            @if let Some(h) = &e.leaf_hash { dt { "Leaf hash" } dd { code { (h) } } }
        }
    }
}

/// The field changes as a table: field, kind of change, before, after.
fn changes(e: &Entry) -> Markup {
    let changes = e
        .change_set
        .as_ref()
        .map(|c| c.field_changes.as_slice())
        .unwrap_or_default();
    if changes.is_empty() {
        return html! {
            @if e.old_values.is_null() && e.new_values.is_null() {
                p class="empty" { "This entry changed no fields." }
            } @else {
                div class="scroll" {
                    table {
                        thead { tr { th scope="col" { "Before" } th scope="col" { "After" } } }
                        tbody { tr {
                            td class="before" { pre { (value(&e.old_values)) } }
                            td class="after" { pre { (value(&e.new_values)) } }
                        } }
                    }
                }
            }
        };
    }
    html! {
        div class="scroll" {
            table id="changes" {
                thead {
                    tr {
                        th scope="col" { "Field" }
                        th scope="col" { "Change" }
                        th scope="col" { "Before" }
                        th scope="col" { "After" }
                    }
                }
                tbody {
                    @for c in changes {
                        tr {
                            td { code { (c.path) } }
                            td { (c.change) @if let Some(i) = &c.impact { " · " (i) " impact" } }
                            td class="before" { pre { (c.old.as_ref().map(value).unwrap_or_default()) } }
                            td class="after" { pre { (c.new.as_ref().map(value).unwrap_or_default()) } }
                        }
                    }
                }
            }
        }
    }
}

/// The rollbacks that start from this entry, for roles that may request one.
fn rollback_links(e: &Entry, session: &Session) -> Markup {
    if !session.who.may("RollbackRequest") {
        return html! {};
    }
    let new = |pairs: &[(&str, &str)]| format!("/rollbacks/new?{}", query(pairs));
    let mut links = Vec::new();
    if e.entity_id.is_some() {
        links.push((
            new(&[("kind", "entry"), ("entry_id", &e.id)]),
            "Roll back this entry".to_owned(),
        ));
        if e.change_set
            .as_ref()
            .is_some_and(|c| !c.field_changes.is_empty())
        {
            links.push((
                new(&[("kind", "fields"), ("entry_id", &e.id)]),
                "Roll back some of its fields".to_owned(),
            ));
        }
    }
    if let Some(p) = &e.parent_id {
        links.push((
            new(&[("kind", "bulk"), ("bulk_id", p)]),
            "Roll back the whole bulk operation".to_owned(),
        ));
    }
    if let Some(t) = &e.transaction_id {
        links.push((
            new(&[("kind", "transaction"), ("transaction_id", t)]),
            "Roll back the whole transaction".to_owned(),
        ));
    }
    if let Some(c) = &e.correlation_id {
        links.push((
            new(&[("kind", "correlation"), ("correlation_id", c)]),
            "Roll back everything with this correlation id".to_owned(),
        ));
    }
    if let (Some(t), Some(i), Some(v)) = (&e.entity_type, &e.entity_id, e.entity_version)
        && v > 1
    {
        let before = (v - 1).to_string();
        links.push((
            new(&[
                ("kind", "entity_version"),
                ("type", t),
                ("id", i),
                ("version", &before),
            ]),
            format!("Restore {t}/{i} to version {before}"),
        ));
    }
    if links.is_empty() {
        return html! {};
    }
    html! {
        h2 { "Roll back" }
        ul class="actions" {
            @for (href, label) in links { li { a href=(href) { (label) } } }
        }
    }
}
