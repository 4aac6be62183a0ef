//! Lineage and impact: where an entity's data came from, what depends on it, and what a change
//! to it would touch — computed from the ledger, above the store and the engine (never the
//! server: HTTP stays in chronicle-server).
//!
//! # Layout
//! - [`graph`]: the graph's nodes, edges, edge kinds and cut markers, as they cross the API.
//! - [`walk`]: [`lineage`], the bounded breadth-first walk over the ledger at `as_of`.
//! - [`impact`]: [`impact()`], the rollback planner's own cascade preview of undoing the
//!   entity (one implementation with `POST /v1/rollbacks/preview`).
//! - [`provenance`]: [`provenance()`], the chain of entries that set one field.
//! - [`render`]: DOT, Mermaid and SVG renderings of a graph.

pub mod graph;
pub mod impact;
pub mod provenance;
pub mod render;
pub mod walk;

pub use graph::{Cut, Direction, Edge, EdgeKind, Graph, Node};
pub use impact::{Impact, impact};
pub use provenance::{Provenance, provenance};
pub use walk::{Options, lineage};
