//! The nested tables of `chronicle.toml`, `[approval]` and `[checkpoints]`. Each key can also
//! be set alone from the environment as `CHRONICLE_<TABLE>__<KEY>`
//! (`CHRONICLE_APPROVAL__MAX_ENTITIES=50`); a later layer overrides the keys it sets and keeps
//! the others. Lists in the environment are comma-separated.

use chronicle_core::Impact;
use chronicle_engine::ApprovalPolicy;
use serde::Deserialize;

/// `[approval]`: when a rollback needs approval, and how many.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApprovalTable {
    /// A plan touching more entities than this needs approval.
    pub max_entities: Option<usize>,
    /// A plan touching any of these entity types needs approval.
    pub entity_types: Option<Vec<String>>,
    /// A plan changing a field of at least this impact (`low` ... `critical`) needs approval.
    pub impact: Option<Impact>,
    /// Approvals needed [default: 1].
    pub approvals: Option<u32>,
}

pub const APPROVAL_KEYS: &[&str] = &["max_entities", "entity_types", "impact", "approvals"];

impl ApprovalTable {
    pub fn then(self, over: ApprovalTable) -> ApprovalTable {
        ApprovalTable {
            max_entities: over.max_entities.or(self.max_entities),
            entity_types: over.entity_types.or(self.entity_types),
            impact: over.impact.or(self.impact),
            approvals: over.approvals.or(self.approvals),
        }
    }

    /// The engine's policy: the engine's defaults for every key no layer set.
    pub fn policy(&self) -> ApprovalPolicy {
        let default = ApprovalPolicy::default();
        ApprovalPolicy {
            max_entities: self.max_entities.or(default.max_entities),
            entity_types: self.entity_types.clone().unwrap_or(default.entity_types),
            impact: self.impact.or(default.impact),
            approvals: self.approvals.unwrap_or(default.approvals),
        }
    }

    /// Sets one key from an environment value. `Ok(false)`: no such key; `Err`: what the
    /// value must be.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, &'static str> {
        match key {
            "max_entities" => self.max_entities = Some(number(value)?),
            "entity_types" => self.entity_types = Some(list(value)),
            "impact" => {
                self.impact = Some(
                    Impact::parse(value.trim())
                        .ok_or("one of none, low, medium, high, critical")?,
                )
            }
            "approvals" => self.approvals = Some(number(value)?),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// `[checkpoints]`: the cadence of kept checkpoints, and the keys they are checked with.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CheckpointTable {
    pub every_entries: Option<u64>,
    pub every_secs: Option<u64>,
    /// Cosigner verifier keys (C2SP tlog-cosignature, type 0x04) of accepted witnesses.
    pub witnesses: Option<Vec<String>>,
    /// Verifier keys of earlier signing keys.
    pub previous_keys: Option<Vec<String>>,
}

pub const CHECKPOINT_KEYS: &[&str] = &["every_entries", "every_secs", "witnesses", "previous_keys"];

impl CheckpointTable {
    pub fn then(self, over: CheckpointTable) -> CheckpointTable {
        CheckpointTable {
            every_entries: over.every_entries.or(self.every_entries),
            every_secs: over.every_secs.or(self.every_secs),
            witnesses: over.witnesses.or(self.witnesses),
            previous_keys: over.previous_keys.or(self.previous_keys),
        }
    }

    /// As [`ApprovalTable::set`].
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, &'static str> {
        match key {
            "every_entries" => self.every_entries = Some(number(value)?),
            "every_secs" => self.every_secs = Some(number(value)?),
            "witnesses" => self.witnesses = Some(list(value)),
            "previous_keys" => self.previous_keys = Some(list(value)),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn number<T: std::str::FromStr>(value: &str) -> Result<T, &'static str> {
    value.trim().parse().map_err(|_| "a whole number")
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Either table, merged: a later layer's keys win, the earlier layer's others stay.
pub fn merge<T>(under: Option<T>, over: Option<T>, then: impl FnOnce(T, T) -> T) -> Option<T> {
    match (under, over) {
        (Some(u), Some(o)) => Some(then(u, o)),
        (u, o) => o.or(u),
    }
}

/// `[auth]`: tokens, masking, access auditing (`CHRONICLE_AUTH__<KEY>`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthTable {
    /// An admin token given in configuration (at least 24 characters); with it no token is
    /// made on first start. Only its hash is kept in memory.
    pub admin_token: Option<String>,
    /// Roles that see sensitive values unmasked [default: admin, auditor, service].
    pub unmask_roles: Option<Vec<String>>,
    /// Record reads of the audit trail as `access` entries [default: true].
    pub audit_access: Option<bool>,
    /// The window reads are aggregated over, per credential and route [default: 60].
    pub access_window_secs: Option<u64>,
    /// Failed authentications from one address within `failure_window_secs` that make a
    /// `security` entry [default: 5 in 60].
    pub failure_burst: Option<u32>,
    pub failure_window_secs: Option<u64>,
    /// How often an open stream checks its token again [default: 10].
    pub token_recheck_secs: Option<u64>,
}

pub const AUTH_KEYS: &[&str] = &[
    "admin_token",
    "unmask_roles",
    "audit_access",
    "access_window_secs",
    "failure_burst",
    "failure_window_secs",
    "token_recheck_secs",
];

impl AuthTable {
    pub fn then(self, over: AuthTable) -> AuthTable {
        AuthTable {
            admin_token: over.admin_token.or(self.admin_token),
            unmask_roles: over.unmask_roles.or(self.unmask_roles),
            audit_access: over.audit_access.or(self.audit_access),
            access_window_secs: over.access_window_secs.or(self.access_window_secs),
            failure_burst: over.failure_burst.or(self.failure_burst),
            failure_window_secs: over.failure_window_secs.or(self.failure_window_secs),
            token_recheck_secs: over.token_recheck_secs.or(self.token_recheck_secs),
        }
    }

    /// As [`ApprovalTable::set`].
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, &'static str> {
        match key {
            "admin_token" => self.admin_token = Some(value.trim().to_owned()),
            "unmask_roles" => self.unmask_roles = Some(list(value)),
            "audit_access" => self.audit_access = Some(boolean(value)?),
            "access_window_secs" => self.access_window_secs = Some(number(value)?),
            "failure_burst" => self.failure_burst = Some(number(value)?),
            "failure_window_secs" => self.failure_window_secs = Some(number(value)?),
            "token_recheck_secs" => self.token_recheck_secs = Some(number(value)?),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// `[redaction]`: patterns replaced before anything is stored. `builtin` (default true)
/// keeps the card-number and SSN rules; `[[redaction.rules]]` (name, pattern, luhn) adds
/// more. From the file only, except `CHRONICLE_REDACTION__BUILTIN`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionTable {
    pub builtin: Option<bool>,
    pub rules: Option<Vec<chronicle_core::redact::RedactionRule>>,
}

pub const REDACTION_KEYS: &[&str] = &["builtin"];

impl RedactionTable {
    pub fn then(self, over: RedactionTable) -> RedactionTable {
        RedactionTable {
            builtin: over.builtin.or(self.builtin),
            rules: over.rules.or(self.rules),
        }
    }

    /// As [`ApprovalTable::set`].
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, &'static str> {
        match key {
            "builtin" => self.builtin = Some(boolean(value)?),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn boolean(value: &str) -> Result<bool, &'static str> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err("true or false"),
    }
}
