//! `chronicle serve`: opens the ledger, optionally loads the demo, binds the listener and runs
//! the HTTP server until SIGINT or SIGTERM.

use crate::demo;
use crate::settings::Settings;
use crate::store::{load_schema, load_sealer, open_sealed_store};
use anyhow::{Context, Result};
use chronicle_core::redact::{RedactionRule, Redactor};
use chronicle_core::schema::Schema;
use chronicle_engine::checkpoints::CheckpointSigner;
use chronicle_server::auth::{ConfiguredToken, Role};
use chronicle_server::{AppState, ServerConfig};
use std::io::Write;
use std::sync::Arc;
use tokio::net::TcpListener;

/// How `serve` was asked to run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Load the demo data set when the ledger is empty.
    pub demo: bool,
    /// `--insecure-no-auth`.
    pub insecure_no_auth: bool,
}

pub async fn run(settings: &Settings, options: Options) -> Result<()> {
    let load_demo = options.demo;
    let schema = Arc::new(match &settings.schema {
        Some(path) => load_schema(path)?,
        None if load_demo => demo::schema()?,
        None => Schema::default(),
    });
    let mut config = server_config(settings)?;
    if options.insecure_no_auth {
        config.auth.enabled = false;
    }
    tracing::info!(
        store = %settings.describe_store(),
        listen = %settings.listen,
        schema = %settings.schema.as_ref().map_or(if load_demo { "demo".to_owned() } else { "none".to_owned() }, |p| p.display().to_string()),
        config_file = ?settings.config_file,
        "starting chronicle"
    );
    // Encryption at rest is always on: the key comes from the environment or the data dir.
    let sealer = load_sealer(&settings.data_dir)?;
    let store = open_sealed_store(settings.location(), schema.clone(), sealer.clone())
        .await?
        .store;
    if load_demo {
        if store.head().await?.tree_size == 0 {
            let loaded = demo::load(&*store, 1.0, false)
                .await
                .context("cannot load the demo data")?;
            // The alert rules watch the planted incident as if it happened while serving.
            config.alerts.evaluate_after_seq = loaded.incident_after_seq;
            tracing::info!(
                entries = loaded.entries,
                seconds = loaded.seconds,
                "demo data loaded"
            );
        } else {
            tracing::info!("the ledger is not empty: demo data not loaded again");
        }
    }
    let listener = TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")?;
    if !config.auth.enabled {
        if !addr.ip().is_loopback() {
            anyhow::bail!(
                "--insecure-no-auth serves only on a loopback address, not {addr}: anyone on the network could read and change everything"
            );
        }
        tracing::warn!("{}", chronicle_server::routes::ops::INSECURE);
    }
    // The server (and the rollback engine behind it) reads plaintext; rows() stays raw for
    // proofs, bundles and verification.
    let store: Arc<dyn chronicle_store::Store> = Arc::new(chronicle_store::unseal::Unsealing::new(
        store,
        sealer,
        schema.clone(),
    ));
    let state = AppState::new(store, schema, config);
    // First start with no token anywhere: make an admin token and show it this once.
    match chronicle_server::auth::tokens::bootstrap(&state).await {
        Ok(Some(token)) => {
            println!(
                "admin token (shown once; keep it, it is stored only as a hash): {}",
                token.token
            );
        }
        Ok(None) => {}
        Err(e) => anyhow::bail!("cannot create the first admin token: {}", e.detail),
    }
    // Scripts and tests read this line to find the server: keep its shape.
    println!("chronicle listening on http://{addr}");
    std::io::stdout().flush().ok();
    chronicle_server::run(listener, state, shutdown_signal())
        .await
        .context("the server stopped with an error")?;
    tracing::info!("stopped");
    Ok(())
}

pub fn server_config(settings: &Settings) -> Result<ServerConfig> {
    let mut config = ServerConfig::default();
    if let Some(limit) = settings.body_limit {
        config.body_limit = usize::try_from(limit.0).context("the body limit is too large")?;
    }
    if let Some(proxies) = &settings.trusted_proxies {
        config.trusted_proxies = proxies
            .iter()
            .map(|p| {
                p.parse()
                    .with_context(|| format!("invalid trusted proxy address {p:?}"))
            })
            .collect::<Result<_>>()?;
    }
    if let Some(origin) = &settings.origin {
        config.origin = origin.clone();
    }
    if let Some(n) = settings.default_page_size {
        config.default_page_size = n;
    }
    if let Some(n) = settings.max_page_size {
        config.max_page_size = n;
    }
    if let Some(policy) = &settings.approval {
        config.approval = policy.clone();
    }
    if let Some(c) = &settings.checkpoints {
        if let Some(n) = c.every_entries {
            config.checkpoints.every_entries = n;
        }
        if let Some(n) = c.every_secs {
            config.checkpoints.every_secs = n;
        }
        if let Some(keys) = &c.witnesses {
            config.checkpoints.witnesses = keys.clone();
        }
        if let Some(keys) = &c.previous_keys {
            config.checkpoints.previous_keys = keys.clone();
        }
    }
    // The signing key lives beside the data (mode 0600), created on first start. Its name is
    // the checkpoint origin. Several nodes on one database must share one key file.
    let path = settings.checkpoint_key_path();
    let signer = CheckpointSigner::load_or_create(&path, &config.origin).with_context(|| {
        format!(
            "cannot load or create the checkpoint key {}",
            path.display()
        )
    })?;
    if signer.signer.name() != config.origin {
        tracing::warn!(key = signer.signer.name(), origin = %config.origin, "the checkpoint key's name is the origin; the origin setting is ignored");
        config.origin = signer.signer.name().to_owned();
    }
    config.checkpoints.signer = Some(signer);
    if let Some(auth) = &settings.auth {
        if let Some(token) = &auth.admin_token {
            if token.chars().count() < 24 {
                anyhow::bail!("[auth] admin_token must be at least 24 characters");
            }
            config
                .auth
                .tokens
                .push(ConfiguredToken::new("admin", Role::Admin, token));
        }
        if let Some(roles) = &auth.unmask_roles {
            config.auth.unmask_roles = roles
                .iter()
                .map(|r| {
                    Role::parse(r).with_context(|| {
                        format!("[auth] unmask_roles: {r:?} is not a role (admin, operator, approver, auditor, viewer, service)")
                    })
                })
                .collect::<Result<_>>()?;
        }
        if let Some(on) = auth.audit_access {
            config.auth.audit_access = on;
        }
        if let Some(n) = auth.access_window_secs {
            config.auth.access_window_secs = n;
        }
        if let Some(n) = auth.failure_burst {
            config.auth.failure_burst = n;
        }
        if let Some(n) = auth.failure_window_secs {
            config.auth.failure_window_secs = n;
        }
        if let Some(n) = auth.token_recheck_secs {
            config.auth.token_recheck_secs = n;
        }
    }
    if let Some(r) = &settings.redaction {
        let mut rules = if r.builtin.unwrap_or(true) {
            RedactionRule::builtin()
        } else {
            Vec::new()
        };
        rules.extend(r.rules.iter().flatten().cloned());
        config.redactor = Redactor::new(&rules).map_err(|e| anyhow::anyhow!("[redaction] {e}"))?;
    }
    Ok(config)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM, whichever comes first.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for SIGINT: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received: shutting down"),
        () = terminate => tracing::info!("SIGTERM received: shutting down"),
    }
}
