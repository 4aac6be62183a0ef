//! The dashboard over real HTTP (a server on a random port with authentication on), and in
//! a real browser (`browser.rs`, WebDriver against Debian's chromium).

/// Runs each named `async fn(WebApp)` of the calling module once per backend, on an app with
/// authentication on and the users of [`support::USERS`].
macro_rules! web_tests {
    ($($name:ident),* $(,)?) => {
        web_tests!(options = Default::default(); $($name),*);
    };
    (options = $options:expr; $($name:ident),* $(,)?) => {
        web_tests!(@backend sqlite, Sqlite, $options; $($name),*);
        web_tests!(@backend postgres, Postgres, $options; $($name),*);
    };
    (@backend $module:ident, $variant:ident, $options:expr; $($name:ident),*) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let backend = crate::helpers::Backend::$variant;
                    if let Some(app) = crate::support::spawn_web(backend, $options).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
}

// The API tests' helpers: spawning an app per test on either backend.
#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

mod browser;
mod driver;
mod pages;
mod rollbacks;
mod rollbacks_approval;
mod sessions;
mod support;
