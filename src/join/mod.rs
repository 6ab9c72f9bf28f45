//! The join engine: keys (dictionary keys by code) → build/probe (a row-ordered join onto unique keys looks
//! each driving row up and writes its pair; otherwise group ids: a direct map for dense integer keys, one
//! shared table for a small build side, else hash partitions) → index pairs → gather.
//!
//! The core returns row-index pairs (`JoinIndices`); `gather` builds the output columns from them, so every
//! front end (pandas, Arrow, Spark, files) shares one join and chooses how to materialise it.

pub mod args;
mod build;
mod bytes;
mod dense;
mod dictionary;
pub mod gather;
pub(crate) mod keys;
mod order;
mod pairs;
mod partition;
mod shared;
pub mod unify;
mod unique;
mod validate;
mod words;

use arrow_array::ArrayRef;

pub use args::{Cancel, JoinArgs, JoinKind, Validate};
pub use pairs::{JoinIndices, RowIndex};

use crate::error::{MergeError, Result};
use build::{factorize, FactorizeOptions};

/// Match the rows of two sides by their key columns (`left_keys[i]` is compared with `right_keys[i]`).
/// Names are only used in error messages. Runs on the engine's own thread pool.
pub fn join_indices(
    left_keys: &[ArrayRef],
    right_keys: &[ArrayRef],
    left_names: &[String],
    right_names: &[String],
    args: &JoinArgs,
) -> Result<JoinIndices> {
    join_indices_as(left_keys, right_keys, left_names, right_names, args)
}

/// [`join_indices`] with row indices of type `I` (`u32` when both sides are below 2^32 rows, see
/// [`narrow_indices_fit`]).
pub fn join_indices_as<I: RowIndex>(
    left_keys: &[ArrayRef],
    right_keys: &[ArrayRef],
    left_names: &[String],
    right_names: &[String],
    args: &JoinArgs,
) -> Result<JoinIndices<I>> {
    let rows = |keys: &[ArrayRef]| keys.first().map_or(0, |a| a.len());
    check_width::<I>(rows(left_keys), rows(right_keys))?;
    let pool = crate::pool::pool_for_rows(args.threads, rows(left_keys) + rows(right_keys))?;
    let threads = pool.current_num_threads();
    pool.install(|| join_on_pool(left_keys, right_keys, left_names, right_names, args, threads))
}

/// Whether four-byte (`u32`) row indices can number both sides' rows.
pub fn narrow_indices_fit(n_left: usize, n_right: usize) -> bool {
    u32::holds(n_left) && u32::holds(n_right)
}

fn check_width<I: RowIndex>(n_left: usize, n_right: usize) -> Result<()> {
    if I::holds(n_left) && I::holds(n_right) {
        return Ok(());
    }
    Err(MergeError::InvalidArgument(format!(
        "{}-byte row indices cannot number {} rows; use 8-byte indices",
        std::mem::size_of::<I>(),
        n_left.max(n_right)
    )))
}

/// The cross product of `n_left` × `n_right` rows in pandas' (left-major) order. A cross join has no key
/// columns, so the row counts come from the caller.
pub fn cross_indices(n_left: usize, n_right: usize, args: &JoinArgs) -> Result<JoinIndices> {
    cross_indices_as(n_left, n_right, args)
}

/// [`cross_indices`] with row indices of type `I`.
pub fn cross_indices_as<I: RowIndex>(
    n_left: usize,
    n_right: usize,
    args: &JoinArgs,
) -> Result<JoinIndices<I>> {
    check_width::<I>(n_left, n_right)?;
    let pool = crate::pool::pool_for_rows(args.threads, n_left.saturating_mul(n_right))?;
    pool.install(|| pairs::cross(n_left, n_right, args))
}

/// What the join kind asks of factorizing: which sides need their group→rows CSR, whether probe keys get
/// groups of their own (key order and `validate=` see every key).
fn factorize_options(args: &JoinArgs, threads: usize) -> FactorizeOptions<'_> {
    let every_group = args.key_ordered() || args.validate.is_some();
    let drive_right = matches!(args.kind, JoinKind::Right | JoinKind::RightAnti);
    FactorizeOptions {
        nulls_equal: args.nulls_equal,
        csr_left: every_group || drive_right,
        csr_right: every_group || !drive_right,
        insert_probe: every_group,
        threads,
        cancel: &args.cancel,
    }
}

fn join_on_pool<I: RowIndex>(
    left_keys: &[ArrayRef],
    right_keys: &[ArrayRef],
    left_names: &[String],
    right_names: &[String],
    args: &JoinArgs,
    threads: usize,
) -> Result<JoinIndices<I>> {
    if args.kind == JoinKind::Cross {
        let n = |keys: &[ArrayRef]| keys.first().map_or(0, arrow_array::Array::len);
        return pairs::cross(n(left_keys), n(right_keys), args);
    }
    if left_keys.is_empty() {
        return Err(MergeError::InvalidArgument(
            "a join needs at least one key column on each side".into(),
        ));
    }
    let (left, right) = unify::unify(left_keys, right_keys, left_names, right_names)?;
    // pandas has one missing value for floats: under pandas semantics a NaN key is a null key, whatever
    // the input kind (pandas turns NaN into null on the way to Arrow; pyarrow and polars keep both).
    let (left, right) = if args.nulls_equal {
        (unify::nan_as_null(left), unify::nan_as_null(right))
    } else {
        (left, right)
    };
    let layout = keys::Layout::choose(&left, &right)?;
    let (el, er) = rayon::join(|| layout.encode(&left), || layout.encode(&right));
    let (el, er) = (el?, er?);
    args.cancel.check()?;

    if let Some(pairs) = unique::join(&el, &er, args)? {
        return Ok(pairs);
    }
    let key_ordered = args.key_ordered();
    let opts = factorize_options(args, threads);
    let groups = match dense::factorize(&el, &er, &opts) {
        Some(groups) => groups,
        None => match shared::factorize(&el, &er, &opts) {
            Some(groups) => groups,
            None => factorize(&el, &er, &opts)?,
        },
    };
    if let Some(v) = args.validate {
        validate::check(&groups, v)?;
    }
    if key_ordered {
        let order = order::groups_in_key_order(&groups, &el, &er);
        pairs::key_ordered(&groups, &order, args)
    } else {
        pairs::row_ordered(&groups, args)
    }
}

#[cfg(test)]
mod tests;
