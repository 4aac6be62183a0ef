//! One subscriber's view of the ledger: every entry matching its filter after a given seq,
//! each exactly once, in seq order, whether it was committed long ago or a moment ago.
//!
//! The algorithm: subscribe to the [`Hub`] (which gives the hub's position P), replay from the
//! ledger (`Store::search` pages with the filter, cursor = the last seq considered, up to P),
//! then take live entries from the broadcast receiver, dropping any seq already considered.
//! When the receiver lagged (the subscriber was slow and the channel overwrote entries) or a
//! live entry is not the next seq, it replays from the ledger again up to the hub's current
//! position, then goes live again. Every entry the hub published has a seq at most its
//! position, and every later one reaches the receiver, so nothing is skipped; `scanned` only
//! grows, so nothing repeats.

use crate::filter::EntryFilter;
use crate::hub::{Hub, Kind, PAGE, Published};
use chronicle_core::Operation;
use chronicle_store::{EntryQuery, Store, StoreError};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use tokio::sync::broadcast::{self, error::RecvError};

/// See the module documentation.
pub struct Subscription {
    hub: Arc<Hub>,
    store: Arc<dyn Store>,
    filter: EntryFilter,
    rx: broadcast::Receiver<Arc<Published>>,
    /// Every entry with a seq up to this one has been handed out or filtered out.
    scanned: u64,
    /// Replay from the ledger up to this seq before taking live entries again.
    replay_to: Option<u64>,
    /// Replayed entries not handed out yet.
    pending: VecDeque<Arc<Published>>,
}

impl Subscription {
    /// Entries matching `filter` with a seq after `after` (`None`: from the hub's position,
    /// i.e. only what is committed from now on). Alerts are delivered whatever the filter.
    /// `None` when the hub is closed.
    pub async fn start(
        hub: Arc<Hub>,
        store: Arc<dyn Store>,
        filter: EntryFilter,
        after: Option<u64>,
    ) -> Option<Subscription> {
        let (rx, position) = hub.subscribe().await?;
        let scanned = after.unwrap_or(position);
        Some(Subscription {
            hub,
            store,
            filter,
            rx,
            scanned,
            replay_to: (scanned < position).then_some(position),
            pending: VecDeque::new(),
        })
    }

    /// The last seq handed out or filtered out.
    pub fn scanned(&self) -> u64 {
        self.scanned
    }

    /// The next entry; `None` once the hub is closed. After an error (the ledger could not be
    /// read) the subscription is unchanged and `next` may be called again.
    pub async fn next(&mut self) -> Option<Result<Arc<Published>, StoreError>> {
        loop {
            if let Some(p) = self.pending.pop_front() {
                return Some(Ok(p));
            }
            if let Some(to) = self.replay_to {
                if self.scanned >= to {
                    self.replay_to = None;
                } else if let Err(e) = self.replay_page(to).await {
                    return Some(Err(e));
                }
                continue;
            }
            let received = tokio::select! {
                r = self.rx.recv() => r,
                _ = self.hub.closed() => return None,
            };
            match received {
                Ok(p) if p.entry.seq <= self.scanned => {}
                Ok(p) if p.entry.seq == self.scanned + 1 => {
                    self.scanned = p.entry.seq;
                    if self.wants(&p) {
                        return Some(Ok(p));
                    }
                }
                // A gap: the hub published entries this receiver did not get.
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    crate::metrics::record_stream_lag();
                    self.replay_to = Some(self.hub.position());
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    fn wants(&self, p: &Published) -> bool {
        p.kind == Kind::Alert || self.filter.matches(&p.entry)
    }

    /// Reads one page of the ledger after `scanned` up to `to` into `pending`.
    async fn replay_page(&mut self, to: u64) -> Result<(), StoreError> {
        let page = |mut query: EntryQuery| {
            query.cursor = Some(self.scanned);
            query.max_seq = Some(to);
            query.limit = PAGE;
            query
        };
        let mut queries = vec![page(self.filter.query())];
        // Alerts go to every subscriber, so a filtered replay reads them separately.
        if !self.filter.is_empty() {
            queries.push(page(EntryQuery {
                entity_type: Some(crate::alerts::ALERT_TYPE.to_owned()),
                operation: Some(Operation::Create),
                ..EntryQuery::default()
            }));
        }
        let mut merged = BTreeMap::new();
        // Entries up to `bound` are all read: a full page only vouches for its own range.
        let mut bound = to;
        for query in &queries {
            let entries = self.store.search(query).await?;
            if entries.len() == PAGE
                && let Some(last) = entries.last()
            {
                bound = bound.min(last.seq);
            }
            merged.extend(entries.into_iter().map(|e| (e.seq, e)));
        }
        for (seq, entry) in merged {
            if seq > bound {
                break;
            }
            let p = Arc::new(Published::new(entry));
            if self.wants(&p) {
                self.pending.push_back(p);
            }
        }
        self.scanned = bound;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chronicle_core::RequestContext;
    use chronicle_core::schema::Schema;
    use chronicle_core::write::EntityOp;
    use chronicle_sqlite::{SqliteConfig, SqliteStore};
    use chronicle_store::{WriteKind, WriteRequest};
    use std::time::Duration;

    async fn store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
        let config = SqliteConfig::new(dir.path().join("db"), Arc::new(Schema::default()));
        Arc::new(SqliteStore::open(config).await.unwrap())
    }

    async fn create(store: &dyn Store, ty: &str, id: usize) {
        let op = EntityOp::Create {
            entity_type: ty.into(),
            id: Some(id.to_string()),
            data: serde_json::json!({"n": id}),
        };
        let req = WriteRequest {
            context: RequestContext::default(),
            kind: WriteKind::Single(op),
        };
        store.write(req).await.unwrap();
    }

    /// A receiver that fell far behind (the channel holds 4 entries; 60 were published while
    /// nobody read) still yields every entry exactly once, in order: it replays the ledger.
    #[tokio::test]
    async fn a_lagging_subscriber_replays_what_it_missed_and_repeats_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        create(store.as_ref(), "a", 0).await;
        let hub = Hub::new(4);
        let tailer = tokio::spawn(hub.clone().tail(store.clone(), Duration::from_millis(1)));
        let mut all = Subscription::start(hub.clone(), store.clone(), EntryFilter::default(), None)
            .await
            .unwrap();
        let filter = EntryFilter {
            entity_type: Some("b".into()),
            ..EntryFilter::default()
        };
        let mut only_b = Subscription::start(hub.clone(), store.clone(), filter, Some(0))
            .await
            .unwrap();
        for i in 0..60 {
            create(store.as_ref(), if i % 3 == 0 { "b" } else { "a" }, i + 1).await;
            hub.wake();
        }
        // Until the tailer published all 60, far more than the channel holds: both receivers
        // have lagged before anyone reads.
        for _ in 0..5000 {
            if hub.position() == 61 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(hub.position(), 61, "the tailer published every entry");
        // A subscription that lost entries would wait forever: fail instead.
        let guard = Duration::from_secs(30);
        let next = async |s: &mut Subscription| {
            let p = tokio::time::timeout(guard, s.next())
                .await
                .expect("not hung");
            p.expect("open").expect("the ledger reads")
        };
        let mut seqs = Vec::new();
        while seqs.len() < 60 {
            seqs.push(next(&mut all).await.entry.seq);
        }
        assert_eq!(seqs, (2..=61).collect::<Vec<_>>());
        let mut b = Vec::new();
        while b.len() < 20 {
            let p = next(&mut only_b).await;
            assert_eq!(p.entry.entity_type.as_deref(), Some("b"));
            b.push(p.entry.seq);
        }
        assert_eq!(b, (0..20).map(|i| 2 + 3 * i).collect::<Vec<_>>());
        hub.close();
        assert!(all.next().await.is_none());
        tailer.await.unwrap();
    }
}
