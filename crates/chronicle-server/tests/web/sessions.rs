//! Sign-in, sign-out, session expiry, CSRF and the security headers, over plain HTTP.

use crate::helpers::Backend;
use crate::support::{Options, WebApp, location, spawn_web, token_of};
use reqwest::StatusCode;

web_tests!(
    signing_in_with_a_token_opens_the_dashboard_and_signing_out_ends_the_session,
    a_wrong_token_is_refused_visibly_and_opens_nothing,
    a_post_without_the_csrf_token_is_refused_and_changes_nothing,
    every_page_carries_a_strict_content_security_policy,
);

async fn signing_in_with_a_token_opens_the_dashboard_and_signing_out_ends_the_session(web: WebApp) {
    let mut v = web.visitor();
    // Not signed in: sent to the sign-in page, which comes back here afterwards.
    let res = v.get("/search?entity_type=shipment").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&res),
        "/login?next=%2Fsearch%3Fentity_type%3Dshipment"
    );
    let form = v.page("/login?next=/search").await;
    assert!(form.contains("name=\"token\""), "{form}");
    let res = v
        .submit(
            "/login",
            &form,
            &[("token", token_of("ann")), ("next", "/search")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/search");
    let set_cookie: Vec<_> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = set_cookie
        .iter()
        .find(|c| c.starts_with("chronicle_session="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(attribute), "{session}");
    }
    // The cookie is a random id, never the token.
    assert!(!session.contains(token_of("ann")));
    let home = v.page("/").await;
    assert!(home.contains("ann (admin)"), "{home}");
    assert!(home.contains("Sign out"));
    let cookie = v.cookies["chronicle_session"].clone();

    let res = v.submit("/logout", &home, &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login");
    // The old cookie, replayed, opens nothing.
    v.cookies.insert("chronicle_session".into(), cookie);
    let res = v.get("/").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(location(&res).starts_with("/login"));
}

async fn a_wrong_token_is_refused_visibly_and_opens_nothing(web: WebApp) {
    let mut v = web.visitor();
    let res = v.sign_in("chr_not_a_token_at_all").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let text = res.text().await.unwrap();
    assert!(text.contains("role=\"alert\""), "{text}");
    assert!(text.contains("That token was refused"), "{text}");
    assert!(!v.cookies.contains_key("chronicle_session"));
    // A sign-in form posted without its double-submit value is refused too.
    let mut other = web.visitor();
    let res = other
        .post("/login", &[("token", token_of("ann")), ("csrf", "forged")])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(!other.cookies.contains_key("chronicle_session"));
}

async fn a_post_without_the_csrf_token_is_refused_and_changes_nothing(web: WebApp) {
    let mut v = web.signed_in("ann").await;
    let home = v.page("/").await;
    let res = v.post("/logout", &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = v
        .post("/logout", &[("csrf", "0".repeat(64).as_str())])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // The session still stands: the refused sign-out did nothing.
    assert!(v.page("/").await.contains("Sign out"));
    let res = v.submit("/logout", &home, &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

async fn every_page_carries_a_strict_content_security_policy(web: WebApp) {
    let mut v = web.signed_in("ann").await;
    for path in ["/login", "/", "/search"] {
        let res = v.get(path).await;
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        let html = res.text().await.unwrap();
        // No inline script or style that the policy would block.
        assert!(!html.contains("<script>"), "{path}");
        assert!(!html.contains("style="), "{path}");
    }
    // Assets are served under hashed names with a year's cache.
    let home = v.page("/").await;
    let at = home.find("/assets/app-").unwrap();
    let href = &home[at..at + home[at..].find('"').unwrap()];
    let res = v.get(href).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=31536000")
    );
    assert_eq!(
        v.get("/assets/app-0000000000000000.js").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_past_its_lifetime_signs_in_again() {
    let options = Options {
        session_ttl: Some(std::time::Duration::ZERO),
        ..Options::default()
    };
    let web = spawn_web(Backend::Sqlite, options)
        .await
        .expect("SQLite app");
    let mut v = web.visitor();
    let res = v.sign_in(token_of("ann")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // The browser would drop a cookie whose Max-Age is 0; one that kept it gets nowhere.
    let id = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().unwrap().strip_prefix("chronicle_session="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .next()
        .expect("a session was started");
    v.cookies.insert("chronicle_session".into(), id);
    let res = v.get("/").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(location(&res).starts_with("/login"));
}
