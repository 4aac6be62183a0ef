//! Server-side sessions, kept in this process's memory: a restart signs everyone out, and
//! with several server nodes a browser must stay on the node it signed in to (the API token
//! behind a session is what every node accepts). The browser holds only a random session id
//! in an HttpOnly, SameSite=Strict cookie; the API token stays on the server.
//!
//! Every form a signed-in user posts carries the session's CSRF token (a hidden `csrf` field,
//! or an `X-CSRF-Token` header from script); a post without it is refused before anything is
//! sent to the API. The sign-in form, which has no session yet, uses a double-submitted
//! cookie instead.

use crate::WebState;
use crate::api::Identity;
use axum::extract::{ConnectInfo, Form, FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const COOKIE: &str = "chronicle_session";
/// The sign-in form's double-submit cookie.
pub const LOGIN_COOKIE: &str = "chronicle_login";

/// One signed-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: String,
    /// The API token every call of this session carries. Never sent to the browser.
    pub(crate) token: String,
    /// The token forms must echo.
    pub csrf: String,
    /// Who the API says the token belongs to, and what it may do.
    pub who: Identity,
    expires: Instant,
}

/// All sessions of this process.
pub struct Sessions {
    ttl: Duration,
    max: usize,
    by_id: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    pub fn new(ttl: Duration, max: usize) -> Sessions {
        Sessions {
            ttl,
            max: max.max(1),
            by_id: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a session for a token the API accepted.
    pub fn start(&self, token: String, who: Identity) -> Session {
        let now = Instant::now();
        let session = Session {
            id: random_hex(),
            token,
            csrf: random_hex(),
            who,
            expires: now + self.ttl,
        };
        let mut all = self.by_id.lock().expect("never poisoned");
        all.retain(|_, s| s.expires > now);
        if all.len() >= self.max {
            // Full of live sessions: the one closest to its end gives way.
            if let Some(oldest) = all.values().min_by_key(|s| s.expires).map(|s| s.id.clone()) {
                all.remove(&oldest);
            }
        }
        all.insert(session.id.clone(), session.clone());
        session
    }

    /// The live session with this id; an expired one is forgotten.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut all = self.by_id.lock().expect("never poisoned");
        match all.get(id) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                all.remove(id);
                None
            }
            None => None,
        }
    }

    /// Ends a session (sign-out, or the API no longer accepting its token).
    pub fn end(&self, id: &str) {
        self.by_id.lock().expect("never poisoned").remove(id);
    }
}

/// 256 random bits as hex: session ids and CSRF tokens.
pub fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS has randomness");
    hex::encode(bytes)
}

/// Compares secrets in time independent of where they first differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The value of cookie `name` in the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, for the whole site, `Secure` when the
/// browser reached us over TLS. `max_age` 0 deletes the cookie.
pub fn set_cookie(name: &str, value: &str, max_age: Duration, secure: bool) -> String {
    let mut text = format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        max_age.as_secs()
    );
    if secure {
        text.push_str("; Secure");
    }
    text
}

/// Whether the browser reached us over TLS: always when configured so, else when a trusted
/// proxy says `X-Forwarded-Proto: https` (anyone else could claim it).
pub fn behind_tls(state: &WebState, parts: &Parts) -> bool {
    if state.config.secure_cookies {
        return true;
    }
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical());
    let trusted = peer.is_some_and(|p| {
        state
            .config
            .trusted_proxies
            .iter()
            .any(|t| t.to_canonical() == p)
    });
    trusted
        && parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// A signed-in request: its session. Without one the browser is sent to `/login`, which
/// brings it back here afterwards.
pub struct Signed(pub Session);

impl FromRequestParts<WebState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Response> {
        let session = cookie(&parts.headers, COOKIE).and_then(|id| state.sessions.get(id));
        match session {
            Some(s) => Ok(Signed(s)),
            None => {
                let here = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                let target = format!("/login?next={}", crate::layout::encode(here));
                Err(Redirect::to(&target).into_response())
            }
        }
    }
}

/// A form posted by a signed-in user, its CSRF token checked: the fields, in order.
pub struct Posted {
    pub session: Session,
    pub fields: Vec<(String, String)>,
    /// Whether the browser reached us over TLS (for cookies set in the answer).
    pub secure: bool,
}

impl Posted {
    /// The first value of field `name`, trimmed; `None` when absent or blank.
    pub fn field(&self, name: &str) -> Option<&str> {
        field(&self.fields, name)
    }
}

/// The first value of field `name` in `fields`, trimmed; `None` when absent or blank.
pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

impl FromRequest<WebState> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &WebState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Signed(session) = Signed::from_request_parts(&mut parts, state).await?;
        let secure = behind_tls(state, &parts);
        let header_token = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let req = Request::from_parts(parts, body);
        let Form(fields) = Form::<Vec<(String, String)>>::from_request(req, state)
            .await
            .map_err(|e| crate::layout::refusal(StatusCode::BAD_REQUEST, &e.body_text(), None))?;
        let given = header_token.or_else(|| field(&fields, "csrf").map(str::to_owned));
        match given {
            Some(t) if same_secret(&t, &session.csrf) => Ok(Posted {
                session,
                fields,
                secure,
            }),
            _ => Err(crate::layout::refusal(
                StatusCode::FORBIDDEN,
                "This form did not carry the dashboard's CSRF token, so nothing was done. \
                 Reload the page and try again.",
                Some(&session),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn identity() -> Identity {
        Identity {
            name: "ann".into(),
            email: None,
            role: Some("admin".into()),
            permissions: Vec::new(),
        }
    }

    #[test]
    fn cookies_are_found_by_exact_name_among_several() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("x_chronicle_session=no; chronicle_session=yes; b=c"),
        );
        assert_eq!(cookie(&h, COOKIE), Some("yes"));
        assert_eq!(cookie(&h, "missing"), None);
    }

    #[test]
    fn a_session_past_its_lifetime_is_gone_and_an_ended_one_too() {
        let expired = Sessions::new(Duration::ZERO, 10);
        let s = expired.start("t".into(), identity());
        assert!(expired.get(&s.id).is_none());
        let live = Sessions::new(Duration::from_secs(3600), 10);
        let s = live.start("t".into(), identity());
        assert_eq!(live.get(&s.id).map(|s| s.token), Some("t".to_owned()));
        live.end(&s.id);
        assert!(live.get(&s.id).is_none());
    }

    #[test]
    fn a_full_table_drops_the_session_closest_to_its_end() {
        let sessions = Sessions::new(Duration::from_secs(3600), 2);
        let first = sessions.start("a".into(), identity());
        let second = sessions.start("b".into(), identity());
        let third = sessions.start("c".into(), identity());
        assert!(sessions.get(&first.id).is_none());
        assert!(sessions.get(&second.id).is_some() && sessions.get(&third.id).is_some());
    }

    #[test]
    fn secrets_compare_equal_only_when_identical() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
