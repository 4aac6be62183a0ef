//! A headless chromium driven over WebDriver: chromedriver is started by the test on a free
//! port, one browser session is reused across the steps of a flow, screenshots go to
//! `target/screenshots/`, and the browser's console log is read to find errors.
//!
//! Without chromium and chromedriver the browser tests print a visible SKIPPED line, unless
//! `CI=true` or `CHRONICLE_REQUIRE_BROWSER=1`, where they fail.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const CHROMIUM: &str = "/usr/bin/chromium";
const DRIVER: &str = "chromedriver";

pub struct Browser {
    pub client: Client,
    driver: Child,
    /// `http://127.0.0.1:<port>` of chromedriver.
    driver_url: String,
    session: String,
    /// The app under test.
    base: String,
}

fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("CHRONICLE_REQUIRE_BROWSER").is_ok_and(|v| v == "1")
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

impl Browser {
    /// A browser at 1366×768 pointed at `base`, or `None` (with a SKIPPED line) when there is
    /// none here and none is required.
    pub async fn open(base: &str) -> Option<Browser> {
        let port = free_port();
        let spawned = Command::new(DRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut driver = match spawned {
            Ok(child) if std::path::Path::new(CHROMIUM).exists() => child,
            other => {
                if let Ok(mut child) = other {
                    let _ = child.kill();
                }
                assert!(
                    !required(),
                    "chromium and chromedriver are required (CI=true or CHRONICLE_REQUIRE_BROWSER=1) but not installed"
                );
                println!(
                    "SKIPPED: browser test: {CHROMIUM} or {DRIVER} not installed (apt-get install chromium chromium-driver)"
                );
                return None;
            }
        };
        // chromedriver says when it listens: read its output until then.
        let stdout = driver.stdout.take().expect("piped stdout");
        let ready = tokio::task::spawn_blocking(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .any(|line| line.contains("started successfully"))
        })
        .await
        .expect("reading chromedriver's output");
        assert!(ready, "chromedriver did not start");
        let driver_url = format!("http://127.0.0.1:{port}");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1366,768", "--lang=en-GB"],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver_url)
            .await
            .expect("a browser session");
        let session = client
            .session_id()
            .await
            .expect("session id")
            .expect("a session");
        Some(Browser {
            client,
            driver,
            driver_url,
            session,
            base: base.to_owned(),
        })
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("navigation");
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Waits (WebDriver's own polling) until the element is there.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
    }

    /// Waits (WebDriver's own polling) until an element matches `xpath`.
    pub async fn wait_xpath(&self, xpath: &str, what: &str) {
        self.client
            .wait()
            .for_element(Locator::XPath(xpath))
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("element text")
    }

    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .expect("find_all")
            .len()
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let input = self.find(css).await;
        input.clear().await.expect("clear");
        input.send_keys(text).await.expect("typing");
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    pub async fn sign_in(&self, token: &str) {
        self.goto("/login").await;
        self.fill("#token", token).await;
        self.click("form.login button[type=submit]").await;
        self.find("header .who").await;
    }

    pub async fn sign_out(&self) {
        self.click("header .who button").await;
        self.find("#token").await;
    }

    /// Saves a PNG of the page as `target/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
    }

    /// The browser console's messages since the last call (chromedriver's log endpoint).
    pub async fn console(&self) -> Vec<(String, String)> {
        let url = format!("{}/session/{}/se/log", self.driver_url, self.session);
        let answer: Value = reqwest::Client::new()
            .post(url)
            .json(&json!({"type": "browser"}))
            .send()
            .await
            .expect("log request")
            .json()
            .await
            .expect("log answer");
        answer["value"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                (
                    m["level"].as_str().unwrap_or_default().to_owned(),
                    m["message"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// Asserts the console holds no error since the last look.
    pub async fn assert_no_console_errors(&self, during: &str) {
        let errors: Vec<_> = self
            .console()
            .await
            .into_iter()
            .filter(|(level, _)| level == "SEVERE")
            .collect();
        assert!(
            errors.is_empty(),
            "console errors during {during}: {errors:?}"
        );
    }

    /// Ends the browser session (chromium exits); dropping then stops chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Also after a failed assertion: chromedriver is this test's own child.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
