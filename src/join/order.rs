//! pandas' key order: outer joins (and `sort=True`) list groups by ascending key, nulls last.

use arrow_array::{ArrayRef, UInt32Array};
use arrow_ord::sort::{lexsort_to_indices, SortColumn, SortOptions};
use arrow_select::interleave::interleave;

use crate::error::{MergeError, Result};
use crate::join::build::{Groups, Rep};

/// Group ids in ascending key order. Only the groups' representative keys are sorted, not every row.
pub(crate) fn groups_in_key_order(groups: &Groups, left: &[ArrayRef], right: &[ArrayRef]) -> Result<Vec<usize>> {
    if groups.n_groups > u32::MAX as usize {
        return Err(MergeError::InvalidArgument(format!(
            "sorting {} distinct keys is beyond the 2^32 arrow's sort supports; use sort=False or a non-outer join",
            groups.n_groups
        )));
    }
    let picks: Vec<(usize, usize)> = groups
        .reps
        .iter()
        .map(|r| match *r {
            Rep::Left(i) => (0, i),
            Rep::Right(i) => (1, i),
        })
        .collect();
    let columns = left
        .iter()
        .zip(right)
        .map(|(l, r)| {
            Ok(SortColumn {
                values: interleave(&[l.as_ref(), r.as_ref()], &picks)?,
                options: Some(SortOptions { descending: false, nulls_first: false }),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let order: UInt32Array = lexsort_to_indices(&columns, None)?;
    Ok(order.values().iter().map(|&g| g as usize).collect())
}
