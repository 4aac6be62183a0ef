//! The integrity signal behind `/readyz`: `chronicle verify` records a failed verification as a
//! `security` entry tagged `integrity` (and a later passing one as a `system` entry with the
//! same tag). This watcher reads the latest such entry at start-up and then follows the hub,
//! so every node learns of a failure wherever verification ran; `/readyz` answers 503 while
//! the latest integrity entry is a failure.

use crate::AppState;
use chronicle_core::{Entry, Operation};
use chronicle_store::{EntryQuery, Order};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast::error::RecvError;

/// The tag of integrity entries.
pub const TAG: &str = "integrity";

/// `Some(detail)` while the ledger's latest verification failed.
#[derive(Clone, Default)]
pub struct Integrity(Arc<Mutex<Option<String>>>);

impl Integrity {
    pub fn failure(&self) -> Option<String> {
        self.0.lock().expect("never poisoned").clone()
    }

    fn observe(&self, entry: &Entry) {
        if !entry.tags.iter().any(|t| t == TAG) {
            return;
        }
        let mut state = self.0.lock().expect("never poisoned");
        *state = match entry.operation {
            Operation::Security => Some(
                entry
                    .summary
                    .clone()
                    .unwrap_or_else(|| "ledger verification failed".into()),
            ),
            _ => None,
        };
    }
}

/// Runs for the server's lifetime.
pub(crate) async fn watch(state: AppState) {
    let query = EntryQuery {
        tag: Some(TAG.into()),
        order: Order::Desc,
        limit: 1,
        ..EntryQuery::default()
    };
    match state.store.search(&query).await {
        Ok(latest) => {
            if let Some(e) = latest.first() {
                state.integrity.observe(e);
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot read the latest integrity entry"),
    }
    let Some((mut rx, _)) = state.hub.subscribe().await else {
        return;
    };
    loop {
        match rx.recv().await {
            Ok(published) => state.integrity.observe(&published.entry),
            // Missing some entries only delays the signal; integrity entries are rare.
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        }
    }
}
