//! A rollback that needs approval: requested in the dashboard by an operator, approved by an
//! approver (never by the requester), then run.

use crate::rollbacks::{mistake, preview_path, price, request_previewed, rollbacks};
use crate::support::{Options, WebApp, location};
use reqwest::StatusCode;
use serde_json::json;

web_tests!(
    options = Options { approval_max_entities: Some(0), ..Options::default() };
    a_rollback_needing_approval_runs_once_a_second_user_approves_it,
);

async fn a_rollback_needing_approval_runs_once_a_second_user_approves_it(web: WebApp) {
    let entry = mistake(&web).await;
    let mut otto = web.signed_in("otto").await;
    let preview = otto.page(&preview_path(&entry)).await;
    assert!(preview.contains("Needs approval"), "{preview}");
    let res = request_previewed(&mut otto, &preview, &entry).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let at = location(&res);
    assert_eq!(rollbacks(&web).await[0]["status"], "awaiting_approval");
    assert_eq!(price(&web).await, json!(99));
    // The requester is offered no approval.
    let own = otto.page(&at).await;
    assert!(!own.contains("/approve"), "{own}");
    // Forging it is refused by the API, and changes nothing.
    let res = otto
        .submit(&format!("{at}/approve"), &own, &[("justification", "mine")])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(rollbacks(&web).await[0]["status"], "awaiting_approval");

    let mut april = web.signed_in("april").await;
    let page = april.page(&at).await;
    assert!(page.contains(&format!("{at}/approve")), "{page}");
    let res = april
        .submit(
            &format!("{at}/approve"),
            &page,
            &[("justification", "checked with finance")],
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "{}",
        res.text().await.unwrap()
    );
    let record = &rollbacks(&web).await[0];
    assert_eq!(record["approvals"][0]["actor"]["id"], "april");
    assert_eq!(record["status"], "completed");
    assert_eq!(price(&web).await, json!(10));
}
