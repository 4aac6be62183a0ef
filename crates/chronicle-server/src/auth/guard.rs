//! The middleware every routed request passes: finds the route's permission in
//! [`rules`](super::rules), authenticates the bearer token, checks the role, records refusals
//! as `security` entries (forbidden attempts once per credential, route and window; failed
//! authentications once per burst from one address), and leaves the [`Caller`] for the
//! handlers.

use super::rules::{self, Lookup};
use super::tokens::{self, Refusal};
use super::{Caller, Permission, Principal};
use crate::AppState;
use crate::error::{ApiError, Code};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chronicle_core::RequestContext;
use chronicle_core::entry::Severity;
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest bearer token looked at.
const MAX_TOKEN_LEN: usize = 512;

/// Addresses tracked at once; past this, windows that ended are dropped.
const MAX_TRACKED: usize = 10_000;

pub async fn guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
    else {
        // Not routed: the fallback answers 404 without looking at anyone.
        return next.run(req).await;
    };
    let permission = match rules::lookup(req.method(), &path) {
        Lookup::Rule(p) => p,
        Lookup::OtherMethod => {
            return ApiError::new(
                Code::MethodNotAllowed,
                "this route does not accept that method",
            )
            .into_response();
        }
        Lookup::Missing => {
            tracing::error!(%path, method = %req.method(), "route without an access rule");
            return ApiError::new(Code::Forbidden, "this route has no access rule").into_response();
        }
    };
    let settings = &state.config.auth;
    if !settings.enabled {
        req.extensions_mut().insert(Caller::Open);
        return next.run(req).await;
    }
    if permission == Permission::Public {
        req.extensions_mut().insert(Caller::Anonymous);
        return next.run(req).await;
    }
    let principal = match bearer(req.headers()) {
        Ok(token) => tokens::authenticate(&state, settings, token).await,
        Err(refusal) => Err(refusal),
    };
    let principal = match principal {
        Ok(p) => p,
        Err(refusal) => return refuse(&state, anonymous_context(&state, &req), refusal).await,
    };
    if !principal.role.allows(permission) {
        let method = req.method().to_string();
        let ctx = anonymous_context(&state, &req);
        return forbid(&state, ctx, &principal, &method, &path).await;
    }
    req.extensions_mut().insert(Caller::Token(principal));
    next.run(req).await
}

/// The token of `Authorization: Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Result<&str, Refusal> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Refusal::Missing);
    };
    if values.next().is_some() {
        return Err(Refusal::Malformed);
    }
    let text = value.to_str().map_err(|_| Refusal::Malformed)?;
    let (scheme, token) = text.trim().split_once(' ').ok_or(Refusal::Malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer")
        || token.is_empty()
        || token.len() > MAX_TOKEN_LEN
        || !token.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(Refusal::Malformed);
    }
    Ok(token)
}

/// Who is asking before anyone is known: the address and user agent (built only for the
/// entry that records a refusal).
fn anonymous_context(state: &AppState, req: &Request) -> RequestContext {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let ip = crate::context::client_ip(peer, req.headers(), &state.config.trusted_proxies);
    RequestContext {
        ip: ip.map(|ip| ip.to_canonical().to_string()),
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .filter(|v| chronicle_core::limits::check_text(v).is_ok())
            .map(str::to_owned),
        ..RequestContext::default()
    }
}

async fn refuse(state: &AppState, ctx: RequestContext, refusal: Refusal) -> Response {
    let settings = &state.config.auth;
    let key = ctx.ip.clone().unwrap_or_else(|| "unknown".into());
    let window = Duration::from_secs(settings.failure_window_secs.max(1));
    if state
        .auth_failures
        .burst(&key, settings.failure_burst, window)
    {
        let summary = format!(
            "{} failed authentications from {key} within {} s",
            settings.failure_burst,
            window.as_secs()
        );
        let metadata = json!({
            "failures": settings.failure_burst,
            "window_secs": window.as_secs(),
            "last_reason": refusal.detail(),
        });
        if let Err(e) = tokens::security(
            state,
            &ctx,
            summary,
            metadata,
            Severity::Error,
            &["authentication"],
        )
        .await
        {
            tracing::warn!(error = %e.detail, "cannot record a burst of failed authentications");
        }
    }
    ApiError::new(Code::Unauthorized, refusal.detail()).into_response()
}

async fn forbid(
    state: &AppState,
    mut ctx: RequestContext,
    principal: &Principal,
    method: &str,
    path: &str,
) -> Response {
    ctx.actor = principal.actor();
    let detail = format!("role {} may not {method} {path}", principal.role);
    // One entry per credential, route and window: a client repeating a forbidden request must
    // not be able to grow the ledger at will. The next entry says how many were not recorded.
    let window = Duration::from_secs(state.config.auth.failure_window_secs.max(1));
    let key = format!(
        "{}|{}|{method} {path}",
        principal.token_id.as_deref().unwrap_or("-"),
        principal.name
    );
    let (count, ended) = state.forbidden.tick(&key, window);
    if count > 1 {
        return ApiError::new(Code::Forbidden, detail).into_response();
    }
    let metadata = json!({
        "method": method,
        "path": path,
        "role": principal.role,
        "token_id": principal.token_id,
        "window_secs": window.as_secs(),
        "unrecorded_before": ended.map(|n| n.saturating_sub(1)).unwrap_or(0),
    });
    if let Err(e) = tokens::security(
        state,
        &ctx,
        format!(
            "forbidden: {} ({}) tried {method} {path}",
            principal.name, principal.role
        ),
        metadata,
        Severity::Warning,
        &["forbidden"],
    )
    .await
    {
        tracing::warn!(error = %e.detail, "cannot record a forbidden attempt");
    }
    ApiError::new(Code::Forbidden, detail).into_response()
}

/// Counts per key in fixed windows: failed authentications per address (a `security` entry
/// per burst), forbidden attempts per credential and route (one entry per window, with how
/// many the previous window held beyond it). Bounded: past `MAX_TRACKED` keys, ended windows
/// are dropped, and if all are live the new key counts under a shared one.
#[derive(Debug, Default)]
pub struct Windows {
    slots: Mutex<HashMap<String, (Instant, u32)>>,
}

impl Windows {
    /// Adds one to `key`'s count in its current window (a window that ended starts over at
    /// zero first). Returns the count after adding, and the count of the window that ended,
    /// if one did.
    pub fn tick(&self, key: &str, window: Duration) -> (u32, Option<u32>) {
        let now = Instant::now();
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = key;
        if slots.len() >= MAX_TRACKED && !slots.contains_key(key) {
            slots.retain(|_, (start, _)| now.duration_since(*start) < window);
            if slots.len() >= MAX_TRACKED {
                key = "*";
            }
        }
        let slot = slots.entry(key.to_owned()).or_insert((now, 0));
        let mut ended = None;
        if now.duration_since(slot.0) >= window {
            ended = Some(slot.1);
            *slot = (now, 0);
        }
        slot.1 = slot.1.saturating_add(1);
        (slot.1, ended)
    }

    /// Counts a failure from `key`; true exactly when it is the `burst`-th of its window.
    pub fn burst(&self, key: &str, burst: u32, window: Duration) -> bool {
        self.tick(key, window).0 == burst.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_tokens_are_read_in_one_shape() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), Err(Refusal::Missing));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer(&h), Ok("abc"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  abc "),
        );
        assert_eq!(bearer(&h), Ok("abc"));
        for bad in ["Basic abc", "Bearer", "Bearer a b", "abc"] {
            h.insert(header::AUTHORIZATION, HeaderValue::from_static(bad));
            assert_eq!(bearer(&h), Err(Refusal::Malformed), "{bad}");
        }
        h.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_eq!(bearer(&h), Err(Refusal::Malformed));
    }

    #[test]
    fn a_burst_is_reported_once_per_window() {
        let f = Windows::default();
        let w = Duration::from_secs(60);
        let hits: Vec<bool> = (0..7).map(|_| f.burst("1.2.3.4", 3, w)).collect();
        assert_eq!(hits, [false, false, true, false, false, false, false]);
        assert!(!f.burst("5.6.7.8", 3, w));
        // A window that ended starts over, and says what it had counted.
        assert!(f.burst("9.9.9.9", 1, Duration::ZERO));
        assert_eq!(f.tick("9.9.9.9", Duration::ZERO), (1, Some(1)));
        assert_eq!(f.tick("a", w), (1, None));
        assert_eq!(f.tick("a", w), (2, None));
    }
}
