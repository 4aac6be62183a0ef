//! Test helpers: a fresh PostgreSQL schema per test, or a visible skip when no server answers.
#![allow(dead_code)]

use chronicle_core::schema::Schema;
use chronicle_postgres::{PgConfig, PgStore};
use sqlx::{ConnectOptions, Connection, PgConnection};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub fn database_url() -> String {
    std::env::var("CHRONICLE_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

fn required() -> bool {
    std::env::var("CHRONICLE_REQUIRE_PG").is_ok_and(|v| v == "1")
}

/// A direct connection to the test database, or None (with a visible line) when no server
/// answers. With `CHRONICLE_REQUIRE_PG=1` an unreachable server fails the test instead.
pub async fn admin() -> Option<PgConnection> {
    let url = database_url();
    let options = sqlx::postgres::PgConnectOptions::from_str(&url).expect("a valid test URL");
    match tokio::time::timeout(Duration::from_secs(5), options.connect()).await {
        Ok(Ok(conn)) => Some(conn),
        outcome => {
            let why = match outcome {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".to_owned(),
            };
            if required() {
                panic!("PostgreSQL not reachable at {url} ({why}) and CHRONICLE_REQUIRE_PG=1");
            }
            // Straight to the process's stderr: the test harness captures println! of a test
            // that passes, and this line must be seen.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: PostgreSQL not reachable at {url} ({why})"
            );
            None
        }
    }
}

/// A unique schema name for the running test: the test's name (its thread's name), plus a
/// counter for tests that make several stores.
pub fn schema_name(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("test");
    let test = test.rsplit("::").next().unwrap_or(test);
    let mut name: String = format!("ct_{tag}_{test}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let suffix = format!("_{}_{n}", std::process::id());
    name.truncate(63 - suffix.len());
    name + &suffix
}

/// Drops the schema if a previous run left it, so the test starts from nothing.
pub async fn drop_schema(admin: &mut PgConnection, schema: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(admin)
    .await
    .expect("dropping a test schema");
}

/// Removes the schemas that earlier runs of these tests left behind (whose process is gone).
pub async fn sweep(admin: &mut PgConnection) {
    static DONE: std::sync::Once = std::sync::Once::new();
    let mut first = false;
    DONE.call_once(|| first = true);
    if !first {
        return;
    }
    let names: Vec<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'ct\\_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for name in names {
        let pid = name.rsplit('_').nth(1).and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            drop_schema(admin, &name).await;
        }
    }
}

/// A config for a fresh schema, with a small pool (many tests run at once against one server).
pub async fn fresh_config(tag: &str, schema: Schema) -> Option<PgConfig> {
    let mut admin = admin().await?;
    sweep(&mut admin).await;
    let name = schema_name(tag);
    drop_schema(&mut admin, &name).await;
    let _ = admin.close().await;
    let mut config = PgConfig::new(database_url(), Arc::new(schema));
    config.pool_size = 4;
    config.application_name = name.clone();
    config.search_path = Some(name);
    Some(config)
}

pub async fn fresh_store(tag: &str, schema: Schema) -> Option<(PgStore, PgConfig)> {
    let config = fresh_config(tag, schema).await?;
    let store = PgStore::connect(config.clone())
        .await
        .expect("connecting to a fresh schema");
    Some((store, config))
}
