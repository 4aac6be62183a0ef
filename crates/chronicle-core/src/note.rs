//! C2SP signed notes (`signed-note`), checkpoints (`tlog-checkpoint`) and Ed25519
//! cosignatures (`tlog-cosignature`), so that any note-verifying tool can check what the
//! ledger signs.
//!
//! - A note is text ending in a newline, a blank line, then signature lines
//!   `— <key name> base64(key ID ‖ signature)`.
//! - Key ID = SHA-256(name ‖ "\n" ‖ type ‖ public key)[:4]; type 0x01 for Ed25519 note
//!   signatures, 0x04 for Ed25519 cosignatures.
//! - A verifier key (vkey) is `<name>+<hex key ID>+base64(type ‖ public key)`; a signer key
//!   is `PRIVATE+KEY+<name>+<hex key ID>+base64(type ‖ seed)`, as Go's `note` package writes.
//! - A checkpoint body is `<origin>\n<tree size>\n<base64 root>\n`.
//! - A cosignature signs `cosignature/v1\ntime <t>\n` followed by the checkpoint body, and its
//!   signature is `key ID ‖ u64 big-endian timestamp ‖ Ed25519 signature`.

use crate::merkle::Hash;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

const ALG_ED25519: u8 = 0x01;
const ALG_COSIGNATURE_V1: u8 = 0x04;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NoteError {
    #[error("malformed key: {0}")]
    BadKey(&'static str),
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("no signature by {0} on the note")]
    Unsigned(String),
    #[error("signature by {0} does not verify")]
    BadSignature(String),
    #[error("malformed checkpoint: {0}")]
    BadCheckpoint(&'static str),
}

fn key_id(name: &str, alg: u8, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([alg]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// Key names are non-empty, with no whitespace and no `+`.
fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+') {
        return Err(NoteError::BadKey(
            "a key name must be non-empty, without spaces or '+'",
        ));
    }
    Ok(())
}

/// An Ed25519 note signer (the ledger's checkpoint key, or a witness's cosigning key).
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<NoteSigner, NoteError> {
        check_name(name)?;
        Ok(NoteSigner {
            name: name.to_owned(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex id>+base64(0x01 ‖ seed)`.
    pub fn parse(skey: &str) -> Result<NoteSigner, NoteError> {
        let rest = skey
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::BadKey("missing PRIVATE+KEY+ prefix"))?;
        // Names and key IDs never hold '+', base64 may: split from the left.
        let mut parts = rest.splitn(3, '+');
        let (name, id, material) = (parts.next(), parts.next(), parts.next());
        let (Some(material), Some(id), Some(name)) = (material, id, name) else {
            return Err(NoteError::BadKey("expected name+id+key"));
        };
        let bytes = B64
            .decode(material)
            .map_err(|_| NoteError::BadKey("key is not base64"))?;
        if bytes.len() != 33 || bytes[0] != ALG_ED25519 {
            return Err(NoteError::BadKey("not an Ed25519 key"));
        }
        let seed: [u8; 32] = bytes[1..].try_into().expect("length checked");
        let signer = NoteSigner::from_seed(name, seed)?;
        if hex::encode(signer.key_id()) != id {
            return Err(NoteError::BadKey("key ID does not match the key"));
        }
        Ok(signer)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> [u8; 4] {
        key_id(
            &self.name,
            ALG_ED25519,
            &self.key.verifying_key().to_bytes(),
        )
    }

    /// The signer key in Go's `note` format, for storing in a key file.
    pub fn to_private_string(&self) -> String {
        let mut material = vec![ALG_ED25519];
        material.extend_from_slice(&self.key.to_bytes());
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            hex::encode(self.key_id()),
            B64.encode(material)
        )
    }

    /// The verifier key (vkey) anyone can check notes with.
    pub fn verifier_key(&self) -> String {
        let mut material = vec![ALG_ED25519];
        material.extend_from_slice(&self.key.verifying_key().to_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.key_id()),
            B64.encode(material)
        )
    }

    /// The signature line for `text` (which must end in a newline).
    pub fn signature_line(&self, text: &str) -> String {
        let sig = self.key.sign(text.as_bytes());
        let mut blob = self.key_id().to_vec();
        blob.extend_from_slice(&sig.to_bytes());
        format!("— {} {}\n", self.name, B64.encode(blob))
    }

    /// A signed note: the text, a blank line, the signature line.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        Ok(format!("{text}\n{}", self.signature_line(text)))
    }

    /// The Ed25519 public key of this signer as a cosigner (vkey type 0x04).
    pub fn cosigner_key(&self) -> String {
        let public = self.key.verifying_key().to_bytes();
        let mut material = vec![ALG_COSIGNATURE_V1];
        material.extend_from_slice(&public);
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(key_id(&self.name, ALG_COSIGNATURE_V1, &public)),
            B64.encode(material)
        )
    }

    /// A `tlog-cosignature` v1 signature line over a checkpoint body at `timestamp`.
    pub fn cosign(&self, checkpoint_body: &str, timestamp: u64) -> String {
        let msg = format!("cosignature/v1\ntime {timestamp}\n{checkpoint_body}");
        let sig = self.key.sign(msg.as_bytes());
        let public = self.key.verifying_key().to_bytes();
        let mut blob = key_id(&self.name, ALG_COSIGNATURE_V1, &public).to_vec();
        blob.extend_from_slice(&timestamp.to_be_bytes());
        blob.extend_from_slice(&sig.to_bytes());
        format!("— {} {}\n", self.name, B64.encode(blob))
    }
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed("text must end in a newline"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed(
            "text must not contain control characters",
        ));
    }
    Ok(())
}

/// A verifier key: checks note signatures (type 0x01) or cosignatures (type 0x04).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    pub name: String,
    pub key_id: [u8; 4],
    alg: u8,
    key: VerifyingKey,
}

impl NoteVerifier {
    pub fn parse(vkey: &str) -> Result<NoteVerifier, NoteError> {
        let mut parts = vkey.trim().splitn(3, '+');
        let (name, id, material) = (parts.next(), parts.next(), parts.next());
        let (Some(material), Some(id), Some(name)) = (material, id, name) else {
            return Err(NoteError::BadKey("expected name+id+key"));
        };
        check_name(name)?;
        let bytes = B64
            .decode(material)
            .map_err(|_| NoteError::BadKey("key is not base64"))?;
        if bytes.len() != 33 || !matches!(bytes[0], ALG_ED25519 | ALG_COSIGNATURE_V1) {
            return Err(NoteError::BadKey("not an Ed25519 key"));
        }
        let public: [u8; 32] = bytes[1..].try_into().expect("length checked");
        let key = VerifyingKey::from_bytes(&public)
            .map_err(|_| NoteError::BadKey("not a valid Ed25519 point"))?;
        let kid = key_id(name, bytes[0], &public);
        if hex::encode(kid) != id {
            return Err(NoteError::BadKey("key ID does not match the key"));
        }
        Ok(NoteVerifier {
            name: name.to_owned(),
            key_id: kid,
            alg: bytes[0],
            key,
        })
    }

    /// Verifies a signed note and returns its text. Other signers' lines are ignored.
    pub fn open<'a>(&self, note: &'a str) -> Result<&'a str, NoteError> {
        let (text, sigs) = split(note)?;
        for (name, blob) in sigs {
            if name != self.name || blob.len() < 4 || blob[..4] != self.key_id {
                continue;
            }
            let ok = match self.alg {
                ALG_ED25519 => blob.len() == 68 && self.verify_raw(text.as_bytes(), &blob[4..]),
                _ => {
                    blob.len() == 76 && {
                        let t = u64::from_be_bytes(blob[4..12].try_into().expect("length checked"));
                        self.verify_raw(
                            format!("cosignature/v1\ntime {t}\n{text}").as_bytes(),
                            &blob[12..],
                        )
                    }
                }
            };
            return if ok {
                Ok(text)
            } else {
                Err(NoteError::BadSignature(self.name.clone()))
            };
        }
        Err(NoteError::Unsigned(self.name.clone()))
    }

    fn verify_raw(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
            return false;
        };
        self.key.verify(msg, &sig).is_ok()
    }
}

/// A signature line: the key name and the decoded signature blob.
pub type SignatureLine<'a> = (&'a str, Vec<u8>);

/// Splits a note into its text and its signature lines.
pub fn split(note: &str) -> Result<(&str, Vec<SignatureLine<'_>>), NoteError> {
    let at = note
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    let (text, sigs) = (&note[..at + 1], &note[at + 2..]);
    check_text(text)?;
    if !sigs.ends_with('\n') {
        return Err(NoteError::Malformed(
            "signature lines must end in a newline",
        ));
    }
    let mut out = Vec::new();
    for line in sigs.lines() {
        let rest = line.strip_prefix("— ").ok_or(NoteError::Malformed(
            "a signature line starts with an em dash and a space",
        ))?;
        let (name, b64) = rest.split_once(' ').ok_or(NoteError::Malformed(
            "a signature line has a name and a signature",
        ))?;
        let blob = B64
            .decode(b64)
            .map_err(|_| NoteError::Malformed("a signature is base64"))?;
        out.push((name, blob));
    }
    if out.is_empty() {
        return Err(NoteError::Malformed("no signature lines"));
    }
    Ok((text, out))
}

/// The body of a C2SP checkpoint.
pub fn checkpoint_body(origin: &str, tree_size: u64, root: &Hash) -> String {
    format!("{origin}\n{tree_size}\n{}\n", B64.encode(root))
}

/// Parses a checkpoint body (extension lines allowed and ignored).
pub fn parse_checkpoint(body: &str) -> Result<(String, u64, Hash), NoteError> {
    let mut lines = body.split('\n');
    let origin = lines
        .next()
        .filter(|o| !o.is_empty())
        .ok_or(NoteError::BadCheckpoint("missing origin"))?;
    let size = lines
        .next()
        .ok_or(NoteError::BadCheckpoint("missing size"))?;
    if size.is_empty()
        || (size.len() > 1 && size.starts_with('0'))
        || !size.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(NoteError::BadCheckpoint(
            "size is a decimal without leading zeroes",
        ));
    }
    let size: u64 = size
        .parse()
        .map_err(|_| NoteError::BadCheckpoint("size out of range"))?;
    let root = lines
        .next()
        .ok_or(NoteError::BadCheckpoint("missing root"))?;
    let root: Hash = B64
        .decode(root)
        .ok()
        .and_then(|r| r.try_into().ok())
        .ok_or(NoteError::BadCheckpoint("root is base64 of 32 bytes"))?;
    if !body.ends_with('\n') {
        return Err(NoteError::BadCheckpoint("must end in a newline"));
    }
    Ok((origin.to_owned(), size, root))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example key and note of Go's golang.org/x/mod/sumdb/note package.
    const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    #[test]
    fn signing_reproduces_the_go_reference_note_byte_for_byte() {
        let signer = NoteSigner::parse(SKEY).unwrap();
        assert_eq!(signer.verifier_key(), VKEY);
        assert_eq!(signer.to_private_string(), SKEY);
        assert_eq!(signer.sign(TEXT).unwrap(), format!("{TEXT}\n{SIG}"));
        let v = NoteVerifier::parse(VKEY).unwrap();
        assert_eq!(v.open(&format!("{TEXT}\n{SIG}")).unwrap(), TEXT);
    }

    #[test]
    fn tampered_notes_and_wrong_keys_are_rejected() {
        let v = NoteVerifier::parse(VKEY).unwrap();
        let note = format!("{TEXT}\n{SIG}");
        assert_eq!(
            v.open(&note.replace("problem,", "problem;")),
            Err(NoteError::BadSignature("PeterNeumann".into()))
        );
        let other = NoteSigner::from_seed("PeterNeumann", [7; 32]).unwrap();
        assert!(matches!(
            NoteVerifier::parse(&other.verifier_key())
                .unwrap()
                .open(&note),
            Err(NoteError::Unsigned(_))
        ));
        assert!(v.open(TEXT).is_err());
        assert!(
            NoteVerifier::parse(
                "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            )
            .is_err()
        );
        assert!(
            NoteVerifier::parse(
                "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            )
            .is_err()
        );
        assert!(NoteSigner::from_seed("", [1; 32]).is_err());
    }

    #[test]
    fn checkpoints_round_trip_and_reject_malformed_bodies() {
        let root = [0xab; 32];
        let body = checkpoint_body("chronicle.example/ledger", 42, &root);
        assert_eq!(
            parse_checkpoint(&body).unwrap(),
            ("chronicle.example/ledger".into(), 42, root)
        );
        assert!(parse_checkpoint("o\n042\nAAAA\n").is_err());
        assert!(parse_checkpoint("o\n1\nAAAA\n").is_err());
        assert!(parse_checkpoint("\n1\n").is_err());
    }

    #[test]
    fn cosignatures_verify_with_the_cosigner_key_only() {
        let log = NoteSigner::from_seed("chronicle.example/ledger", [1; 32]).unwrap();
        let witness = NoteSigner::from_seed("witness.example/w1", [2; 32]).unwrap();
        let body = checkpoint_body(log.name(), 10, &[3; 32]);
        let note = format!(
            "{}{}",
            log.sign(&body).unwrap(),
            witness.cosign(&body, 1_700_000_000)
        );
        assert_eq!(
            NoteVerifier::parse(&log.verifier_key())
                .unwrap()
                .open(&note)
                .unwrap(),
            body
        );
        let cv = NoteVerifier::parse(&witness.cosigner_key()).unwrap();
        assert_eq!(cv.open(&note).unwrap(), body);
        // The witness's plain note key has another key ID: it does not match a cosignature.
        assert!(matches!(
            NoteVerifier::parse(&witness.verifier_key())
                .unwrap()
                .open(&note),
            Err(NoteError::Unsigned(_))
        ));
        let forged = note.replace("\n10\n", "\n11\n");
        assert!(cv.open(&forged).is_err());
    }
}
