//! Encryption at rest of sensitive field values.
//!
//! Every data subject (see `Schema::subject_of`) has a 32-byte data key, stored only wrapped
//! (XChaCha20-Poly1305 under the [`MasterKey`], the subject as associated data) in the
//! backend's `subject_keys` table, which is not part of the ledger: destroying the wrapped key
//! (erasure) makes every value sealed under it unreadable, in entities and entries alike,
//! while the entries' canonical bytes (ciphertext) and leaf hashes stay as they were.
//!
//! A sealed value replaces the plaintext JSON value in place:
//! `{"$sealed": "<subject>", "v1": "<base64 of nonce (24 bytes) ‖ ciphertext ‖ tag>"}`. The
//! plaintext is the value's JSON text; the associated data binds the envelope version, the
//! subject and the top-level field, so a ciphertext moved to another field or subject does
//! not open.
//!
//! Which values are sealed: the sensitive top-level fields of an entity's data, and in an
//! entry the same fields of `old_values`/`new_values` and every field change at or beneath a
//! sensitive field (a change of the whole data, at the root, has its sensitive members
//! sealed). [`sensitive_values`] is that rule, used by the write path to seal and by
//! [`crate::unseal::Unsealing`] to open.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{Key, KeyInit, XChaCha20Poly1305, XNonce};
use chronicle_core::ChangeSet;
use chronicle_core::diff::parse_pointer;
use chronicle_core::schema::Schema;
use serde_json::{Map, Value};
use std::path::Path;
use zeroize::Zeroizing;

/// The marker an erased (or otherwise unreadable) sensitive value reads as.
pub const ERASED: &str = "[erased]";

/// The environment variable holding the master key (base64 of 32 bytes); it wins over the
/// key file.
pub const MASTER_KEY_ENV: &str = "CHRONICLE_MASTER_KEY";

const NONCE: usize = 24;
const ENVELOPE_TAG: &str = "$sealed";
const ENVELOPE_VERSION: &str = "v1";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the master key must be base64 of exactly 32 bytes")]
    BadMasterKey,
    #[error("reading or writing the master key file {path}: {source}")]
    KeyFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    #[error("a sealed value or key does not open (wrong key, erased, or altered)")]
    Open,
    #[error("encryption failed")]
    Seal,
}

fn random<const N: usize>() -> Result<[u8; N], SealError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| SealError::Random(e.to_string()))?;
    Ok(bytes)
}

fn cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&Key::from(*key))
}

/// nonce ‖ ciphertext ‖ tag.
fn encrypt(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
    let nonce: [u8; NONCE] = random()?;
    let ct = cipher(key)
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| SealError::Seal)?;
    let mut out = Vec::with_capacity(NONCE + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

fn decrypt(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
    if sealed.len() < NONCE {
        return Err(SealError::Open);
    }
    let (nonce, ct) = sealed.split_at(NONCE);
    let nonce: [u8; NONCE] = nonce.try_into().map_err(|_| SealError::Open)?;
    cipher(key)
        .decrypt(&XNonce::from(nonce), Payload { msg: ct, aad })
        .map(Zeroizing::new)
        .map_err(|_| SealError::Open)
}

/// Length-prefixed parts, so that no choice of subject or field name can make two different
/// bindings produce the same bytes.
fn aad(parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(&(p.len() as u32).to_be_bytes());
        out.extend_from_slice(p.as_bytes());
    }
    out
}

/// The key that wraps every data key. Zeroed when dropped.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        MasterKey(Zeroizing::new(bytes))
    }

    pub fn generate() -> Result<MasterKey, SealError> {
        Ok(MasterKey::from_bytes(random()?))
    }

    pub fn from_base64(text: &str) -> Result<MasterKey, SealError> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| SealError::BadMasterKey)?,
        );
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| SealError::BadMasterKey)?;
        Ok(MasterKey::from_bytes(key))
    }

    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(*self.0))
    }

    /// The key from `env` (the value of [`MASTER_KEY_ENV`]) when given, else from the key
    /// file at `path`, which is created (mode 0600) with a fresh key when missing.
    pub fn load(env: Option<&str>, path: &Path) -> Result<MasterKey, SealError> {
        if let Some(text) = env {
            return MasterKey::from_base64(text);
        }
        let file_error = |source| SealError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => MasterKey::from_base64(&Zeroizing::new(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = MasterKey::generate()?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(file_error)?;
                }
                write_private(path, &key.to_base64()).map_err(file_error)?;
                Ok(key)
            }
            Err(e) => Err(file_error(e)),
        }
    }
}

/// Writes a new secret file (`text` and a newline) readable by its owner only (0600 on
/// Unix); fails when the file exists. The checkpoint key is written the same way.
#[cfg(unix)]
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

#[cfg(not(unix))]
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, format!("{text}\n"))
}

/// A subject's unwrapped data key. Zeroed when dropped; never stored unwrapped.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// Seals and opens values with data keys, and wraps data keys with the master key.
#[derive(Debug)]
pub struct Sealer {
    master: MasterKey,
}

impl Sealer {
    pub fn new(master: MasterKey) -> Sealer {
        Sealer { master }
    }

    pub fn new_data_key(&self) -> Result<DataKey, SealError> {
        Ok(DataKey(Zeroizing::new(random()?)))
    }

    /// The data key encrypted under the master key, bound to its subject.
    pub fn wrap(&self, subject: &str, key: &DataKey) -> Result<Vec<u8>, SealError> {
        encrypt(
            &self.master.0,
            &aad(&["chronicle key v1", subject]),
            &*key.0,
        )
    }

    pub fn unwrap(&self, subject: &str, wrapped: &[u8]) -> Result<DataKey, SealError> {
        let bytes = decrypt(
            &self.master.0,
            &aad(&["chronicle key v1", subject]),
            wrapped,
        )?;
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| SealError::Open)?;
        Ok(DataKey(Zeroizing::new(key)))
    }

    /// The envelope holding `value`, sealed for `subject` at top-level field `field`.
    pub fn seal(
        &self,
        key: &DataKey,
        subject: &str,
        field: &str,
        value: &Value,
    ) -> Result<Value, SealError> {
        let plaintext = Zeroizing::new(serde_json::to_vec(value).map_err(|_| SealError::Seal)?);
        let sealed = encrypt(&key.0, &value_aad(subject, field), &plaintext)?;
        let mut env = Map::new();
        env.insert(ENVELOPE_TAG.into(), Value::String(subject.to_owned()));
        env.insert(
            ENVELOPE_VERSION.into(),
            Value::String(STANDARD.encode(sealed)),
        );
        Ok(Value::Object(env))
    }

    /// What a sealed value reads as: the value, or [`ERASED`] when its subject has no key
    /// (erased) or the envelope does not open.
    pub fn open_or_erased(&self, key: Option<&DataKey>, field: &str, envelope: &Value) -> Value {
        key.and_then(|k| self.open(k, field, envelope).ok())
            .unwrap_or_else(|| Value::String(ERASED.to_owned()))
    }

    /// The value inside an envelope sealed at top-level field `field`.
    pub fn open(&self, key: &DataKey, field: &str, envelope: &Value) -> Result<Value, SealError> {
        let (subject, data) = envelope_parts(envelope).ok_or(SealError::Open)?;
        let sealed = STANDARD.decode(data).map_err(|_| SealError::Open)?;
        let plaintext = decrypt(&key.0, &value_aad(subject, field), &sealed)?;
        serde_json::from_slice(&plaintext).map_err(|_| SealError::Open)
    }
}

fn value_aad(subject: &str, field: &str) -> Vec<u8> {
    aad(&["chronicle value v1", subject, field])
}

/// (subject, base64 data) when `v` is an envelope.
fn envelope_parts(v: &Value) -> Option<(&str, &str)> {
    let map = v.as_object()?;
    if map.len() != 2 {
        return None;
    }
    Some((
        map.get(ENVELOPE_TAG)?.as_str()?,
        map.get(ENVELOPE_VERSION)?.as_str()?,
    ))
}

/// The subject an envelope was sealed for; None when `v` is not an envelope.
pub fn sealed_subject(v: &Value) -> Option<&str> {
    envelope_parts(v).map(|(s, _)| s)
}

/// Whether a value in an entry belongs to the state before the change or after it (they may
/// have different subjects, when the field naming the subject changed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Old,
    New,
}

/// Every sensitive value of an entry's parts (see the module documentation), with the side it
/// belongs to and its top-level field. Reserved `_` types have none.
pub fn sensitive_values<'a>(
    schema: &Schema,
    entity_type: Option<&str>,
    old_values: &'a mut Option<Value>,
    new_values: &'a mut Option<Value>,
    change_set: &'a mut ChangeSet,
) -> Vec<(Side, String, &'a mut Value)> {
    let mut out = Vec::new();
    let Some(ty) = entity_type.filter(|t| !t.starts_with('_')) else {
        return out;
    };
    let fields = schema.sensitive_fields(ty);
    if fields.is_empty() {
        return out;
    }
    let members = |side: Side, value: &'a mut Option<Value>, out: &mut Vec<_>| {
        if let Some(Value::Object(map)) = value {
            for (k, v) in map.iter_mut() {
                if fields.contains(&k.as_str()) {
                    out.push((side, k.clone(), v));
                }
            }
        }
    };
    members(Side::Old, old_values, &mut out);
    members(Side::New, new_values, &mut out);
    for change in change_set.field_changes.iter_mut() {
        let Some(tokens) = parse_pointer(&change.path) else {
            continue;
        };
        match tokens.into_iter().next() {
            None => {
                members(Side::Old, &mut change.old, &mut out);
                members(Side::New, &mut change.new, &mut out);
            }
            Some(top) if fields.contains(&top.as_str()) => {
                if let Some(v) = &mut change.old {
                    out.push((Side::Old, top.clone(), v));
                }
                if let Some(v) = &mut change.new {
                    out.push((Side::New, top, v));
                }
            }
            Some(_) => {}
        }
    }
    out
}

/// Every sensitive top-level field of an entity's data, with its name.
pub fn sensitive_data<'a>(
    schema: &Schema,
    entity_type: &str,
    data: &'a mut Value,
) -> Vec<(String, &'a mut Value)> {
    let mut out = Vec::new();
    if entity_type.starts_with('_') {
        return out;
    }
    let fields = schema.sensitive_fields(entity_type);
    if let Value::Object(map) = data {
        for (k, v) in map.iter_mut() {
            if fields.contains(&k.as_str()) {
                out.push((k.clone(), v));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sealer() -> Sealer {
        Sealer::new(MasterKey::from_bytes([7; 32]))
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_key_subject_and_field() {
        let s = sealer();
        let key = s.new_data_key().unwrap();
        let other = s.new_data_key().unwrap();
        let value = json!({"street": "Storgata 1", "zip": 150});
        let env = s.seal(&key, "customer:c1", "address", &value).unwrap();
        assert_eq!(sealed_subject(&env), Some("customer:c1"));
        assert!(!env.to_string().contains("Storgata"));
        assert_eq!(s.open(&key, "address", &env).unwrap(), value);
        assert!(s.open(&other, "address", &env).is_err(), "another key");
        assert!(s.open(&key, "email", &env).is_err(), "another field");
        let mut moved = env.clone();
        moved["$sealed"] = json!("customer:c2");
        assert!(s.open(&key, "address", &moved).is_err(), "another subject");
        let again = s.seal(&key, "customer:c1", "address", &value).unwrap();
        assert_ne!(env, again, "a fresh nonce every time");
    }

    #[test]
    fn a_wrapped_key_unwraps_only_for_its_subject_and_master_key() {
        let s = sealer();
        let key = s.new_data_key().unwrap();
        let wrapped = s.wrap("customer:c1", &key).unwrap();
        let env = s.seal(&key, "customer:c1", "email", &json!("a@b")).unwrap();
        let back = s.unwrap("customer:c1", &wrapped).unwrap();
        assert_eq!(s.open(&back, "email", &env).unwrap(), json!("a@b"));
        assert!(s.unwrap("customer:c2", &wrapped).is_err());
        let stranger = Sealer::new(MasterKey::from_bytes([8; 32]));
        assert!(stranger.unwrap("customer:c1", &wrapped).is_err());
    }

    #[test]
    fn the_master_key_comes_from_the_environment_or_a_private_file_created_once() {
        let dir = tempfile_dir();
        let path = dir.join("keys").join("master.key");
        let first = MasterKey::load(None, &path).unwrap();
        let second = MasterKey::load(None, &path).unwrap();
        assert_eq!(*first.to_base64(), *second.to_base64());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let env = MasterKey::from_bytes([1; 32]).to_base64();
        let from_env = MasterKey::load(Some(&env), &path).unwrap();
        assert_eq!(*from_env.to_base64(), *env);
        assert!(MasterKey::load(Some("c2hvcnQ="), &path).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("chronicle-seal-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn sensitive_values_are_found_in_values_changes_and_root_changes() {
        let schema = Schema::parse(
            r#"
            [types.customer.fields.email]
            sensitive = true
            [types.customer.fields.address]
            sensitive = true
        "#,
        )
        .unwrap();
        let entry: chronicle_core::Entry = serde_json::from_value(json!({
            "id": uuid::Uuid::nil(), "seq": 1, "timestamp": "2026-01-01T00:00:00Z", "actor": {},
            "session_id": null, "ip": null, "user_agent": null, "operation": "update",
            "entity_type": "customer", "entity_id": "c1", "entity_version": 2,
            "old_values": {"email": "a", "name": "n"}, "new_values": {"email": "b"},
            "change_set": {"field_changes": [
                {"path": "/email", "field_type": "string", "old": "a", "new": "b", "change": "update", "impact": "low"},
                {"path": "/address/city", "field_type": "string", "old": null, "new": "Oslo", "change": "create", "impact": "low"},
                {"path": "/name", "field_type": "string", "old": "n", "new": null, "change": "delete", "impact": "low"},
                {"path": "", "field_type": "object", "old": {"email": "r", "x": 1}, "new": null, "change": "delete", "impact": "low"}
            ], "relationship_changes": [], "impact": "low"},
            "reason": null, "summary": null, "metadata": {}, "correlation_id": null, "parent_id": null,
            "transaction_id": null, "rollback_id": null, "severity": "info", "tags": []
        }))
        .unwrap();
        let mut e = entry.clone();
        let seen: Vec<_> = sensitive_values(
            &schema,
            Some("customer"),
            &mut e.old_values,
            &mut e.new_values,
            &mut e.change_set,
        )
        .into_iter()
        .map(|(side, field, v)| (side, field, v.clone()))
        .collect();
        let expect = [
            (Side::Old, "email", json!("a")),
            (Side::New, "email", json!("b")),
            (Side::Old, "email", json!("a")),
            (Side::New, "email", json!("b")),
            (Side::New, "address", json!("Oslo")),
            (Side::Old, "email", json!("r")),
        ];
        let expect: Vec<_> = expect
            .into_iter()
            .map(|(s, f, v)| (s, f.to_owned(), v))
            .collect();
        assert_eq!(seen, expect);
        let reserved = sensitive_values(
            &schema,
            Some("_rollback"),
            &mut e.old_values,
            &mut e.new_values,
            &mut e.change_set,
        );
        assert!(reserved.is_empty());
    }
}
