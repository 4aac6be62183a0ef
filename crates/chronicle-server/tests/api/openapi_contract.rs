//! Requests generated from `/openapi.json` are answered as the document says: for every
//! operation, a request with valid values (each optional parameter in turn, a minimal body)
//! is not refused as invalid; a parameter or body field (at any depth) that breaks a published
//! constraint, or a body that breaks a published one-of rule, is refused with 400; every
//! answer's status is one the operation declares, and none is a 5xx.

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
    // A one-of rule beside the properties is read by `valid`; otherwise a branch is the type.
    for key in ["oneOf", "anyOf", "allOf"] {
        if schema.get("properties").is_some() {
            break;
        }
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
            (_, Some(p)) if p.starts_with("^\u{2014}") => "\u{2014} witness AAAA".to_owned(),
            (_, Some(p)) if p.starts_with("^(/") => "/v".to_owned(),
            (_, Some(p)) if p.starts_with("^[a-z]") => "note".to_owned(),
            _ => "x".to_owned(),
        }),
        _ => {
            // The required properties, and `data` (which `create` and `replace` need).
            let mut object = serde_json::Map::new();
            let data = json!("data");
            let required = s["required"].as_array().into_iter().flatten();
            // Of a rule that one of several fields be given, the first.
            let one_of = s["anyOf"][0]["required"].as_array().into_iter().flatten();
            let data = s["properties"].get("data").map(|_| &data);
            for name in required.chain(one_of).chain(data) {
                let name = name.as_str().unwrap();
                // The branch may say more of the field (a list that must not be empty).
                let mut property = resolve(doc, &s["properties"][name]);
                let more = s["anyOf"][0]["properties"][name].as_object();
                for (key, value) in more.into_iter().flatten() {
                    property[key] = value.clone();
                }
                object.insert(name.to_owned(), valid(doc, &property));
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

/// Bodies that break one published constraint of one field each (at any depth), as the field's
/// pointer and the whole body.
fn invalid_bodies(doc: &Value, schema: &Value) -> Vec<(String, Value)> {
    let s = resolve(doc, schema);
    let base = valid(doc, schema);
    let mut out = Vec::new();
    // A rule that one of several fields be given, with none of them.
    if let Some(branches) = s["anyOf"].as_array() {
        let mut body = base.clone();
        for branch in branches {
            for name in branch["required"].as_array().into_iter().flatten() {
                body.as_object_mut().unwrap().remove(name.as_str().unwrap());
            }
        }
        out.push(("(none of a one-of rule)".to_owned(), body));
    }
    for (name, property) in s["properties"].as_object().into_iter().flatten() {
        let p = resolve(doc, property);
        let mut with = |pointer: String, value: Value| {
            let mut body = base.clone();
            body[name.as_str()] = value;
            out.push((pointer, body));
        };
        for bad in invalid(doc, property, false) {
            // Numbers are sent as numbers, the rest as strings.
            let value = match (p["type"].as_str(), bad.parse::<i64>()) {
                (Some("integer"), Ok(n)) => json!(n),
                _ => json!(bad),
            };
            with(format!("/{name}"), value);
        }
        if p["minItems"].as_u64() == Some(1) {
            with(format!("/{name}"), json!([]));
        }
        if p["type"] == "array" {
            let item = &p["items"];
            for bad in invalid(doc, item, false) {
                with(format!("/{name}/0"), json!([bad]));
            }
            for (pointer, bad) in invalid_bodies(doc, item) {
                with(format!("/{name}/0{pointer}"), json!([bad]));
            }
        }
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
        body: Option<&Value>,
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
        let schema = &self.op["requestBody"]["content"]["application/json"]["schema"];
        if !schema.is_null() {
            request = request.json(&body.cloned().unwrap_or_else(|| valid(doc, schema)));
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
    // Every disagreement, so that one run lists them all.
    let mut wrong = Vec::new();
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
            let status = operation
                .send(&app, &doc, &path_values, &required, None)
                .await;
            // Valid values are never refused as invalid input.
            if status == 400 {
                wrong.push(format!(
                    "{} {path} with valid values: 400",
                    operation.method
                ));
            }
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            if !schema.is_null() {
                for (pointer, body) in invalid_bodies(&doc, schema) {
                    let status = operation
                        .send(&app, &doc, &path_values, &required, Some(&body))
                        .await;
                    if status != 400 {
                        wrong.push(format!(
                            "{} {path} with {pointer} broken: {status}",
                            operation.method
                        ));
                    }
                    checked += 1;
                }
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
                    let status = operation.send(&app, &doc, &pv, &q, None).await;
                    if status == 400 {
                        wrong.push(format!(
                            "{} {path} with valid {name}: 400",
                            operation.method
                        ));
                    }
                }
                for bad in invalid(&doc, &p["schema"], in_path) {
                    let (pv, q) = with(bad.clone());
                    let status = operation.send(&app, &doc, &pv, &q, None).await;
                    if status != 400 {
                        wrong.push(format!(
                            "{} {path} with {name}={bad:.40}: {status}",
                            operation.method
                        ));
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "answered otherwise than documented:\n{}",
        wrong.join("\n")
    );
    assert!(
        checked > 50,
        "only {checked} invalid variants were generated"
    );
}
