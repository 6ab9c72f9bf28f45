//! Dense keys: when `Word` keys (one integer-like column, or narrow columns packed together; the words
//! are order-preserving and one-to-one with the keys) span a range not much larger than the number of
//! rows, the word minus the minimum *is* the group id. No hashing, no partitions, no table, and
//! group order is key order, so outer joins and `sort=True` need no sort. (`DuckDB` and polars special-case
//! this too; it is the common shape of surrogate ids.)

use rayon::prelude::*;

use crate::join::build::{FactorizeOptions, Groups, SideGroups, NONE};
use crate::join::keys::EncodedKeys;

/// A range may be this many times the row count before a table is cheaper than the direct map.
const MAX_SPREAD: u64 = 2;
/// Small inputs may always use a range this large.
const MIN_RANGE: u64 = 1 << 16;

/// The smallest non-null word and the number of slots a direct map of `sides`' words needs, or `None`
/// when that range is too sparse for `rows` rows (the one rule for this path and `unique`'s direct map).
pub(crate) fn direct_range(sides: &[(&EncodedKeys, &[u64])], rows: usize) -> Option<(u64, usize)> {
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
    let range = if min > max { 0 } else { (max - min).checked_add(1)? };
    if range > (rows as u64 * MAX_SPREAD).max(MIN_RANGE) {
        return None;
    }
    Some((min, usize::try_from(range).ok()?))
}

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
    let (min, range) = direct_range(&sides, left.len() + right.len())?;
    let any_null = |k: &EncodedKeys| (0..k.len()).into_par_iter().any(|i| k.has_null(i));
    let null_group = opts.nulls_equal && (any_null(left) || any_null(right));
    let null_gid = range;
    let n_groups = range + usize::from(null_group);

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
                } else {
                    // Below `min` the difference wraps past every slot.
                    usize::try_from(words[i].wrapping_sub(min))
                        .ok()
                        .filter(|&g| g < range)
                        .unwrap_or(NONE)
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
