//! HTTP integration tests: a real server on a random port per test, over real HTTP.
//!
//! Every test in a module listed in `backend_tests!` runs once per backend: the macro
//! expands to one `mod <backend>` per backend, each holding one `#[tokio::test]` per name
//! that spawns a fresh app on that backend and calls the module's `async fn <name>(TestApp)`.

/// Runs each named `async fn(TestApp)` of the calling module once per backend.
///
/// To add a backend: add its variant and `spawn_app` arm in `helpers.rs`, and one line
/// below, e.g. `backend_tests!(@backend postgres, Postgres; $($name),*);`.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        backend_tests!(@backend sqlite, Sqlite; $($name),*);
        backend_tests!(@backend postgres, Postgres; $($name),*);
    };
    (@backend $module:ident, $variant:ident; $($name:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    // `None` means the backend is not reachable here and the helper said so.
                    if let Some(app) = crate::helpers::spawn_app(crate::helpers::Backend::$variant).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
}

mod access;
mod alerts;
mod audit;
mod bad_input;
mod batch;
mod checkpoints;
mod concurrency;
mod edge;
mod entities;
mod fidelity;
mod helpers;
mod ledger;
mod lineage;
mod openapi_contract;
mod ops;
mod redaction;
mod rollback_faults;
mod rollback_laws;
mod rollbacks;
mod security;
mod sse;
mod stream;
mod subjects;
