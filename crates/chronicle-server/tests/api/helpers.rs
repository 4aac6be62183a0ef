//! Spawning a server per test, and the requests and assertions the tests share.

use chronicle_core::schema::Schema;
use chronicle_server::{AppState, ServerConfig};
use chronicle_sqlite::{SqliteConfig, SqliteStore};
use chronicle_store::Store;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use tempfile::TempDir;
use tokio::sync::oneshot;

/// The schema every test app runs with: strict types, a few typed fields, one read-audited
/// type.
pub const SCHEMA: &str = r#"
strict_types = true

[types.shipment]
impact = "medium"
[types.shipment.fields.status]
type = "string"
enum = ["pending", "in_transit", "delivered", "lost"]
impact = "high"
[types.shipment.fields.weight]
type = "number"
[types.shipment.fields.customer_id]
type = "string"
references = "customer"

[types.customer]
read_audited = true
[types.customer.fields.email]
type = "string"
required = true
sensitive = true

[types.counter]
[types.counter.fields.n]
type = "integer"

[types.note]

[types.setting]
"#;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    pub client: reqwest::Client,
    pub backend: Backend,
    pub store: Arc<dyn Store>,
    /// The PostgreSQL schema (search_path) of a PostgreSQL app, for a second node on it.
    pub pg_schema: Option<String>,
    /// Dropping it stops the server.
    _shutdown: oneshot::Sender<()>,
    /// The server task, which ends once the server has shut down.
    server: tokio::task::JoinHandle<()>,
    _dir: Option<TempDir>,
}

pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, ServerConfig::default()).await
}

/// A server with authentication and access auditing off, as most tests want: they check
/// what the `X-Actor-*` headers say, and count entries. The security tests use
/// [`spawn_configured`].
pub async fn spawn_app_with(backend: Backend, config: ServerConfig) -> Option<TestApp> {
    spawn_configured(backend, open(config)).await
}

/// `config` with authentication and access auditing off.
pub fn open(mut config: ServerConfig) -> ServerConfig {
    config.auth.enabled = false;
    config.auth.audit_access = false;
    config
}

/// A server with exactly `config`.
pub async fn spawn_configured(backend: Backend, config: ServerConfig) -> Option<TestApp> {
    let schema = Arc::new(Schema::parse(SCHEMA).expect("test schema parses"));
    let dir = tempfile::tempdir().expect("temp dir");
    let mut pg_schema = None;
    let store: Arc<dyn Store> = match backend {
        Backend::Sqlite => {
            let config = SqliteConfig::new(dir.path().join("chronicle.db"), schema.clone());
            Arc::new(
                SqliteStore::open(config)
                    .await
                    .expect("open a fresh SQLite store"),
            )
        }
        Backend::Postgres => {
            let (store, name) = postgres_store(schema.clone(), None, None).await?;
            pg_schema = Some(name);
            Arc::new(store)
        }
    };
    let mut app = serve(store, schema, config).await;
    app.backend = backend;
    app.pg_schema = pg_schema;
    app._dir = Some(dir);
    Some(app)
}

/// An app whose store seals the schema's sensitive values (a fresh master key), served through
/// the unsealing decorator as `chronicle serve` does. Also returns the raw store (reads show
/// what is stored) and, for SQLite, the database file.
pub async fn spawn_sealed_app(
    backend: Backend,
    schema_text: &str,
) -> Option<(TestApp, Arc<dyn Store>, Option<std::path::PathBuf>)> {
    spawn_sealed_app_with(backend, schema_text, ServerConfig::default(), |store| store).await
}

/// [`spawn_sealed_app`] with `config` (authentication and access auditing off), serving the
/// store `wrap` makes of the unsealing one (a test's fault injection).
pub async fn spawn_sealed_app_with(
    backend: Backend,
    schema_text: &str,
    config: ServerConfig,
    wrap: impl FnOnce(Arc<dyn Store>) -> Arc<dyn Store>,
) -> Option<(TestApp, Arc<dyn Store>, Option<std::path::PathBuf>)> {
    use chronicle_store::seal::{MasterKey, Sealer};
    let schema = Arc::new(Schema::parse(schema_text).expect("test schema parses"));
    let sealer = Arc::new(Sealer::new(MasterKey::generate().expect("randomness")));
    let dir = tempfile::tempdir().expect("temp dir");
    let mut file = None;
    let raw: Arc<dyn Store> = match backend {
        Backend::Sqlite => {
            let path = dir.path().join("chronicle.db");
            let mut config = SqliteConfig::new(&path, schema.clone());
            config.sealer = Some(sealer.clone());
            file = Some(path);
            Arc::new(
                SqliteStore::open(config)
                    .await
                    .expect("open a SQLite store"),
            )
        }
        Backend::Postgres => {
            let (store, _) = postgres_store(schema.clone(), None, Some(sealer.clone())).await?;
            Arc::new(store)
        }
    };
    let store = Arc::new(chronicle_store::unseal::Unsealing::new(
        raw.clone(),
        sealer,
        schema.clone(),
    ));
    let mut app = serve(wrap(store), schema, open(config)).await;
    app.backend = backend;
    app._dir = Some(dir);
    Some((app, raw, file))
}

/// A PostgreSQL store in a schema of its own (`ct_srv_<pid>_<n>`, which the PostgreSQL
/// crate's tests sweep away once this process is gone), or in the schema `existing` names.
/// `None`, with a visible line, when no server answers, unless `CHRONICLE_REQUIRE_PG=1`.
async fn postgres_store(
    schema: Arc<Schema>,
    existing: Option<&str>,
    sealer: Option<Arc<chronicle_store::seal::Sealer>>,
) -> Option<(chronicle_postgres::PgStore, String)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let url = std::env::var("CHRONICLE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let name = existing.map(str::to_owned).unwrap_or_else(|| {
        format!(
            "ct_srv_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
    });
    let mut config = chronicle_postgres::PgConfig::new(url.clone(), schema);
    config.pool_size = 4;
    config.application_name = name.clone();
    config.search_path = Some(name.clone());
    config.sealer = sealer;
    let connected = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        chronicle_postgres::PgStore::connect(config),
    )
    .await;
    let why = match connected {
        Ok(Ok(store)) => return Some((store, name)),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "timed out".to_owned(),
    };
    if std::env::var("CHRONICLE_REQUIRE_PG").is_ok_and(|v| v == "1") {
        panic!("PostgreSQL not reachable at {url} ({why}) and CHRONICLE_REQUIRE_PG=1");
    }
    println!("SKIPPED: PostgreSQL not reachable at {url} ({why})");
    None
}

/// A second server node on the same PostgreSQL schema as `app` (its own store, pool, writer
/// and stream hub), as another process would be.
pub async fn spawn_second_node(app: &TestApp, config: ServerConfig) -> TestApp {
    spawn_second_node_configured(app, open(config)).await
}

/// [`spawn_second_node`] with exactly `config` (authentication as it says).
pub async fn spawn_second_node_configured(app: &TestApp, config: ServerConfig) -> TestApp {
    let schema = Arc::new(Schema::parse(SCHEMA).expect("test schema parses"));
    let name = app.pg_schema.as_deref().expect("a PostgreSQL app");
    let (store, _) = postgres_store(schema.clone(), Some(name), None)
        .await
        .expect("the first node's database answers");
    let mut node = serve(Arc::new(store), schema, config).await;
    node.backend = Backend::Postgres;
    node.pg_schema = Some(name.to_owned());
    node
}

/// Serves any store (the failure tests bring their own).
pub async fn serve(store: Arc<dyn Store>, schema: Arc<Schema>, config: ServerConfig) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a random port");
    let address = format!("http://{}", listener.local_addr().expect("local address"));
    let state = AppState::new(store.clone(), schema, config);
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        chronicle_server::run(listener, state, async {
            let _ = rx.await;
        })
        .await
        .expect("server runs");
    });
    TestApp {
        address,
        client: reqwest::Client::new(),
        backend: Backend::Sqlite,
        store,
        pg_schema: None,
        _shutdown: tx,
        server,
        _dir: None,
    }
}

impl TestApp {
    /// Shuts the server down gracefully and waits until it has finished (what it does on the
    /// way out included). The store stays open for the test to read, with the directory that
    /// holds a SQLite store's file.
    pub async fn stop(self) -> (Arc<dyn Store>, Option<TempDir>) {
        let _ = self._shutdown.send(());
        self.server.await.expect("the server task ends cleanly");
        (self.store, self._dir)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A request without any context headers (tests add what they check).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Response {
        self.request(method, path)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.send_json(Method::POST, path, body).await
    }

    /// Creates an entity and returns the answer, asserting 201.
    pub async fn create(&self, entity_type: &str, id: &str, data: Value) -> Value {
        let res = self
            .post(
                &format!("/v1/entities/{entity_type}"),
                &json!({"id": id, "data": data}),
            )
            .await;
        expect_json(res, StatusCode::CREATED).await
    }

    /// The data directory of a SQLite app.
    pub fn data_dir(&self) -> Option<&std::path::Path> {
        self._dir.as_ref().map(|d| d.path())
    }

    pub async fn tree_size(&self) -> u64 {
        let res = self.get("/v1/ledger/checkpoint").await;
        expect_json(res, StatusCode::OK).await["tree_size"]
            .as_u64()
            .expect("tree_size is a number")
    }

    /// Every entry matching `query` (e.g. `entity_id=x&order=desc`), following cursors.
    pub async fn all_entries(&self, query: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/v1/audit/entries?limit=1000&{query}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = expect_json(self.get(&path).await, StatusCode::OK).await;
            out.extend(page["entries"].as_array().expect("entries").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return out,
            }
        }
    }
}

/// Asserts the status and returns the JSON body.
pub async fn expect_json(res: Response, status: StatusCode) -> Value {
    let actual = res.status();
    let text = res.text().await.expect("body read");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text}"))
}

/// Asserts an RFC 9457 problem with this status and code, and returns it.
pub async fn expect_problem(res: Response, status: StatusCode, code: &str) -> Value {
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = expect_json(res, status).await;
    assert_eq!(
        content_type, "application/problem+json",
        "problem content type; body: {body}"
    );
    assert_eq!(
        body["type"],
        format!("urn:chronicle:problem:{code}"),
        "problem type; body: {body}"
    );
    assert_eq!(
        body["status"],
        status.as_u16(),
        "problem status; body: {body}"
    );
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "title and detail; body: {body}"
    );
    body
}

/// The pointers of a problem's `errors`.
pub fn pointers(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["pointer"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The raw stored form: every entry's canonical bytes, the data of every entity of `types`,
/// and for SQLite the database file and its WAL.
pub async fn at_rest(
    raw: &Arc<dyn Store>,
    file: &Option<std::path::PathBuf>,
    types: &[&str],
) -> String {
    let size = raw.head().await.unwrap().tree_size;
    let mut text = String::new();
    for row in raw.rows(1, size).await.unwrap() {
        text.push_str(&String::from_utf8_lossy(&row.canonical));
    }
    for ty in types {
        for e in raw.list_entities(ty, None, 1000).await.unwrap() {
            text.push_str(&e.data.to_string());
        }
    }
    if let Some(path) = file {
        text.push_str(&String::from_utf8_lossy(&std::fs::read(path).unwrap()));
        let wal = std::fs::read(path.with_extension("db-wal")).unwrap_or_default();
        text.push_str(&String::from_utf8_lossy(&wal));
    }
    text
}
