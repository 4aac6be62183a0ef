//! Tokens: `chr_<id>_<secret>`, kept as `_token/<id>` entities holding the name, role and a
//! SHA-256 of the secret — never the secret, which is shown once when the token is created.
//! Revoking deletes the entity (so the revocation, like the creation, is a ledger entry),
//! and each is also recorded as a `security` entry.

use super::{AuthSettings, Principal, Role};
use crate::AppState;
use crate::error::{ApiError, ApiResult, Code};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chronicle_core::entry::{Operation, Severity};
use chronicle_core::write::{EntityOp, EventInput};
use chronicle_core::{RequestContext, timefmt};
use chronicle_store::Op;
use chronicle_store::writer::system_context;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// The reserved entity type of tokens.
pub const TOKEN_TYPE: &str = "_token";

/// The id of the token made on first start.
pub const BOOTSTRAP_ID: &str = "bootstrap";

const PREFIX: &str = "chr_";

/// What a `_token` entity holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct TokenRecord {
    name: String,
    role: Role,
    email: Option<String>,
    /// Lowercase hex SHA-256 of the secret part.
    secret_sha256: String,
    #[serde(default, with = "timefmt::option")]
    expires_at: Option<OffsetDateTime>,
}

/// A token as listed (never its secret).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub email: Option<String>,
    #[serde(with = "timefmt")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "timefmt::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
    pub revoked: bool,
}

/// A token just made: its view, and the token itself, shown this once.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct NewToken {
    #[serde(flatten)]
    pub view: TokenView,
    /// `Authorization: Bearer <token>`. Not stored; it cannot be shown again.
    pub token: String,
}

/// SHA-256 of a secret.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Equality that takes the same time wherever the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random(n: usize) -> ApiResult<Vec<u8>> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| {
        tracing::error!(error = %e, "no randomness for a token");
        ApiError::internal()
    })?;
    Ok(bytes)
}

/// Splits `chr_<id>_<secret>`.
fn parse(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    (id_ok && secret.len() >= 16 && secret.len() <= 128).then_some((id, secret))
}

/// Why a credential was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Missing,
    Malformed,
    Unknown,
    Revoked,
    Expired,
}

impl Refusal {
    pub fn detail(&self) -> &'static str {
        match self {
            Refusal::Missing => "this endpoint needs Authorization: Bearer <token>",
            Refusal::Malformed => "the Authorization header is not Bearer <token>",
            Refusal::Unknown => "the token is not valid",
            Refusal::Revoked => "the token was revoked",
            Refusal::Expired => "the token has expired",
        }
    }
}

/// The principal a bearer token stands for.
pub async fn authenticate(
    state: &AppState,
    settings: &AuthSettings,
    token: &str,
) -> Result<Principal, Refusal> {
    let hash = digest(token);
    if let Some(t) = settings
        .tokens
        .iter()
        .find(|t| same(&t.secret_sha256, &hash))
    {
        return Ok(Principal {
            token_id: None,
            name: t.name.clone(),
            email: None,
            role: t.role,
        });
    }
    let (id, secret) = parse(token).ok_or(Refusal::Unknown)?;
    let state_of = state.store.entity(TOKEN_TYPE, id).await.map_err(|e| {
        tracing::warn!(error = %e, "cannot read a token");
        Refusal::Unknown
    })?;
    let Some(entity) = state_of else {
        return Err(Refusal::Unknown);
    };
    let record: TokenRecord = serde_json::from_value(entity.data).map_err(|_| Refusal::Unknown)?;
    let stored = hex::decode(&record.secret_sha256).map_err(|_| Refusal::Unknown)?;
    if !same(&stored, &digest(secret)) {
        return Err(Refusal::Unknown);
    }
    if entity.deleted {
        return Err(Refusal::Revoked);
    }
    if record
        .expires_at
        .is_some_and(|t| t <= OffsetDateTime::now_utc())
    {
        return Err(Refusal::Expired);
    }
    Ok(Principal {
        token_id: Some(id.to_owned()),
        name: record.name,
        email: record.email,
        role: record.role,
    })
}

/// Whether the token `id` still stands: not revoked, not expired. A store that cannot be
/// read keeps it standing (the stream it guards ends anyway when the ledger cannot be read).
pub async fn still_valid(state: &AppState, id: &str) -> bool {
    match state.store.entity(TOKEN_TYPE, id).await {
        Ok(Some(e)) if !e.deleted => serde_json::from_value::<TokenRecord>(e.data)
            .map(|r| r.expires_at.is_none_or(|t| t > OffsetDateTime::now_utc()))
            .unwrap_or(false),
        Ok(_) => false,
        Err(_) => true,
    }
}

/// What a new token is for.
pub struct TokenSpec {
    pub name: String,
    pub role: Role,
    pub email: Option<String>,
    pub expires_at: Option<OffsetDateTime>,
}

/// Makes a token (`id`: a fresh random one unless given) and records it.
pub async fn create(
    state: &AppState,
    ctx: &RequestContext,
    spec: TokenSpec,
    id: Option<&str>,
) -> ApiResult<NewToken> {
    let id = match id {
        Some(id) => id.to_owned(),
        None => hex::encode(random(8)?),
    };
    let secret = URL_SAFE_NO_PAD.encode(random(32)?);
    let record = TokenRecord {
        name: spec.name,
        role: spec.role,
        email: spec.email,
        secret_sha256: hex::encode(digest(&secret)),
        expires_at: spec.expires_at,
    };
    let op = EntityOp::Create {
        entity_type: TOKEN_TYPE.into(),
        id: Some(id.clone()),
        data: serde_json::to_value(&record).expect("a token record serializes"),
    };
    // The name and email are the client's text; the secret's digest is structure that
    // redaction must not touch.
    let op = Op::record(op, vec!["/name".to_owned(), "/email".to_owned()]);
    let outcome = state
        .writer
        .apply(system_context(ctx), op)
        .await?
        .map_err(|e| ApiError::from_op(e, ""))?;
    let view = view(&outcome.entity)?;
    security(
        state,
        ctx,
        format!("token {id} created for {} ({})", view.name, view.role),
        json!({"token_id": id, "name": view.name, "role": view.role}),
        Severity::Warning,
        &["token"],
    )
    .await?;
    Ok(NewToken {
        view,
        token: format!("{PREFIX}{id}_{secret}"),
    })
}

/// The live tokens, by id.
pub async fn list(state: &AppState) -> ApiResult<Vec<TokenView>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = state
            .store
            .list_entities(TOKEN_TYPE, after.as_deref(), 500)
            .await?;
        let last = page.last().map(|e| e.id.clone());
        for e in &page {
            out.push(view(e)?);
        }
        match last {
            Some(id) if page.len() == 500 => after = Some(id),
            _ => break,
        }
    }
    Ok(out)
}

/// Whether any live token exists.
pub async fn any(state: &AppState) -> ApiResult<bool> {
    Ok(!state
        .store
        .list_entities(TOKEN_TYPE, None, 1)
        .await?
        .is_empty())
}

/// Revokes a token.
pub async fn revoke(state: &AppState, ctx: &RequestContext, id: &str) -> ApiResult<TokenView> {
    let op = EntityOp::Delete {
        entity_type: TOKEN_TYPE.into(),
        id: id.to_owned(),
        expected_version: None,
    };
    let outcome = state
        .writer
        .apply(system_context(ctx), op)
        .await?
        .map_err(|e| match e {
            chronicle_core::write::OpError::NotFound { .. } => {
                ApiError::not_found(format!("no token {id}"))
            }
            e => ApiError::from_op(e, ""),
        })?;
    let view = view(&outcome.entity)?;
    security(
        state,
        ctx,
        format!("token {id} of {} revoked", view.name),
        json!({"token_id": id, "name": view.name, "role": view.role}),
        Severity::Warning,
        &["token"],
    )
    .await?;
    Ok(view)
}

fn view(e: &chronicle_core::EntityState) -> ApiResult<TokenView> {
    let record: TokenRecord = serde_json::from_value(e.data.clone()).map_err(|err| {
        tracing::error!(id = %e.id, error = %err, "a token record does not parse");
        ApiError::internal()
    })?;
    Ok(TokenView {
        id: e.id.clone(),
        name: record.name,
        role: record.role,
        email: record.email,
        created_at: e.created_at,
        expires_at: record.expires_at,
        revoked: e.deleted,
    })
}

/// Records a `security` entry.
pub async fn security(
    state: &AppState,
    ctx: &RequestContext,
    summary: String,
    metadata: serde_json::Value,
    severity: Severity,
    tags: &[&str],
) -> ApiResult<()> {
    let event = EventInput {
        operation: Some(Operation::Security),
        summary: Some(summary),
        severity: Some(severity),
        metadata: Some(metadata),
        tags: Some(tags.iter().map(|t| (*t).to_owned()).collect()),
        ..EventInput::default()
    };
    state.writer.record_event(ctx.clone(), event).await?;
    Ok(())
}

/// The first-start admin token: made when no token exists and none is configured, printed
/// once by the caller. `None` when there was no need (or another node made it first).
pub async fn bootstrap(state: &AppState) -> ApiResult<Option<NewToken>> {
    let settings = &state.config.auth;
    if !settings.enabled || !settings.tokens.is_empty() || any(state).await? {
        return Ok(None);
    }
    let ctx = RequestContext {
        actor: chronicle_core::entry::Actor {
            id: Some("chronicle".into()),
            ..Default::default()
        },
        reason: Some("first start: no token exists".into()),
        ..RequestContext::default()
    };
    let spec = TokenSpec {
        name: "admin".into(),
        role: Role::Admin,
        email: None,
        expires_at: None,
    };
    match create(state, &ctx, spec, Some(BOOTSTRAP_ID)).await {
        Ok(t) => Ok(Some(t)),
        // Another node made it first (or it was revoked: then an admin made others).
        Err(e) if e.code == Code::AlreadyExists => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_only_in_their_one_shape() {
        assert_eq!(
            parse("chr_0a1b_abcdefghijklmnop_-"),
            Some(("0a1b", "abcdefghijklmnop_-"))
        );
        assert_eq!(parse("chr_0a1b_short"), None);
        assert_eq!(parse("chr_0A1B_abcdefghijklmnopq"), None);
        assert_eq!(parse("bearer"), None);
        assert_eq!(parse("chr__abcdefghijklmnopq"), None);
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
    }
}
