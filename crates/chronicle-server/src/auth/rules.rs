//! The one table from route to permission. The guard refuses a routed request whose
//! (method, path) has no line here, and the RBAC matrix test walks the OpenAPI document so
//! that a new endpoint without a line fails the build's tests.

use super::Permission;
use super::Permission as P;
use axum::http::Method;

/// (method, path pattern as routed, permission).
pub const RULES: &[(&str, &str, Permission)] = &[
    ("GET", "/healthz", P::Public),
    ("GET", "/readyz", P::Public),
    ("GET", "/metrics", P::Public),
    ("GET", "/openapi.json", P::Public),
    ("GET", "/v1/ledger/checkpoint", P::Public),
    ("GET", "/v1/ledger/public-key", P::Public),
    ("POST", "/v1/ledger/cosignatures", P::Public),
    ("GET", "/v1/ledger/checkpoints", P::LedgerRead),
    ("GET", "/v1/ledger/leaves", P::LedgerRead),
    ("GET", "/v1/ledger/proof/inclusion", P::LedgerRead),
    ("GET", "/v1/ledger/proof/consistency", P::LedgerRead),
    ("GET", "/v1/entities/{type}", P::EntityRead),
    ("POST", "/v1/entities/{type}", P::EntityWrite),
    ("GET", "/v1/entities/{type}/{id}", P::EntityRead),
    ("PATCH", "/v1/entities/{type}/{id}", P::EntityWrite),
    ("PUT", "/v1/entities/{type}/{id}", P::EntityWrite),
    ("DELETE", "/v1/entities/{type}/{id}", P::EntityWrite),
    ("GET", "/v1/entities/{type}/{id}/history", P::AuditRead),
    ("POST", "/v1/bulk", P::EntityWrite),
    ("POST", "/v1/transactions", P::EntityWrite),
    ("POST", "/v1/audit/events", P::EventWrite),
    ("GET", "/v1/audit/entries", P::AuditRead),
    ("GET", "/v1/audit/entries/{id}", P::AuditRead),
    ("GET", "/v1/audit/summary", P::AuditRead),
    ("GET", "/v1/stream", P::AuditRead),
    ("GET", "/v1/alerts", P::AuditRead),
    ("GET", "/v1/alerts/rules", P::AuditRead),
    ("POST", "/v1/alerts/rules", P::AlertAdmin),
    ("DELETE", "/v1/alerts/rules/{id}", P::AlertAdmin),
    ("POST", "/v1/rollbacks/preview", P::RollbackRequest),
    ("POST", "/v1/rollbacks", P::RollbackRequest),
    ("GET", "/v1/rollbacks", P::AuditRead),
    ("GET", "/v1/rollbacks/{id}", P::AuditRead),
    ("POST", "/v1/rollbacks/{id}/approve", P::RollbackApprove),
    ("POST", "/v1/rollbacks/{id}/reject", P::RollbackApprove),
    ("POST", "/v1/rollbacks/{id}/pause", P::RollbackRequest),
    ("POST", "/v1/rollbacks/{id}/resume", P::RollbackRequest),
    ("POST", "/v1/rollbacks/{id}/stop", P::RollbackRequest),
    ("POST", "/v1/snapshots", P::SnapshotWrite),
    ("GET", "/v1/snapshots", P::AuditRead),
    ("GET", "/v1/snapshots/{id}", P::AuditRead),
    ("POST", "/v1/tokens", P::TokenAdmin),
    ("GET", "/v1/tokens", P::TokenAdmin),
    ("DELETE", "/v1/tokens/{id}", P::TokenAdmin),
    ("POST", "/v1/subjects/{subject}/erase", P::Erase),
    // Every role holds EntityRead, so any valid token may ask who it is.
    ("GET", "/v1/whoami", P::EntityRead),
    ("GET", "/v1/lineage/{type}/{id}", P::LineageRead),
    ("GET", "/v1/lineage/{type}/{id}/impact", P::LineageRead),
    ("GET", "/v1/entities/{type}/{id}/provenance", P::LineageRead),
];

/// What the guard does with a routed request.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    Rule(Permission),
    /// The path has rules, none for this method: the router would answer 405.
    OtherMethod,
    /// A routed path with no rule at all: refused (a bug the matrix test catches).
    Missing,
}

pub fn lookup(method: &Method, path: &str) -> Lookup {
    let mut path_known = false;
    for (m, p, permission) in RULES {
        if *p == path {
            // HEAD is served by GET routes.
            if *m == method.as_str() || (method == Method::HEAD && *m == "GET") {
                return Lookup::Rule(*permission);
            }
            path_known = true;
        }
    }
    if path_known {
        Lookup::OtherMethod
    } else {
        Lookup::Missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_is_unique_and_lookups_follow_the_table() {
        for (i, (m, p, _)) in RULES.iter().enumerate() {
            assert!(
                !RULES[i + 1..].iter().any(|(m2, p2, _)| m2 == m && p2 == p),
                "{m} {p} is listed twice"
            );
        }
        assert_eq!(
            lookup(&Method::GET, "/v1/audit/entries"),
            Lookup::Rule(P::AuditRead)
        );
        assert_eq!(lookup(&Method::HEAD, "/healthz"), Lookup::Rule(P::Public));
        assert_eq!(
            lookup(&Method::PATCH, "/v1/audit/entries"),
            Lookup::OtherMethod
        );
        assert_eq!(lookup(&Method::GET, "/v1/nowhere"), Lookup::Missing);
    }
}
