//! Proof bundles: entries with a signed checkpoint and an inclusion proof for each, so that a
//! party with no database can check them: the checkpoint's signature with a key it trusts,
//! then every entry's leaf against the signed root through its proof (RFC 9162).

use crate::checkpoints::CheckpointSigner;
use crate::error::EngineError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chronicle_core::canonical;
use chronicle_core::merkle::{self, Hash};
use chronicle_core::note::{self, NoteVerifier};
use chronicle_store::{Store, proofs};
use serde::{Deserialize, Serialize};

pub const FORMAT: &str = "chronicle-proof-bundle/v1";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    pub format: String,
    /// The signed C2SP checkpoint every proof is against.
    pub checkpoint: String,
    /// The verifier key that signed it (a verifier should bring its own).
    pub vkey: String,
    pub entries: Vec<BundledEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BundledEntry {
    pub seq: u64,
    /// Base64 of the exact bytes hashed.
    pub canonical: String,
    /// Inclusion proof, lowercase hex.
    pub proof: Vec<String>,
}

/// Entries `from..=to` (clamped to the tree) with a checkpoint signed now and their proofs.
pub async fn export(
    store: &dyn Store,
    signer: &CheckpointSigner,
    from: u64,
    to: u64,
) -> Result<Bundle, EngineError> {
    let cp = signer.sign_head(store).await?;
    let size = cp.tree_size;
    let (from, to) = (from.max(1), to.min(size));
    let mut entries = Vec::new();
    let mut start = from;
    while start <= to {
        let end = (start + 999).min(to);
        for row in store.rows(start, end).await? {
            let proof = proofs::inclusion(store, row.seq - 1, size).await?;
            entries.push(BundledEntry {
                seq: row.seq,
                canonical: STANDARD.encode(&row.canonical),
                proof: proof.iter().map(hex::encode).collect(),
            });
        }
        start = end + 1;
    }
    Ok(Bundle {
        format: FORMAT.into(),
        checkpoint: cp.checkpoint,
        vkey: cp.vkey,
        entries,
    })
}

/// Checks a bundle against `trusted` verifier keys; the tree size on success, else why not.
pub fn check(bundle: &Bundle, trusted: &[String]) -> Result<u64, String> {
    if bundle.format != FORMAT {
        return Err(format!("unknown bundle format {:?}", bundle.format));
    }
    let body = trusted
        .iter()
        .filter_map(|k| NoteVerifier::parse(k).ok())
        .find_map(|v| v.open(&bundle.checkpoint).ok())
        .ok_or("the checkpoint is not signed by a trusted key")?;
    let (_, size, root) = note::parse_checkpoint(body).map_err(|e| e.to_string())?;
    for e in &bundle.entries {
        let bytes = STANDARD
            .decode(&e.canonical)
            .map_err(|_| format!("entry {}: canonical is not base64", e.seq))?;
        let leaf = canonical::leaf_of(&bytes);
        let entry = canonical::from_canonical(&bytes, &leaf)
            .map_err(|_| format!("entry {}: not an entry", e.seq))?;
        if entry.seq != e.seq || e.seq == 0 {
            return Err(format!("entry {}: its bytes say seq {}", e.seq, entry.seq));
        }
        let proof: Vec<Hash> = e
            .proof
            .iter()
            .map(|h| hex::decode(h).ok().and_then(|b| b.try_into().ok()))
            .collect::<Option<_>>()
            .ok_or(format!("entry {}: the proof is not hex hashes", e.seq))?;
        merkle::verify_inclusion(e.seq - 1, size, &leaf, &proof, &root)
            .map_err(|err| format!("entry {}: {err}", e.seq))?;
    }
    Ok(size)
}
