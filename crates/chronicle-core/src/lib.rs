//! Chronicle's domain, free of I/O: what an audit entry is, how a change is diffed field by
//! field, how an entry is hashed into the ledger, the Merkle tree, the entity schema, and the
//! pure planning of a write (old state + operation → new state + entry draft).
//!
//! # Layout
//! - [`entry`]: the entry and its parts (actor, change set, operation, severity, impact).
//! - [`entity`]: an entity's stored state and RFC 7396 merge patch.
//! - [`diff`]: field-level diff by JSON Pointer and its inverse, `apply`.
//! - [`canonical`]: RFC 8785 canonical bytes and the RFC 6962 leaf hash of an entry.
//! - [`merkle`]: the RFC 6962 tree: frontier, roots, inclusion and consistency proofs.
//! - [`schema`]: the optional schema file: field types, sensitivity, impact, relationships.
//! - [`write`]: planning one entity operation against the entity's current state.
//! - [`replay`]: rebuilding an entity at a version or time from its entries.
//! - [`json_text`]: what parsing would hide in request text: duplicate keys, inexact numbers.
//! - [`source`]: provenance (`metadata.source`) of imported data, and the checks of a
//!   write's metadata.
//! - [`limits`]: bounds on input (JSON depth, id lengths).
//! - [`timefmt`]: the one timestamp format used in hashes and on the wire.
//!
//! *Invariant:* nothing here does I/O or needs a runtime.

pub mod canonical;
pub mod diff;
pub mod entity;
pub mod entry;
pub mod json_text;
pub mod limits;
pub mod mask;
pub mod merkle;
pub mod note;
pub mod redact;
pub mod replay;
pub mod rollback;
pub mod schema;
pub mod source;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod timefmt;
pub mod write;

pub use entity::EntityState;
pub use entry::{
    Actor, ChangeKind, ChangeSet, Entry, FieldChange, Impact, Operation, RelationshipChange,
    RequestContext, Severity,
};
