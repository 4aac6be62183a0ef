//! The per-process fan-out of committed entries to stream subscribers and the alert evaluator.
//!
//! One tailer task ([`Hub::tail`]) follows the ledger: it remembers the last seq it published
//! and, whenever woken, reads the entries committed after it (`Store::search` with that seq
//! as cursor, ascending) and sends each, in seq order, on a broadcast channel. Two things
//! wake it: this server's own write path ([`Hub::wake`] after every successful
//! `Store::write`), which makes local writes appear at once, and a short poll of
//! `Store::head()`, which makes entries written by anything else appear within one interval:
//! another server node on the same PostgreSQL database, the rollback engine, `chronicle demo`.
//! The poll reads only the head and fetches entries only when the tree grew.
//!
//! Only committed entries can be read, so a transaction that failed publishes nothing. The
//! broadcast sender never waits for receivers: a slow subscriber lags and is told so
//! (`RecvError::Lagged`), and [`crate::subscription`] then replays from the ledger.

use crate::alerts::ALERT_TYPE;
use chronicle_core::{Entry, Operation};
use chronicle_store::{EntryQuery, Order, Store, StoreError};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, broadcast, watch};

/// Entries read from the ledger per query, by the tailer and by replays.
pub const PAGE: usize = 1000;

/// How long the tailer waits before trying again to read the head at start-up.
const START_RETRY: Duration = Duration::from_millis(200);

/// What a subscriber receives for one committed entry.
#[derive(Debug)]
pub struct Published {
    pub entry: Entry,
    pub kind: Kind,
    /// The SSE `data`: the entry (audit), or the alert record (alert), as JSON.
    pub data: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `event: audit`.
    Audit,
    /// `event: alert`: the entry that created an `_alert` record. Alerts are ledger entries,
    /// so they reach subscribers on every node, in order, and are replayed after a reconnect
    /// like everything else.
    Alert,
}

impl Published {
    pub fn new(entry: Entry) -> Published {
        let alert = entry.entity_type.as_deref() == Some(ALERT_TYPE)
            && entry.operation == Operation::Create;
        let (kind, data) = match (alert, &entry.new_values) {
            (true, Some(record)) => (Kind::Alert, record.to_string()),
            _ => (
                Kind::Audit,
                serde_json::to_string(&entry).expect("an entry serializes"),
            ),
        };
        Published { entry, kind, data }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The tailer has not read the head yet.
    Starting,
    Running,
    /// The server is shutting down: subscriptions end.
    Closed,
}

/// See the module documentation.
pub struct Hub {
    sender: broadcast::Sender<Arc<Published>>,
    /// The last seq published. Held while publishing, so that a subscriber that subscribes
    /// and reads it under the lock receives every entry after it on its receiver.
    position: Mutex<u64>,
    phase: watch::Sender<Phase>,
    wake: Notify,
}

impl Hub {
    /// A hub whose channel holds `capacity` entries for the slowest receiver.
    pub fn new(capacity: usize) -> Arc<Hub> {
        Arc::new(Hub {
            sender: broadcast::channel(capacity.max(1)).0,
            position: Mutex::new(0),
            phase: watch::channel(Phase::Starting).0,
            wake: Notify::new(),
        })
    }

    /// Asks the tailer to look for new entries now (the server just committed some).
    pub fn wake(&self) {
        // One permit is kept when the tailer is busy, so a wake during a fetch is not lost.
        self.wake.notify_one();
    }

    /// Ends every subscription and the tailer.
    pub fn close(&self) {
        self.phase.send_replace(Phase::Closed);
    }

    /// Resolves once the hub is closed.
    pub async fn closed(&self) {
        let mut phase = self.phase.subscribe();
        let _ = phase.wait_for(|p| *p == Phase::Closed).await;
    }

    /// A receiver of every entry published after the returned position, once the tailer runs;
    /// `None` when the hub is closed.
    pub async fn subscribe(&self) -> Option<(broadcast::Receiver<Arc<Published>>, u64)> {
        let mut phase = self.phase.subscribe();
        let phase = *phase.wait_for(|p| *p != Phase::Starting).await.ok()?;
        if phase == Phase::Closed {
            return None;
        }
        let position = self
            .position
            .lock()
            .expect("the hub lock is never poisoned");
        Some((self.sender.subscribe(), *position))
    }

    /// The last seq published.
    pub fn position(&self) -> u64 {
        *self
            .position
            .lock()
            .expect("the hub lock is never poisoned")
    }

    /// The tailer: runs until the hub is closed. Starts at the ledger's head (entries before it
    /// are for replays to read).
    pub async fn tail(self: Arc<Self>, store: Arc<dyn Store>, poll: Duration) {
        let mut failing = false;
        let mut last = loop {
            match store.head().await {
                Ok(head) => break head.tree_size,
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "stream: cannot read the ledger head; retrying");
                        failing = true;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(START_RETRY) => {}
                        _ = self.closed() => return,
                    }
                }
            }
        };
        *self
            .position
            .lock()
            .expect("the hub lock is never poisoned") = last;
        self.phase.send_replace(Phase::Running);
        let mut tick = tokio::time::interval(poll.max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Errors are logged when they start and when they stop, not on every poll.
        loop {
            let fetched = tokio::select! {
                _ = self.wake.notified() => self.catch_up(store.as_ref(), &mut last).await,
                _ = tick.tick() => match store.head().await {
                    Ok(head) if head.tree_size > last => {
                        self.catch_up(store.as_ref(), &mut last).await
                    }
                    Ok(_) => Ok(()),
                    Err(e) => Err(e),
                },
                _ = self.closed() => return,
            };
            match fetched {
                Ok(()) if failing => {
                    tracing::info!("stream: reading the ledger works again");
                    failing = false;
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    tracing::warn!(error = %e, "stream: cannot read new entries; retrying");
                    failing = true;
                }
                Err(_) => {}
            }
        }
    }

    /// Publishes every entry committed after `last`, in seq order.
    async fn catch_up(&self, store: &dyn Store, last: &mut u64) -> Result<(), StoreError> {
        loop {
            let page = store
                .search(&EntryQuery {
                    cursor: Some(*last),
                    order: Order::Asc,
                    limit: PAGE,
                    ..EntryQuery::default()
                })
                .await?;
            let full = page.len() == PAGE;
            // Serialized once here, not once per subscriber.
            let published: Vec<_> = page
                .into_iter()
                .map(|e| Arc::new(Published::new(e)))
                .collect();
            if let Some(newest) = published.last() {
                let mut position = self
                    .position
                    .lock()
                    .expect("the hub lock is never poisoned");
                for p in published.iter().cloned() {
                    // An error only means that nobody subscribes right now.
                    let _ = self.sender.send(p);
                }
                *last = newest.entry.seq;
                *position = *last;
            }
            if !full {
                return Ok(());
            }
        }
    }
}
