//! Snapshots (`/snapshots`), alerts (`/alerts`) and the ledger (`/ledger`: tree size, the
//! latest signed checkpoint, and whether it verifies).
//!
//! The ledger page checks what it shows, as any outside verifier would, from the API's
//! answers alone: the checkpoint's signature against the served verifier key, that the
//! signed size and root are the ones reported, the newest entry's inclusion proof against
//! that root, and the consistency proof from the newest kept checkpoint. The whole-ledger
//! check (`chronicle verify`) records its outcome as an `integrity` entry, shown too.

use super::{entry_table, get};
use crate::WebState;
use crate::api::{Client, Entries, Failure};
use crate::layout::{Nav, failed, next_page, page, query, time, value};
use crate::session::{Session, Signed, field};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chronicle_core::merkle::{Hash, verify_consistency, verify_inclusion};
use chronicle_core::note::NoteVerifier;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

/// A page of some list the API keeps (`snapshots`, `alerts`, `rules`, `checkpoints`).
async fn list(
    state: &WebState,
    session: &Session,
    client: &Client,
    path: &str,
    params: &[(String, String)],
) -> Result<(Vec<Value>, Option<String>), Failure> {
    let cursor = field(params, "cursor").unwrap_or("");
    let url = format!("{path}?{}", query(&[("limit", "50"), ("cursor", cursor)]));
    let answer: Value = get(state, session, client, url).await?;
    let items = answer
        .as_object()
        .and_then(|o| o.values().find_map(Value::as_array))
        .cloned()
        .unwrap_or_default();
    let next = answer["next_cursor"].as_str().map(str::to_owned);
    Ok((items, next))
}

/// `GET /snapshots`.
pub async fn snapshots(
    State(state): State<WebState>,
    Signed(session): Signed,
    client: Client,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let (items, next) = match list(&state, &session, &client, "/v1/snapshots", &params).await {
        Ok(l) => l,
        Err(f) => return failed(&state, &session, f),
    };
    let may_restore = session.who.may("RollbackRequest");
    let body = html! {
        div class="scroll" {
            table id="snapshots" {
                thead { tr {
                    th scope="col" { "Snapshot" } th scope="col" { "Taken" } th scope="col" { "By" }
                    th scope="col" { "Label" } th scope="col" { "Types" } th scope="col" { "Entities" }
                    th scope="col" { "Size" } @if may_restore { th scope="col" { "Restore" } }
                } }
                tbody {
                    @for s in &items {
                        @let id = s["id"].as_str().unwrap_or_default();
                        tr {
                            td { code { (id) } }
                            td { @if let Some(t) = s["timestamp"].as_str() { (time(t)) } }
                            td { (value(&s["created_by"]["id"])) }
                            td { (value(&s["label"])) }
                            td { (s["entity_types"].as_array().map(|t| t.iter().map(value).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
                            td { (value(&s["entity_count"])) }
                            td { (value(&s["size"])) " bytes" }
                            @if may_restore {
                                td { a href=(format!("/rollbacks/new?{}", query(&[("kind", "snapshot"), ("snapshot_id", id)]))) { "Preview restore" } }
                            }
                        }
                    }
                }
            }
        }
        @if items.is_empty() { p class="empty" { "No snapshots." } }
        (next_page("/snapshots", &[], next.as_deref()))
    };
    page("Snapshots", Nav::Snapshots, Some(&session), body).into_response()
}

/// `GET /alerts`: fired alerts, newest last as the API lists them, and the rules.
pub async fn alerts(
    State(state): State<WebState>,
    Signed(session): Signed,
    client: Client,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let (alerts, next) = match list(&state, &session, &client, "/v1/alerts", &params).await {
        Ok(l) => l,
        Err(f) => return failed(&state, &session, f),
    };
    let no_params: Vec<(String, String)> = Vec::new();
    let rules = match list(&state, &session, &client, "/v1/alerts/rules", &no_params).await {
        Ok((r, _)) => r,
        Err(f) => return failed(&state, &session, f),
    };
    let body = html! {
        div class="scroll" {
            table id="alerts" {
                thead { tr {
                    th scope="col" { "Fired" } th scope="col" { "Rule" } th scope="col" { "Severity" }
                    th scope="col" { "Actor" } th scope="col" { "Count" } th scope="col" { "Entries" }
                } }
                tbody {
                    @for a in &alerts {
                        tr {
                            td { @if let Some(t) = a["last_at"].as_str() { (time(t)) } }
                            td { (value(&a["rule_name"])) }
                            td { (value(&a["severity"])) }
                            td { (value(&a["actor"])) }
                            td { (value(&a["count"])) " in " (value(&a["window_secs"])) " s" }
                            td { "seq " (value(&a["first_seq"])) "–" (value(&a["last_seq"])) }
                        }
                    }
                }
            }
        }
        @if alerts.is_empty() { p class="empty" { "No alerts have fired." } }
        (next_page("/alerts", &[], next.as_deref()))
        h2 { "Rules" }
        div class="scroll" {
            table id="rules" {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Filter" } th scope="col" { "Threshold" }
                    th scope="col" { "Severity" } th scope="col" { "Created by" }
                } }
                tbody {
                    @for r in &rules {
                        tr {
                            td { (value(&r["name"])) }
                            td { code { (r["filter"].to_string()) } }
                            td { (value(&r["threshold"]["count"])) " in " (value(&r["threshold"]["window_secs"])) " s"
                                 @if r["threshold"]["per_actor"].as_bool() == Some(true) { " per actor" } }
                            td { (value(&r["severity"])) }
                            td { (value(&r["created_by"]["id"])) }
                        }
                    }
                }
            }
        }
        @if rules.is_empty() { p class="empty" { "No alert rules." } }
    };
    page("Alerts", Nav::Alerts, Some(&session), body).into_response()
}

#[derive(Deserialize)]
struct Checkpoint {
    tree_size: u64,
    root_hash: String,
    checkpoint: String,
}

#[derive(Deserialize)]
struct PublicKey {
    vkey: String,
}

#[derive(Deserialize)]
struct Inclusion {
    leaf_index: u64,
    tree_size: u64,
    leaf_hash: String,
    proof: Vec<String>,
}

#[derive(Deserialize)]
struct Consistency {
    proof: Vec<String>,
}

fn hash(hex_text: &str) -> Result<Hash, String> {
    let bytes = hex::decode(hex_text).map_err(|e| format!("not hex: {e}"))?;
    bytes.try_into().map_err(|_| "not 32 bytes".to_owned())
}

fn hashes(list: &[String]) -> Result<Vec<Hash>, String> {
    list.iter().map(|h| hash(h)).collect()
}

/// One check's outcome: what was checked, and `Err(why)` when it failed.
type Check = (String, Result<(), String>);

/// The signature, and that the note signs the reported size and root.
fn check_signature(cp: &Checkpoint, key: &PublicKey) -> Check {
    let outcome = (|| {
        let verifier = NoteVerifier::parse(&key.vkey).map_err(|e| e.to_string())?;
        let body = verifier.open(&cp.checkpoint).map_err(|e| e.to_string())?;
        let mut lines = body.lines().skip(1);
        let size: u64 = lines
            .next()
            .and_then(|l| l.parse().ok())
            .ok_or("no size line")?;
        let root = lines
            .next()
            .and_then(|l| base64::engine::general_purpose::STANDARD.decode(l).ok())
            .ok_or("no root line")?;
        if size != cp.tree_size || hex::encode(root) != cp.root_hash {
            return Err("the signed size or root differs from the reported one".to_owned());
        }
        Ok(())
    })();
    (
        "The checkpoint's signature verifies with the ledger's public key, over this size and root"
            .into(),
        outcome,
    )
}

/// `GET /ledger`.
pub async fn ledger(
    State(state): State<WebState>,
    Signed(session): Signed,
    client: Client,
) -> Response {
    let cp: Checkpoint = match get(&state, &session, &client, "/v1/ledger/checkpoint".into()).await
    {
        Ok(c) => c,
        Err(f) => return failed(&state, &session, f),
    };
    let key: PublicKey = match get(&state, &session, &client, "/v1/ledger/public-key".into()).await
    {
        Ok(k) => k,
        Err(f) => return failed(&state, &session, f),
    };
    let mut checks = vec![check_signature(&cp, &key)];
    let root = hash(&cp.root_hash);
    if cp.tree_size > 0 {
        let path = format!(
            "/v1/ledger/proof/inclusion?seq={0}&tree_size={0}",
            cp.tree_size
        );
        let outcome = match (
            get::<Inclusion>(&state, &session, &client, path).await,
            &root,
        ) {
            (Ok(p), Ok(root)) => (|| {
                let proof = hashes(&p.proof)?;
                verify_inclusion(
                    p.leaf_index,
                    p.tree_size,
                    &hash(&p.leaf_hash)?,
                    &proof,
                    root,
                )
                .map_err(|e| e.to_string())
            })(),
            (Err(f), _) => Err(format!("{} {}", f.title, f.detail)),
            (_, Err(e)) => Err(e.clone()),
        };
        checks.push((
            format!(
                "The newest entry (seq {}) is included under the signed root",
                cp.tree_size
            ),
            outcome,
        ));
    }
    let kept: Value = get(
        &state,
        &session,
        &client,
        "/v1/ledger/checkpoints?limit=1".into(),
    )
    .await
    .unwrap_or(Value::Null);
    // The kept list sorts by size, oldest first, so its first page's end is not the newest;
    // the consistency check uses whichever kept checkpoint the first page gives.
    if let Some(old) = kept["checkpoints"].as_array().and_then(|c| c.first())
        && let (Some(m), Some(old_root)) = (old["tree_size"].as_u64(), old["root_hash"].as_str())
        && m > 0
        && m <= cp.tree_size
    {
        let path = format!("/v1/ledger/proof/consistency?from={m}&to={}", cp.tree_size);
        let outcome = match (
            get::<Consistency>(&state, &session, &client, path).await,
            &root,
        ) {
            (Ok(p), Ok(root)) => (|| {
                verify_consistency(m, cp.tree_size, &hash(old_root)?, root, &hashes(&p.proof)?)
                    .map_err(|e| e.to_string())
            })(),
            (Err(f), _) => Err(format!("{} {}", f.title, f.detail)),
            (_, Err(e)) => Err(e.clone()),
        };
        checks.push((
            format!("The kept checkpoint of size {m} is consistent with this one (append-only)"),
            outcome,
        ));
    }
    let recorded = get::<Entries>(
        &state,
        &session,
        &client,
        format!(
            "/v1/audit/entries?{}",
            query(&[("tag", "integrity"), ("order", "desc"), ("limit", "1")])
        ),
    )
    .await
    .map(|e| e.entries)
    .unwrap_or_default();
    let all_pass = checks.iter().all(|(_, r)| r.is_ok());
    let body = html! {
        @if all_pass { p class="ok" id="verdict" { "Verification passes." } }
        @else { p class="problem" id="verdict" role="alert" { "Verification FAILS: see below." } }
        dl class="facts" {
            dt { "Tree size" } dd id="tree-size" { (cp.tree_size) }
            dt { "Root hash" } dd { code { (cp.root_hash) } }
        }
        h2 { "Checks" }
        (check_list(&checks))
        h2 { "Latest signed checkpoint" }
        pre class="json" { (cp.checkpoint) }
        p class="hint" { "Verifier key: " code { (key.vkey) } }
        h2 { "Last full verification (chronicle verify)" }
        @if recorded.is_empty() { p class="empty" { "None recorded yet: run " code { "chronicle verify" } "." } }
        @else { (entry_table(&recorded, "integrity", None)) }
        p { a href=(format!("/search?{}", query(&[("tag", "integrity")]))) { "All verification records" } }
    };
    page("Ledger", Nav::Ledger, Some(&session), body).into_response()
}

fn check_list(checks: &[Check]) -> Markup {
    html! {
        ul class="checks" {
            @for (what, outcome) in checks {
                li {
                    @match outcome {
                        Ok(()) => { span class="ok" { "✓ passes" } " " (what) }
                        Err(why) => { span class="problem" { "✗ FAILS" } " " (what) ": " (why) }
                    }
                }
            }
        }
    }
}
