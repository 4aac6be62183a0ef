//! [`Unsealing`]: a [`Store`] that opens sealed values on the way out.
//!
//! Entity reads (`entity`, `list_entities`) and entry reads (`entry`, `search`) come back with
//! the sensitive values (per the schema, see [`crate::seal`]) in plaintext; a value whose
//! subject's key was erased, or that does not open, reads as [`ERASED`]. `rows()` and
//! everything else pass through untouched: verifiers, proofs and bundles need the bytes that
//! were hashed. Data keys are looked up for every read and kept only for that read, so an
//! erasure (made by any node) shows at once.

use crate::executor::unwrap_key;
use crate::model::*;
use crate::seal::{self, DataKey, ERASED, Sealer};
use crate::{Store, StoreError};
use async_trait::async_trait;
use chronicle_core::merkle::Hash;
use chronicle_core::schema::Schema;
use chronicle_core::{EntityState, Entry};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// See the module documentation.
pub struct Unsealing {
    inner: Arc<dyn Store>,
    sealer: Arc<Sealer>,
    schema: Arc<Schema>,
}

impl Unsealing {
    pub fn new(inner: Arc<dyn Store>, sealer: Arc<Sealer>, schema: Arc<Schema>) -> Unsealing {
        Unsealing {
            inner,
            sealer,
            schema,
        }
    }

    /// The store underneath, whose reads are raw.
    pub fn raw(&self) -> &Arc<dyn Store> {
        &self.inner
    }
}

/// The keys one read has looked up.
#[derive(Default)]
struct Keys(HashMap<String, Option<DataKey>>);

impl Keys {
    async fn get(
        &mut self,
        store: &dyn Store,
        sealer: &Sealer,
        subject: &str,
    ) -> Result<Option<DataKey>, StoreError> {
        if let Some(known) = self.0.get(subject) {
            return Ok(known.clone());
        }
        let key = match store.subject_key(subject).await?.and_then(|r| r.wrapped) {
            Some(wrapped) => Some(unwrap_key(sealer, subject, &wrapped)?),
            None => None,
        };
        self.0.insert(subject.to_owned(), key.clone());
        Ok(key)
    }
}

impl Unsealing {
    async fn open(
        &self,
        keys: &mut Keys,
        field: &str,
        value: &mut Value,
    ) -> Result<(), StoreError> {
        let Some(subject) = seal::sealed_subject(value).map(str::to_owned) else {
            // Plaintext, written before encryption was on.
            return Ok(());
        };
        let key = keys.get(&*self.inner, &self.sealer, &subject).await?;
        *value = self.sealer.open_or_erased(key.as_ref(), field, value);
        Ok(())
    }

    async fn open_entity(
        &self,
        keys: &mut Keys,
        state: &mut EntityState,
    ) -> Result<(), StoreError> {
        for (field, value) in
            seal::sensitive_data(&self.schema, &state.entity_type, &mut state.data)
        {
            self.open(keys, &field, value).await?;
        }
        Ok(())
    }

    async fn open_entry(&self, keys: &mut Keys, entry: &mut Entry) -> Result<(), StoreError> {
        let targets = seal::sensitive_values(
            &self.schema,
            entry.entity_type.as_deref(),
            &mut entry.old_values,
            &mut entry.new_values,
            &mut entry.change_set,
        );
        for (_, field, value) in targets {
            self.open(keys, &field, value).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Store for Unsealing {
    fn stored(&self) -> Option<&dyn Store> {
        Some(&*self.inner)
    }

    async fn seal_states(
        &self,
        states: Vec<(String, String, Value)>,
    ) -> Result<Vec<Value>, StoreError> {
        let mut keys = Keys::default();
        let mut out = Vec::with_capacity(states.len());
        for (entity_type, id, mut data) in states {
            if seal::sensitive_data(&self.schema, &entity_type, &mut data).is_empty() {
                out.push(data);
                continue;
            }
            let subject = self.schema.subject_of(&entity_type, &id, &data);
            let key = keys.get(&*self.inner, &self.sealer, &subject).await?;
            // No key: never sealed (values from before encryption was on stay as they are),
            // or erased (then nothing of theirs may be kept).
            let erased = key.is_none()
                && self
                    .inner
                    .subject_key(&subject)
                    .await?
                    .is_some_and(|k| k.erased_at.is_some());
            for (field, value) in seal::sensitive_data(&self.schema, &entity_type, &mut data) {
                if value.is_null() || seal::sealed_subject(value).is_some() {
                    continue;
                }
                match &key {
                    Some(key) => {
                        *value = self
                            .sealer
                            .seal(key, &subject, &field, value)
                            .map_err(crate::executor::seal_failure)?;
                    }
                    None if erased => *value = Value::String(ERASED.to_owned()),
                    None => {}
                }
            }
            out.push(data);
        }
        Ok(out)
    }

    async fn open_states(
        &self,
        states: Vec<(String, String, Value)>,
    ) -> Result<Vec<Value>, StoreError> {
        let mut keys = Keys::default();
        let mut out = Vec::with_capacity(states.len());
        for (entity_type, _, mut data) in states {
            for (field, value) in seal::sensitive_data(&self.schema, &entity_type, &mut data) {
                self.open(&mut keys, &field, value).await?;
            }
            out.push(data);
        }
        Ok(out)
    }

    /// The write path already answers with plaintext.
    async fn write(&self, req: WriteRequest) -> Result<WriteResponse, StoreError> {
        self.inner.write(req).await
    }

    async fn entity(&self, entity_type: &str, id: &str) -> Result<Option<EntityState>, StoreError> {
        let mut found = self.inner.entity(entity_type, id).await?;
        if let Some(state) = &mut found {
            self.open_entity(&mut Keys::default(), state).await?;
        }
        Ok(found)
    }

    async fn list_entities(
        &self,
        entity_type: &str,
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<EntityState>, StoreError> {
        let mut states = self
            .inner
            .list_entities(entity_type, after_id, limit)
            .await?;
        let mut keys = Keys::default();
        for state in &mut states {
            self.open_entity(&mut keys, state).await?;
        }
        Ok(states)
    }

    async fn entry(&self, id: Uuid) -> Result<Option<Entry>, StoreError> {
        let mut found = self.inner.entry(id).await?;
        if let Some(entry) = &mut found {
            self.open_entry(&mut Keys::default(), entry).await?;
        }
        Ok(found)
    }

    async fn search(&self, query: &EntryQuery) -> Result<Vec<Entry>, StoreError> {
        let mut entries = self.inner.search(query).await?;
        let mut keys = Keys::default();
        for entry in &mut entries {
            self.open_entry(&mut keys, entry).await?;
        }
        Ok(entries)
    }

    async fn summary(&self, query: &EntryQuery, by: GroupBy) -> Result<Vec<Group>, StoreError> {
        self.inner.summary(query, by).await
    }

    async fn head(&self) -> Result<LedgerHead, StoreError> {
        self.inner.head().await
    }

    async fn rows(&self, start: u64, end: u64) -> Result<Vec<RawRow>, StoreError> {
        self.inner.rows(start, end).await
    }

    async fn seq_extent(&self, after: u64) -> Result<SeqExtent, StoreError> {
        self.inner.seq_extent(after).await
    }

    async fn node(&self, level: u8, index: u64) -> Result<Option<Hash>, StoreError> {
        self.inner.node(level, index).await
    }

    async fn nodes(&self, wanted: &[(u8, u64)]) -> Result<Vec<Option<Hash>>, StoreError> {
        self.inner.nodes(wanted).await
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.inner.stats().await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn subject_key(&self, subject: &str) -> Result<Option<SubjectKey>, StoreError> {
        self.inner.subject_key(subject).await
    }
}
