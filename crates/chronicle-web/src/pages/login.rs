//! Sign-in with an API token, and sign-out.
//!
//! The token is checked by asking the API who it belongs to (`GET /v1/whoami`), so a wrong
//! token meets the API's guard like any other (and counts towards its failed-authentication
//! entries). The sign-in form has no session to bind a CSRF token to, so it uses a
//! double-submitted cookie: a random value in a SameSite=Strict cookie that the form echoes.

use crate::WebState;
use crate::api::{Call, Client, Identity};
use crate::layout::{Nav, page};
use crate::session::{
    self, COOKIE, LOGIN_COOKIE, Posted, field, random_hex, same_secret, set_cookie,
};
use axum::extract::{Form, FromRequest, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use std::time::Duration;

/// Where to go after signing in: only a path on this site (never `//elsewhere`).
fn next_target(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn login_page(csrf: &str, next: &str, refused: Option<&str>) -> Markup {
    let body = html! {
        @if let Some(message) = refused {
            p class="problem" role="alert" id="login-error" { (message) }
        }
        form method="post" action="/login" class="login" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="next" value=(next);
            label for="token" { "API token" }
            input id="token" name="token" type="password" autocomplete="off" required
                autofocus aria-describedby="token-help";
            p id="token-help" class="hint" {
                "The token printed by " code { "chronicle serve" } " on first start, or one made with "
                code { "chronicle token create" } "."
            }
            button type="submit" { "Sign in" }
        }
    };
    page("Sign in", Nav::None, None, body)
}

/// A fresh double-submit value and the cookie that carries it.
fn login_cookie(state: &WebState, parts: &Parts) -> (String, String) {
    let value = random_hex();
    let secure = session::behind_tls(state, parts);
    let cookie = set_cookie(LOGIN_COOKIE, &value, Duration::from_secs(3600), secure);
    (value, cookie)
}

/// `GET /login`.
pub async fn form(
    State(state): State<WebState>,
    Query(params): Query<Vec<(String, String)>>,
    req: axum::extract::Request,
) -> Response {
    let (parts, _) = req.into_parts();
    let next = next_target(field(&params, "next"));
    if session::cookie(&parts.headers, COOKIE).is_some_and(|id| state.sessions.get(id).is_some()) {
        return Redirect::to(&next).into_response();
    }
    let (value, cookie) = login_cookie(&state, &parts);
    (
        [(header::SET_COOKIE, cookie)],
        login_page(&value, &next, None),
    )
        .into_response()
}

/// `POST /login`: `token`, `csrf`, `next`.
pub async fn submit(
    State(state): State<WebState>,
    client: Client,
    req: axum::extract::Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let req = axum::extract::Request::from_parts(parts.clone(), body);
    let Ok(Form(fields)) = Form::<Vec<(String, String)>>::from_request(req, &state).await else {
        return crate::layout::refusal(
            StatusCode::BAD_REQUEST,
            "The form could not be read.",
            None,
        );
    };
    let next = next_target(field(&fields, "next"));
    let expected = session::cookie(&parts.headers, LOGIN_COOKIE);
    let given = field(&fields, "csrf");
    let csrf_ok = matches!((expected, given), (Some(e), Some(g)) if same_secret(e, g));
    let (value, cookie) = login_cookie(&state, &parts);
    if !csrf_ok {
        let page = login_page(
            &value,
            &next,
            Some("The sign-in form expired. Please try again."),
        );
        return (StatusCode::FORBIDDEN, [(header::SET_COOKIE, cookie)], page).into_response();
    }
    let Some(token) = field(&fields, "token") else {
        let page = login_page(&value, &next, Some("Enter a token."));
        return (
            StatusCode::BAD_REQUEST,
            [(header::SET_COOKIE, cookie)],
            page,
        )
            .into_response();
    };
    let call = Call {
        method: Method::GET,
        path: "/v1/whoami".to_owned(),
        token: Some(token),
        client: &client,
        reason: None,
        body: None,
    };
    match state.api.call::<Identity>(call).await {
        Ok((_, who)) => {
            let session = state.sessions.start(token.to_owned(), who);
            let secure = session::behind_tls(&state, &parts);
            let mut headers = HeaderMap::new();
            let ttl = state.config.session_ttl;
            let cookies = [
                set_cookie(COOKIE, &session.id, ttl, secure),
                set_cookie(LOGIN_COOKIE, "", Duration::ZERO, secure),
            ];
            for c in cookies {
                headers.append(
                    header::SET_COOKIE,
                    c.parse().expect("cookie text is a header value"),
                );
            }
            (headers, Redirect::to(&next)).into_response()
        }
        Err(failure) => {
            let (status, message) = if failure.status == StatusCode::UNAUTHORIZED {
                (
                    StatusCode::UNAUTHORIZED,
                    "That token was refused: it is unknown, expired or revoked.".to_owned(),
                )
            } else {
                (
                    failure.status,
                    format!("Sign-in failed: {} {}", failure.title, failure.detail),
                )
            };
            let page = login_page(&value, &next, Some(&message));
            (status, [(header::SET_COOKIE, cookie)], page).into_response()
        }
    }
}

/// `POST /logout`: ends the session; its cookie stops working at once.
pub async fn logout(State(state): State<WebState>, posted: Posted) -> Response {
    state.sessions.end(&posted.session.id);
    let gone = set_cookie(COOKIE, "", Duration::ZERO, posted.secure);
    ([(header::SET_COOKIE, gone)], Redirect::to("/login")).into_response()
}
