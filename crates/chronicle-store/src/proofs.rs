//! RFC 9162 proofs from stored tree nodes. Core's proof functions take a synchronous node
//! callback and choose nodes from the indices alone, never from hash values: a first pass
//! records which nodes are wanted, they are read from the store (O(log n) of them), and a
//! second pass computes the proof from them.

use crate::{Store, StoreError};
use chronicle_core::merkle::{self, Hash};
use std::collections::{BTreeMap, BTreeSet};

/// A node the tree of the requested size needs but the store does not have.
#[derive(Debug)]
struct Missing(u8, u64);

type Fetch<'a> = &'a mut dyn FnMut(u8, u64) -> Result<Hash, Missing>;

async fn prove(
    store: &dyn Store,
    compute: impl Fn(Fetch<'_>) -> Result<Vec<Hash>, Missing>,
) -> Result<Vec<Hash>, StoreError> {
    let mut wanted = BTreeSet::new();
    let _ = compute(&mut |level, index| {
        wanted.insert((level, index));
        Ok([0; 32])
    });
    let wanted: Vec<(u8, u64)> = wanted.into_iter().collect();
    let found = store.nodes(&wanted).await?;
    let mut nodes = BTreeMap::new();
    for (&(level, index), hash) in wanted.iter().zip(found) {
        let Some(hash) = hash else {
            return Err(missing(Missing(level, index)));
        };
        nodes.insert((level, index), hash);
    }
    compute(&mut |level, index| {
        nodes
            .get(&(level, index))
            .copied()
            .ok_or(Missing(level, index))
    })
    .map_err(missing)
}

fn missing(m: Missing) -> StoreError {
    StoreError::Corrupt(format!(
        "tree node (level {}, index {}) is not stored",
        m.0, m.1
    ))
}

/// Inclusion proof of leaf `index` (seq − 1) in the tree of `size` leaves; `index < size`.
pub async fn inclusion(store: &dyn Store, index: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
    prove(store, |get| merkle::inclusion_proof(index, size, get)).await
}

/// Consistency proof between the trees of `m <= n` leaves.
pub async fn consistency(store: &dyn Store, m: u64, n: u64) -> Result<Vec<Hash>, StoreError> {
    prove(store, |get| merkle::consistency_proof(m, n, get)).await
}

/// The stored leaf hash of `index`.
pub async fn leaf(store: &dyn Store, index: u64) -> Result<Hash, StoreError> {
    prove(store, |get| get(0, index).map(|h| vec![h]))
        .await
        .map(|v| v[0])
}
