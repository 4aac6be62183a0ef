//! A dashboard app with authentication on, and a cookie-keeping HTTP client that signs in
//! through `/login` as a browser would.

use crate::helpers::{Backend, TestApp, expect_json, spawn_configured};
use chronicle_server::ServerConfig;
use chronicle_server::auth::{ConfiguredToken, Role};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// (name, role, token) of the users every web app has.
pub const USERS: &[(&str, Role, &str)] = &[
    ("ann", Role::Admin, "chr_test_admin_secret"),
    ("otto", Role::Operator, "chr_test_operator_secret"),
    ("april", Role::Approver, "chr_test_approver_secret"),
    ("vic", Role::Viewer, "chr_test_viewer_secret"),
];

pub fn token_of(name: &str) -> &'static str {
    USERS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, t)| *t)
        .expect("a known user")
}

pub struct WebApp {
    pub app: TestApp,
}

/// What a test may change in the app's configuration.
#[derive(Default)]
pub struct Options {
    pub session_ttl: Option<std::time::Duration>,
    /// Rollbacks of more entities than this need approval.
    pub approval_max_entities: Option<usize>,
}

pub async fn spawn_web(backend: Backend, options: Options) -> Option<WebApp> {
    let mut config = ServerConfig::default();
    config.auth.tokens = USERS
        .iter()
        .map(|(name, role, token)| ConfiguredToken::new(*name, *role, token))
        .collect();
    if let Some(ttl) = options.session_ttl {
        config.web.session_ttl = ttl;
    }
    if let Some(max) = options.approval_max_entities {
        config.approval.max_entities = Some(max);
    }
    let app = spawn_configured(backend, config).await?;
    Some(WebApp { app })
}

impl WebApp {
    /// An API request as `user`.
    pub async fn api(
        &self,
        user: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.app.request(method, path).bearer_auth(token_of(user));
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request sent")
    }

    /// Creates an entity through the API as `ann`.
    pub async fn create(&self, kind: &str, id: &str, data: Value) -> Value {
        let res = self
            .api(
                "ann",
                reqwest::Method::POST,
                &format!("/v1/entities/{kind}"),
                Some(json!({"id": id, "data": data})),
            )
            .await;
        expect_json(res, StatusCode::CREATED).await
    }

    /// A browser-like client that is not signed in.
    pub fn visitor(&self) -> Visitor<'_> {
        Visitor {
            app: &self.app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a client"),
            cookies: BTreeMap::new(),
        }
    }

    /// A client signed in as `user`.
    pub async fn signed_in(&self, user: &str) -> Visitor<'_> {
        let mut v = self.visitor();
        let res = v.sign_in(token_of(user)).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "sign-in redirects");
        v
    }
}

/// Cookies kept by hand (the workspace's reqwest has no cookie store), redirects not
/// followed, so each test sees exactly what the dashboard answers.
pub struct Visitor<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
}

impl Visitor<'_> {
    fn keep_cookies(&mut self, res: &Response) {
        for value in res.headers().get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || text.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn get(&mut self, path: &str) -> Response {
        let res = self
            .client
            .get(self.app.url(path))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .expect("request sent");
        self.keep_cookies(&res);
        res
    }

    /// The page's HTML, asserting 200.
    pub async fn page(&mut self, path: &str) -> String {
        let res = self.get(path).await;
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "GET {path}: {text}");
        text
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        let res = self
            .client
            .post(self.app.url(path))
            .header(COOKIE, self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(fields))
            .send()
            .await
            .expect("request sent");
        self.keep_cookies(&res);
        res
    }

    /// Posts a form with the CSRF token found in `page`.
    pub async fn submit(&mut self, path: &str, page: &str, fields: &[(&str, &str)]) -> Response {
        let csrf = csrf_in(page);
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(path, &all).await
    }

    pub async fn sign_in(&mut self, token: &str) -> Response {
        let form = self.page("/login").await;
        self.submit("/login", &form, &[("token", token)]).await
    }
}

/// The value of the first hidden `csrf` field in a page.
pub fn csrf_in(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("the page has a CSRF field");
    let rest = &page[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                chronicle_web::layout::encode(k),
                chronicle_web::layout::encode(v)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

pub fn location(res: &Response) -> String {
    res.headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}
