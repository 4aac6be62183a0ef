//! The lineage graph as it crosses the API: nodes (entities, sources, batches, rollbacks, and
//! markers for what was left out) and edges, each edge with the entry that made it.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// Node type of a source record (`metadata.source`); its id is `<system>/<record_id>`, or
/// `<system>` when the source names no record.
pub const SOURCE: &str = "_source";
/// Node type of a bulk operation; its id is the bulk id.
pub const BULK: &str = "_bulk";
/// Node type of a transaction; its id is the transaction id.
pub const TRANSACTION: &str = "_transaction";
/// Node type of a rollback (the `_rollback` record's type); its id is the rollback id.
pub const ROLLBACK: &str = chronicle_engine::ROLLBACK_TYPE;
/// Node type of a marker that stands for neighbours not listed (`count` of them); its id is
/// the key of the node whose neighbours they are.
pub const MORE: &str = "_more";

/// Which way to walk from the entity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// What it came from: entities it references, its sources, rollbacks that wrote it.
    Upstream,
    /// What depends on it: entities referencing it, and what else came from its sources or
    /// was written by its rollbacks.
    Downstream,
    #[default]
    Both,
}

impl Direction {
    pub fn parse(s: &str) -> Option<Direction> {
        Some(match s {
            "upstream" => Direction::Upstream,
            "downstream" => Direction::Downstream,
            "both" => Direction::Both,
            _ => return None,
        })
    }
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// A schema relationship: `from` held `to`'s id in a `references` field.
    References,
    SameTransaction,
    SameBulk,
    /// `from` is a rollback that wrote `to`.
    RollbackOf,
    /// `from` is the source record `to`'s data came from.
    Source,
}

impl EdgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::References => "references",
            EdgeKind::SameTransaction => "same_transaction",
            EdgeKind::SameBulk => "same_bulk",
            EdgeKind::RollbackOf => "rollback_of",
            EdgeKind::Source => "source",
        }
    }
}

/// Why a node's neighbours are not all in the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Cut {
    /// It is at the depth limit: its neighbours were not looked at.
    Depth,
    /// The node limit was reached while adding its neighbours.
    Nodes,
    /// It has more neighbours of one kind than are listed: a `_more` node counts the rest.
    Siblings,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Node {
    /// `<type>/<id>`, what edges name (a type never holds `/`).
    pub key: String,
    /// An entity type, or one of `_source`, `_bulk`, `_transaction`, `_rollback`, `_more`.
    #[serde(rename = "type")]
    pub node_type: String,
    pub id: String,
    pub label: String,
    /// Steps from the entity asked about.
    pub depth: usize,
    /// For `_more`: how many entries (or entities) it stands for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut: Option<Cut>,
}

impl Node {
    /// Whether it is an entity (rather than a source, batch, rollback or marker).
    pub fn is_entity(&self) -> bool {
        !self.node_type.starts_with('_')
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub kind: EdgeKind,
    /// The entry that made the edge (absent on an edge to a `_more` marker).
    pub entry_id: Option<Uuid>,
    #[serde(with = "chronicle_core::timefmt::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at: Option<OffsetDateTime>,
}

/// The graph around one entity.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Graph {
    /// The key of the entity asked about.
    pub root: String,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    /// True when anything was left out (see each node's `cut`).
    pub truncated: bool,
}

/// `<type>/<id>`.
pub fn key(node_type: &str, id: &str) -> String {
    format!("{node_type}/{id}")
}

/// A graph under construction: nodes by key (each added once, at its smallest depth) and
/// edges without duplicates, with the node limit.
pub(crate) struct Builder {
    graph: Graph,
    index: HashMap<String, usize>,
    edges: BTreeSet<(String, String, EdgeKind)>,
    max_nodes: usize,
}

impl Builder {
    pub(crate) fn new(max_nodes: usize) -> Builder {
        Builder {
            graph: Graph::default(),
            index: HashMap::new(),
            edges: BTreeSet::new(),
            max_nodes,
        }
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    pub(crate) fn full(&self) -> bool {
        self.graph.nodes.len() >= self.max_nodes
    }

    /// Adds the node unless it is there; false when the node limit kept it out.
    pub(crate) fn node(&mut self, node: Node) -> bool {
        if self.has(&node.key) {
            return true;
        }
        if self.full() {
            self.graph.truncated = true;
            return false;
        }
        self.index.insert(node.key.clone(), self.graph.nodes.len());
        self.graph.nodes.push(node);
        true
    }

    /// Adds the edge unless one of the same kind joins the same nodes (the first, which
    /// callers give in ledger order, is the one that made it).
    pub(crate) fn edge(&mut self, edge: Edge) {
        if self
            .edges
            .insert((edge.from.clone(), edge.to.clone(), edge.kind))
        {
            self.graph.edges.push(edge);
        }
    }

    pub(crate) fn cut(&mut self, key: &str, cut: Cut) {
        if let Some(&i) = self.index.get(key) {
            let node = &mut self.graph.nodes[i];
            // Depth is the weakest reason: a node cut for another one says more.
            if node.cut.is_none() || cut != Cut::Depth {
                node.cut = Some(cut);
            }
            self.graph.truncated = true;
        }
    }

    pub(crate) fn finish(mut self, root: String) -> Graph {
        self.graph.root = root;
        self.graph
    }
}
