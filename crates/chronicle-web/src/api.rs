//! The in-process API client. Each call is an HTTP request handed to the API router with
//! `oneshot`: the session's bearer token, the browser's socket address (the `ConnectInfo`
//! extension the API reads) and its `X-Forwarded-For`, user agent and the typed reason. The
//! API's guard, roles, masking and write path apply exactly as to any other client.

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::{HeaderValue, Method, Request, StatusCode, header, request::Parts};
use axum::response::Response;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::convert::Infallible;
use std::net::SocketAddr;
use tower::ServiceExt;

/// Largest API answer read (a page of entries with large values stays far below).
const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// The API router, called in process.
#[derive(Clone)]
pub struct Api {
    router: Router,
}

/// Where the browser's request came from, forwarded to the API so entries record the
/// browser, not the dashboard.
#[derive(Clone, Debug, Default)]
pub struct Client {
    peer: Option<ConnectInfo<SocketAddr>>,
    forwarded_for: Vec<HeaderValue>,
    user_agent: Option<HeaderValue>,
}

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Client {
            peer: parts.extensions.get::<ConnectInfo<SocketAddr>>().cloned(),
            forwarded_for: parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .cloned()
                .collect(),
            user_agent: parts.headers.get(header::USER_AGENT).cloned(),
        })
    }
}

/// Why a call did not give what was asked: the API's problem document, read.
#[derive(Clone, Debug)]
pub struct Failure {
    pub status: StatusCode,
    pub title: String,
    pub detail: String,
    /// `(pointer, message)` of each invalid field.
    pub errors: Vec<(String, String)>,
    /// The whole problem document (rollback conflicts ride in it).
    pub body: Value,
}

impl Failure {
    fn internal(detail: impl Into<String>) -> Failure {
        Failure {
            status: StatusCode::BAD_GATEWAY,
            title: "The API gave an answer the dashboard cannot read".into(),
            detail: detail.into(),
            errors: Vec::new(),
            body: Value::Null,
        }
    }

    fn from_answer(status: StatusCode, body: &[u8]) -> Failure {
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let text = |k: &str| value[k].as_str().unwrap_or_default().to_owned();
        let errors = value["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
                        (s("pointer"), s("message"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Failure {
            status,
            title: text("title"),
            detail: text("detail"),
            errors,
            body: value,
        }
    }
}

/// Who the API says a token belongs to (`GET /v1/whoami`).
#[derive(Clone, Debug, Deserialize)]
pub struct Identity {
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    /// `None` when the server runs without authentication.
    #[serde(default)]
    pub role: Option<String>,
    /// The permissions the token's role holds (`RollbackRequest`, ...).
    #[serde(default)]
    pub permissions: Vec<String>,
}

impl Identity {
    /// Whether the token may use what `permission` guards. Without authentication every
    /// permission is held. The API refuses what is not held either way: this only decides
    /// which controls are shown.
    pub fn may(&self, permission: &str) -> bool {
        self.role.is_none() || self.permissions.iter().any(|p| p == permission)
    }
}

/// One API call about to be made.
pub struct Call<'a> {
    pub method: Method,
    /// Path and query, e.g. `/v1/audit/entries?limit=50`.
    pub path: String,
    pub token: Option<&'a str>,
    pub client: &'a Client,
    pub reason: Option<&'a str>,
    pub body: Option<Value>,
}

impl Api {
    pub fn new(router: Router) -> Api {
        Api { router }
    }

    /// Sends a call and returns the API's response as it is (the event stream).
    pub async fn send(
        &self,
        call: Call<'_>,
        extra: &[(header::HeaderName, HeaderValue)],
    ) -> Response {
        let mut req = Request::builder().method(call.method).uri(&call.path);
        if let Some(token) = call.token
            && let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}"))
        {
            req = req.header(header::AUTHORIZATION, v);
        }
        for v in &call.client.forwarded_for {
            req = req.header("x-forwarded-for", v.clone());
        }
        if let Some(ua) = &call.client.user_agent {
            req = req.header(header::USER_AGENT, ua.clone());
        }
        if let Some(reason) = call.reason.and_then(header_text) {
            req = req.header("x-reason", reason);
        }
        for (name, value) in extra {
            req = req.header(name.clone(), value.clone());
        }
        let body = match &call.body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(v).expect("a JSON value serializes"))
            }
            None => Body::empty(),
        };
        let mut req = req.body(body).expect("a request from checked parts");
        if let Some(peer) = &call.client.peer {
            req.extensions_mut().insert(*peer);
        }
        match self.router.clone().oneshot(req).await {
            Ok(res) => res,
            Err(never) => match never {},
        }
    }

    /// Makes a call and reads a JSON answer (any 2xx) into `T`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        call: Call<'_>,
    ) -> Result<(StatusCode, T), Failure> {
        let path = call.path.clone();
        let res = self.send(call, &[]).await;
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), MAX_ANSWER)
            .await
            .map_err(|e| Failure::internal(format!("reading {path}: {e}")))?;
        if !status.is_success() {
            return Err(Failure::from_answer(status, &bytes));
        }
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| Failure::internal(format!("{path}: {e}")))?;
        Ok((status, value))
    }
}

/// A reason as a header value: control characters (a pasted newline) become spaces, since a
/// header cannot hold them and the user meant a space.
fn header_text(text: &str) -> Option<HeaderValue> {
    let clean: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.is_empty() {
        return None;
    }
    HeaderValue::from_bytes(clean.as_bytes()).ok()
}

/// An audit entry as the API shows it (the parts the pages read).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Entry {
    pub id: String,
    pub seq: u64,
    pub timestamp: String,
    pub actor: Actor,
    pub session_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub operation: String,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub entity_version: Option<u64>,
    pub old_values: Value,
    pub new_values: Value,
    pub change_set: Option<ChangeSet>,
    pub reason: Option<String>,
    pub summary: Option<String>,
    pub metadata: Value,
    pub correlation_id: Option<String>,
    pub parent_id: Option<String>,
    pub transaction_id: Option<String>,
    pub rollback_id: Option<String>,
    pub severity: Option<String>,
    pub tags: Vec<String>,
    pub leaf_hash: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Actor {
    pub id: Option<String>,
    pub email: Option<String>,
    pub role: Option<String>,
    pub via: Option<String>,
}

impl Actor {
    /// How a person is named on a page.
    pub fn label(&self) -> String {
        self.id
            .clone()
            .or_else(|| self.email.clone())
            .unwrap_or_else(|| "system".to_owned())
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ChangeSet {
    pub field_changes: Vec<FieldChange>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct FieldChange {
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
    pub change: String,
    pub impact: Option<String>,
}

/// A page of entries.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Entries {
    pub entries: Vec<Entry>,
    pub next_cursor: Option<String>,
}

/// An entity (state now, or at a version or time).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Entity {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub version: u64,
    pub data: Value,
    pub deleted: bool,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}
