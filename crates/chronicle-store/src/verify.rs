//! Full verification of a ledger from its stored rows: the rows are exactly the dense
//! sequence `1..=head` (no gap, no seq twice, nothing below 1 or past the head), every leaf is
//! recomputed from the canonical bytes, the searchable columns agree with those bytes, and
//! the tree rebuilt from them is the stored head. The first problem is named by seq.
//!
//! Ids are not checked for uniqueness on their own: a row inside `1..=head` must hold the
//! entry of its own seq and hash into the stored tree, so a second row with an existing id is
//! either outside the range, a second row for one seq, or a changed row, each named here.

use crate::model::{IndexedColumns, RawRow};
use crate::{Store, StoreError};
use chronicle_core::merkle::{Frontier, Hash};
use chronicle_core::{Entry, canonical};
use serde::Serialize;

/// Rows read per round trip.
const CHUNK: u64 = 5_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The row's bytes do not hash to its leaf hash, or its columns disagree with its bytes.
    ContentChanged,
    /// A seq below the head's size has no row.
    RowMissing,
    /// A row exists beyond the head's size, or at a seq below 1.
    RowInserted,
    /// Two rows hold the same seq.
    RowDuplicated,
    /// A row holds the entry of another seq.
    OrderChanged,
    /// The row does not parse as an entry.
    Unreadable,
    /// Every row checks, but the tree they form is not the stored head.
    HeadMismatch,
    /// A kept checkpoint's signature does not verify with a trusted key.
    SignatureBad,
    /// A kept checkpoint's root is not the root of the rows at its size.
    CheckpointMismatch,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The first seq that does not check; 0 when the failure is not one row's.
    pub seq: u64,
    pub kind: FailureKind,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub entries_checked: u64,
    pub tree_size: u64,
    #[serde(serialize_with = "hex_hash")]
    pub root: Hash,
    pub failure: Option<Failure>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }
}

fn hex_hash<S: serde::Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(h))
}

/// Verifies the whole ledger. `progress(done, total)` is called after every chunk.
pub async fn verify(
    store: &dyn Store,
    progress: impl FnMut(u64, u64),
) -> Result<VerifyReport, StoreError> {
    verify_at(store, &[], progress)
        .await
        .map(|(report, _)| report)
}

/// [`verify`], also returning the root the rows give at each of `sizes` (those not beyond
/// the rows checked), so that kept checkpoints can be compared with the tree rebuilt here.
pub async fn verify_at(
    store: &dyn Store,
    sizes: &[u64],
    mut progress: impl FnMut(u64, u64),
) -> Result<(VerifyReport, Vec<(u64, Hash)>), StoreError> {
    let mut roots = Vec::new();
    let mut wanted: Vec<u64> = sizes.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    let mut wanted = wanted.into_iter().peekable();
    while wanted.peek() == Some(&0) {
        roots.push((0, chronicle_core::merkle::empty_root()));
        wanted.next();
    }
    let report = verify_inner(store, &mut progress, Frontier::new(), |frontier| {
        while wanted.peek() == Some(&frontier.size()) {
            roots.push((frontier.size(), frontier.root()));
            wanted.next();
        }
    })
    .await?;
    Ok((report, roots))
}

/// What can be checked of a row on its own: its leaf hash, or why it fails.
type RowCheck = Result<Hash, (FailureKind, String)>;

fn check_row(row: &RawRow) -> RowCheck {
    let leaf = canonical::leaf_of(&row.canonical);
    let Ok(entry) = canonical::from_canonical(&row.canonical, &leaf) else {
        return Err((
            FailureKind::Unreadable,
            "canonical bytes do not parse as an entry".into(),
        ));
    };
    if entry.seq != row.seq {
        return Err((
            FailureKind::OrderChanged,
            format!("row {} holds the entry of seq {}", row.seq, entry.seq),
        ));
    }
    if leaf.as_slice() != row.leaf_hash.as_slice() {
        return Err((
            FailureKind::ContentChanged,
            "content does not match its leaf hash".into(),
        ));
    }
    if canonical::canonical_bytes(&entry).ok().as_deref() != Some(row.canonical.as_slice()) {
        return Err((
            FailureKind::ContentChanged,
            "stored bytes are not canonical".into(),
        ));
    }
    let want = IndexedColumns::of(&entry);
    if want != row.columns || entry.id.to_string() != row.id {
        return Err((
            FailureKind::ContentChanged,
            column_diff(&want, &row.columns),
        ));
    }
    Ok(leaf)
}

/// [`check_row`] for every row, split across the available cores.
fn check_rows(rows: &[RawRow]) -> Vec<RowCheck> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(rows.len().max(1));
    if threads <= 1 {
        return rows.iter().map(check_row).collect();
    }
    let per = rows.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let parts: Vec<_> = rows
            .chunks(per)
            .map(|part| scope.spawn(move || part.iter().map(check_row).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

async fn verify_inner(
    store: &dyn Store,
    progress: &mut impl FnMut(u64, u64),
    start: Frontier,
    mut at_size: impl FnMut(&Frontier),
) -> Result<VerifyReport, StoreError> {
    let head = store.head().await?;
    let mut frontier = start;
    let mut expected = frontier.size() + 1;
    let fail = |frontier: &Frontier, seq, kind, detail: String| VerifyReport {
        entries_checked: frontier.size(),
        tree_size: head.tree_size,
        root: frontier.root(),
        failure: Some(Failure { seq, kind, detail }),
    };
    // Rows up to the head read above; a live server may append more meanwhile, which is
    // checked for separately below.
    while expected <= head.tree_size {
        let rows = store
            .rows(expected, (expected + CHUNK - 1).min(head.tree_size))
            .await?;
        if rows.is_empty() {
            break;
        }
        // The per-row work (hashing, parsing, re-canonicalising) runs on every core; the
        // results are then taken in seq order, so the first failure named is the same.
        let checked = check_rows(&rows);
        for (i, row) in rows.iter().enumerate() {
            // Rows come in seq order, so a second row for a seq follows the first.
            if row.seq + 1 == expected {
                return Ok(fail(
                    &frontier,
                    row.seq,
                    FailureKind::RowDuplicated,
                    format!("two rows hold seq {}", row.seq),
                ));
            }
            if row.seq != expected {
                return Ok(fail(
                    &frontier,
                    expected,
                    FailureKind::RowMissing,
                    format!("no row for seq {expected} (next row is {})", row.seq),
                ));
            }
            if row.seq > head.tree_size {
                return Ok(fail(
                    &frontier,
                    row.seq,
                    FailureKind::RowInserted,
                    format!(
                        "row {} is beyond the head's tree size {}",
                        row.seq, head.tree_size
                    ),
                ));
            }
            let leaf = match &checked[i] {
                Ok(leaf) => *leaf,
                Err((kind, detail)) => {
                    return Ok(fail(&frontier, row.seq, *kind, detail.clone()));
                }
            };
            frontier.append(leaf);
            at_size(&frontier);
            expected += 1;
        }
        progress(frontier.size(), head.tree_size);
    }
    if frontier.size() < head.tree_size {
        return Ok(fail(
            &frontier,
            expected,
            FailureKind::RowMissing,
            format!(
                "the head says {} entries, rows end at {}",
                head.tree_size,
                frontier.size()
            ),
        ));
    }
    if let Some(failure) = stray_row(store, head.tree_size).await? {
        let (seq, detail) = failure;
        return Ok(fail(&frontier, seq, FailureKind::RowInserted, detail));
    }
    if frontier.root() != head.root {
        return Ok(fail(
            &frontier,
            0,
            FailureKind::HeadMismatch,
            "the rows form a different tree than the stored head".into(),
        ));
    }
    Ok(VerifyReport {
        entries_checked: frontier.size(),
        tree_size: head.tree_size,
        root: frontier.root(),
        failure: None,
    })
}

/// A row outside `1..=tree_size` (the seq to name, and why), found from the extremes of the
/// stored seqs rather than by reading rows: a forged row may sit anywhere, at 100000 past a
/// head of 60 just as well as right after it, and with or without a gap. A row past
/// `tree_size` is legitimate only if a newer head covers it (a live server appends while we
/// verify): the head and the rows it covers are written in one transaction, so reading the
/// rows' extent first and the head second settles it.
async fn stray_row(store: &dyn Store, tree_size: u64) -> Result<Option<(u64, String)>, StoreError> {
    let extent = store.seq_extent(tree_size).await?;
    if let Some(min) = extent.min.filter(|&m| m < 1) {
        return Ok(Some((0, format!("a row holds seq {min}; seqs start at 1"))));
    }
    let (Some(first), Some(max)) = (extent.first_after, extent.max) else {
        return Ok(None);
    };
    let now = store.head().await?.tree_size;
    let beyond = |seq: i64| u64::try_from(seq).is_ok_and(|s| s > now);
    if !beyond(max) {
        return Ok(None);
    }
    // The first row past the head we verified, unless newer entries covered it meanwhile;
    // then the highest row, which nothing covers.
    let named = if beyond(first) { first } else { max };
    let named = u64::try_from(named).unwrap_or(u64::MAX);
    Ok(Some((
        named,
        format!("row {named} is beyond the head's tree size {now}"),
    )))
}

/// An entry read from the row of `seq`, refused when its bytes say it is another seq's: a
/// read path must not serve a copied row under the seq the copy claims.
pub fn same_seq(seq: i64, entry: Entry) -> Result<Entry, StoreError> {
    if i64::try_from(entry.seq).ok() == Some(seq) {
        Ok(entry)
    } else {
        Err(StoreError::Corrupt(format!(
            "the row of seq {seq} holds the entry of seq {}",
            entry.seq
        )))
    }
}

fn column_diff(want: &IndexedColumns, got: &IndexedColumns) -> String {
    let w = format!("{want:?}");
    let g = format!("{got:?}");
    format!("searchable columns disagree with the entry: expected {w}, stored {g}")
}

/// Verifies only what came after a checkpoint the caller kept (tree size `size`, root `root`,
/// its signature already checked): the stored tree is consistent with it (an RFC 9162
/// consistency proof from stored nodes), and every row after it recomputes to the stored
/// head, starting from the frontier the stored nodes give at `size`.
pub async fn verify_from(
    store: &dyn Store,
    size: u64,
    root: &Hash,
    mut progress: impl FnMut(u64, u64),
) -> Result<VerifyReport, StoreError> {
    let head = store.head().await?;
    let failed = |kind, detail: String| VerifyReport {
        entries_checked: 0,
        tree_size: head.tree_size,
        root: head.root,
        failure: Some(Failure {
            seq: size,
            kind,
            detail,
        }),
    };
    if size > head.tree_size {
        return Ok(failed(
            FailureKind::RowMissing,
            format!(
                "the checkpoint has {size} entries, the ledger only {}",
                head.tree_size
            ),
        ));
    }
    let proof = crate::proofs::consistency(store, size, head.tree_size).await?;
    if chronicle_core::merkle::verify_consistency(size, head.tree_size, root, &head.root, &proof)
        .is_err()
    {
        return Ok(failed(
            FailureKind::CheckpointMismatch,
            format!("the ledger is not an extension of the checkpoint of size {size}"),
        ));
    }
    // The frontier at `size`, from stored nodes (two passes: which nodes, then their hashes).
    let mut wanted = Vec::new();
    let _ = Frontier::from_nodes(size, |level, index| {
        wanted.push((level, index));
        Ok::<Hash, ()>([0; 32])
    });
    let mut nodes = std::collections::BTreeMap::new();
    for (level, index) in wanted {
        let hash = store.node(level, index).await?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "tree node (level {level}, index {index}) is not stored"
            ))
        })?;
        nodes.insert((level, index), hash);
    }
    let start = Frontier::from_nodes(size, |level, index| {
        nodes.get(&(level, index)).copied().ok_or(())
    })
    .map_err(|()| StoreError::Corrupt("a tree node vanished".into()))?;
    if start.root() != *root {
        return Ok(failed(
            FailureKind::CheckpointMismatch,
            format!("the stored tree at size {size} is not the checkpoint's"),
        ));
    }
    verify_inner(store, &mut progress, start, |_| {}).await
}
