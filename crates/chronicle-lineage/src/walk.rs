//! Building the lineage graph: a breadth-first walk from one entity over the ledger as it was
//! at `as_of`, bounded by depth, node and sibling limits.
//!
//! Upstream of an entity: the entities its relationship fields held (the `references` edges),
//! the source records its writes named, the rollbacks that wrote it. Downstream: the entities
//! whose relationship fields held it, what else came from a source record, what else a
//! rollback wrote. The bulk operations and transactions it was written in are neither: they
//! are shown in both directions, with their other members.

use crate::graph::*;
use chronicle_core::rollback::EntityRef;
use chronicle_core::schema::Schema;
use chronicle_core::source::Source;
use chronicle_core::{Entry, replay};
use chronicle_engine::EngineError;
use chronicle_engine::target::all_entries;
use chronicle_store::{EntryQuery, GroupBy, Order, Store};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

/// Deepest walk a caller may ask for.
pub const MAX_DEPTH: usize = 10;
/// Most nodes a caller may ask for.
pub const MAX_NODES: usize = 5000;
/// Most neighbours of one kind a caller may ask to see listed.
pub const MAX_SIBLINGS: usize = 1000;

/// What to walk and how far.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub direction: Direction,
    pub depth: usize,
    /// The ledger as it was at this time (inclusive); None: now.
    pub as_of: Option<OffsetDateTime>,
    pub max_nodes: usize,
    /// Neighbours of one kind listed per node (the members of a bulk, the referrers of an
    /// entity, ...); the rest are counted by one `_more` node.
    pub max_siblings: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            direction: Direction::Both,
            depth: 2,
            as_of: None,
            max_nodes: 200,
            max_siblings: 25,
        }
    }
}

/// The way one node is being walked. A node reached walking upstream is expanded upstream
/// only, so a `both` walk is the union of the two walks, not everything connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Way {
    Up,
    Down,
}

/// The lineage graph of `root`. Not found when the entity had no entry by `as_of`.
pub async fn lineage(
    store: &dyn Store,
    schema: &Schema,
    root: &EntityRef,
    options: &Options,
) -> Result<Graph, EngineError> {
    let mut walk = Walk {
        store,
        schema,
        options,
        to: until(options.as_of),
        b: Builder::new(options.max_nodes.max(1)),
        queue: VecDeque::new(),
        seen: HashSet::new(),
        histories: HashMap::new(),
    };
    let root_key = key(&root.entity_type, &root.id);
    let history = walk.history(root).await?;
    if history.is_empty() {
        let when = options
            .as_of
            .map(|t| format!(" at {}", chronicle_core::timefmt::format(t)))
            .unwrap_or_default();
        return Err(EngineError::NotFound(format!(
            "{} {}{when}",
            root.entity_type, root.id
        )));
    }
    walk.b.node(entity_node(root, 0));
    let ways: &[Way] = match options.direction {
        Direction::Upstream => &[Way::Up],
        Direction::Downstream => &[Way::Down],
        Direction::Both => &[Way::Up, Way::Down],
    };
    for &way in ways {
        walk.queue.push_back((root_key.clone(), way, 0));
    }
    while let Some((node_key, way, depth)) = walk.queue.pop_front() {
        if !walk.seen.insert((node_key.clone(), way)) {
            continue;
        }
        if depth >= options.depth {
            walk.b.cut(&node_key, Cut::Depth);
            continue;
        }
        let (node_type, id) = node_key.split_once('/').expect("every key is <type>/<id>");
        let (node_type, id) = (node_type.to_owned(), id.to_owned());
        match node_type.as_str() {
            SOURCE if way == Way::Down => walk.source(&node_key, &id, depth).await?,
            BULK | TRANSACTION => walk.group(&node_key, &node_type, &id, way, depth).await?,
            ROLLBACK if way == Way::Down => walk.rollback(&node_key, &id, depth).await?,
            t if !t.starts_with('_') => {
                let r = EntityRef::new(t, id);
                walk.entity(&r, &node_key, way, depth).await?
            }
            _ => {}
        }
    }
    Ok(walk.b.finish(root_key))
}

struct Walk<'a> {
    store: &'a dyn Store,
    schema: &'a Schema,
    options: &'a Options,
    to: Option<OffsetDateTime>,
    b: Builder,
    queue: VecDeque<(String, Way, usize)>,
    seen: HashSet<(String, Way)>,
    histories: HashMap<EntityRef, Arc<Vec<Entry>>>,
}

fn entity_node(r: &EntityRef, depth: usize) -> Node {
    Node {
        key: key(&r.entity_type, &r.id),
        node_type: r.entity_type.clone(),
        id: r.id.clone(),
        label: format!("{} {}", r.entity_type, r.id),
        depth,
        count: None,
        cut: None,
    }
}

fn other_node(node_type: &str, id: &str, label: String, depth: usize) -> Node {
    Node {
        key: key(node_type, id),
        node_type: node_type.to_owned(),
        id: id.to_owned(),
        label,
        depth,
        count: None,
        cut: None,
    }
}

fn short(id: Uuid) -> String {
    id.to_string()[..8].to_owned()
}

/// The exclusive `to` bound of a query that sees the ledger as it was at `as_of`: times have
/// microsecond precision, so one microsecond later includes `as_of` itself. None (now, or
/// the end of time) bounds nothing.
pub fn until(as_of: Option<OffsetDateTime>) -> Option<OffsetDateTime> {
    as_of.and_then(|t| t.checked_add(time::Duration::microseconds(1)))
}

/// The key of the node of a source record.
pub fn source_id(source: &Source) -> String {
    match &source.record_id {
        Some(r) => format!("{}/{r}", source.system),
        None => source.system.clone(),
    }
}

/// An entry's entity, unless it has none or it is one of Chronicle's own records.
fn user_entity(e: &Entry) -> Option<EntityRef> {
    let (t, id) = (e.entity_type.as_deref()?, e.entity_id.as_deref()?);
    (!t.starts_with('_')).then(|| EntityRef::new(t, id))
}

/// One step of the walk: a neighbour, and the edge to it (`outgoing`: from the node being
/// expanded to the neighbour; otherwise the other way).
struct Step {
    node: Node,
    kind: EdgeKind,
    outgoing: bool,
    entry: Option<(Uuid, OffsetDateTime)>,
}

impl Step {
    /// A step whose edge was made by entry `e`.
    fn of(node: Node, kind: EdgeKind, outgoing: bool, e: &Entry) -> Step {
        Step {
            node,
            kind,
            outgoing,
            entry: Some((e.id, e.timestamp)),
        }
    }
}

/// The node of a bulk, transaction or rollback.
fn record_node(node_type: &str, noun: &str, id: Uuid, depth: usize) -> Node {
    other_node(
        node_type,
        &id.to_string(),
        format!("{noun} {}", short(id)),
        depth,
    )
}

impl Walk<'_> {
    fn query(&self) -> EntryQuery {
        EntryQuery {
            to: self.to,
            ..EntryQuery::default()
        }
    }

    /// The entity's entries up to `as_of`, read once per walk (a `both` walk expands the
    /// entity it starts from twice).
    async fn history(&mut self, r: &EntityRef) -> Result<Arc<Vec<Entry>>, EngineError> {
        if let Some(h) = self.histories.get(r) {
            return Ok(h.clone());
        }
        let q = EntryQuery {
            entity_type: Some(r.entity_type.clone()),
            entity_id: Some(r.id.clone()),
            ..self.query()
        };
        let h = Arc::new(all_entries(self.store, q).await?);
        self.histories.insert(r.clone(), h.clone());
        Ok(h)
    }

    /// Adds the neighbour and its edge, and queues it. False when the node limit was hit.
    fn step(&mut self, from: &str, step: Step, way: Way) -> bool {
        let neighbour = step.node.key.clone();
        let depth = step.node.depth;
        if !self.b.node(step.node) {
            self.b.cut(from, Cut::Nodes);
            return false;
        }
        let (a, b) = if step.outgoing {
            (from.to_owned(), neighbour.clone())
        } else {
            (neighbour.clone(), from.to_owned())
        };
        self.b.edge(Edge {
            from: a,
            to: b,
            kind: step.kind,
            entry_id: step.entry.map(|(id, _)| id),
            at: step.entry.map(|(_, at)| at),
        });
        self.queue.push_back((neighbour, way, depth));
        true
    }

    /// A `_more` node for `count` neighbours of `from` that are not listed.
    fn more(&mut self, from: &str, kind: EdgeKind, count: u64, depth: usize) {
        if count == 0 {
            return;
        }
        let mut node = other_node(MORE, from, format!("{count} more"), depth);
        node.count = Some(count);
        let to = node.key.clone();
        if self.b.node(node) {
            self.b.edge(Edge {
                from: from.to_owned(),
                to,
                kind,
                entry_id: None,
                at: None,
            });
        }
        self.b.cut(from, Cut::Siblings);
    }

    async fn entity(
        &mut self,
        r: &EntityRef,
        from: &str,
        way: Way,
        depth: usize,
    ) -> Result<(), EngineError> {
        let history = self.history(r).await?;
        let next = depth + 1;
        let mut steps = Vec::new();
        // Batches first: they are shown whichever way the walk goes.
        for e in history.iter() {
            if let Some(id) = e.parent_id {
                let node = record_node(BULK, "bulk", id, next);
                steps.push(Step::of(node, EdgeKind::SameBulk, true, e));
            }
            if let Some(id) = e.transaction_id {
                let node = record_node(TRANSACTION, "transaction", id, next);
                steps.push(Step::of(node, EdgeKind::SameTransaction, true, e));
            }
        }
        match way {
            Way::Up => steps.extend(self.upstream(r, &history, next)),
            Way::Down => {
                let (referrers, rest) = self.referrers(r).await?;
                for (referrer, e) in referrers {
                    let node = entity_node(&referrer, next);
                    steps.push(Step::of(node, EdgeKind::References, false, &e));
                }
                self.more(from, EdgeKind::References, rest, next);
            }
        }
        for step in steps {
            if !self.step(from, step, way) {
                break;
            }
        }
        Ok(())
    }

    /// What the entity's own entries say it came from.
    fn upstream(&self, r: &EntityRef, history: &[Entry], next: usize) -> Vec<Step> {
        let mut steps = Vec::new();
        let state = replay::replay(history).filter(|s| !s.deleted);
        if let Some(state) = state {
            for (field, target) in self.schema.references(&r.entity_type) {
                let Some(target_id) = state.data.get(field).and_then(|v| v.as_str()) else {
                    continue;
                };
                let path = format!("/{}", chronicle_core::diff::escape_token(field));
                // The entry that set the reference: the last one that changed the field.
                let set_by = history.iter().rev().find(|e| {
                    e.change_set
                        .relationship_changes
                        .iter()
                        .any(|c| c.path == path)
                });
                let node = entity_node(&EntityRef::new(target, target_id), next);
                steps.push(Step {
                    node,
                    kind: EdgeKind::References,
                    outgoing: true,
                    entry: set_by.map(|e| (e.id, e.timestamp)),
                });
            }
        }
        for e in history {
            if let Some(source) = Source::of_metadata(&e.metadata) {
                let label = match &source.record_id {
                    Some(rec) => format!("{} record {rec}", source.system),
                    None => format!("{} (every record)", source.system),
                };
                let node = other_node(SOURCE, &source_id(&source), label, next);
                steps.push(Step::of(node, EdgeKind::Source, false, e));
            }
            if let Some(id) = e.rollback_id {
                let node = record_node(ROLLBACK, "rollback", id, next);
                steps.push(Step::of(node, EdgeKind::RollbackOf, false, e));
            }
        }
        steps
    }

    /// The referrers of `r`, the first `max_siblings` of them with the entry that set each,
    /// and how many more there were. Now, the set is the rollback planner's own scan
    /// (`facts::referrers`, cheaper than reading every entry that ever changed a relationship
    /// field) and only the listed referrers' entries are read; at a past time it comes from
    /// the entries ([`referrers_at`]). A property test holds the two together.
    async fn referrers(
        &self,
        r: &EntityRef,
    ) -> Result<(Vec<(EntityRef, Entry)>, u64), EngineError> {
        let wanted = self.options.max_siblings;
        if self.options.as_of.is_some() {
            let found = referrers_at(self.store, self.schema, r, self.options.as_of).await?;
            let total = found.len();
            let listed: Vec<(EntityRef, Entry)> = found.into_iter().take(wanted).collect();
            let rest = (total - listed.len()) as u64;
            return Ok((listed, rest));
        }
        let mut refs = chronicle_engine::facts::referrers(self.store, self.schema, r).await?;
        refs.sort();
        refs.dedup();
        let total = refs.len();
        let mut listed = Vec::new();
        for referrer in refs.into_iter().take(wanted) {
            if let Some(e) = self.setting_entry(&referrer, r).await? {
                listed.push((referrer, e));
            }
        }
        let rest = (total - listed.len().min(total)) as u64;
        Ok((listed, rest))
    }

    /// The newest entry of `referrer` that set a relationship field to `target`.
    async fn setting_entry(
        &self,
        referrer: &EntityRef,
        target: &EntityRef,
    ) -> Result<Option<Entry>, EngineError> {
        let mut q = EntryQuery {
            entity_type: Some(referrer.entity_type.clone()),
            entity_id: Some(referrer.id.clone()),
            order: Order::Desc,
            limit: 100,
            ..EntryQuery::default()
        };
        loop {
            let page = self.store.search(&q).await?;
            let sets = |e: &&Entry| {
                e.change_set.relationship_changes.iter().any(|c| {
                    c.target_type == target.entity_type
                        && c.new_id.as_deref() == Some(target.id.as_str())
                })
            };
            if let Some(e) = page.iter().find(sets) {
                return Ok(Some(e.clone()));
            }
            match page.last() {
                Some(last) if page.len() == q.limit => q.cursor = Some(last.seq),
                _ => return Ok(None),
            }
        }
    }

    /// The other members of a bulk or transaction (walked the same way as the member that
    /// led here).
    async fn group(
        &mut self,
        from: &str,
        node_type: &str,
        id: &str,
        way: Way,
        depth: usize,
    ) -> Result<(), EngineError> {
        let Ok(uuid) = Uuid::parse_str(id) else {
            return Ok(());
        };
        let (q, kind) = if node_type == BULK {
            (
                EntryQuery {
                    parent_id: Some(uuid),
                    ..self.query()
                },
                EdgeKind::SameBulk,
            )
        } else {
            (
                EntryQuery {
                    transaction_id: Some(uuid),
                    ..self.query()
                },
                EdgeKind::SameTransaction,
            )
        };
        self.members(from, q, kind, false, way, depth).await
    }

    /// What else came from a source record.
    async fn source(&mut self, from: &str, id: &str, depth: usize) -> Result<(), EngineError> {
        let (system, record) = match id.split_once('/') {
            Some((s, r)) => (s.to_owned(), Some(r.to_owned())),
            None => (id.to_owned(), None),
        };
        let q = EntryQuery {
            source_system: Some(system),
            source_record_id: record,
            ..self.query()
        };
        self.members(from, q, EdgeKind::Source, true, Way::Down, depth)
            .await
    }

    /// What else a rollback wrote.
    async fn rollback(&mut self, from: &str, id: &str, depth: usize) -> Result<(), EngineError> {
        let Ok(uuid) = Uuid::parse_str(id) else {
            return Ok(());
        };
        let q = EntryQuery {
            rollback_id: Some(uuid),
            ..self.query()
        };
        self.members(from, q, EdgeKind::RollbackOf, true, Way::Down, depth)
            .await
    }

    /// The entities of the entries `q` finds, the first `max_siblings` of them in ledger
    /// order, and one `_more` node counting the entries beyond. Reads no more than that
    /// many entries and one count, so a bulk of 100,000 costs what a bulk of 100 does.
    async fn members(
        &mut self,
        from: &str,
        mut q: EntryQuery,
        kind: EdgeKind,
        outgoing: bool,
        way: Way,
        depth: usize,
    ) -> Result<(), EngineError> {
        let wanted = self.options.max_siblings;
        q.order = Order::Asc;
        // One more than wanted to know whether there are more, and one for the batch's own
        // summary entry, which has no entity.
        q.limit = wanted + 2;
        let page = self.store.search(&q).await?;
        let full = page.len() == q.limit;
        let members: Vec<(EntityRef, &Entry)> = page
            .iter()
            .filter_map(|e| Some((user_entity(e)?, e)))
            .collect();
        let listed = members.len().min(wanted);
        for (r, e) in &members[..listed] {
            let step = Step::of(entity_node(r, depth + 1), kind, outgoing, e);
            if !self.step(from, step, way) {
                return Ok(());
            }
        }
        if full || members.len() > listed {
            q.limit = 0;
            let total: u64 = self
                .store
                .summary(&q, GroupBy::EntityType)
                .await?
                .into_iter()
                .filter(|g| !g.key.is_empty() && !g.key.starts_with('_'))
                .map(|g| g.count)
                .sum();
            self.more(from, kind, total.saturating_sub(listed as u64), depth + 1);
        }
        Ok(())
    }
}

/// Live entities whose relationship fields held `r` at `as_of` (None: now), by type and id,
/// each with the entry that set the reference. The last relationship change of a field
/// decides (a delete clears it, a restore sets it again), so for now this is exactly what the
/// rollback planner sees as referrers (`chronicle_engine::facts::referrers`; a property test
/// holds the two together).
pub async fn referrers_at(
    store: &dyn Store,
    schema: &Schema,
    r: &EntityRef,
    as_of: Option<OffsetDateTime>,
) -> Result<Vec<(EntityRef, Entry)>, EngineError> {
    let to = until(as_of);
    let mut found: BTreeMap<EntityRef, Entry> = BTreeMap::new();
    for (ty, def) in &schema.types {
        for (field, f) in &def.fields {
            if f.references.as_deref() != Some(r.entity_type.as_str()) {
                continue;
            }
            let path = format!("/{}", chronicle_core::diff::escape_token(field));
            let q = EntryQuery {
                entity_type: Some(ty.clone()),
                field: Some(path.clone()),
                to,
                ..EntryQuery::default()
            };
            let mut last: BTreeMap<EntityRef, Option<Entry>> = BTreeMap::new();
            for e in all_entries(store, q).await? {
                let Some(c) = e
                    .change_set
                    .relationship_changes
                    .iter()
                    .find(|c| c.path == path)
                else {
                    continue;
                };
                let holds = c.new_id.as_deref() == Some(r.id.as_str());
                if let Some(referrer) = user_entity(&e) {
                    last.insert(referrer, holds.then_some(e));
                }
            }
            for (referrer, e) in last {
                if let Some(e) = e {
                    found.entry(referrer).or_insert(e);
                }
            }
        }
    }
    Ok(found.into_iter().collect())
}
