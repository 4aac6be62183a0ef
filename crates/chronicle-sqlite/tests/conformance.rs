//! The shared conformance suite, run against a fresh SQLite file per case.

use async_trait::async_trait;
use chronicle_core::merkle::Hash;
use chronicle_core::schema::Schema;
use chronicle_core::{EntityState, Entry};
use chronicle_sqlite::{SqliteConfig, SqliteStore};
use chronicle_store::*;
use std::sync::Arc;
use tempfile::TempDir;
use uuid::Uuid;

async fn make_store(schema: Schema) -> Option<Arc<dyn Store>> {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = SqliteConfig::new(
        dir.path().join("data").join("chronicle.db"),
        Arc::new(schema),
    );
    let store = SqliteStore::open(config)
        .await
        .expect("open a fresh SQLite store");
    Some(Arc::new(InTempDir { store, _dir: dir }))
}

chronicle_store::conformance_suite!(make_store);

/// A store that removes its directory when the suite drops it. Fields drop in order: the
/// store (which closes the file) first, then the directory.
struct InTempDir {
    store: SqliteStore,
    _dir: TempDir,
}

#[async_trait]
impl Store for InTempDir {
    async fn write(&self, req: WriteRequest) -> Result<WriteResponse, StoreError> {
        self.store.write(req).await
    }
    async fn entity(&self, entity_type: &str, id: &str) -> Result<Option<EntityState>, StoreError> {
        self.store.entity(entity_type, id).await
    }
    async fn list_entities(
        &self,
        entity_type: &str,
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<EntityState>, StoreError> {
        self.store.list_entities(entity_type, after_id, limit).await
    }
    async fn entry(&self, id: Uuid) -> Result<Option<Entry>, StoreError> {
        self.store.entry(id).await
    }
    async fn search(&self, query: &EntryQuery) -> Result<Vec<Entry>, StoreError> {
        self.store.search(query).await
    }
    async fn summary(&self, query: &EntryQuery, by: GroupBy) -> Result<Vec<Group>, StoreError> {
        self.store.summary(query, by).await
    }
    async fn head(&self) -> Result<LedgerHead, StoreError> {
        self.store.head().await
    }
    async fn rows(&self, start: u64, end: u64) -> Result<Vec<RawRow>, StoreError> {
        self.store.rows(start, end).await
    }
    async fn seq_extent(&self, after: u64) -> Result<SeqExtent, StoreError> {
        self.store.seq_extent(after).await
    }
    async fn node(&self, level: u8, index: u64) -> Result<Option<Hash>, StoreError> {
        self.store.node(level, index).await
    }
    async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.store.stats().await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }
    async fn subject_key(&self, subject: &str) -> Result<Option<SubjectKey>, StoreError> {
        self.store.subject_key(subject).await
    }
    async fn seal_states(
        &self,
        states: Vec<(String, String, serde_json::Value)>,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        self.store.seal_states(states).await
    }
    async fn open_states(
        &self,
        states: Vec<(String, String, serde_json::Value)>,
    ) -> Result<Vec<serde_json::Value>, StoreError> {
        self.store.open_states(states).await
    }
}
