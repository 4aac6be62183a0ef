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
}

impl Server {
    fn start(cwd: &Path, data: &Path, extra: &[&str]) -> Server {
        let mut child = chronicle(cwd)
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
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("chronicle listening on ") {
                    tx.send(addr.to_owned()).ok();
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(180)) {
            Ok(base) => base,
            Err(_) => {
                child.kill().ok();
                panic!("the server did not announce its address");
            }
        };
        assert!(
            base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"),
            "{base}"
        );
        Server { child, base }
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
fn postgres_urls_get_a_clear_error_that_hides_the_password() {
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
    assert!(err.contains("PostgreSQL backend not built yet"), "{err}");
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
    assert_eq!(report["tree_size"].as_u64(), Some(60));
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
