//! The dashboard in a real browser (headless chromium over WebDriver): one browser session
//! per flow, a screenshot of each page under `target/screenshots/`, and no console errors.

use crate::driver::Browser;
use crate::helpers::{Backend, expect_json};
use crate::rollbacks::{mistake, price, rollbacks};
use crate::support::{Options, spawn_web, token_of};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The seqs of the rows of the table `css`, in order.
async fn seqs(b: &Browser, css: &str) -> Vec<u64> {
    let rows = b
        .client
        .find_all(fantoccini::Locator::Css(&format!("{css} tbody tr")))
        .await
        .expect("rows");
    let mut out = Vec::new();
    for r in rows {
        let seq = r.attr("data-seq").await.expect("attr").expect("data-seq");
        out.push(seq.parse().unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_a_browser_one_signs_in_follows_the_feed_searches_reads_history_and_signs_out() {
    let web = spawn_web(Backend::Sqlite, Options::default())
        .await
        .expect("SQLite app");
    let Some(b) = Browser::open(&web.app.address).await else {
        return;
    };

    // A wrong token is refused where the user sees it.
    b.goto("/login").await;
    b.screenshot("login").await;
    b.fill("#token", "chr_wrong").await;
    b.click("form.login button[type=submit]").await;
    assert!(b.text("#login-error").await.contains("refused"));
    // The 401 answer is the only console error so far, and it is expected.
    let errors: Vec<_> = b
        .console()
        .await
        .into_iter()
        .filter(|(l, _)| l == "SEVERE")
        .collect();
    assert!(errors.iter().all(|(_, m)| m.contains("401")), "{errors:?}");

    let xss = "<img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script>";
    web.create("note", "n-1", json!({"text": xss})).await;
    b.sign_in(token_of("ann")).await;
    assert_eq!(b.path().await, "/");
    b.find("#live-status").await;
    // Live: an entry committed now appears without a reload.
    b.wait_xpath(
        "//span[@id='live-status' and text()='Live']",
        "the stream connects",
    )
    .await;
    let created = web
        .create("note", "n-2", json!({"text": "arrives live"}))
        .await;
    let seq = created["entry"]["seq"].as_u64().unwrap();
    b.find(&format!("#feed tr[data-seq='{seq}']")).await;
    // Paused, new entries are held and counted; resumed, they are shown.
    b.click("#pause").await;
    let held = web.create("note", "n-3", json!({"text": "held"})).await["entry"]["seq"]
        .as_u64()
        .unwrap();
    b.wait_xpath(
        "//span[@id='live-status' and starts-with(text(), 'Paused (')]",
        "the held entry is counted",
    )
    .await;
    assert_eq!(b.count(&format!("#feed tr[data-seq='{held}']")).await, 0);
    b.click("#pause").await;
    b.find(&format!("#feed tr[data-seq='{held}']")).await;
    // Times are shown in the browser's zone, with UTC on hover.
    let title = b
        .find("#feed time")
        .await
        .attr("title")
        .await
        .unwrap()
        .unwrap();
    assert!(title.ends_with("(UTC)"), "{title}");
    b.screenshot("feed").await;
    b.assert_no_console_errors("the feed").await;

    // Search shows what the API finds.
    b.goto("/search?entity_type=note&order=desc").await;
    b.find("#results").await;
    let res = web
        .api(
            "ann",
            Method::GET,
            "/v1/audit/entries?entity_type=note&order=desc&limit=50",
            None,
        )
        .await;
    let api = expect_json(res, StatusCode::OK).await;
    let expected: Vec<u64> = api["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs(&b, "#results").await, expected);
    b.screenshot("search").await;

    // Entity data is text, never markup: the payload shows and does not run.
    b.goto("/entities/note/n-1").await;
    assert!(b.text("#entity-data").await.contains("<img src=x"));
    assert_eq!(b.count("#entity-data img, #entity-data script").await, 0);
    let ran = b
        .client
        .execute("return window.__xss === undefined;", vec![])
        .await
        .unwrap();
    assert_eq!(ran, json!(true));

    // An entry's field-by-field diff, and an entity's history and state at a time.
    let res = web
        .api(
            "ann",
            Method::PATCH,
            "/v1/entities/note/n-2",
            Some(json!({"data": {"text": "edited"}})),
        )
        .await;
    let edit = expect_json(res, StatusCode::OK).await["entry"].clone();
    b.goto(&format!("/entries/{}", edit["id"].as_str().unwrap()))
        .await;
    let row = b.text("#changes tbody tr").await;
    assert!(
        row.contains("/text") && row.contains("arrives live") && row.contains("edited"),
        "{row}"
    );
    b.screenshot("entry").await;
    b.goto("/entities/note/n-2").await;
    assert_eq!(seqs(&b, "#history").await.len(), 2);
    b.fill("#p-asof", created["entry"]["timestamp"].as_str().unwrap())
        .await;
    b.click("#p-asof ~ button, form:has(#p-asof) button").await;
    assert!(b.text("#entity-data").await.contains("arrives live"));
    b.screenshot("entity").await;
    b.goto("/entities/note/n-2?diff=1,2").await;
    assert!(b.text("#diff").await.contains("edited"));
    for (path, name) in [
        ("/snapshots", "snapshots"),
        ("/alerts", "alerts"),
        ("/ledger", "ledger"),
        ("/rollbacks", "rollbacks"),
    ] {
        b.goto(path).await;
        b.find("main h1").await;
        b.screenshot(name).await;
    }
    b.goto("/ledger").await;
    assert!(b.text("#verdict").await.contains("passes"));
    // Phone width: the page still lays out (navigation wraps, tables scroll).
    b.client.set_window_size(390, 844).await.unwrap();
    b.goto("/").await;
    b.find("#feed").await;
    b.screenshot("feed-phone").await;
    b.assert_no_console_errors("the pages").await;

    b.sign_out().await;
    b.goto("/").await;
    assert!(b.path().await.starts_with("/login"), "signed out");
    b.close().await;
}

async fn rollback_flow(backend: Backend) {
    let options = Options {
        approval_max_entities: Some(0),
        ..Options::default()
    };
    let Some(web) = spawn_web(backend, options).await else {
        return;
    };
    let Some(b) = Browser::open(&web.app.address).await else {
        return;
    };
    let entry = mistake(&web).await;
    let entry_id = entry["id"].as_str().unwrap();

    // A viewer is offered no rollback.
    b.sign_in(token_of("vic")).await;
    b.goto(&format!("/entries/{entry_id}")).await;
    b.find("#changes").await;
    assert_eq!(b.count("a[href^='/rollbacks/new']").await, 0);
    b.sign_out().await;

    // The operator starts from the entry, previews, and requests.
    b.sign_in(token_of("otto")).await;
    b.goto(&format!("/entries/{entry_id}")).await;
    b.click("a[href^='/rollbacks/new?kind=entry']").await;
    b.click("form[action='/rollbacks/new'] button[type=submit]")
        .await;
    let preview = b.text("#preview").await;
    assert!(preview.contains("Needs approval"), "{preview}");
    assert!(b.text("#operations").await.contains("99"));
    b.client
        .execute(
            "document.getElementById('preview').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    b.screenshot("rollback-preview").await;
    // The same form with its CSRF field removed is refused, and nothing is written.
    b.client
        .execute(
            "document.querySelector('#request input[name=csrf]').remove();",
            vec![],
        )
        .await
        .unwrap();
    b.fill("#q-reason", "forged").await;
    b.click("#request button").await;
    b.find("p.problem").await;
    assert!(rollbacks(&web).await.is_empty());
    b.client.back().await.unwrap();
    b.client.refresh().await.unwrap();
    b.fill("#q-reason", "wrong price").await;
    b.click("#request button").await;
    assert_eq!(b.text("#status").await, "awaiting_approval");
    let at = b.path().await;
    assert_eq!(
        b.count("form[action$='/approve']").await,
        0,
        "never one's own"
    );
    b.sign_out().await;

    // A second user approves; the rollback runs and the page says so.
    b.sign_in(token_of("april")).await;
    b.goto(&at).await;
    b.fill("#j-approve", "checked with finance").await;
    b.click("form[action$='/approve'] button").await;
    b.wait_xpath(
        "//strong[@id='status' and text()='completed']",
        "the rollback completes",
    )
    .await;
    b.screenshot("rollback-done").await;
    assert_eq!(price(&web).await, json!(10));
    let record: Value = rollbacks(&web).await[0].clone();
    assert_eq!(record["requested_by"]["id"], "otto");
    assert_eq!(record["approvals"][0]["actor"]["id"], "april");
    // The 403 of the forged form is the only console error, and it is expected.
    let errors: Vec<_> = b
        .console()
        .await
        .into_iter()
        .filter(|(l, _)| l == "SEVERE")
        .collect();
    assert!(errors.iter().all(|(_, m)| m.contains("403")), "{errors:?}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_a_browser_a_rollback_is_previewed_requested_approved_by_a_second_user_and_completes_on_sqlite()
 {
    rollback_flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_a_browser_a_rollback_is_previewed_requested_approved_by_a_second_user_and_completes_on_postgres()
 {
    rollback_flow(Backend::Postgres).await;
}
