//! Signed checkpoints: the ledger's tree head as a C2SP `tlog-checkpoint`, signed as a C2SP
//! `signed-note` with Ed25519; kept as `_checkpoint` entities (id = the zero-padded tree size,
//! so two nodes issuing the same checkpoint collide harmlessly and the list sorts by size);
//! witnesses' `tlog-cosignature`s accepted from configured keys.
//!
//! Every checkpoint signs a head the store actually had, and the store's tree only grows, so
//! any two checkpoints this server signs are consistent with each other.

use crate::CHECKPOINT_TYPE;
use crate::error::EngineError;
use chronicle_core::note::{self, NoteSigner, NoteVerifier};
use chronicle_core::write::EntityOp;
use chronicle_core::{RequestContext, timefmt};
use chronicle_store::{Op, Store, StoreError, Writer};
use serde::{Deserialize, Serialize};
use std::path::Path;
use time::OffsetDateTime;

/// A signed checkpoint as served and kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignedCheckpoint {
    pub tree_size: u64,
    /// Lowercase hex.
    pub root_hash: String,
    /// The signed note: checkpoint body, blank line, signature lines (the log's, then any
    /// witnesses' cosignatures).
    pub checkpoint: String,
    /// The verifier key that signed it.
    pub vkey: String,
    #[serde(with = "chronicle_core::timefmt")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub timestamp: OffsetDateTime,
}

/// The key that signs checkpoints, and the origin line they carry.
#[derive(Clone, Debug)]
pub struct CheckpointSigner {
    pub signer: NoteSigner,
}

impl CheckpointSigner {
    /// A fresh random key named after the origin.
    pub fn generate(origin: &str) -> Result<CheckpointSigner, EngineError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| {
            EngineError::Store(StoreError::internal_msg(format!(
                "no randomness for a key: {e}"
            )))
        })?;
        let signer = NoteSigner::from_seed(origin, seed)
            .map_err(|e| EngineError::invalid("/origin", e.to_string()))?;
        Ok(CheckpointSigner { signer })
    }

    /// Loads the key file, or creates it (mode 0600) with a fresh key when it does not exist.
    /// The file holds the key in Go's `note` signer format.
    pub fn load_or_create(path: &Path, origin: &str) -> std::io::Result<CheckpointSigner> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let signer = NoteSigner::parse(text.trim()).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: {e}", path.display()),
                    )
                })?;
                Ok(CheckpointSigner { signer })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let fresh = CheckpointSigner::generate(origin)
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                chronicle_store::seal::write_private(path, &fresh.signer.to_private_string())?;
                Ok(fresh)
            }
            Err(e) => Err(e),
        }
    }

    pub fn parse(skey: &str) -> Result<CheckpointSigner, EngineError> {
        let signer = NoteSigner::parse(skey)
            .map_err(|e| EngineError::invalid("/checkpoint_key", e.to_string()))?;
        Ok(CheckpointSigner { signer })
    }

    pub fn vkey(&self) -> String {
        self.signer.verifier_key()
    }

    /// Signs the store's current head.
    pub async fn sign_head(&self, store: &dyn Store) -> Result<SignedCheckpoint, EngineError> {
        let head = store.head().await?;
        let body = note::checkpoint_body(self.signer.name(), head.tree_size, &head.root);
        let checkpoint = self
            .signer
            .sign(&body)
            .map_err(|e| EngineError::Store(StoreError::internal_msg(e.to_string())))?;
        Ok(SignedCheckpoint {
            tree_size: head.tree_size,
            root_hash: hex::encode(head.root),
            checkpoint,
            vkey: self.vkey(),
            timestamp: timefmt::now(),
        })
    }
}

fn id_of(tree_size: u64) -> String {
    format!("{tree_size:020}")
}

fn system() -> RequestContext {
    chronicle_store::writer::process_context(None, Some("checkpoint"))
}

/// Signs the head and keeps it, unless fewer than `min_new_entries` entries arrived since the
/// newest kept checkpoint (`last_kept`, its tree size; that checkpoint's own entry is not
/// news). Returns the checkpoint kept, if any.
pub async fn issue(
    writer: &Writer,
    signer: &CheckpointSigner,
    last_kept: Option<u64>,
    min_new_entries: u64,
) -> Result<Option<SignedCheckpoint>, EngineError> {
    let store = writer.store().as_ref();
    let head = store.head().await?;
    let seen = last_kept.map_or(0, |size| size + 1);
    if head.tree_size <= seen || head.tree_size - seen < min_new_entries.max(1) {
        return Ok(None);
    }
    let cp = signer.sign_head(store).await?;
    let op = EntityOp::Create {
        entity_type: CHECKPOINT_TYPE.into(),
        id: Some(id_of(cp.tree_size)),
        data: serde_json::to_value(&cp).expect("serializes"),
    };
    match writer.apply(system(), Op::record(op, Vec::new())).await? {
        Ok(_) => Ok(Some(cp)),
        // Another node kept a checkpoint of the same size first: same tree, nothing to do.
        Err(chronicle_core::write::OpError::AlreadyExists { .. }) => Ok(None),
        Err(e) => Err(EngineError::Store(StoreError::internal_msg(format!(
            "cannot keep the checkpoint: {e}"
        )))),
    }
}

fn parse(state: chronicle_core::EntityState) -> Result<SignedCheckpoint, EngineError> {
    serde_json::from_value(state.data).map_err(|e| {
        EngineError::Store(StoreError::Corrupt(format!("checkpoint {}: {e}", state.id)))
    })
}

/// Kept checkpoints by tree size, after `after_size`.
pub async fn list(
    store: &dyn Store,
    after_size: Option<u64>,
    limit: usize,
) -> Result<Vec<SignedCheckpoint>, EngineError> {
    let after = after_size.map(id_of);
    store
        .list_entities(CHECKPOINT_TYPE, after.as_deref(), limit)
        .await?
        .into_iter()
        .map(parse)
        .collect()
}

/// The newest kept checkpoint. Sizes are zero-padded ids, so this pages to the end.
pub async fn latest(store: &dyn Store) -> Result<Option<SignedCheckpoint>, EngineError> {
    let mut after: Option<String> = None;
    let mut last = None;
    loop {
        let page = store
            .list_entities(CHECKPOINT_TYPE, after.as_deref(), 1000)
            .await?;
        let Some(l) = page.last() else { break };
        after = Some(l.id.clone());
        let full = page.len() == 1000;
        last = page.into_iter().last();
        if !full {
            break;
        }
    }
    last.map(parse).transpose()
}

/// Adds a witness's cosignature line to the kept checkpoint of `tree_size`, after checking it
/// against the configured witness keys. Returns the checkpoint with the cosignature.
pub async fn add_cosignature(
    writer: &Writer,
    witnesses: &[String],
    tree_size: u64,
    line: &str,
) -> Result<SignedCheckpoint, EngineError> {
    let line = format!("{}\n", line.trim_end_matches('\n'));
    if line.lines().count() != 1 || !line.starts_with("— ") {
        return Err(EngineError::invalid(
            "/cosignature",
            "must be one signature line: '— <name> <base64>'",
        ));
    }
    let state = writer
        .store()
        .entity(CHECKPOINT_TYPE, &id_of(tree_size))
        .await?
        .ok_or_else(|| EngineError::NotFound(format!("checkpoint of tree size {tree_size}")))?;
    let version = state.version;
    let mut cp = parse(state)?;
    let (body, _) = note::split(&cp.checkpoint)
        .map_err(|e| EngineError::Store(StoreError::Corrupt(e.to_string())))?;
    let candidate = format!("{body}\n{line}");
    let mut accepted = false;
    for w in witnesses {
        let Ok(v) = NoteVerifier::parse(w) else {
            continue;
        };
        if v.open(&candidate).is_ok() {
            accepted = true;
            break;
        }
    }
    if !accepted {
        return Err(EngineError::Forbidden(
            "the cosignature does not verify with any configured witness key".into(),
        ));
    }
    if cp.checkpoint.contains(line.trim_end()) {
        return Ok(cp);
    }
    cp.checkpoint.push_str(&line);
    let op = EntityOp::Replace {
        entity_type: CHECKPOINT_TYPE.into(),
        id: id_of(tree_size),
        data: serde_json::to_value(&cp).expect("serializes"),
        expected_version: Some(version),
    };
    match writer.apply(system(), Op::record(op, Vec::new())).await? {
        Ok(_) => Ok(cp),
        Err(e) => Err(EngineError::WrongState(format!(
            "the checkpoint changed meanwhile; send it again ({e})"
        ))),
    }
}

/// Checks every kept checkpoint's signature against the given verifier keys and its root
/// against the tree rebuilt from the rows (`root_at(size)`). Returns the first problem.
pub fn check(cp: &SignedCheckpoint, vkeys: &[String]) -> Result<(), String> {
    let verifier = vkeys
        .iter()
        .filter_map(|k| NoteVerifier::parse(k).ok())
        .find(|v| v.open(&cp.checkpoint).is_ok());
    let Some(v) = verifier else {
        return Err(format!(
            "checkpoint of size {} is not signed by a known key",
            cp.tree_size
        ));
    };
    let body = v.open(&cp.checkpoint).expect("checked above");
    let (_, size, root) = note::parse_checkpoint(body).map_err(|e| e.to_string())?;
    if size != cp.tree_size || hex::encode(root) != cp.root_hash {
        return Err(format!(
            "checkpoint of size {} does not say what its record says",
            cp.tree_size
        ));
    }
    Ok(())
}

/// Full verification: every row, leaf and the tree (`chronicle_store::verify`), then every
/// kept checkpoint: signed by one of the `trusted` verifier keys, and its root the root of the
/// rows at its size. Returns the report and how many checkpoints were checked.
pub async fn verify_ledger(
    store: &dyn Store,
    trusted: &[String],
    progress: impl FnMut(u64, u64),
) -> Result<(chronicle_store::verify::VerifyReport, usize), EngineError> {
    use chronicle_store::verify::{Failure, FailureKind};
    let mut kept = Vec::new();
    let mut after = None;
    loop {
        let page = list(store, after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.tree_size);
        kept.extend(page);
    }
    let sizes: Vec<u64> = kept.iter().map(|c| c.tree_size).collect();
    let (mut report, roots) = chronicle_store::verify::verify_at(store, &sizes, progress).await?;
    if !report.ok() {
        return Ok((report, 0));
    }
    let roots: std::collections::BTreeMap<u64, chronicle_core::merkle::Hash> =
        roots.into_iter().collect();
    let mut checked = 0;
    for cp in &kept {
        // A checkpoint beyond the rows verified was kept after verification began.
        let Some(root) = roots.get(&cp.tree_size) else {
            continue;
        };
        if let Err(why) = check(cp, trusted) {
            report.failure = Some(Failure {
                seq: cp.tree_size,
                kind: FailureKind::SignatureBad,
                detail: why,
            });
            return Ok((report, checked));
        }
        if hex::encode(root) != cp.root_hash {
            let detail = format!(
                "the checkpoint of size {} signed root {}, the rows give {}",
                cp.tree_size,
                cp.root_hash,
                hex::encode(root)
            );
            report.failure = Some(Failure {
                seq: cp.tree_size,
                kind: FailureKind::CheckpointMismatch,
                detail,
            });
            return Ok((report, checked));
        }
        checked += 1;
    }
    Ok((report, checked))
}
