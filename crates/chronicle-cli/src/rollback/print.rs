//! How rollback plans and records are shown to a person (`--json` prints them verbatim).

use serde_json::Value;

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn strings(v: &Value) -> String {
    v.as_array()
        .map(|a| a.iter().map(text).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

fn print_counts(c: &Value) {
    println!(
        "entities       {} ({} update, {} delete, {} restore, {} create); entries undone {}",
        c["entities"], c["updates"], c["deletes"], c["restores"], c["creates"], c["entries_undone"]
    );
}

/// A plan (`rollback preview`), for a person.
pub fn print_plan(p: &Value) {
    let feasible = p["feasible"].as_bool().unwrap_or(false);
    println!(
        "plan           {}",
        if feasible {
            "feasible"
        } else {
            "NOT FEASIBLE with this strategy (conflicts below)"
        }
    );
    print_counts(&p["counts"]);
    for op in p["operations"].as_array().into_iter().flatten() {
        println!(
            "  {:<8} {}/{}",
            text(&op["action"]),
            text(&op["type"]),
            text(&op["id"])
        );
    }
    for x in p["conflicts"].as_array().into_iter().flatten() {
        println!(
            "  conflict {} on {}/{}: seq {} changed {}",
            text(&x["kind"]),
            text(&x["type"]),
            text(&x["id"]),
            x["seq"],
            strings(&x["fields"])
        );
    }
    for s in p["skipped"].as_array().into_iter().flatten() {
        println!(
            "  skipped  entry {}: {}",
            text(&s["entry_id"]),
            text(&s["reason"])
        );
    }
    for o in p["overwritten"].as_array().into_iter().flatten() {
        println!(
            "  overwrites {}/{} {}: {} -> {}",
            text(&o["type"]),
            text(&o["id"]),
            text(&o["path"]),
            o["current"],
            o["restored"]
        );
    }
    if p["requires_approval"].as_bool() == Some(true) {
        println!(
            "approval       needed: {} approval(s) ({})",
            p["required_approvals"],
            strings(&p["approval_reasons"])
        );
    } else {
        println!("approval       not needed");
    }
}

/// A rollback record, for a person.
pub fn print_record(r: &Value) {
    let id = text(&r["id"]);
    println!("rollback       {id}");
    println!("status         {}", text(&r["status"]));
    println!(
        "target         {} ({} strategy, {})",
        text(&r["target"]["kind"]),
        text(&r["strategy"]),
        text(&r["mode"])
    );
    if r["plan"]["counts"].is_object() {
        print_counts(&r["plan"]["counts"]);
    }
    println!(
        "progress       {}/{} ({} stages)",
        r["progress"]["done"], r["progress"]["total"], r["progress"]["stages_done"]
    );
    for a in r["approvals"].as_array().into_iter().flatten() {
        println!(
            "{:<14} by {}: {}",
            if a["approved"] == true {
                "approved"
            } else {
                "rejected"
            },
            text(&a["actor"]["id"]),
            text(&a["justification"])
        );
    }
    if let Some(e) = r["result"]["error"].as_str() {
        println!("error          {e}");
    }
    let v = &r["verification"];
    if v.is_object() {
        println!(
            "verification   {} ({} checked, {} mismatches)",
            if v["passed"] == true {
                "passed"
            } else {
                "FAILED"
            },
            v["checked"],
            v["mismatches"].as_array().map_or(0, Vec::len)
        );
    }
    match text(&r["status"]) {
        "awaiting_approval" => println!(
            "waiting for    {} approval(s) of {} ({}): chronicle rollback approve {id} \
             --justification TEXT --role approver",
            r["required_approvals"]
                .as_u64()
                .unwrap_or(0)
                .saturating_sub(
                    r["approvals"]
                        .as_array()
                        .map_or(0, |a| a.iter().filter(|a| a["approved"] == true).count())
                        as u64
                ),
            r["required_approvals"],
            strings(&r["approval_reasons"])
        ),
        "paused" => println!("paused         resume with: chronicle rollback resume {id}"),
        _ => {}
    }
}

pub fn print_list(b: &Value) {
    let rollbacks = b["rollbacks"].as_array().cloned().unwrap_or_default();
    if rollbacks.is_empty() {
        println!("no rollbacks");
        return;
    }
    for r in &rollbacks {
        println!(
            "{}  {:<17} {:>7}/{:<7} {:<14} {}",
            text(&r["id"]),
            text(&r["status"]),
            r["progress"]["done"],
            r["progress"]["total"],
            text(&r["target"]["kind"]),
            text(&r["reason"])
        );
    }
}
