//! What the server enforces on parameters, and every status an operation can answer, written
//! into the document so that a client (or a fuzzer) generating requests from it sends only
//! what is accepted. The checks themselves live in `extract`, `filter`, `chronicle_core::limits`
//! and the handlers; the test `openapi_contract` sends requests generated from this document
//! and fails when the two disagree.

use crate::error::PROBLEM_JSON;
use serde_json::{Value, json};

/// `chronicle_core::limits::check_type_name`.
const TYPE_NAME: &str = "^[a-z][a-z0-9_-]{0,63}$";
/// `chronicle_core::limits::check_id`: no control characters (C0, DEL, C1). The limit of 256
/// is in UTF-8 bytes; `maxLength` counts characters, so it is exact only for ASCII.
const NO_CONTROLS: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]+$";
/// `chronicle_core::limits::check_subject`: `<type>:<id>`.
const SUBJECT: &str = "^[a-z][a-z0-9_-]{0,63}:[^\\u0000-\\u001F\\u007F-\\u009F]+$";
/// `extract::check_pointer`: a JSON Pointer to a field, not the whole document.
const FIELD_POINTER: &str = "^(/([^~/]|~[01])*)+$";

/// Answers that any operation can give, whatever its route: the HTTP layer's own.
const EVERY_OPERATION: [(&str, &str); 3] = [
    (
        "400",
        "Invalid input: a malformed request, query text that is not UTF-8, or a bad value",
    ),
    ("414", "uri-too-long: the request target is over 64 KiB"),
    (
        "431",
        "headers-too-large: the request's headers are too large",
    ),
];

/// Constraints on request bodies' fields: (schema, property, what to merge into its schema).
fn body_constraints() -> Vec<(&'static str, &'static str, Value)> {
    let id = json!({"minLength": 1, "maxLength": 256, "pattern": NO_CONTROLS});
    let text = json!({"maxLength": 4096});
    let type_name = json!({"pattern": TYPE_NAME});
    let operations = json!({"minItems": 1, "maxItems": chronicle_core::limits::MAX_BATCH_OPS});
    vec![
        ("CreateEntity", "id", id.clone()),
        ("OpRequest", "type", type_name.clone()),
        ("OpRequest", "id", id.clone()),
        ("BulkRequest", "operations", operations.clone()),
        ("TransactionRequest", "operations", operations),
        (
            "EventRequest",
            "operation",
            json!({"$ref": null, "type": "string",
                   "enum": ["read", "system", "config", "user_management", "security"]}),
        ),
        ("EventRequest", "entity_type", type_name.clone()),
        ("EventRequest", "entity_id", id.clone()),
        ("EventRequest", "summary", text.clone()),
        ("TokenRequest", "name", id.clone()),
        (
            "TokenRequest",
            "role",
            json!({"enum": ["admin", "operator", "approver", "auditor", "viewer", "service"]}),
        ),
        ("TokenRequest", "email", id.clone()),
        ("RuleRequest", "name", id),
        ("RollbackRequest", "reason", text.clone()),
        ("RollbackRequest", "stage_size", json!({"minimum": 1})),
        ("Decision", "justification", text.clone()),
        ("EraseRequest", "reason", text.clone()),
        (
            "Threshold",
            "count",
            json!({"minimum": 1, "maximum": 100_000}),
        ),
        (
            "Threshold",
            "window_secs",
            json!({"minimum": 1, "maximum": 2_592_000}),
        ),
        (
            "Cosignature",
            "cosignature",
            json!({"pattern": "^\u{2014} [^\\n]+$"}),
        ),
        (
            "SnapshotRequest",
            "entity_types",
            json!({"items": {"type": "string", "pattern": TYPE_NAME}}),
        ),
        ("SnapshotRequest", "label", text),
        ("EntityRef", "type", type_name.clone()),
    ]
}

/// Rules between body fields that a schema can state: (schema, keyword, value).
fn body_rules() -> Vec<(&'static str, &'static str, Value)> {
    vec![(
        "SnapshotRequest",
        "anyOf",
        json!([
            {"required": ["entity_types"], "properties": {"entity_types": {"minItems": 1}}},
            {"required": ["entities"], "properties": {"entities": {"minItems": 1}}},
        ]),
    )]
}

/// Writes the constraints and statuses into the serialized document.
pub fn publish(doc: &mut Value, max_page_size: usize) {
    for (schema, keyword, rule) in body_rules() {
        doc["components"]["schemas"][schema][keyword] = rule;
    }
    for (schema, property, constraint) in body_constraints() {
        let target = &mut doc["components"]["schemas"][schema]["properties"][property];
        if let (Some(target), Some(constraint)) = (target.as_object_mut(), constraint.as_object()) {
            for (key, value) in constraint {
                if value.is_null() {
                    target.remove(key);
                } else {
                    target.insert(key.clone(), value.clone());
                }
            }
        }
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (_, op) in item.iter_mut() {
            let Some(op) = op.as_object_mut() else {
                continue;
            };
            if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
                for param in params {
                    constrain(path, param, max_page_size);
                }
            }
            let responses = op
                .entry("responses")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("responses is an object");
            let mut added: Vec<(&str, &str)> = EVERY_OPERATION.to_vec();
            // A resource named by an id in the path may not exist.
            if path.contains("{id}") || path.contains("{subject}") {
                added.push(("404", "No such resource"));
            }
            for (status, description) in added {
                responses.entry(status).or_insert_with(|| {
                    json!({
                        "description": description,
                        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
                    })
                });
            }
        }
    }
}

/// The schema of one parameter, as the server checks it.
fn constrain(path: &str, param: &mut Value, max_page_size: usize) {
    let name = param["name"].as_str().unwrap_or_default().to_owned();
    let location = param["in"].as_str().unwrap_or_default().to_owned();
    let is_string = param["schema"]["type"] == "string";
    let id = json!({"type": "string", "minLength": 1, "maxLength": 256, "pattern": NO_CONTROLS});
    let uuid = json!({"type": "string", "format": "uuid"});
    let bounded = |max: usize| json!({"type": "integer", "minimum": 1, "maximum": max});
    let schema = match (location.as_str(), name.as_str()) {
        ("path", "type") | ("query", "entity_type") => {
            json!({"type": "string", "pattern": TYPE_NAME})
        }
        ("path", "id")
            if path.starts_with("/v1/entities/")
                || path.starts_with("/v1/tokens/")
                || path.starts_with("/v1/lineage/") =>
        {
            id
        }
        ("path", "id") => uuid,
        ("path", "subject") => json!({"type": "string", "maxLength": 321, "pattern": SUBJECT}),
        ("query", "limit") => {
            json!({"type": "integer", "minimum": 1, "maximum": max_page_size})
        }
        ("query", "actor" | "entity_id" | "correlation_id" | "tag") => id,
        ("query", "source_system" | "source_record_id" | "import_id") => id,
        ("query", "entry_id") => uuid,
        // Lineage (`routes::lineage`).
        ("query", "direction") => {
            json!({"type": "string", "enum": ["upstream", "downstream", "both"]})
        }
        ("query", "format") if path.starts_with("/v1/lineage/") => {
            json!({"type": "string", "enum": ["json", "dot", "mermaid", "svg"]})
        }
        ("query", "depth") => bounded(chronicle_lineage::walk::MAX_DEPTH),
        ("query", "max_nodes") => bounded(chronicle_lineage::walk::MAX_NODES),
        ("query", "max_siblings") => bounded(chronicle_lineage::walk::MAX_SIBLINGS),
        ("query", "transaction_id" | "parent_id" | "rollback_id") => uuid,
        ("query", "from" | "to" | "as_of") if is_string => {
            json!({"type": "string", "format": "date-time"})
        }
        ("query", "field") => json!({"type": "string", "pattern": FIELD_POINTER}),
        ("query", "operation") => json!({"$ref": "#/components/schemas/Operation"}),
        ("query", "severity") => json!({"$ref": "#/components/schemas/Severity"}),
        ("query", "order") => json!({"type": "string", "enum": ["asc", "desc"]}),
        ("query", "group_by") => {
            json!({"type": "string", "enum": ["actor", "operation", "entity_type", "hour", "day"]})
        }
        ("query", "q") => json!({"type": "string", "minLength": 1, "maxLength": 4096}),
        // Seqs, tree sizes and versions count from 1.
        ("query", "version" | "start" | "end" | "seq" | "tree_size" | "from" | "to") => {
            json!({"type": "integer", "format": "int64", "minimum": 1})
        }
        _ => return,
    };
    param["schema"] = schema;
    if name == "group_by" {
        param["required"] = json!(true);
    }
    // Rules between parameters, which a schema cannot state.
    let rule = match name.as_str() {
        "as_of" => Some("Not together with `version`."),
        "end" => Some("At least `start`, and at most `start` + 999."),
        "to" if !is_string => Some("At least `from`, at most the current tree size."),
        "tree_size" => Some("At least `seq`, at most the current tree size."),
        _ => None,
    };
    if let Some(rule) = rule {
        let description = param["description"].as_str().unwrap_or_default();
        param["description"] = json!(format!("{description} {rule}").trim().to_owned());
    }
}
