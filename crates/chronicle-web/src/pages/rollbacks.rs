//! Rollbacks: the list (`/rollbacks`), a new one (`/rollbacks/new`: pick a target and a
//! strategy, preview it, request it) and one rollback (`/rollbacks/{id}`: status, live
//! progress, approve or reject, pause, resume, stop). Every action is the API's own call
//! with the session's token; the API decides who may do what (never approving one's own).

use super::get;
use crate::WebState;
use crate::api::{Call, Client, Failure};
use crate::layout::{
    Nav, csrf, encode, entity_link, failed, json_block, next_page, page, problem, query, time,
    value,
};
use crate::session::{Posted, Session, Signed, field};
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Target kinds and the form fields each takes (the API's names).
const KINDS: &[(&str, &str, &[&str])] = &[
    ("entry", "One entry", &["entry_id"]),
    ("bulk", "A bulk operation", &["bulk_id"]),
    ("transaction", "A transaction", &["transaction_id"]),
    ("correlation", "A correlation id", &["correlation_id"]),
    (
        "entity_version",
        "An entity back to a version",
        &["type", "id", "version"],
    ),
    (
        "entity_time",
        "An entity back to a time",
        &["type", "id", "as_of"],
    ),
    (
        "scope_time",
        "Types or entities back to a time",
        &["entity_types", "entities", "as_of"],
    ),
    ("fields", "Some fields of an entry", &["entry_id", "fields"]),
    ("snapshot", "Restore a snapshot", &["snapshot_id"]),
    ("rollback", "Undo a rollback", &["rollback_id"]),
];

/// Every target field, with its label and hint.
const FIELDS: &[(&str, &str, &str)] = &[
    ("entry_id", "Entry id", ""),
    ("bulk_id", "Bulk id", ""),
    ("transaction_id", "Transaction id", ""),
    ("correlation_id", "Correlation id", ""),
    ("type", "Entity type", ""),
    ("id", "Entity id", ""),
    ("version", "Version", "the version to go back to"),
    ("as_of", "As of (RFC 3339)", "2026-12-01T02:00:00Z"),
    (
        "entity_types",
        "Entity types",
        "comma-separated, e.g. rate,invoice",
    ),
    (
        "entities",
        "Entities",
        "comma-separated type/id, e.g. rate/r-1",
    ),
    (
        "fields",
        "Fields",
        "comma-separated JSON Pointers, e.g. /price",
    ),
    ("snapshot_id", "Snapshot id", ""),
    ("rollback_id", "Rollback id", ""),
];

const STRATEGIES: &[(&str, &str)] = &[
    ("strict", "strict: refuse if anything changed since"),
    (
        "cascade",
        "cascade: also undo later changes that depend on it",
    ),
    (
        "non_conflicting",
        "non_conflicting: undo what does not conflict",
    ),
    ("force", "force: overwrite later changes"),
];

/// The settings of a rollback besides its target.
const SETTINGS: &[&str] = &["kind", "strategy", "mode", "stage_size", "reason"];

/// The API's target object from the form's fields, or the field that is wrong.
fn target(fields: &[(String, String)]) -> Result<Value, (String, String)> {
    let missing = |name: &str| {
        (
            name.to_owned(),
            "is required for this kind of target".to_owned(),
        )
    };
    let kind = field(fields, "kind").ok_or_else(|| missing("kind"))?;
    let (_, _, names) = KINDS
        .iter()
        .find(|(k, _, _)| *k == kind)
        .ok_or_else(|| ("kind".to_owned(), "is not a kind of target".to_owned()))?;
    let list = |v: &str| -> Vec<String> {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut out = Map::new();
    out.insert("kind".into(), json!(kind));
    for name in *names {
        let given = field(fields, name);
        let v = match (*name, given) {
            // A scope names types, entities or both.
            ("entity_types" | "entities", None) => continue,
            (_, None) => return Err(missing(name)),
            ("version", Some(v)) => json!(
                v.parse::<u64>()
                    .map_err(|_| (name.to_string(), "must be a whole number".to_owned()))?
            ),
            ("entity_types" | "fields", Some(v)) => json!(list(v)),
            ("entities", Some(v)) => {
                let mut refs = Vec::new();
                for item in list(v) {
                    let (t, i) = item
                        .split_once('/')
                        .ok_or_else(|| (name.to_string(), format!("{item} is not type/id")))?;
                    refs.push(json!({"type": t, "id": i}));
                }
                json!(refs)
            }
            (_, Some(v)) => json!(v),
        };
        out.insert((*name).to_owned(), v);
    }
    Ok(Value::Object(out))
}

/// The body of `POST /v1/rollbacks` (and of the preview, which ignores mode).
fn request_body(fields: &[(String, String)]) -> Result<Value, (String, String)> {
    let mut body = json!({
        "target": target(fields)?,
        "strategy": field(fields, "strategy").unwrap_or("strict"),
    });
    if let Some(r) = field(fields, "reason") {
        body["reason"] = json!(r);
    }
    if let Some(m) = field(fields, "mode") {
        body["mode"] = json!(m);
    }
    if let Some(s) = field(fields, "stage_size") {
        let n = s
            .parse::<usize>()
            .map_err(|_| ("stage_size".to_owned(), "must be a whole number".to_owned()))?;
        body["stage_size"] = json!(n);
    }
    Ok(body)
}

async fn post_api(
    state: &WebState,
    session: &Session,
    client: &Client,
    path: String,
    body: Value,
    reason: Option<&str>,
) -> Result<(StatusCode, Value), Failure> {
    let call = Call {
        method: Method::POST,
        path,
        token: Some(&session.token),
        client,
        reason,
        body: Some(body),
    };
    state.api.call(call).await
}

/// `GET /rollbacks/new`: the form, prefilled from the query; with a target, its preview.
pub async fn new(
    State(state): State<WebState>,
    Signed(session): Signed,
    client: Client,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    if !session.who.may("RollbackRequest") {
        let body =
            html! { p class="problem" role="alert" { "Your role cannot request rollbacks." } };
        return (
            StatusCode::FORBIDDEN,
            page("New rollback", Nav::Rollbacks, Some(&session), body),
        )
            .into_response();
    }
    let form = target_form(&params);
    if field(&params, "preview").is_none() {
        return page("New rollback", Nav::Rollbacks, Some(&session), form).into_response();
    }
    let (status, shown) = match request_body(&params) {
        Err((name, message)) => (StatusCode::BAD_REQUEST, field_problem(&name, &message)),
        Ok(body) => match post_api(
            &state,
            &session,
            &client,
            "/v1/rollbacks/preview".into(),
            body,
            None,
        )
        .await
        {
            Ok((_, plan)) => (
                StatusCode::OK,
                html! { (preview(&plan)) (request_form(&session, &params, &plan)) },
            ),
            Err(f) if f.status == StatusCode::UNAUTHORIZED => return failed(&state, &session, f),
            Err(f) => (f.status, problem(&f)),
        },
    };
    let body = html! { (form) (shown) };
    (
        status,
        page("New rollback", Nav::Rollbacks, Some(&session), body),
    )
        .into_response()
}

fn field_problem(name: &str, message: &str) -> Markup {
    html! { div class="problem" role="alert" { p { code { (name) } " " (message) } } }
}

/// `POST /rollbacks/new`: requests the rollback; then its page.
pub async fn request(State(state): State<WebState>, client: Client, posted: Posted) -> Response {
    let session = &posted.session;
    let body = match request_body(&posted.fields) {
        Ok(b) => b,
        Err((name, message)) => {
            let body = html! { (target_form(&posted.fields)) (field_problem(&name, &message)) };
            return (
                StatusCode::BAD_REQUEST,
                page("New rollback", Nav::Rollbacks, Some(session), body),
            )
                .into_response();
        }
    };
    let reason = posted.field("reason");
    match post_api(
        &state,
        session,
        &client,
        "/v1/rollbacks".into(),
        body,
        reason,
    )
    .await
    {
        Ok((_, record)) => {
            let id = record["id"].as_str().unwrap_or_default();
            Redirect::to(&format!("/rollbacks/{}", encode(id))).into_response()
        }
        Err(f) if f.status == StatusCode::UNAUTHORIZED || f.status == StatusCode::FORBIDDEN => {
            failed(&state, session, f)
        }
        Err(f) => {
            let conflicts = f.body.get("conflicts").cloned().unwrap_or(Value::Null);
            let body = html! {
                (target_form(&posted.fields))
                (problem(&f))
                @if let Some(list) = conflicts.as_array() { (conflict_table(list)) }
            };
            (
                f.status,
                page("New rollback", Nav::Rollbacks, Some(session), body),
            )
                .into_response()
        }
    }
}

/// The target form: a GET form whose fields are the API's names, so a preview is a link.
fn target_form(params: &[(String, String)]) -> Markup {
    let chosen = field(params, "kind").unwrap_or("entry");
    let v = |name: &str| field(params, name).unwrap_or("").to_owned();
    html! {
        form method="get" action="/rollbacks/new" class="filters" aria-label="Rollback target" {
            input type="hidden" name="preview" value="1";
            div {
                label for="r-kind" { "Target" }
                select id="r-kind" name="kind" {
                    @for (k, label, _) in KINDS { option value=(k) selected[*k == chosen] { (label) } }
                }
            }
            @for (name, label, hint) in FIELDS {
                div {
                    label for=(format!("r-{name}")) { (label) }
                    input id=(format!("r-{name}")) name=(name) value=(v(name)) placeholder=[(!hint.is_empty()).then_some(*hint)];
                }
            }
            div {
                label for="r-strategy" { "Strategy" }
                select id="r-strategy" name="strategy" {
                    @for (s, label) in STRATEGIES { option value=(s) selected[Some(*s) == field(params, "strategy")] { (label) } }
                }
            }
            div {
                label for="r-mode" { "Mode" }
                select id="r-mode" name="mode" {
                    option value="atomic" { "atomic: all at once" }
                    option value="staged" selected[field(params, "mode") == Some("staged")] { "staged: in stages, with progress" }
                }
            }
            div { label for="r-stage" { "Stage size" } input id="r-stage" name="stage_size" type="number" min="1" value=(v("stage_size")); }
            div { label for="r-reason" { "Reason" } input id="r-reason" name="reason" value=(v("reason")); }
            div { button type="submit" { "Preview" } }
        }
        p class="hint" { "Fill in the fields of the chosen target; the others are ignored." }
    }
}

/// The plan: whether it can run, whether it needs approval, and before/after per entity.
fn preview(plan: &Value) -> Markup {
    let feasible = plan["feasible"].as_bool().unwrap_or(false);
    let approval = plan["requires_approval"].as_bool().unwrap_or(false);
    let counts = &plan["counts"];
    let ops = plan["operations"].as_array().cloned().unwrap_or_default();
    let conflicts = plan["conflicts"].as_array().cloned().unwrap_or_default();
    html! {
        section id="preview" aria-labelledby="preview-h" {
            h2 id="preview-h" { "Preview" }
            @if feasible { p class="ok" { "This rollback can run: " (counts["entities"]) " entities, " (counts["entries_undone"]) " entries undone." } }
            @else { p class="problem" role="alert" { "This rollback cannot run with this strategy: it has conflicts. Try another strategy." } }
            @if approval {
                div class="warn" {
                    p { strong { "Needs approval" } " (" (plan["required_approvals"]) ") before it runs:" }
                    ul { @for r in plan["approval_reasons"].as_array().into_iter().flatten() { li { (value(r)) } } }
                }
            } @else { p { "No approval needed." } }
            @if let Some(actors) = plan["affected_actors"].as_array() && !actors.is_empty() {
                p { "Undoes changes by: " (actors.iter().map(value).collect::<Vec<_>>().join(", ")) }
            }
            (operations_table(&ops))
            @if !conflicts.is_empty() { h3 { "Conflicts" } (conflict_table(&conflicts)) }
            @if let Some(skipped) = plan["skipped"].as_array() && !skipped.is_empty() {
                h3 { "Skipped" }
                ul { @for s in skipped { li { a href=(format!("/entries/{}", value(&s["entry_id"]))) { (value(&s["entry_id"])) } ": " (value(&s["reason"])) } } }
            }
        }
    }
}

fn operations_table(ops: &[Value]) -> Markup {
    html! {
        div class="scroll" {
            table id="operations" {
                caption class="visually-hidden" { "Planned changes, before and after" }
                thead { tr {
                    th scope="col" { "Entity" } th scope="col" { "Action" }
                    th scope="col" { "Before" } th scope="col" { "After" }
                } }
                tbody {
                    @for op in ops {
                        tr {
                            td { (entity_link(op["type"].as_str(), op["id"].as_str())) }
                            td { (value(&op["action"])) }
                            td class="before" { (json_block(&op["before"])) }
                            td class="after" { (json_block(&op["after"])) }
                        }
                    }
                }
            }
        }
        @if ops.is_empty() { p class="empty" { "Nothing to change." } }
    }
}

fn conflict_table(conflicts: &[Value]) -> Markup {
    html! {
        div class="scroll" {
            table id="conflicts" {
                thead { tr {
                    th scope="col" { "Entity" } th scope="col" { "Kind" }
                    th scope="col" { "Fields" } th scope="col" { "Later entry" }
                } }
                tbody {
                    @for c in conflicts {
                        tr {
                            td { (entity_link(c["type"].as_str(), c["id"].as_str())) }
                            td { (value(&c["kind"])) }
                            td { (c["fields"].as_array().map(|f| f.iter().map(value).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
                            td { @if let Some(e) = c["entry_id"].as_str() { a href=(format!("/entries/{}", encode(e))) { "seq " (value(&c["seq"])) } } }
                        }
                    }
                }
            }
        }
    }
}

/// The form that requests what was previewed: the same fields, hidden, and the CSRF token.
fn request_form(session: &Session, params: &[(String, String)], plan: &Value) -> Markup {
    let approval = plan["requires_approval"].as_bool().unwrap_or(false);
    let keep: Vec<&(String, String)> = params
        .iter()
        .filter(|(k, v)| {
            !v.trim().is_empty()
                && (SETTINGS.contains(&k.as_str()) || FIELDS.iter().any(|(f, _, _)| f == k))
        })
        .filter(|(k, _)| k != "reason")
        .collect();
    html! {
        form method="post" action="/rollbacks/new" class="stack" id="request" {
            (csrf(session))
            @for (k, v) in keep { input type="hidden" name=(k) value=(v); }
            label for="q-reason" { "Reason (recorded in every entry this rollback writes)" }
            textarea id="q-reason" name="reason" required { (field(params, "reason").unwrap_or("")) }
            button type="submit" { @if approval { "Request rollback (needs approval)" } @else { "Run rollback" } }
        }
    }
}

/// A page of rollback records, newest known first as the API lists them.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RollbackList {
    rollbacks: Vec<Value>,
    next_cursor: Option<String>,
}

/// `GET /rollbacks`.
pub async fn list(
    State(state): State<WebState>,
    Signed(session): Signed,
    client: Client,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let cursor = field(&params, "cursor").unwrap_or("");
    let path = format!(
        "/v1/rollbacks?{}",
        query(&[("limit", "50"), ("cursor", cursor)])
    );
    let list = match get::<RollbackList>(&state, &session, &client, path).await {
        Ok(l) => l,
        Err(f) => return failed(&state, &session, f),
    };
    let body = html! {
        @if session.who.may("RollbackRequest") { p { a href="/rollbacks/new" { "New rollback" } } }
        div class="scroll" {
            table id="rollbacks" {
                thead { tr {
                    th scope="col" { "Rollback" } th scope="col" { "Status" } th scope="col" { "Target" }
                    th scope="col" { "Strategy" } th scope="col" { "Requested by" } th scope="col" { "Requested" }
                    th scope="col" { "Progress" }
                } }
                tbody {
                    @for r in &list.rollbacks {
                        tr {
                            td { a href=(format!("/rollbacks/{}", encode(r["id"].as_str().unwrap_or_default()))) { code { (value(&r["id"])) } } }
                            td { (value(&r["status"])) }
                            td { (value(&r["target"]["kind"])) }
                            td { (value(&r["strategy"])) }
                            td { (value(&r["requested_by"]["id"])) }
                            td { @if let Some(t) = r["requested_at"].as_str() { (time(t)) } }
                            td { (value(&r["progress"]["done"])) " / " (value(&r["progress"]["total"])) }
                        }
                    }
                }
            }
        }
        @if list.rollbacks.is_empty() { p class="empty" { "No rollbacks yet." } }
        (next_page("/rollbacks", &[], list.next_cursor.as_deref()))
    };
    page("Rollbacks", Nav::Rollbacks, Some(&session), body).into_response()
}

/// `GET /rollbacks/{id}`.
pub async fn show(
    State(state): State<WebState>,
    Signed(session): Signed,
    client: Client,
    Path(id): Path<String>,
) -> Response {
    let path = format!("/v1/rollbacks/{}", encode(&id));
    match get::<Value>(&state, &session, &client, path).await {
        Ok(record) => record_page(&session, &record, StatusCode::OK, None),
        Err(f) => failed(&state, &session, f),
    }
}

fn record_page(
    session: &Session,
    r: &Value,
    status: StatusCode,
    refused: Option<&Failure>,
) -> Response {
    let id = r["id"].as_str().unwrap_or_default();
    let state = r["status"].as_str().unwrap_or_default();
    let me = &session.who.name;
    let own = r["requested_by"]["id"].as_str() == Some(me.as_str());
    let decided = r["approvals"].as_array().is_some_and(|a| {
        a.iter()
            .any(|x| x["actor"]["id"].as_str() == Some(me.as_str()))
    });
    let may_decide =
        state == "awaiting_approval" && session.who.may("RollbackApprove") && !own && !decided;
    let may_control = session.who.may("RollbackRequest");
    let follow = format!("/events?{}", query(&[("rollback_id", id)]));
    let body = html! {
        @if let Some(f) = refused { (problem(f)) }
        div id="live" data-follow=(follow) aria-live="polite" {
            dl class="facts" {
                dt { "Status" } dd { strong id="status" { (state) } }
                dt { "Progress" } dd {
                    progress id="progress" value=(value(&r["progress"]["done"])) max=(r["progress"]["total"].as_u64().unwrap_or(0).max(1)) { (value(&r["progress"]["done"])) }
                    " " (value(&r["progress"]["done"])) " / " (value(&r["progress"]["total"])) " operations"
                }
                @if let Some(result) = r.get("result").filter(|v| !v.is_null()) {
                    dt { "Result" } dd { (value(&result["entities_changed"])) " entities changed"
                        @if let Some(e) = result["error"].as_str() { " · error: " (e) } }
                }
                @if let Some(v) = r.get("verification").filter(|v| !v.is_null()) {
                    dt { "Verification" } dd {
                        @if v["passed"].as_bool() == Some(true) { "passed (" (value(&v["checked"])) " entities checked)" }
                        @else { "FAILED: " (value(&v["mismatches"])) }
                    }
                }
            }
        }
        dl class="facts" {
            dt { "Target" } dd { code { (r["target"].to_string()) } }
            dt { "Strategy" } dd { (value(&r["strategy"])) " · " (value(&r["mode"])) }
            dt { "Requested by" } dd { (value(&r["requested_by"]["id"])) @if let Some(t) = r["requested_at"].as_str() { " at " (time(t)) } }
            @if let Some(reason) = r["reason"].as_str() { dt { "Reason" } dd { (reason) } }
            dt { "Approvals" } dd {
                @if r["required_approvals"].as_u64().unwrap_or(0) == 0 { "none needed" }
                @else { (value(&r["required_approvals"])) " needed" }
                @for a in r["approvals"].as_array().into_iter().flatten() {
                    br; (if a["approved"].as_bool() == Some(true) { "approved by " } else { "rejected by " })
                    (value(&a["actor"]["id"])) ": " (value(&a["justification"]))
                }
            }
            dt { "Entries written" } dd { a href=(format!("/search?{}", query(&[("rollback_id", id)]))) { "search" } }
        }
        @if may_decide {
            div class="actions" {
                @for (action, label, class) in [("approve", "Approve", ""), ("reject", "Reject", "danger")] {
                    form method="post" action=(format!("/rollbacks/{}/{action}", encode(id))) {
                        (csrf(session))
                        div {
                            label for=(format!("j-{action}")) { "Justification" }
                            input id=(format!("j-{action}")) name="justification" required;
                        }
                        button type="submit" class=(class) { (label) }
                    }
                }
            }
        }
        @if may_control && matches!(state, "running" | "paused" | "approved") {
            div class="actions" {
                @if state == "running" { (control(session, id, "pause", "Pause")) }
                @if state == "paused" { (control(session, id, "resume", "Resume")) }
                (control(session, id, "stop", "Stop"))
            }
        }
        h2 { "Plan" }
        (operations_table(r["plan"]["operations"].as_array().map(Vec::as_slice).unwrap_or_default()))
    };
    let title = format!("Rollback {}", &id[..id.len().min(13)]);
    (status, page(&title, Nav::Rollbacks, Some(session), body)).into_response()
}

fn control(session: &Session, id: &str, action: &str, label: &str) -> Markup {
    html! {
        form method="post" action=(format!("/rollbacks/{}/{action}", encode(id))) {
            (csrf(session))
            button type="submit" class="secondary" { (label) }
        }
    }
}

/// `POST /rollbacks/{id}/{action}`: approve, reject, pause, resume or stop.
pub async fn act(
    State(state): State<WebState>,
    client: Client,
    Path((id, action)): Path<(String, String)>,
    posted: Posted,
) -> Response {
    let session = &posted.session;
    let body = match action.as_str() {
        "approve" | "reject" => {
            json!({"justification": posted.field("justification").unwrap_or("")})
        }
        "pause" | "resume" | "stop" => Value::Null,
        _ => {
            return crate::layout::refusal(StatusCode::NOT_FOUND, "No such action.", Some(session));
        }
    };
    let path = format!("/v1/rollbacks/{}/{action}", encode(&id));
    let call = Call {
        method: Method::POST,
        path,
        token: Some(&session.token),
        client: &client,
        reason: posted.field("justification"),
        body: (!body.is_null()).then_some(body),
    };
    match state.api.call::<Value>(call).await {
        Ok(_) => Redirect::to(&format!("/rollbacks/{}", encode(&id))).into_response(),
        Err(f) if f.status == StatusCode::UNAUTHORIZED => failed(&state, session, f),
        Err(f) => {
            // Show the rollback again with the refusal on top.
            let path = format!("/v1/rollbacks/{}", encode(&id));
            match get::<Value>(&state, session, &client, path).await {
                Ok(record) => record_page(session, &record, f.status, Some(&f)),
                Err(_) => failed(&state, session, f),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn targets_are_built_from_the_fields_of_their_kind_only() {
        let t = target(&fields(&[
            ("kind", "entity_version"),
            ("type", "rate"),
            ("id", "r-1"),
            ("version", "3"),
            ("entry_id", "ignored"),
        ]))
        .unwrap();
        assert_eq!(
            t,
            json!({"kind": "entity_version", "type": "rate", "id": "r-1", "version": 3})
        );
        let t = target(&fields(&[
            ("kind", "scope_time"),
            ("entities", "rate/a, invoice/b"),
            ("as_of", "T"),
        ]))
        .unwrap();
        assert_eq!(
            t["entities"],
            json!([{"type": "rate", "id": "a"}, {"type": "invoice", "id": "b"}])
        );
        assert!(t.get("entity_types").is_none());
        let t = target(&fields(&[
            ("kind", "fields"),
            ("entry_id", "e"),
            ("fields", "/a, /b"),
        ]))
        .unwrap();
        assert_eq!(t["fields"], json!(["/a", "/b"]));
    }

    #[test]
    fn a_missing_or_malformed_target_field_is_named() {
        assert_eq!(
            target(&fields(&[("kind", "bulk")])).unwrap_err().0,
            "bulk_id"
        );
        assert_eq!(
            target(&fields(&[
                ("kind", "entity_version"),
                ("type", "a"),
                ("id", "b"),
                ("version", "x")
            ]))
            .unwrap_err()
            .0,
            "version"
        );
        assert_eq!(target(&fields(&[("kind", "nope")])).unwrap_err().0, "kind");
        assert_eq!(target(&fields(&[])).unwrap_err().0, "kind");
    }
}
