//! pandas' key order: outer joins (and `sort=True`) list groups by ascending key, nulls last.
//!
//! Only one representative key per group is sorted, by its encoded form: `Word` keys are order-preserving
//! integers, string keys sort by their UTF-8 bytes (code-point order, as Python compares `str`), and
//! multi-column keys by arrow's row format, whose byte order is the columns' lexicographic order.

use rayon::prelude::*;

use crate::join::build::{Groups, Rep};
use crate::join::keys::EncodedKeys;

/// Group ids in ascending key order, nulls last.
pub(crate) fn groups_in_key_order(groups: &Groups, left: &EncodedKeys, right: &EncodedKeys) -> Vec<usize> {
    if groups.ordered {
        return (0..groups.n_groups).collect();
    }
    let key_of = |g: usize| match groups.reps[g] {
        Rep::Left(i) => (left, i),
        Rep::Right(i) => (right, i),
    };
    if let (Some(lw), Some(rw)) = (left.words(), right.words()) {
        let mut keys: Vec<(bool, u64, usize)> = (0..groups.n_groups)
            .into_par_iter()
            .map(|g| match groups.reps[g] {
                Rep::Left(i) => (left.has_null(i), lw[i], g),
                Rep::Right(i) => (right.has_null(i), rw[i], g),
            })
            .collect();
        keys.par_sort_unstable();
        return keys.into_iter().map(|(_, _, g)| g).collect();
    }
    // Row-format keys carry their nulls (ordered last) inside the bytes; string keys flag them beside.
    let flag_nulls = !left.nulls_in_bytes();
    let mut keys: Vec<(bool, &[u8], usize)> = (0..groups.n_groups)
        .into_par_iter()
        .map(|g| {
            let (keys, i) = key_of(g);
            (
                flag_nulls && keys.has_null(i),
                keys.sort_bytes(i).unwrap_or_default(),
                g,
            )
        })
        .collect();
    keys.par_sort_unstable();
    keys.into_iter().map(|(_, _, g)| g).collect()
}
