//! The page frame, the security headers every dashboard answer carries, and small rendering
//! helpers. Every value from the API is rendered through maud, which escapes it: entity data
//! is user input.

use crate::WebState;
use crate::api::Failure;
use crate::assets;
use crate::session::Session;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;

/// No inline script or style anywhere: only the dashboard's own files may run or style.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

/// Adds the security headers to every dashboard answer, and keeps pages (which hold audit
/// data) out of caches; assets set their own long cache lifetime.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

/// Which navigation link is the current page.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Feed,
    Search,
    Rollbacks,
    Snapshots,
    Alerts,
    Ledger,
    None,
}

/// A whole page: head, navigation (with the signed-in user and the sign-out button) and
/// `body`.
pub fn page(title: &str, nav: Nav, session: Option<&Session>, body: Markup) -> Markup {
    let links = [
        (Nav::Feed, "/", "Live feed"),
        (Nav::Search, "/search", "Search"),
        (Nav::Rollbacks, "/rollbacks", "Rollbacks"),
        (Nav::Snapshots, "/snapshots", "Snapshots"),
        (Nav::Alerts, "/alerts", "Alerts"),
        (Nav::Ledger, "/ledger", "Ledger"),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Chronicle" }
                // No favicon request (and no 404 for it in the browser's console).
                link rel="icon" href="data:,";
                link rel="stylesheet" href=(assets::path(&assets::CSS));
                script src=(assets::path(&assets::JS)) defer {}
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    a class="brand" href="/" { "Chronicle" }
                    @if let Some(s) = session {
                        nav aria-label="Main" {
                            ul {
                                @for (which, href, label) in links {
                                    li {
                                        a href=(href) aria-current=[(which == nav).then_some("page")] { (label) }
                                    }
                                }
                            }
                        }
                        div class="who" {
                            span { (s.who.name) @if let Some(r) = &s.who.role { " (" (r) ")" } }
                            form method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(s.csrf);
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page that says why something was refused, with `status`.
pub fn refusal(status: StatusCode, message: &str, session: Option<&Session>) -> Response {
    let body = html! { p class="problem" role="alert" { (message) } };
    let title = status.canonical_reason().unwrap_or("Refused");
    (status, page(title, Nav::None, session, body)).into_response()
}

/// What a page shows when the API refused a call: a token the API no longer accepts ends
/// the session (sign in again); anything else shows the problem with the API's status.
pub fn failed(state: &WebState, session: &Session, failure: Failure) -> Response {
    if failure.status == StatusCode::UNAUTHORIZED {
        state.sessions.end(&session.id);
        return Redirect::to("/login").into_response();
    }
    let body = problem(&failure);
    let title = failure
        .status
        .canonical_reason()
        .unwrap_or("Refused")
        .to_owned();
    (failure.status, page(&title, Nav::None, Some(session), body)).into_response()
}

/// The API's problem, readable: title, detail and each invalid field by name.
pub fn problem(failure: &Failure) -> Markup {
    html! {
        div class="problem" role="alert" {
            p { strong { (failure.title) } }
            @if !failure.detail.is_empty() { p { (failure.detail) } }
            @if !failure.errors.is_empty() {
                ul {
                    @for (pointer, message) in &failure.errors {
                        li { code { (pointer) } " " (message) }
                    }
                }
            }
        }
    }
}

/// A time from the API: UTC in the markup (and on hover); the script shows it in the
/// browser's zone.
pub fn time(rfc3339: &str) -> Markup {
    html! { time datetime=(rfc3339) title=(rfc3339) { (rfc3339) } }
}

/// A JSON value for display: strings as they are, everything else as compact JSON.
pub fn value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".to_owned(),
        other => other.to_string(),
    }
}

/// A JSON value as an indented block.
pub fn json_block(v: &Value) -> Markup {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    html! { pre class="json" { (text) } }
}

/// Percent-encodes a query value or path segment (everything but unreserved characters).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query string from pairs, skipping blank values.
pub fn query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v.trim())))
        .collect::<Vec<_>>()
        .join("&")
}

/// The page of an entity.
pub fn entity_href(kind: &str, id: &str) -> String {
    format!("/entities/{}/{}", encode(kind), encode(id))
}

/// A link to an entity, named `type/id`.
pub fn entity_link(kind: Option<&str>, id: Option<&str>) -> Markup {
    match (kind, id) {
        (Some(k), Some(i)) => html! { a href=(entity_href(k, i)) { (k) "/" (i) } },
        (Some(k), None) => html! { (k) },
        _ => html! { "—" },
    }
}

/// The hidden CSRF field every form of a signed-in page carries.
pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// A "Next page" link when the API gave a cursor, keeping the other query parameters.
pub fn next_page(base: &str, params: &[(&str, &str)], cursor: Option<&str>) -> Markup {
    let Some(cursor) = cursor else {
        return html! {};
    };
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| *k != "cursor")
        .copied()
        .collect();
    pairs.push(("cursor", cursor));
    let href = format!("{base}?{}", query(&pairs));
    html! { p class="pager" { a href=(href) rel="next" { "Next page →" } } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_keeps_only_unreserved_characters() {
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(
            query(&[("a", "1"), ("b", " "), ("c", "x y")]),
            "a=1&c=x%20y"
        );
    }

    #[test]
    fn data_is_escaped_in_markup() {
        let html = time("<script>alert(1)</script>").into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }
}
