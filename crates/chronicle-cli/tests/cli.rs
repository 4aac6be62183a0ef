//! The `chronicle` binary, run as a user runs it: real processes, real temporary data
//! directories, real HTTP.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The binary with a clean environment: no `CHRONICLE_*` variables from the caller, and the
/// working directory set (so that no stray `chronicle.toml` is read).
fn chronicle(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chronicle"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CHRONICLE_") {
            cmd.env_remove(name);
        }
    }
    cmd.current_dir(cwd);
    cmd
}

fn run(cwd: &Path, args: &[&str]) -> Output {
    chronicle(cwd).args(args).output().expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            stdout(o),
            stderr(o)
        )
    })
}

fn demo(dir: &Path, data: &Path) -> Value {
    let o = run(
        dir,
        &[
            "demo",
            "--data-dir",
            data.to_str().unwrap(),
            "--scale",
            "0.05",
            "--json",
        ],
    );
    assert!(o.status.success(), "demo failed: {}", stderr(&o));
    json_of(&o)
}

/// `chronicle export --proof-bundle <dir>/bundle.json --data-dir <data> <extra>`, which must
/// succeed; the bundle's path.
fn export_bundle(dir: &Path, data: &Path, extra: &[&str]) -> PathBuf {
    let file = dir.join("bundle.json");
    let mut args = vec![
        "export",
        "--proof-bundle",
        file.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = run(dir, &args);
    assert!(o.status.success(), "{}", stderr(&o));
    file
}

fn verify_json(dir: &Path, data: &Path) -> (Option<i32>, Value) {
    let o = run(
        dir,
        &["verify", "--data-dir", data.to_str().unwrap(), "--json"],
    );
    (o.status.code(), json_of(&o))
}

/// A `chronicle serve` process, killed when dropped.
struct Server {
    child: Child,
    base: String,
    /// The admin token a first start printed, if it printed one.
    admin_token: Option<String>,
}

impl Server {
    /// A server without authentication (`--insecure-no-auth`): most tests look at what the
    /// `X-Actor-*` headers record. [`Server::start_secure`] keeps authentication on.
    fn start(cwd: &Path, data: &Path, extra: &[&str]) -> Server {
        Server::start_with_env(cwd, data, extra, &[])
    }

    /// [`Server::start`] with `CHRONICLE_*` variables set.
    fn start_with_env(cwd: &Path, data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut args = vec!["--insecure-no-auth"];
        args.extend_from_slice(extra);
        Server::spawn(cwd, data, &args, env)
    }

    /// A server with authentication on, as `chronicle serve` runs by default.
    fn start_secure(cwd: &Path, data: &Path, env: &[(&str, &str)]) -> Server {
        Server::spawn(cwd, data, &[], env)
    }

    fn spawn(cwd: &Path, data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = chronicle(cwd)
            .envs(env.iter().copied())
            .args([
                "serve",
                "--data-dir",
                data.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts");
        // Read the announced address on a thread, so that a server that never announces fails
        // the test instead of hanging it.
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut token = None;
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Some((_, t)) = line
                    .strip_prefix("admin token ")
                    .and_then(|rest| rest.rsplit_once(": "))
                {
                    token = Some(t.to_owned());
                }
                if let Some(addr) = line.strip_prefix("chronicle listening on ") {
                    tx.send((addr.to_owned(), token.take())).ok();
                }
            }
        });
        let (base, admin_token) = match rx.recv_timeout(Duration::from_secs(180)) {
            Ok(answer) => answer,
            Err(_) => {
                child.kill().ok();
                panic!("the server did not announce its address");
            }
        };
        assert!(
            base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"),
            "{base}"
        );
        Server {
            child,
            base,
            admin_token,
        }
    }

    /// Polls `/healthz` a bounded number of times.
    async fn ready(&self, client: &reqwest::Client) {
        for _ in 0..200 {
            if let Ok(r) = client.get(format!("{}/healthz", self.base)).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the server at {} never became healthy", self.base);
    }

    /// SIGKILL: no shutdown, no flush, no destructor.
    fn kill_9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn tempdir() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    (t, data)
}

#[test]
fn every_command_has_help() {
    let (t, _) = tempdir();
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["verify", "--help"],
        vec!["demo", "--help"],
        vec!["bench", "--help"],
        vec!["bench", "ingest", "--help"],
        vec!["rollback", "--help"],
        vec!["rollback", "apply", "--help"],
        vec!["rollback", "approve", "--help"],
        vec!["snapshot", "create", "--help"],
        vec!["subject", "erase", "--help"],
        vec!["lineage", "--help"],
    ] {
        let o = run(t.path(), &args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert!(
            stdout(&o).contains("Usage: chronicle"),
            "{args:?}: {}",
            stdout(&o)
        );
    }
}

#[test]
fn usage_errors_exit_with_status_2() {
    let (t, _) = tempdir();
    assert_eq!(
        run(
            t.path(),
            &["verify", "--data-dir", "a", "--database", "sqlite:b"]
        )
        .status
        .code(),
        Some(2)
    );
    assert_eq!(run(t.path(), &["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        run(t.path(), &["bench", "ingest", "--mode", "sideways"])
            .status
            .code(),
        Some(2)
    );
    let o = run(t.path(), &["demo", "--scale", "-1", "--data-dir", "x"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // The benchmark writes only into a throwaway PostgreSQL schema: any other URL is refused.
    let o = run(
        t.path(),
        &["bench", "ingest", "--database", "sqlite:real.db", "--json"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!t.path().join("real.db").exists());
}

#[test]
fn demo_then_verify_passes() {
    let (t, data) = tempdir();
    let loaded = demo(t.path(), &data);
    let entries = loaded["entries"].as_u64().unwrap();
    assert!(entries > 200, "{loaded}");
    for ty in [
        "customer",
        "shipment",
        "package",
        "invoice",
        "warehouse",
        "user",
        "setting",
    ] {
        assert!(
            loaded["by_entity_type"][ty].as_u64().unwrap_or(0) > 0,
            "no {ty}: {loaded}"
        );
    }
    for op in ["bulk", "transaction", "create", "update", "read", "system"] {
        assert!(
            loaded["by_operation"][op].as_u64().unwrap_or(0) > 0,
            "no {op}: {loaded}"
        );
    }
    let (code, report) = verify_json(t.path(), &data);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["entries_checked"].as_u64(), Some(entries));
    assert_eq!(report["tree_size"].as_u64(), Some(entries));
    assert_eq!(report["root"].as_str().map(str::len), Some(64));

    // The human form says the same.
    let o = run(t.path(), &["verify", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("ok"), "{}", stdout(&o));

    // The demo loads only into an empty ledger.
    let again = run(
        t.path(),
        &[
            "demo",
            "--data-dir",
            data.to_str().unwrap(),
            "--scale",
            "0.05",
        ],
    );
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("empty ledger"),
        "{}",
        stderr(&again)
    );
}

fn edit_database(data: &Path, sql: &str) -> u64 {
    let db = rusqlite::Connection::open(data.join("chronicle.db")).unwrap();
    let seq: i64 = db
        .query_row(
            "SELECT min(seq) FROM entries WHERE actor_email = 'li.wei@qcscargo.example'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let changed = db.execute(sql, [seq]).unwrap();
    assert_eq!(changed, 1);
    seq as u64
}

#[test]
fn verify_names_the_entry_whose_content_was_edited_in_the_database() {
    let (t, data) = tempdir();
    demo(t.path(), &data);
    // Someone with file access blames another administrator for a billing change.
    let seq = edit_database(
        &data,
        "UPDATE entries SET canonical = replace(canonical, 'li.wei@qcscargo.example', 'maria.santos@qcscargo.example') WHERE seq = ?1",
    );
    let (code, report) = verify_json(t.path(), &data);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["ok"], false);
    assert_eq!(report["failure"]["seq"].as_u64(), Some(seq), "{report}");
    assert_eq!(report["failure"]["kind"], "content_changed");
    assert_eq!(report["entries_checked"].as_u64(), Some(seq - 1));

    let o = run(t.path(), &["verify", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains(&format!("FAILED at seq {seq}")),
        "{}",
        stdout(&o)
    );
}

#[test]
fn verify_catches_an_edit_of_a_searchable_column_alone() {
    let (t, data) = tempdir();
    demo(t.path(), &data);
    let seq = edit_database(
        &data,
        "UPDATE entries SET actor_email = 'maria.santos@qcscargo.example' WHERE seq = ?1",
    );
    let (code, report) = verify_json(t.path(), &data);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["failure"]["seq"].as_u64(), Some(seq), "{report}");
}

#[test]
fn verify_names_a_deleted_entry_and_fails_on_a_mangled_head() {
    let (t, data) = tempdir();
    demo(t.path(), &data);
    let db = rusqlite::Connection::open(data.join("chronicle.db")).unwrap();
    db.execute("DELETE FROM entries WHERE seq = 50", [])
        .unwrap();
    let (code, report) = verify_json(t.path(), &data);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["failure"]["seq"].as_u64(), Some(50), "{report}");
    assert_eq!(report["failure"]["kind"], "row_missing");

    db.execute("UPDATE ledger_head SET frontier = X'00'", [])
        .unwrap();
    drop(db);
    let (code, report) = verify_json(t.path(), &data);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["ok"], false);
    assert_eq!(report["failure"]["kind"], "corrupt");
}

#[test]
fn verify_names_a_row_inserted_beyond_the_head() {
    let (t, data) = tempdir();
    let loaded = demo(t.path(), &data);
    let last = loaded["entries"].as_u64().unwrap();
    let db = rusqlite::Connection::open(data.join("chronicle.db")).unwrap();
    db.execute(
        "INSERT INTO entries (seq, id, ts, operation, severity, canonical, leaf_hash) \
         SELECT seq + 1, id || '-copy', ts, operation, severity, canonical, leaf_hash FROM entries WHERE seq = ?1",
        [last as i64],
    )
    .unwrap();
    drop(db);
    let (code, report) = verify_json(t.path(), &data);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["failure"]["kind"], "row_inserted", "{report}");
    assert_eq!(report["failure"]["seq"].as_u64(), Some(last + 1));
}

/// The issue's case: a copy of an early row inserted at seq 100000 of a ledger whose head is
/// far below. `verify` exits 1 naming it, and a server on that ledger serves it nowhere.
#[tokio::test]
async fn a_copy_forged_far_past_the_head_fails_verify_and_no_read_path_serves_it() {
    let (t, data) = tempdir();
    let loaded = demo(t.path(), &data);
    let head = loaded["entries"].as_u64().unwrap();
    let forged = "0190d6c4-0000-7000-8000-00000000f0f0";
    let db = rusqlite::Connection::open(data.join("chronicle.db")).unwrap();
    db.execute(
        "INSERT INTO entries (seq, id, ts, actor_id, actor_email, operation, entity_type, \
           entity_id, entity_version, correlation_id, parent_id, transaction_id, rollback_id, \
           severity, canonical, leaf_hash) \
         SELECT 100000, ?1, ts, actor_id, actor_email, operation, entity_type, entity_id, \
           entity_version, correlation_id, parent_id, transaction_id, rollback_id, severity, \
           canonical, leaf_hash FROM entries WHERE seq = 5",
        [forged],
    )
    .unwrap();
    drop(db);
    let (code, report) = verify_json(t.path(), &data);
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["failure"]["kind"], "row_inserted", "{report}");
    assert_eq!(report["failure"]["seq"].as_u64(), Some(100_000), "{report}");
    let o = run(t.path(), &["verify", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("FAILED at seq 100000"),
        "{}",
        stdout(&o)
    );

    let client = reqwest::Client::new();
    let server = Server::start(t.path(), &data, &[]);
    server.ready(&client).await;
    let newest = get(&client, &server, "/v1/audit/entries?order=desc&limit=1").await;
    // The newest entry served is a real one (the verifications above recorded their
    // failures, and the server may keep a checkpoint), never the copy.
    let top = newest["entries"][0]["seq"].as_u64().unwrap();
    assert!((head + 2..head + 10).contains(&top), "{newest}");
    assert_ne!(newest["entries"][0]["id"], forged);
    let fives = get(&client, &server, "/v1/audit/entries?limit=1000").await;
    let listed: Vec<u64> = fives["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(listed.iter().filter(|&&s| s == 5).count(), 1, "{listed:?}");
    let by_id = client
        .get(format!("{}/v1/audit/entries/{forged}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(by_id.status(), reqwest::StatusCode::NOT_FOUND);
    let leaves = get(
        &client,
        &server,
        "/v1/ledger/leaves?start=100000&end=100000",
    )
    .await;
    assert_eq!(leaves["leaves"], json!([]), "{leaves}");
}

/// A server appending while `verify` reads must not make a sound ledger fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_on_a_ledger_a_running_server_is_writing_to() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let (t, data) = tempdir();
    demo(t.path(), &data);
    let client = reqwest::Client::new();
    let server = Server::start(t.path(), &data, &[]);
    server.ready(&client).await;
    let (stop, written) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (client, base, stop, written) = (
            client.clone(),
            server.base.clone(),
            stop.clone(),
            written.clone(),
        );
        writers.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let r = client.post(format!("{base}/v1/entities/customer")).json(&json!({"data": {"name": "x", "email": "x@mail.example", "status": "active"}})).send().await.unwrap();
                assert_eq!(r.status(), 201);
                written.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    for _ in 0..3 {
        let (dir, data) = (t.path().to_path_buf(), data.clone());
        let (code, report) = tokio::task::spawn_blocking(move || verify_json(&dir, &data))
            .await
            .unwrap();
        assert_eq!(code, Some(0), "{report}");
    }
    stop.store(true, Ordering::Relaxed);
    while let Some(r) = writers.join_next().await {
        r.unwrap();
    }
    assert!(written.load(Ordering::Relaxed) > 0);
}

#[test]
fn verify_of_a_missing_ledger_is_an_error_not_a_pass() {
    let (t, data) = tempdir();
    let o = run(t.path(), &["verify", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no ledger"), "{}", stderr(&o));
    assert!(!data.exists(), "verify must not create a ledger");
}

#[test]
fn an_unreachable_postgres_gives_a_clear_error_that_hides_the_password() {
    let (t, data) = tempdir();
    let o = run(
        t.path(),
        &[
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--database",
            "postgres://app:hunter2@db/chronicle",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("cannot open the PostgreSQL ledger postgres://app:***@db/chronicle"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn settings_come_from_the_file_then_the_environment_then_flags() {
    let (t, _) = tempdir();
    std::fs::write(
        t.path().join("chronicle.toml"),
        "data_dir = \"from-file\"\n",
    )
    .unwrap();
    let o = run(t.path(), &["demo", "--scale", "0.05", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(t.path().join("from-file/chronicle.db").is_file());

    let o = chronicle(t.path())
        .args(["demo", "--scale", "0.05", "--json"])
        .env("CHRONICLE_DATA_DIR", "from-env")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(t.path().join("from-env/chronicle.db").is_file());

    let o = chronicle(t.path())
        .args(["verify", "--data-dir", "from-file", "--json"])
        .env("CHRONICLE_DATA_DIR", "from-env")
        .env("CHRONICLE_DATA_DIRECTORY", "s3cret-value")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("CHRONICLE_DATA_DIRECTORY") && !err.contains("s3cret-value"),
        "{err}"
    );

    std::fs::write(t.path().join("chronicle.toml"), "data_dri = \"typo\"\n").unwrap();
    let o = run(t.path(), &["verify"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("chronicle.toml"), "{}", stderr(&o));
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9_and_the_ledger_still_verifies() {
    let (t, data) = tempdir();
    let client = reqwest::Client::new();
    let server = Server::start(t.path(), &data, &[]);
    server.ready(&client).await;

    // Concurrent creates and updates; remember what each acknowledgement said.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (client, base) = (client.clone(), server.base.clone());
        tasks.spawn(async move {
            let id = format!("SHP-{i:03}");
            let r = client
                .post(format!("{base}/v1/entities/shipment"))
                .header("X-Actor-Id", "USR-002")
                .header("X-Reason", "durability test")
                .json(&json!({"id": id, "data": {"status": "pending", "n": i}}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            let mut version = 1;
            if i % 2 == 0 {
                let r = client
                    .patch(format!("{base}/v1/entities/shipment/{id}"))
                    .json(&json!({"data": {"status": "received"}, "expected_version": 1}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let body: Value = r.json().await.unwrap();
                version = body["version"].as_u64().unwrap();
            }
            (id, version, i % 2 == 0)
        });
    }
    let mut acknowledged = Vec::new();
    while let Some(r) = tasks.join_next().await {
        acknowledged.push(r.unwrap());
    }
    let head: Value = client
        .get(format!("{}/v1/ledger/checkpoint", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    server.kill_9();

    let server = Server::start(t.path(), &data, &[]);
    server.ready(&client).await;
    for (id, version, received) in &acknowledged {
        let r = client
            .get(format!("{}/v1/entities/shipment/{id}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{id} lost");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["version"].as_u64(), Some(*version), "{e}");
        assert_eq!(
            e["data"]["status"],
            if *received { "received" } else { "pending" },
            "{e}"
        );
    }
    let after: Value = client
        .get(format!("{}/v1/ledger/checkpoint", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after["tree_size"], head["tree_size"]);
    assert_eq!(after["root_hash"], head["root_hash"]);
    server.kill_9();

    let (code, report) = verify_json(t.path(), &data);
    assert_eq!(code, Some(0), "{report}");
    // 60 entries, plus a kept checkpoint's own entry if the cadence ran meanwhile.
    assert_eq!(report["tree_size"], head["tree_size"], "{report}");
}

#[tokio::test]
async fn serve_demo_loads_the_demo_once_and_uses_the_demo_schema() {
    let (t, data) = tempdir();
    let client = reqwest::Client::new();
    let server = Server::start(t.path(), &data, &["--demo"]);
    server.ready(&client).await;
    let head: Value = client
        .get(format!("{}/v1/ledger/checkpoint", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let size = head["tree_size"].as_u64().unwrap();
    assert!(size > 1_000, "{head}");
    // The demo schema is strict: an unknown type is refused.
    let r = client
        .post(format!("{}/v1/entities/planet", server.base))
        .json(&json!({"data": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    drop(server);

    let server = Server::start(t.path(), &data, &["--demo"]);
    server.ready(&client).await;
    let again: Value = client
        .get(format!("{}/v1/ledger/checkpoint", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["tree_size"].as_u64(), Some(size));
}

fn bench(t: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "bench",
        "ingest",
        "--requests",
        "6",
        "--batch",
        "10",
        "--clients",
        "3",
        "--json",
    ];
    args.extend_from_slice(extra);
    let o = run(t, &args);
    assert!(o.status.success(), "{}", stderr(&o));
    json_of(&o)
}

fn check_bench(report: &Value) {
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{report}");
    assert_eq!(results[0]["mode"], "bulk");
    assert_eq!(results[0]["entries"].as_u64(), Some(6 * 11));
    assert_eq!(results[1]["mode"], "single");
    assert_eq!(results[1]["entries"].as_u64(), Some(6));
    for r in results {
        assert!(r["requests_per_second"].as_f64().unwrap() > 0.0);
        assert!(
            r["latency_ms"]["p99"].as_f64().unwrap() >= r["latency_ms"]["p50"].as_f64().unwrap()
        );
    }
    assert_eq!(
        report["database"]["entries"].as_u64(),
        Some(6 * 11 + 6),
        "{report}"
    );
    assert!(report["database"]["bytes_per_entry"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_ingest_reports_json_in_process_over_http() {
    let (t, _) = tempdir();
    let report = bench(t.path(), &[]);
    assert_eq!(report["target"], "http-in-process");
    check_bench(&report);
}

#[test]
fn bench_ingest_reports_json_against_the_store_directly() {
    let (t, data) = tempdir();
    let report = bench(
        t.path(),
        &["--no-http", "--data-dir", data.to_str().unwrap()],
    );
    assert_eq!(report["target"], "store");
    check_bench(&report);
    let (code, _) = verify_json(t.path(), &data);
    assert_eq!(code, Some(0));
}

#[test]
fn bench_ingest_sealed_keeps_the_sensitive_fields_out_of_the_database() {
    let (t, data) = tempdir();
    let o = run(
        t.path(),
        &[
            "bench",
            "ingest",
            "--sealed",
            "--no-http",
            "--mode",
            "single",
            "--requests",
            "20",
            "--clients",
            "2",
            "--data-dir",
            data.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let report = json_of(&o);
    assert_eq!(report["sealed"], true);
    assert_eq!(report["results"][0]["entries"].as_u64(), Some(20));
    let mut bytes = std::fs::read(data.join("chronicle.db")).unwrap();
    bytes.extend(std::fs::read(data.join("chronicle.db-wal")).unwrap_or_default());
    let has = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(has("QCSB"), "the check sees the items");
    assert!(
        !has("benchmark item"),
        "the sensitive notes are stored in plaintext"
    );
    assert!(data.join("master.key").is_file());
}

#[tokio::test]
async fn bench_ingest_against_a_running_server() {
    let (t, data) = tempdir();
    let client = reqwest::Client::new();
    let server = Server::start(t.path(), &data, &[]);
    server.ready(&client).await;
    let o = run(
        t.path(),
        &[
            "bench",
            "ingest",
            "--url",
            &server.base,
            "--requests",
            "4",
            "--batch",
            "5",
            "--clients",
            "2",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let report = json_of(&o);
    assert_eq!(report["target"], "http");
    assert_eq!(report["results"][0]["entries"].as_u64(), Some(4 * 6));
    assert_eq!(
        report["database"]["entries"].as_u64(),
        Some(4 * 6 + 4),
        "{report}"
    );
    let head: Value = client
        .get(format!("{}/v1/ledger/checkpoint", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(head["tree_size"].as_u64(), Some(4 * 6 + 4));
}

// ---- Rollbacks and snapshots through the CLI, against a real server.

/// `chronicle <args> --url <server>`, with its exit code and JSON (when `--json`).
fn remote(t: &Path, server: &Server, args: &[&str]) -> Output {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--url", server.base.as_str()]);
    run(t, &all)
}

async fn post(client: &reqwest::Client, server: &Server, path: &str, body: Value) -> Value {
    let r = client
        .post(format!("{}{path}", server.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

async fn get(client: &reqwest::Client, server: &Server, path: &str) -> Value {
    client
        .get(format!("{}{path}", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Creates `n` notes in one bulk, then deletes them in another; returns the delete's bulk id.
async fn created_then_deleted(client: &reqwest::Client, server: &Server, n: usize) -> String {
    let creates: Vec<Value> = (0..n)
        .map(|i| json!({"op": "create", "type": "note", "id": format!("n{i}"), "data": {"i": i}}))
        .collect();
    post(client, server, "/v1/bulk", json!({"operations": creates})).await;
    let deletes: Vec<Value> = (0..n)
        .map(|i| json!({"op": "delete", "type": "note", "id": format!("n{i}")}))
        .collect();
    post(client, server, "/v1/bulk", json!({"operations": deletes})).await["bulk_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn rollback_preview_and_apply_restore_a_bulk_delete_and_strict_conflicts_exit_1() {
    let (t, data) = tempdir();
    let client = reqwest::Client::new();
    let server = Server::start(t.path(), &data, &[]);
    server.ready(&client).await;
    let bulk = created_then_deleted(&client, &server, 12).await;

    let o = remote(
        t.path(),
        &server,
        &["rollback", "preview", "--bulk", &bulk, "--json"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json_of(&o)["counts"]["restores"], 12);
    let o = remote(t.path(), &server, &["rollback", "preview", "--bulk", &bulk]);
    let plan = stdout(&o);
    assert!(plan.contains("restore  note/n3"), "{plan}");
    assert!(
        plan.contains("12 (0 update, 0 delete, 12 restore"),
        "{plan}"
    );
    assert!(plan.contains("approval       not needed"), "{plan}");

    let o = remote(
        t.path(),
        &server,
        &[
            "rollback",
            "apply",
            "--bulk",
            &bulk,
            "--actor",
            "ann",
            "--reason",
            "wrong file",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("completed"), "{}", stdout(&o));
    assert_eq!(
        get(&client, &server, "/v1/entities/note/n3").await["deleted"],
        false
    );

    // A later edit makes strict refuse: exit 1, the conflict printed, nothing written.
    let edit = post(
        &client,
        &server,
        "/v1/bulk",
        json!({"operations": [{"op": "update", "type": "note", "id": "n1", "data": {"i": 100}}]}),
    )
    .await;
    post(
        &client,
        &server,
        "/v1/bulk",
        json!({"operations": [{"op": "update", "type": "note", "id": "n1", "data": {"i": 200}}]}),
    )
    .await;
    let entry = edit["results"][0]["entry"]["id"].as_str().unwrap();
    let o = remote(t.path(), &server, &["rollback", "apply", "--entry", entry]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("error 409") && err.contains("(rollback-conflict)"),
        "{err}"
    );
    assert!(err.contains("conflict: later_change note n1"), "{err}");
    assert_eq!(
        get(&client, &server, "/v1/entities/note/n1").await["data"]["i"],
        200
    );

    // Staged, followed with a progress bar (hidden here: not a terminal) to the end.
    let o = remote(
        t.path(),
        &server,
        &[
            "rollback",
            "apply",
            "--entry",
            entry,
            "--strategy",
            "force",
            "--staged",
            "--stage-size",
            "1",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let shown = stdout(&o);
    assert!(shown.contains("status         completed"), "{shown}");
    assert!(shown.contains("(force strategy, staged)"), "{shown}");
    assert!(shown.contains("verification   passed"), "{shown}");
    assert_eq!(
        get(&client, &server, "/v1/entities/note/n1").await["data"]["i"],
        1
    );

    let o = remote(t.path(), &server, &["rollback", "list"]);
    assert_eq!(stdout(&o).lines().count(), 2, "{}", stdout(&o));
    let o = remote(t.path(), &server, &["rollback", "apply"]);
    assert_eq!(o.status.code(), Some(2), "a target is required");
}

#[tokio::test]
async fn a_server_whose_policy_says_max_entities_0_answers_202_awaiting_approval() {
    let client = reqwest::Client::new();
    // The same policy from the settings file and from the environment.
    for from_env in [false, true] {
        let (t, data) = tempdir();
        let server = if from_env {
            Server::start_with_env(
                t.path(),
                &data,
                &[],
                &[("CHRONICLE_APPROVAL__MAX_ENTITIES", "0")],
            )
        } else {
            std::fs::write(
                t.path().join("chronicle.toml"),
                "[approval]\nmax_entities = 0\n",
            )
            .unwrap();
            Server::start(t.path(), &data, &[])
        };
        server.ready(&client).await;
        let bulk = created_then_deleted(&client, &server, 2).await;
        let r = client
            .post(format!("{}/v1/rollbacks", server.base))
            .json(&json!({"target": {"kind": "bulk", "bulk_id": bulk}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "from_env = {from_env}");
        let record: Value = r.json().await.unwrap();
        assert_eq!(record["status"], "awaiting_approval", "{record}");
        assert_eq!(record["required_approvals"], 1, "{record}");
        // Nothing restored while it waits.
        assert_eq!(
            get(&client, &server, "/v1/entities/note/n0").await["deleted"],
            true
        );
    }
}

#[tokio::test]
async fn rollbacks_over_the_approval_policy_wait_for_an_approver_who_is_not_the_requester() {
    let (t, data) = tempdir();
    std::fs::write(
        t.path().join("chronicle.toml"),
        "[approval]\nmax_entities = 0\n",
    )
    .unwrap();
    let client = reqwest::Client::new();
    let server = Server::start(t.path(), &data, &[]);
    server.ready(&client).await;
    let bulk = created_then_deleted(&client, &server, 3).await;
    let o = remote(
        t.path(),
        &server,
        &[
            "rollback", "apply", "--bulk", &bulk, "--actor", "ann", "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let waiting = json_of(&o);
    assert_eq!(waiting["status"], "awaiting_approval");
    let id = waiting["id"].as_str().unwrap();
    let o = remote(
        t.path(),
        &server,
        &[
            "rollback",
            "approve",
            id,
            "--justification",
            "mine",
            "--actor",
            "ann",
            "--role",
            "approver",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("error 403: Forbidden (forbidden)"),
        "{}",
        stderr(&o)
    );
    let o = remote(
        t.path(),
        &server,
        &[
            "rollback",
            "approve",
            id,
            "--justification",
            "checked",
            "--actor",
            "bob",
            "--role",
            "approver",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("approved       by bob: checked"),
        "{}",
        stdout(&o)
    );
    let o = remote(t.path(), &server, &["rollback", "status", id, "--json"]);
    assert_eq!(json_of(&o)["status"], "completed");
    assert_eq!(
        get(&client, &server, "/v1/entities/note/n0").await["deleted"],
        false
    );
}

#[tokio::test]
async fn rollbacks_awaiting_approval_can_be_rejected_or_stopped_from_the_cli() {
    let (t, data) = tempdir();
    std::fs::write(
        t.path().join("chronicle.toml"),
        "[approval]\nmax_entities = 0\n",
    )
    .unwrap();
    let client = reqwest::Client::new();
    let server = Server::start(t.path(), &data, &[]);
    server.ready(&client).await;
    let bulk = created_then_deleted(&client, &server, 2).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let o = remote(
            t.path(),
            &server,
            &["rollback", "apply", "--bulk", &bulk, "--actor", "ann"],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let shown = stdout(&o);
        assert!(
            shown.contains("status         awaiting_approval"),
            "{shown}"
        );
        assert!(shown.contains("chronicle rollback approve"), "{shown}");
        let id = shown
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("rollback")
            .trim();
        ids.push(id.to_owned());
    }
    for step in ["pause", "resume"] {
        let o = remote(t.path(), &server, &["rollback", step, &ids[0]]);
        assert_eq!(o.status.code(), Some(1), "{step} while awaiting approval");
        assert!(stderr(&o).contains("AwaitingApproval"), "{}", stderr(&o));
    }
    let as_bob = ["--actor", "bob", "--role", "approver"];
    let o = remote(
        t.path(),
        &server,
        &[
            &["rollback", "reject", &ids[0], "--justification", "no"][..],
            &as_bob[..],
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("status         rejected"),
        "{}",
        stdout(&o)
    );
    let o = remote(t.path(), &server, &["rollback", "stop", &ids[1]]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("status         stopped"),
        "{}",
        stdout(&o)
    );
    // Ended ones cannot be approved: the server refuses, exit 1.
    let o = remote(
        t.path(),
        &server,
        &[
            &["rollback", "approve", &ids[1], "--justification", "late"][..],
            &as_bob[..],
        ]
        .concat(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("error 409"), "{}", stderr(&o));
    // Nothing was restored.
    assert_eq!(
        get(&client, &server, "/v1/entities/note/n0").await["deleted"],
        true
    );
}

// Pausing a *running* staged rollback is not tested here: the engine's pause loses every
// optimistic-concurrency race against a stage runner that rewrites the record stage after
// stage, and answers "the rollback record keeps changing; try again" until it completes.

#[tokio::test]
async fn steps_a_rollback_is_not_in_a_state_for_exit_1_with_the_invalid_state_problem() {
    let (t, data) = tempdir();
    let client = reqwest::Client::new();
    let server = Server::start(t.path(), &data, &[]);
    server.ready(&client).await;
    let bulk = created_then_deleted(&client, &server, 3).await;
    let o = remote(
        t.path(),
        &server,
        &[
            "rollback",
            "apply",
            "--bulk",
            &bulk,
            "--staged",
            "--stage-size",
            "1",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stdout(&o));
    let done = json_of(&o);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["progress"]["stages_done"], 3, "{done}");
    let id = done["id"].as_str().unwrap();
    for step in ["pause", "resume", "stop"] {
        let o = remote(t.path(), &server, &["rollback", step, id]);
        assert_eq!(o.status.code(), Some(1), "{step}");
        let err = stderr(&o);
        assert!(
            err.contains("error 409: ") && err.contains("(invalid-state)"),
            "{step}: {err}"
        );
    }
    let o = remote(t.path(), &server, &["rollback", "status", id]);
    assert!(
        stdout(&o).contains("status         completed"),
        "{}",
        stdout(&o)
    );
}

#[tokio::test]
async fn remote_commands_exit_1_when_the_server_refuses_and_2_when_it_cannot_be_reached() {
    let (t, data) = tempdir();
    let client = reqwest::Client::new();
    let server = Server::start(t.path(), &data, &[]);
    server.ready(&client).await;
    let missing = "01900000-0000-7000-8000-000000000000";
    let o = remote(t.path(), &server, &["rollback", "status", missing]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("error 404"), "{}", stderr(&o));
    let o = remote(
        t.path(),
        &server,
        &["snapshot", "show", "not-an-id", "--json"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json_of(&o)["status"], 400, "the problem, verbatim");
    let o = remote(
        t.path(),
        &server,
        &["rollback", "preview", "--bulk", missing, "--entry", missing],
    );
    assert_eq!(o.status.code(), Some(2), "one target only");
    assert!(stderr(&o).contains("one target"), "{}", stderr(&o));

    // A port nothing listens on: the one the server had, once it is gone.
    let base = server.base.clone();
    drop(server);
    let o = run(t.path(), &["rollback", "list", "--url", &base]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(&format!("cannot reach the server at {base}")),
        "{}",
        stderr(&o)
    );
}

#[tokio::test]
async fn snapshots_are_created_listed_shown_and_restored_from_the_cli() {
    let (t, data) = tempdir();
    let client = reqwest::Client::new();
    let server = Server::start(t.path(), &data, &[]);
    server.ready(&client).await;
    post(
        &client,
        &server,
        "/v1/bulk",
        json!({"operations": [
        {"op": "create", "type": "customer", "id": "c1", "data": {"name": "Ada"}},
        {"op": "create", "type": "customer", "id": "c2", "data": {"name": "Bo"}}]}),
    )
    .await;
    let o = remote(
        t.path(),
        &server,
        &[
            "snapshot", "create", "--types", "customer", "--label", "before", "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let snap = json_of(&o);
    assert_eq!(snap["entity_count"], 2);
    let id = snap["id"].as_str().unwrap();
    assert!(stdout(&remote(t.path(), &server, &["snapshot", "list"])).contains(id));
    let shown = stdout(&remote(t.path(), &server, &["snapshot", "show", id]));
    assert!(shown.contains("entities       2 (customer)"), "{shown}");
    post(&client, &server, "/v1/bulk", json!({"operations": [{"op": "update", "type": "customer", "id": "c1", "data": {"name": "Eve"}}]})).await;
    let o = remote(t.path(), &server, &["rollback", "apply", "--snapshot", id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        get(&client, &server, "/v1/entities/customer/c1").await["data"]["name"],
        "Ada"
    );
}

#[tokio::test]
async fn serve_seals_sensitive_values_and_subject_erase_makes_them_unreadable() {
    let (t, data) = tempdir();
    let schema = t.path().join("schema.toml");
    std::fs::write(
        &schema,
        "[types.customer.fields.email]\ntype = \"string\"\nsensitive = true\n",
    )
    .unwrap();
    let client = reqwest::Client::new();
    let server = Server::start(t.path(), &data, &["--schema", schema.to_str().unwrap()]);
    server.ready(&client).await;
    let email = "ada.lovelace@example.com";
    post(
        &client,
        &server,
        "/v1/bulk",
        json!({"operations": [
        {"op": "create", "type": "customer", "id": "c1", "data": {"name": "Ada", "email": email}}]}),
    )
    .await;
    let read = get(&client, &server, "/v1/entities/customer/c1").await;
    assert_eq!(read["data"]["email"], email);
    let key = std::fs::metadata(data.join("master.key")).expect("serve created the master key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(key.permissions().mode() & 0o777, 0o600);
    }
    let on_disk = || {
        let mut bytes = std::fs::read(data.join("chronicle.db")).unwrap();
        bytes.extend(std::fs::read(data.join("chronicle.db-wal")).unwrap_or_default());
        bytes.windows(email.len()).any(|w| w == email.as_bytes())
    };
    assert!(!on_disk(), "the e-mail address is stored in plaintext");

    let o = remote(t.path(), &server, &["subject", "erase", "customer:c1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("erased customer:c1"), "{}", stdout(&o));
    let read = get(&client, &server, "/v1/entities/customer/c1").await;
    assert_eq!(read["data"]["email"], "[erased]");
    let o = remote(
        t.path(),
        &server,
        &["subject", "erase", "customer:c1", "--json"],
    );
    assert_eq!(o.status.code(), Some(1), "already erased");
    assert_eq!(json_of(&o)["status"], 409);
    let o = remote(t.path(), &server, &["subject", "erase", "customer:nobody"]);
    assert_eq!(o.status.code(), Some(1), "unknown subject");
    drop(server);
    let (code, report) = verify_json(t.path(), &data);
    assert_eq!(code, Some(0), "{report}");
    // An export carries what was hashed: the envelope, never the address.
    let file = export_bundle(t.path(), &data, &[]);
    let bundle: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let mut text = String::new();
    for e in bundle["entries"].as_array().unwrap() {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(e["canonical"].as_str().unwrap())
            .unwrap();
        text.push_str(&String::from_utf8(bytes).unwrap());
    }
    assert!(text.contains("$sealed") && !text.contains(email), "{text}");
}

#[tokio::test]
async fn a_staged_rollback_killed_mid_way_resumes_on_restart_and_ends_as_an_uninterrupted_run() {
    let (t, data) = tempdir();
    let client = reqwest::Client::new();
    let server = Server::start(t.path(), &data, &[]);
    server.ready(&client).await;
    let n = 1500;
    let creates: Vec<Value> = (0..n).map(|i| json!({"op": "create", "type": "note", "id": format!("n{i:04}"), "data": {"i": i, "state": "good"}})).collect();
    post(&client, &server, "/v1/bulk", json!({"operations": creates})).await;
    let edits: Vec<Value> = (0..n).map(|i| json!({"op": "update", "type": "note", "id": format!("n{i:04}"), "data": {"state": "broken"}})).collect();
    let bulk = post(&client, &server, "/v1/bulk", json!({"operations": edits})).await["bulk_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = post(
        &client,
        &server,
        "/v1/rollbacks",
        json!({"target": {"kind": "bulk", "bulk_id": bulk}, "mode": "staged", "stage_size": 5}),
    )
    .await;
    let id = started["id"].as_str().unwrap().to_owned();
    // Kill the server while the rollback is part way through.
    let mut at_kill = Value::Null;
    for _ in 0..10_000 {
        let r = get(&client, &server, &format!("/v1/rollbacks/{id}")).await;
        let done = r["progress"]["done"].as_u64().unwrap_or(0);
        if done > 0 {
            at_kill = r;
            break;
        }
    }
    server.kill_9();
    let done_at_kill = at_kill["progress"]["done"]
        .as_u64()
        .expect("the rollback started before the kill");
    assert!(
        done_at_kill < n,
        "the rollback must still be running when killed ({done_at_kill} of {n})"
    );

    let server = Server::start(t.path(), &data, &[]);
    server.ready(&client).await;
    let mut end = Value::Null;
    for _ in 0..2_000 {
        end = get(&client, &server, &format!("/v1/rollbacks/{id}")).await;
        if end["status"] == "completed" && end["verification"].is_object() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(end["status"], "completed", "{end}");
    assert_eq!(end["verification"]["passed"], true);
    // The same end state as an uninterrupted run: every note good again, each changed once.
    for i in (0..n).step_by(97) {
        let note = get(&client, &server, &format!("/v1/entities/note/n{i:04}")).await;
        assert_eq!(note["data"]["state"], "good", "{note}");
        assert_eq!(note["version"], 3, "{note}");
    }
    let written = get(
        &client,
        &server,
        &format!("/v1/audit/summary?group_by=entity_type&rollback_id={id}"),
    )
    .await;
    let notes = written["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "note")
        .unwrap()["count"]
        .clone();
    assert_eq!(notes, n, "each note restored exactly once");
    server.kill_9();
    let (code, report) = verify_json(t.path(), &data);
    assert_eq!(code, Some(0), "{report}");
}

// ---- PostgreSQL: each test in a schema of its own, dropped at the end.

/// A connection to the test database (`CHRONICLE_TEST_DATABASE_URL`), or None with a visible
/// line when no server answers; with `CHRONICLE_REQUIRE_PG=1` that fails the test instead.
async fn postgres() -> Option<(String, sqlx::PgConnection)> {
    use sqlx::ConnectOptions;
    let url = std::env::var("CHRONICLE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let options: sqlx::postgres::PgConnectOptions = url.parse().expect("a valid test URL");
    let why = match tokio::time::timeout(Duration::from_secs(5), options.connect()).await {
        Ok(Ok(conn)) => return Some((url, conn)),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "timed out".to_owned(),
    };
    assert!(
        std::env::var("CHRONICLE_REQUIRE_PG").as_deref() != Ok("1"),
        "PostgreSQL not reachable at {url} ({why}) and CHRONICLE_REQUIRE_PG=1"
    );
    // Straight to the process's stderr: the harness swallows println! of a passing test.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: PostgreSQL not reachable at {url} ({why})"
    );
    None
}

/// A schema name no other test or run uses.
fn pg_schema_name(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("ct_cli_{tag}_{}_{nanos}", std::process::id())
}

async fn pg_schema_exists(conn: &mut sqlx::PgConnection, name: &str) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
        .bind(name)
        .fetch_one(conn)
        .await
        .unwrap()
}

async fn drop_pg_schema(conn: &mut sqlx::PgConnection, name: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{name}\" CASCADE"
    )))
    .execute(conn)
    .await
    .unwrap();
}

#[tokio::test]
async fn demo_serve_and_verify_work_on_postgresql_in_a_schema_of_their_own() {
    let Some((url, mut conn)) = postgres().await else {
        return;
    };
    let (t, data) = tempdir();
    let schema = pg_schema_name("serve");
    // Server and verifier share the checkpoint key through the settings file.
    std::fs::write(
        t.path().join("chronicle.toml"),
        format!("checkpoint_key_file = {:?}\n", data.join("checkpoint.key")),
    )
    .unwrap();
    let pg = ["--database", url.as_str(), "--pg-schema", schema.as_str()];

    let o = run(
        t.path(),
        &[&["demo", "--scale", "0.05", "--json"][..], &pg[..]].concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let demo_entries = json_of(&o)["entries"].as_u64().unwrap();
    assert!(json_of(&o)["location"].as_str().unwrap().contains(&schema));

    let client = reqwest::Client::new();
    let server = Server::start(t.path(), &data, &pg);
    server.ready(&client).await;
    post(
        &client,
        &server,
        "/v1/entities/note",
        json!({"id": "pg", "data": {"on": "postgres"}}),
    )
    .await;
    assert_eq!(
        get(&client, &server, "/v1/entities/note/pg").await["data"]["on"],
        "postgres"
    );
    server.kill_9();
    // Nothing of the test's went outside its schema.
    assert!(pg_schema_exists(&mut conn, &schema).await);

    let o = run(t.path(), &[&["verify", "--json"][..], &pg[..]].concat());
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let report = json_of(&o);
    assert_eq!(report["ok"], true, "{report}");
    assert!(
        report["tree_size"].as_u64().unwrap() > demo_entries,
        "{report}"
    );

    // A schema that holds no ledger is an error, not a pass.
    let empty = pg_schema_name("empty");
    let o = run(
        t.path(),
        &["verify", "--database", &url, "--pg-schema", &empty],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("no ledger in"), "{}", stderr(&o));

    drop_pg_schema(&mut conn, &schema).await;
    drop_pg_schema(&mut conn, &empty).await;
}

#[tokio::test]
async fn verify_exits_1_on_postgresql_for_a_copy_forged_far_past_the_head() {
    let Some((url, mut conn)) = postgres().await else {
        return;
    };
    let (t, _data) = tempdir();
    let schema = pg_schema_name("forged");
    let pg = ["--database", url.as_str(), "--pg-schema", schema.as_str()];
    let o = run(
        t.path(),
        &[&["demo", "--scale", "0.05", "--json"][..], &pg[..]].concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(t.path(), &[&["verify", "--json"][..], &pg[..]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO \"{schema}\".entries SELECT 100000, id, ts, actor_id, actor_email, \
         operation, entity_type, entity_id, entity_version, correlation_id, parent_id, \
         transaction_id, rollback_id, severity, canonical, leaf_hash \
         FROM \"{schema}\".entries WHERE seq = 5"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    let o = run(t.path(), &[&["verify", "--json"][..], &pg[..]].concat());
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let report = json_of(&o);
    assert_eq!(report["failure"]["kind"], "row_inserted", "{report}");
    assert_eq!(report["failure"]["seq"].as_u64(), Some(100_000), "{report}");
    drop_pg_schema(&mut conn, &schema).await;
}

#[tokio::test]
async fn bench_ingest_runs_on_postgresql_in_a_throwaway_schema_it_drops() {
    let Some((url, mut conn)) = postgres().await else {
        return;
    };
    let (t, _) = tempdir();
    let report = bench(t.path(), &["--database", &url]);
    assert_eq!(report["target"], "postgres-http-in-process", "{report}");
    check_bench(&report);
    let schema = report["pg_schema"].as_str().expect("the schema is named");
    assert!(schema.starts_with("chronicle_bench_"), "{report}");
    assert!(
        !pg_schema_exists(&mut conn, schema).await,
        "{schema} was dropped"
    );
}

#[tokio::test]
async fn a_proof_bundle_exported_from_the_ledger_verifies_offline_and_edits_fail() {
    let (t, data) = tempdir();
    let client = reqwest::Client::new();
    let server = Server::start(t.path(), &data, &[]);
    server.ready(&client).await;
    for i in 0..6 {
        let r = client
            .post(format!("{}/v1/entities/note", server.base))
            .json(&json!({"id": format!("n{i}"), "data": {"i": i}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let key: Value = client
        .get(format!("{}/v1/ledger/public-key", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let vkey = key["vkey"].as_str().unwrap().to_owned();
    server.kill_9();

    let file = export_bundle(t.path(), &data, &["--from", "2", "--to", "5"]);
    let o = run(
        t.path(),
        &[
            "verify",
            "--bundle",
            file.to_str().unwrap(),
            "--key",
            &vkey,
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(json_of(&o)["entries"], 4);

    // Another key, or an entry changed in the file: exit 1.
    let other = "chronicle.local/ledger+00000000+AQ==";
    assert_eq!(
        run(
            t.path(),
            &["verify", "--bundle", file.to_str().unwrap(), "--key", other]
        )
        .status
        .code(),
        Some(1)
    );
    let mut b: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    b["entries"][1]["proof"] = b["entries"][0]["proof"].clone();
    std::fs::write(&file, serde_json::to_vec(&b).unwrap()).unwrap();
    let o = run(
        t.path(),
        &["verify", "--bundle", file.to_str().unwrap(), "--key", &vkey],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("FAILED"), "{}", stdout(&o));

    // The export is on the record as an access entry of the operating-system user.
    let server = Server::start(t.path(), &data, &[]);
    server.ready(&client).await;
    let found = get(&client, &server, "/v1/audit/entries?operation=access").await;
    let access = &found["entries"][0];
    assert_eq!(
        access["metadata"]["command"], "export --proof-bundle",
        "{found}"
    );
    assert_eq!(access["metadata"]["count"], 4);
    assert!(access["actor"]["id"].as_str().unwrap().starts_with("os:"));
}

#[tokio::test]
async fn tail_replays_then_follows_the_stream_with_filters() {
    let (t, data) = tempdir();
    let client = reqwest::Client::new();
    let server = Server::start(t.path(), &data, &[]);
    server.ready(&client).await;
    for i in 0..3 {
        let r = client
            .post(format!("{}/v1/entities/note", server.base))
            .json(&json!({"id": format!("n{i}"), "data": {}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let r = client
        .post(format!("{}/v1/entities/other", server.base))
        .json(&json!({"id": "x", "data": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Replay from the start, then two live events; --max-events ends it.
    let child = chronicle(t.path())
        .args([
            "tail",
            "--url",
            &server.base,
            "--after-seq",
            "0",
            "--filter",
            "entity_type=note",
            "--max-events",
            "5",
            "--json",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    for i in 3..5 {
        let r = client
            .post(format!("{}/v1/entities/note", server.base))
            .json(&json!({"id": format!("n{i}"), "data": {}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success());
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["data"]["entity_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["n0", "n1", "n2", "n3", "n4"]);
    assert!(events.iter().all(|e| e["event"] == "audit"));
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
}

#[test]
fn bench_stream_reports_latency_per_subscriber_count() {
    let (t, _) = tempdir();
    let o = run(
        t.path(),
        &[
            "bench",
            "stream",
            "--subscribers",
            "1,3",
            "--rate",
            "40",
            "--seconds",
            "1",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let r = json_of(&o);
    let runs = r["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1]["subscribers"], 3);
    // Every subscriber received every write.
    assert_eq!(
        runs[1]["deliveries"],
        3 * runs[1]["writes"].as_u64().unwrap()
    );
    assert!(runs[0]["p99_ms"].as_f64().unwrap() >= runs[0]["p50_ms"].as_f64().unwrap());
}

#[tokio::test]
async fn verify_from_a_kept_checkpoint_checks_only_what_came_after_it() {
    let (t, data) = tempdir();
    let client = reqwest::Client::new();
    let server = Server::start(t.path(), &data, &[]);
    server.ready(&client).await;
    let create = |i: u64| {
        let (client, base) = (client.clone(), server.base.clone());
        async move {
            let r = client
                .post(format!("{base}/v1/entities/note"))
                .json(&json!({"id": format!("n{i}"), "data": {"i": i}}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
        }
    };
    for i in 0..5 {
        create(i).await;
    }
    let cp: Value = client
        .get(format!("{}/v1/ledger/checkpoint", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kept = t.path().join("kept.checkpoint");
    std::fs::write(&kept, cp["checkpoint"].as_str().unwrap()).unwrap();
    for i in 5..9 {
        create(i).await;
    }
    server.kill_9();
    let args = [
        "verify",
        "--data-dir",
        data.to_str().unwrap(),
        "--from-checkpoint",
        kept.to_str().unwrap(),
        "--json",
    ];
    let o = run(t.path(), &args);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(json_of(&o)["tree_size"], 9);

    // A row after the checkpoint edited in the file: named.
    let db = rusqlite::Connection::open(data.join("chronicle.db")).unwrap();
    let changed = db.execute("UPDATE entries SET canonical = replace(canonical, '\"i\":6', '\"i\":60') WHERE seq = 7", []).unwrap();
    assert_eq!(changed, 1);
    drop(db);
    let o = run(t.path(), &args);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert_eq!(json_of(&o)["failure"]["seq"], 7);

    // A checkpoint file nobody trusted signed: refused before anything is checked.
    std::fs::write(
        &kept,
        "chronicle.local/ledger\n5\nAAAA\n\n\u{2014} someone AAAA\n",
    )
    .unwrap();
    assert_eq!(run(t.path(), &args).status.code(), Some(2));
}

// ---- Authentication through the CLI.

#[tokio::test]
async fn a_first_start_prints_an_admin_token_that_makes_and_revokes_others() {
    let (t, data) = tempdir();
    let client = reqwest::Client::new();
    let server = Server::start_secure(t.path(), &data, &[]);
    server.ready(&client).await;
    let admin = server
        .admin_token
        .clone()
        .expect("a first start prints a token");
    // Nothing but the public routes without it.
    let r = client
        .get(format!("{}/v1/audit/entries", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let o = remote(
        t.path(),
        &server,
        &[
            "token", "create", "--role", "viewer", "--name", "vic", "--token", &admin, "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let made = json_of(&o);
    let viewer = made["token"].as_str().unwrap().to_owned();
    let id = made["id"].as_str().unwrap().to_owned();
    let r = client
        .get(format!("{}/v1/audit/entries", server.base))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // A viewer may not make tokens: exit 1 with the problem.
    let o = remote(t.path(), &server, &["token", "list", "--token", &viewer]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let o = remote(t.path(), &server, &["token", "list", "--token", &admin]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("vic"), "{}", stdout(&o));
    let o = remote(
        t.path(),
        &server,
        &["token", "revoke", &id, "--token", &admin],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let r = client
        .get(format!("{}/v1/audit/entries", server.base))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // A restart prints no new token: one exists.
    drop(server);
    let server = Server::start_secure(t.path(), &data, &[]);
    server.ready(&client).await;
    assert_eq!(server.admin_token, None);
}

#[tokio::test]
async fn insecure_no_auth_is_called_out_and_refused_off_loopback() {
    let (t, data) = tempdir();
    let client = reqwest::Client::new();
    let server = Server::start(t.path(), &data, &[]);
    server.ready(&client).await;
    assert_eq!(server.admin_token, None);
    let ready: Value = client
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        ready["warnings"][0]
            .as_str()
            .unwrap()
            .contains("--insecure-no-auth"),
        "{ready}"
    );
    drop(server);
    let o = run(
        t.path(),
        &[
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            "0.0.0.0:0",
            "--insecure-no-auth",
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("loopback"), "{}", stderr(&o));
}

// ---- Lineage over the CLI, on both backends.

const LINEAGE_SCHEMA: &str = r#"
[types.customer]
[types.order]
[types.order.fields.customer_id]
type = "string"
references = "customer"
"#;

/// `chronicle lineage` against a server on the ledger `ledger` names (SQLite data dir, or
/// `--database`/`--pg-schema`).
async fn lineage_is_drawn_by_the_cli(t: &Path, data: &Path, ledger: &[&str]) {
    let schema = t.join("schema.toml");
    std::fs::write(&schema, LINEAGE_SCHEMA).unwrap();
    let mut extra = vec!["--schema", schema.to_str().unwrap()];
    extra.extend_from_slice(ledger);
    let client = reqwest::Client::new();
    let server = Server::start(t, data, &extra);
    server.ready(&client).await;
    post(
        &client,
        &server,
        "/v1/entities/customer",
        json!({"id": "c1", "data": {}, "metadata": {"source": {"system": "crm", "record_id": "r1"}}}),
    )
    .await;
    post(
        &client,
        &server,
        "/v1/entities/order",
        json!({"id": "o\"1", "data": {"customer_id": "c1"}}),
    )
    .await;

    let o = remote(t, &server, &["lineage", "customer/c1", "--format", "dot"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dot = stdout(&o);
    assert!(dot.starts_with("digraph lineage {"), "{dot}");
    assert!(
        dot.contains(r#""order/o\"1" -> "customer/c1" [label="references"];"#),
        "{dot}"
    );
    assert!(
        dot.contains(r#""_source/crm/r1" -> "customer/c1" [label="source"];"#),
        "{dot}"
    );
    let o = remote(
        t,
        &server,
        &[
            "lineage",
            "customer/c1",
            "--format",
            "mermaid",
            "--direction",
            "upstream",
        ],
    );
    let mermaid = stdout(&o);
    assert!(mermaid.starts_with("flowchart LR"), "{mermaid}");
    assert!(mermaid.contains("-->|source|"), "{mermaid}");
    assert!(!mermaid.contains("references"), "upstream only: {mermaid}");
    let o = remote(t, &server, &["lineage", "customer/c1", "--depth", "1"]);
    assert!(
        stdout(&o).contains("order/o\"1 -references-> customer/c1  (entry "),
        "{}",
        stdout(&o)
    );
    let o = remote(t, &server, &["lineage", "customer/c1", "--json"]);
    assert_eq!(json_of(&o)["root"], "customer/c1");
    let o = remote(t, &server, &["lineage", "customer/nobody"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("error 404"), "{}", stderr(&o));
    let o = remote(t, &server, &["lineage", "customer/c1", "--depth", "99"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/query/depth"), "{}", stderr(&o));
    let o = remote(t, &server, &["lineage", "c1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("TYPE/ID"), "{}", stderr(&o));
}

#[tokio::test]
async fn lineage_is_drawn_by_the_cli_on_sqlite() {
    let (t, data) = tempdir();
    lineage_is_drawn_by_the_cli(t.path(), &data, &[]).await;
}

#[tokio::test]
async fn lineage_is_drawn_by_the_cli_on_postgresql() {
    let Some((url, mut conn)) = postgres().await else {
        return;
    };
    let (t, data) = tempdir();
    let schema = pg_schema_name("lineage");
    let pg = ["--database", url.as_str(), "--pg-schema", schema.as_str()];
    lineage_is_drawn_by_the_cli(t.path(), &data, &pg).await;
    drop_pg_schema(&mut conn, &schema).await;
}
