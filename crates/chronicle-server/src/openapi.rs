//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations. The error
//! answers every operation can give (400, 500, 503, and 413/415 where there is a body) are
//! added here once instead of on every handler, and every 4xx/5xx answer is declared as
//! `application/problem+json`. [`constraints`] then writes in what the server enforces on
//! parameters and the answers every operation can give.

mod constraints;

use crate::dto::Problem;
use crate::error::PROBLEM_JSON;
use crate::routes::{
    alerts, audit, batch, checkpoints, entities, ledger, lineage, ops, rollbacks, snapshots,
    stream, subjects, tokens, whoami,
};
use axum::http::Method;
use serde_json::Value;
use std::sync::OnceLock;
use utoipa::openapi::path::Operation;
use utoipa::openapi::{Content, OpenApi as Document, Ref, RefOr, Response};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Chronicle", description = "Audit ledger and rollback engine. Errors are RFC 9457 problem documents."),
    paths(
        entities::create, entities::read, entities::update, entities::replace, entities::delete,
        entities::list, entities::history,
        batch::bulk, batch::transaction,
        audit::record_event, audit::search, audit::entry, audit::summary,
        checkpoints::checkpoint, checkpoints::history, checkpoints::public_key, checkpoints::cosign,
        ledger::leaves, ledger::inclusion, ledger::consistency,
        ops::healthz, ops::readyz, ops::metrics, ops::openapi,
        rollbacks::preview, rollbacks::create, rollbacks::read, rollbacks::list,
        rollbacks::approve, rollbacks::reject, rollbacks::pause, rollbacks::resume, rollbacks::stop,
        snapshots::create, snapshots::read, snapshots::list,
        stream::stream,
        alerts::create_rule, alerts::list_rules, alerts::delete_rule, alerts::list_alerts,
        tokens::create, tokens::list, tokens::revoke,
        subjects::erase,
        whoami::whoami,
        lineage::graph, lineage::impact, lineage::provenance,
    ),
    components(schemas(Problem)),
    modifiers(&CommonErrors),
)]
pub struct ApiDoc;

/// The document as JSON (generated once), with the constraints this server enforces.
pub fn document(max_page_size: usize) -> Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    let mut doc = DOC
        .get_or_init(|| {
            serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serializes")
        })
        .clone();
    constraints::publish(&mut doc, max_page_size);
    doc
}

struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, doc: &mut Document) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        for (path, item) in doc.paths.paths.iter_mut() {
            // The operational routes outside /v1 document their own answers.
            let api = path.starts_with("/v1/");
            let ops = [
                (Method::GET, &mut item.get),
                (Method::PUT, &mut item.put),
                (Method::POST, &mut item.post),
                (Method::DELETE, &mut item.delete),
                (Method::PATCH, &mut item.patch),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                if api {
                    add_common_errors(op);
                }
                add_auth_errors(op, &method, path);
                declare_problems(op);
            }
        }
    }
}

fn add_common_errors(op: &mut Operation) {
    let has_body = op.request_body.is_some();
    let mut common = vec![
        ("400", "Invalid input (with errors by JSON Pointer)"),
        ("500", "Internal error (the body says nothing internal)"),
        (
            "503",
            "Storage unavailable; retry after Retry-After seconds",
        ),
    ];
    if has_body {
        common.push(("413", "The body is larger than the configured limit"));
        common.push(("415", "The body is not application/json"));
    }
    for (status, description) in common {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(Response::new(description)));
    }
}

/// 401 and 403 on every route that needs a token (per `auth/rules.rs`), and the bearer
/// scheme it takes.
fn add_auth_errors(op: &mut Operation, method: &Method, path: &str) {
    let public = matches!(
        crate::auth::rules::lookup(method, path),
        crate::auth::rules::Lookup::Rule(crate::auth::Permission::Public)
    );
    if public {
        return;
    }
    for (status, description) in [
        (
            "401",
            "No token, a malformed Authorization header, or an unknown, expired or revoked token",
        ),
        ("403", "The token's role may not do this"),
    ] {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(Response::new(description)));
    }
    let requirement =
        utoipa::openapi::security::SecurityRequirement::new::<&str, [&str; 0], &str>("bearer", []);
    op.security = Some(vec![requirement]);
}

/// Every 4xx/5xx answer is a problem document.
fn declare_problems(op: &mut Operation) {
    for (status, response) in op.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if status.starts_with('4') || status.starts_with('5') {
            response.content.shift_remove("application/json");
            response.content.insert(
                PROBLEM_JSON.to_owned(),
                RefOr::T(Content::new(Some(Ref::from_schema_name("Problem")))),
            );
        }
    }
}
