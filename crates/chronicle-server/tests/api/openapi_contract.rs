//! Requests generated from `/openapi.json` are answered as the document says: for every
//! operation, a request with valid values for each parameter (one optional parameter at a
//! time) is not refused as invalid, a value that breaks a published constraint is refused
//! with 400, every answer's status is one the operation declares, and none is a 5xx.

use crate::helpers::TestApp;
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(requests_generated_from_the_openapi_document_are_answered_as_it_says);

/// Follows `$ref`s and picks the non-null branch of optional types.
fn resolve(doc: &Value, schema: &Value) -> Value {
    if let Some(name) = schema["$ref"].as_str() {
        let name = name.trim_start_matches("#/components/schemas/");
        return resolve(doc, &doc["components"]["schemas"][name]);
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(branches) = schema[key].as_array() {
            let branch = branches.iter().find(|b| b["type"] != "null");
            return resolve(doc, branch.unwrap_or(&Value::Null));
        }
    }
    let mut schema = schema.clone();
    if let Some(types) = schema["type"].as_array() {
        let first = types.iter().find(|t| *t != "null").cloned();
        schema["type"] = first.unwrap_or(Value::Null);
    }
    schema
}

/// A value the schema allows (the smallest one, where there is a choice).
fn valid(doc: &Value, schema: &Value) -> Value {
    let s = resolve(doc, schema);
    if let Some(values) = s["enum"].as_array() {
        return values[0].clone();
    }
    match s["type"].as_str().unwrap_or("object") {
        "integer" | "number" => json!(s["minimum"].as_u64().unwrap_or(1)),
        "boolean" => json!(false),
        "array" => {
            let n = s["minItems"].as_u64().unwrap_or(0) as usize;
            Value::Array(vec![valid(doc, &s["items"]); n])
        }
        "string" => json!(match (s["format"].as_str(), s["pattern"].as_str()) {
            (Some("uuid"), _) => uuid::Uuid::now_v7().to_string(),
            (Some("date-time"), _) => "2026-01-01T00:00:00Z".to_owned(),
            (_, Some(p)) if p.contains(":[") => "customer:c1".to_owned(),
            (_, Some(p)) if p.starts_with("^(/") => "/v".to_owned(),
            (_, Some(p)) if p.starts_with("^[a-z]") => "note".to_owned(),
            _ => "x".to_owned(),
        }),
        _ => {
            let mut object = serde_json::Map::new();
            for name in s["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap();
                object.insert(name.to_owned(), valid(doc, &s["properties"][name]));
            }
            Value::Object(object)
        }
    }
}

/// Values that break the schema's published constraints, as query or path text.
fn invalid(doc: &Value, schema: &Value, in_path: bool) -> Vec<String> {
    let s = resolve(doc, schema);
    let mut out = Vec::new();
    if s["enum"].is_array() {
        out.push("bogus".to_owned());
    }
    if let Some(min) = s["minimum"].as_i64() {
        out.push((min - 1).to_string());
    }
    if let Some(max) = s["maximum"].as_i64() {
        out.push((max + 1).to_string());
    }
    if s["type"] == "integer" {
        out.push("x".to_owned());
    }
    if s["format"].is_string() {
        out.push("not-in-format".to_owned());
    }
    match s["pattern"].as_str() {
        // The pattern that only excludes control characters.
        Some(p) if p.starts_with("^[^") => out.push("a\u{1}b".to_owned()),
        Some(_) => out.push("Not_Matching".to_owned()),
        None => {}
    }
    if s["minLength"].as_u64() == Some(1) && !in_path {
        out.push(String::new());
    }
    if let Some(max) = s["maxLength"].as_u64() {
        out.push("x".repeat(max as usize + 1));
    }
    out
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

struct Operation {
    method: Method,
    path: String,
    op: Value,
}

impl Operation {
    /// Sends one request: path parameters and query pairs as given, the generated body.
    async fn send(
        &self,
        app: &TestApp,
        doc: &Value,
        path: &[(String, String)],
        query: &[(String, String)],
    ) -> u16 {
        let mut url = self.path.clone();
        for (name, value) in path {
            url = url.replace(&format!("{{{name}}}"), &encode(value));
        }
        let pairs: Vec<String> = query
            .iter()
            .map(|(n, v)| format!("{}={}", encode(n), encode(v)))
            .collect();
        if !pairs.is_empty() {
            url = format!("{url}?{}", pairs.join("&"));
        }
        let mut request = app.request(self.method.clone(), &url);
        let body = &self.op["requestBody"]["content"]["application/json"]["schema"];
        if !body.is_null() {
            request = request.json(&valid(doc, body));
        }
        let status = request.send().await.unwrap().status().as_u16();
        let declared = self.op["responses"].as_object().unwrap();
        let label = format!("{} {url} {query:?}", self.method);
        assert!(status < 500, "{label}: {status}");
        assert!(
            declared.contains_key(&status.to_string()),
            "{label}: {status} is not declared"
        );
        status
    }
}

async fn requests_generated_from_the_openapi_document_are_answered_as_it_says(app: TestApp) {
    app.create("note", "x", json!({"v": 1})).await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            // The stream never ends; its parameters are checked by the stream tests.
            if path == "/v1/stream" {
                continue;
            }
            let operation = Operation {
                method,
                path: path.clone(),
                op: op.clone(),
            };
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let of = |place: &str| -> Vec<(String, Value)> {
                params
                    .iter()
                    .filter(|p| p["in"] == place)
                    .map(|p| (p["name"].as_str().unwrap().to_owned(), p.clone()))
                    .collect()
            };
            let path_values: Vec<(String, String)> = of("path")
                .iter()
                .map(|(name, p)| (name.clone(), text(&valid(&doc, &p["schema"]))))
                .collect();
            let required: Vec<(String, String)> = of("query")
                .iter()
                .filter(|(_, p)| p["required"] == true)
                .map(|(name, p)| (name.clone(), text(&valid(&doc, &p["schema"]))))
                .collect();
            let status = operation.send(&app, &doc, &path_values, &required).await;
            // Valid values are never refused as invalid input (bodies are generated minimally
            // and may still miss a rule between fields, so only parameters are held to this).
            if op["requestBody"].is_null() {
                assert_ne!(
                    status, 400,
                    "{} {path} with valid parameters",
                    operation.method
                );
            }
            for (name, p) in of("query").into_iter().chain(of("path")) {
                let in_path = p["in"] == "path";
                let with = |value: String| {
                    let mut path_values = path_values.clone();
                    let mut query = required.clone();
                    let target = if in_path {
                        &mut path_values
                    } else {
                        &mut query
                    };
                    target.retain(|(n, _)| *n != name);
                    target.push((name.clone(), value));
                    (path_values, query)
                };
                // A cursor is valid only as a server issued it; the document says it is opaque.
                if !in_path && p["required"] != true && name != "cursor" {
                    let (pv, q) = with(text(&valid(&doc, &p["schema"])));
                    let status = operation.send(&app, &doc, &pv, &q).await;
                    if op["requestBody"].is_null() {
                        assert_ne!(status, 400, "{} {path} with valid {name}", operation.method);
                    }
                }
                for bad in invalid(&doc, &p["schema"], in_path) {
                    let (pv, q) = with(bad.clone());
                    let status = operation.send(&app, &doc, &pv, &q).await;
                    assert_eq!(
                        status, 400,
                        "{} {path} with {name}={bad:.40}",
                        operation.method
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} invalid variants were generated"
    );
}
