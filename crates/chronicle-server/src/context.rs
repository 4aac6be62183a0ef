//! The request context recorded in every entry: who (actor headers), from where (client
//! address, user agent), why (reason) and as part of what (session, correlation id).
//!
//! The client address is the socket peer's. Only when the peer is a configured trusted proxy
//! is `X-Forwarded-For` believed, and then only as far as the first hop (from the right) that
//! is not itself a trusted proxy: everything left of that hop was written by the client and
//! proves nothing.

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::{HeaderMap, request::Parts};
use chronicle_core::entry::{Actor, RequestContext};
use chronicle_core::limits;
use chronicle_core::schema::FieldError;
use std::net::{IpAddr, SocketAddr};

/// The request's [`RequestContext`], checked.
pub struct Ctx(pub RequestContext);

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let ip = client_ip(peer, &parts.headers, &state.config.trusted_proxies);
        let mut ctx = context_from_headers(&parts.headers, ip)?;
        let caller = parts
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or(Caller::Anonymous);
        apply_caller(&mut ctx, &caller);
        Ok(Ctx(ctx))
    }
}

/// The actor is the credential's. Only a `service` credential may name another actor (its
/// application's user) in the headers; the entry then says which credential vouched for it.
/// With authentication off the headers are all there is.
pub fn apply_caller(ctx: &mut RequestContext, caller: &Caller) {
    match caller {
        Caller::Open => {}
        Caller::Anonymous => ctx.actor = Actor::default(),
        Caller::Token(p) => {
            let own = p.actor();
            if p.role == Role::Service {
                let via = match &p.token_id {
                    Some(id) => format!("{} (token {id})", p.name),
                    None => p.name.clone(),
                };
                if ctx.actor.id.is_none() && ctx.actor.email.is_none() {
                    ctx.actor = own;
                } else {
                    ctx.actor.via = Some(via);
                }
            } else {
                ctx.actor = own;
            }
        }
    }
}

/// Builds the context from headers; every bad header is reported.
pub fn context_from_headers(
    headers: &HeaderMap,
    ip: Option<IpAddr>,
) -> Result<RequestContext, ApiError> {
    let mut errors = Vec::new();
    let mut get = |name: &str, check: fn(&str) -> Result<(), String>| -> Option<String> {
        let mut values = headers.get_all(name).iter();
        let value = values.next()?;
        let pointer = format!("/headers/{name}");
        // Two actors (or reasons) for one request: refuse rather than pick one.
        if values.next().is_some() {
            errors.push(FieldError::new(pointer, "is given more than once"));
            return None;
        }
        // Header values may carry UTF-8 (a reason in any language), which `to_str` refuses.
        let Ok(text) = std::str::from_utf8(value.as_bytes()) else {
            errors.push(FieldError::new(pointer, "is not valid UTF-8"));
            return None;
        };
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        match check(text) {
            Ok(()) => Some(text.to_owned()),
            Err(m) => {
                errors.push(FieldError::new(pointer, m));
                None
            }
        }
    };
    let context = RequestContext {
        actor: Actor {
            via: None,
            id: get("x-actor-id", limits::check_id),
            email: get("x-actor-email", limits::check_id),
            role: get("x-actor-role", limits::check_id),
        },
        session_id: get("x-session-id", limits::check_id),
        ip: ip.map(|ip| ip.to_canonical().to_string()),
        user_agent: get("user-agent", limits::check_text),
        reason: get("x-reason", limits::check_text),
        correlation_id: get("x-correlation-id", limits::check_id),
        rollback_id: None,
        at: None,
        system: false,
        op_metadata: Vec::new(),
    };
    if errors.is_empty() {
        Ok(context)
    } else {
        Err(ApiError::invalid(errors))
    }
}

/// The client's address: the peer, or the first untrusted hop of `X-Forwarded-For` when the
/// peer is a trusted proxy.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: &IpAddr| {
        trusted
            .iter()
            .any(|t| t.to_canonical() == ip.to_canonical())
    };
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        // A hop that does not parse ends what can be believed.
        let Ok(ip) = hop.parse::<IpAddr>() else { break };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.9".parse().unwrap();
        let h = xff("1.1.1.1, 2.2.2.2, 10.0.0.1");
        // Untrusted peer: its claim is ignored.
        assert_eq!(client_ip(Some(other), &h, &[proxy]), Some(other));
        // Trusted peer: the first untrusted hop from the right.
        assert_eq!(
            client_ip(Some(proxy), &h, &[proxy]),
            Some("2.2.2.2".parse().unwrap())
        );
        // Garbage stops the walk at the last believable hop.
        assert_eq!(client_ip(Some(proxy), &xff("junk"), &[proxy]), Some(proxy));
        assert_eq!(client_ip(None, &h, &[proxy]), None);
    }

    #[test]
    fn bad_headers_are_reported_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-actor-id",
            HeaderValue::from_str(&"a".repeat(300)).unwrap(),
        );
        h.insert(
            "x-reason",
            HeaderValue::from_bytes("fix typo — café".as_bytes()).unwrap(),
        );
        let err = context_from_headers(&h, None).unwrap_err();
        assert_eq!(err.errors[0].pointer, "/headers/x-actor-id");
        h.remove("x-actor-id");
        assert_eq!(
            context_from_headers(&h, None).unwrap().reason.as_deref(),
            Some("fix typo — café")
        );
    }
}
