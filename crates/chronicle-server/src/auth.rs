//! Authentication and authorization.
//!
//! Every request but the few public ones carries `Authorization: Bearer <token>`. A token
//! names a role; [`rules`] says which [`Permission`] each route needs, and
//! [`Role::allows`] which roles hold it. [`guard`] is the one middleware that checks both;
//! handlers learn who called from the [`Caller`] it leaves in the request.
//!
//! The actor recorded in entries is the credential's (its name, email and role), never what
//! the client's headers claim — except for the `service` role, which is how an application's
//! backend writes on behalf of its own users: its entries carry the actor of the `X-Actor-*`
//! headers, and `actor.via` names the service credential that vouched for it.
//!
//! Tokens are kept as `_token` entities holding only a SHA-256 of the secret, so creating and
//! revoking one is on the ledger like any other change ([`tokens`]).

pub mod guard;
pub mod rules;
pub mod tokens;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a credential may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including tokens, alert rules and erasure.
    Admin,
    /// Entity writes, events, rollback requests, snapshots.
    Operator,
    /// Approves or rejects rollbacks.
    Approver,
    /// Reads audit data, unmasked.
    Auditor,
    /// Reads, masked.
    Viewer,
    /// An application's backend: writes on behalf of the actor its headers name.
    Service,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Operator,
        Role::Approver,
        Role::Auditor,
        Role::Viewer,
        Role::Service,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Approver => "approver",
            Role::Auditor => "auditor",
            Role::Viewer => "viewer",
            Role::Service => "service",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The matrix (documented in docs/API.md).
    pub fn allows(self, permission: Permission) -> bool {
        use Permission as P;
        match self {
            Role::Admin => true,
            // Lineage (what depends on what across the whole ledger) is for the people who
            // run and audit the system, not for applications.
            Role::Operator if permission == P::LineageRead => true,
            Role::Auditor if permission == P::LineageRead => true,
            Role::Operator | Role::Service => matches!(
                permission,
                P::Public
                    | P::LedgerRead
                    | P::EntityRead
                    | P::EntityWrite
                    | P::EventWrite
                    | P::AuditRead
                    | P::RollbackRequest
                    | P::SnapshotWrite
            ),
            Role::Approver => matches!(
                permission,
                P::Public | P::LedgerRead | P::EntityRead | P::AuditRead | P::RollbackApprove
            ),
            Role::Auditor | Role::Viewer => matches!(
                permission,
                P::Public | P::LedgerRead | P::EntityRead | P::AuditRead
            ),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// No credential: health, readiness, metrics, the OpenAPI document, the signed tree head
    /// and its key (tamper evidence anyone may check), and witness cosignatures (which are
    /// authenticated by their own signatures).
    Public,
    /// Leaves, proofs, kept checkpoints.
    LedgerRead,
    EntityRead,
    /// Entity writes, bulk operations, transactions.
    EntityWrite,
    /// `POST /v1/audit/events`.
    EventWrite,
    /// Entries, search, summary, history, the stream, alerts, rollback and snapshot records.
    AuditRead,
    /// Preview, request, pause, resume and stop rollbacks.
    RollbackRequest,
    /// Approve or reject rollbacks.
    RollbackApprove,
    SnapshotWrite,
    /// Alert rules.
    AlertAdmin,
    /// Tokens.
    TokenAdmin,
    /// GDPR erasure of a subject.
    Erase,
    /// Lineage graphs, impact and field provenance.
    LineageRead,
}

impl Permission {
    /// Every permission, for `GET /v1/whoami`'s list.
    pub const ALL: [Permission; 12] = [
        Permission::Public,
        Permission::LedgerRead,
        Permission::EntityRead,
        Permission::EntityWrite,
        Permission::EventWrite,
        Permission::AuditRead,
        Permission::RollbackRequest,
        Permission::RollbackApprove,
        Permission::SnapshotWrite,
        Permission::AlertAdmin,
        Permission::TokenAdmin,
        Permission::Erase,
    ];
}

/// Who is calling, as the guard established it.
#[derive(Clone, Debug, PartialEq)]
pub enum Caller {
    /// Authentication is off (`--insecure-no-auth`): the headers say who it is, and every
    /// permission is held.
    Open,
    /// A public route called without looking at credentials.
    Anonymous,
    /// A valid token.
    Token(Principal),
}

/// The holder of a valid token.
#[derive(Clone, Debug, PartialEq)]
pub struct Principal {
    /// The token's id (`None` for a token from configuration).
    pub token_id: Option<String>,
    pub name: String,
    pub email: Option<String>,
    pub role: Role,
}

impl Principal {
    /// The actor entries record for this credential.
    pub fn actor(&self) -> chronicle_core::entry::Actor {
        chronicle_core::entry::Actor {
            id: Some(self.name.clone()),
            email: self.email.clone(),
            role: Some(self.role.as_str().to_owned()),
            via: None,
        }
    }
}

impl Caller {
    /// The role, when a token established one.
    pub fn role(&self) -> Option<Role> {
        match self {
            Caller::Token(p) => Some(p.role),
            Caller::Open | Caller::Anonymous => None,
        }
    }

    /// Whether sensitive values are shown to this caller as they are.
    pub fn unmasked(&self, settings: &AuthSettings) -> bool {
        match self {
            Caller::Open => true,
            Caller::Anonymous => false,
            Caller::Token(p) => settings.unmask_roles.contains(&p.role),
        }
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        // The guard runs on every route; a request it did not see (none today) gets nothing.
        Ok(parts
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or(Caller::Anonymous))
    }
}

/// A token given in configuration (`[auth] tokens`, or the admin token). Only its hash is
/// kept in memory; it is never stored.
#[derive(Clone, Debug)]
pub struct ConfiguredToken {
    pub name: String,
    pub role: Role,
    pub secret_sha256: [u8; 32],
}

impl ConfiguredToken {
    pub fn new(name: impl Into<String>, role: Role, secret: &str) -> ConfiguredToken {
        ConfiguredToken {
            name: name.into(),
            role,
            secret_sha256: tokens::digest(secret),
        }
    }
}

/// Authentication settings.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// Off only with `--insecure-no-auth`: then the headers name the actor and nothing is
    /// refused.
    pub enabled: bool,
    /// Tokens from configuration.
    pub tokens: Vec<ConfiguredToken>,
    /// Roles that see sensitive values unmasked. Default: admin, auditor, service.
    pub unmask_roles: Vec<Role>,
    /// Record searches, entry reads, summaries, history reads and stream subscriptions as
    /// `access` entries. Default on.
    pub audit_access: bool,
    /// The window `access` entries are aggregated over, per credential and route (see
    /// [`crate::access`]). Default 60.
    pub access_window_secs: u64,
    /// Failed authentications from one address within `failure_window_secs` that make a
    /// `security` entry. Default 5 in 60 s.
    pub failure_burst: u32,
    pub failure_window_secs: u64,
    /// How often an open stream checks that its token still stands. Default 10.
    pub token_recheck_secs: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            enabled: true,
            tokens: Vec::new(),
            unmask_roles: vec![Role::Admin, Role::Auditor, Role::Service],
            audit_access: true,
            access_window_secs: 60,
            failure_burst: 5,
            failure_window_secs: 60,
            token_recheck_secs: 10,
        }
    }
}
