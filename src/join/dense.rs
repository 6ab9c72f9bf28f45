//! Dense keys: when `Word` keys (one integer-like column, or narrow columns packed together; the words
//! are order-preserving and one-to-one with the keys) span a range not much larger than the number of
//! rows, the word minus the minimum *is* the group id. No hashing, no partitions, no table, and
//! group order is key order, so outer joins and `sort=True` need no sort. (`DuckDB` and polars special-case
//! this too; it is the common shape of surrogate ids.)

use rayon::prelude::*;

use crate::join::build::{FactorizeOptions, Groups, SideGroups, NONE};
use crate::join::keys::EncodedKeys;

/// A range may be this many times the row count before a table is cheaper than the direct map.
pub(crate) const MAX_SPREAD: u64 = 2;
/// Small inputs may always use a range this large.
pub(crate) const MIN_RANGE: u64 = 1 << 16;

/// `None` when the keys are not `Word`s, or too sparse for a direct map.
pub(crate) fn factorize(left: &EncodedKeys, right: &EncodedKeys, opts: &FactorizeOptions) -> Option<Groups> {
    let (lw, rw) = (left.words()?, right.words()?);
    // Keys outside the smaller side's range cannot match; with `insert_probe` every key needs a group.
    let sides: Vec<(&EncodedKeys, &[u64])> = if opts.insert_probe {
        vec![(left, lw), (right, rw)]
    } else if left.len() <= right.len() {
        vec![(left, lw)]
    } else {
        vec![(right, rw)]
    };
    let (min, max) = sides
        .iter()
        .map(|(keys, words)| {
            (0..words.len())
                .into_par_iter()
                .filter(|&i| !keys.has_null(i))
                .map(|i| (words[i], words[i]))
                .reduce(|| (u64::MAX, 0), |a, b| (a.0.min(b.0), a.1.max(b.1)))
        })
        .fold((u64::MAX, 0), |a, b| (a.0.min(b.0), a.1.max(b.1)));
    let rows = (left.len() + right.len()) as u64;
    let range = if min > max { 0 } else { (max - min).checked_add(1)? };
    if range > (rows * MAX_SPREAD).max(MIN_RANGE) {
        return None;
    }
    let any_null = |k: &EncodedKeys| (0..k.len()).into_par_iter().any(|i| k.has_null(i));
    let null_group = opts.nulls_equal && (any_null(left) || any_null(right));
    let null_gid = range as usize;
    let n_groups = range as usize + usize::from(null_group);

    let side = |keys: &EncodedKeys, words: &[u64], with_csr: bool| {
        let row_gid: Vec<usize> = (0..words.len())
            .into_par_iter()
            .map(|i| {
                if keys.has_null(i) {
                    if null_group {
                        null_gid
                    } else {
                        NONE
                    }
                } else if words[i] >= min && words[i] <= max {
                    (words[i] - min) as usize
                } else {
                    NONE
                }
            })
            .collect();
        SideGroups::from_row_gid(row_gid, n_groups, with_csr)
    };
    let (l, r) = rayon::join(
        || side(left, lw, opts.csr_left),
        || side(right, rw, opts.csr_right),
    );
    Some(Groups {
        n_groups,
        left: l,
        right: r,
        reps: Vec::new(),
        ordered: true,
    })
}
