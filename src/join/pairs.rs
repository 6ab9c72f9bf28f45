//! Emit the output's row-index pairs, in pandas' order, in two parallel passes: count every morsel's
//! output, then allocate exactly once and let each morsel fill its own slice. The count is what
//! `max_output_rows` checks before any output memory exists.

use arrow_array::types::{Int64Type, UInt32Type};
use arrow_array::ArrowPrimitiveType;
use arrow_buffer::ArrowNativeType;
use rayon::prelude::*;

use crate::error::{MergeError, Result};
use crate::join::args::{JoinArgs, JoinKind};
use crate::join::build::{Groups, SideGroups, NONE};

/// Row numbers of the output: `left[k]`/`right[k]` is the input row of output row `k`, or
/// [`RowIndex::MISSING`] for "no row". Eight-byte `i64` (-1 for no row) by default; four-byte `u32`
/// (`u32::MAX` for no row) for inputs below 2^32 rows, which halves the pairs' memory and what a gather
/// reads.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct JoinIndices<I = i64> {
    pub left: Vec<I>,
    pub right: Vec<I>,
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for i64 {}
    impl Sealed for u32 {}
}

/// A row index type of the pairs: `i64` or `u32` only (sealed), both plain integers for which an all-zero
/// block of memory is a valid value (`alloc::try_zeroed_indices` relies on that).
pub trait RowIndex: sealed::Sealed + ArrowNativeType + Eq {
    /// The Arrow type of an index array of this type (what a gather hands to arrow's `take`).
    type Arrow: ArrowPrimitiveType<Native = Self>;
    /// The "no row" marker.
    const MISSING: Self;
    /// Whether every row of a side of `n_rows` rows has an index of this type distinct from `MISSING`.
    fn holds(n_rows: usize) -> bool;
    /// Row `row` (the caller has checked `holds`).
    fn from_row(row: usize) -> Self;
    /// The row, or `None` for `MISSING`.
    fn row(self) -> Option<usize>;
    /// As a signed number, `MISSING` as -1 (range checks of indices handed in from outside).
    fn signed(self) -> i64;
}

impl RowIndex for i64 {
    type Arrow = Int64Type;
    const MISSING: i64 = -1;
    fn holds(n_rows: usize) -> bool {
        i64::try_from(n_rows).is_ok()
    }
    #[inline(always)]
    fn from_row(row: usize) -> i64 {
        row as i64
    }
    #[inline(always)]
    fn row(self) -> Option<usize> {
        usize::try_from(self).ok()
    }
    fn signed(self) -> i64 {
        self
    }
}

impl RowIndex for u32 {
    type Arrow = UInt32Type;
    const MISSING: u32 = u32::MAX;
    fn holds(n_rows: usize) -> bool {
        // Rows 0..=2^32-2 are indices; 2^32-1 is the marker, so a side may have up to 2^32-1 rows.
        u32::try_from(n_rows).is_ok()
    }
    #[inline(always)]
    fn from_row(row: usize) -> u32 {
        row as u32
    }
    #[inline(always)]
    fn row(self) -> Option<usize> {
        (self != u32::MAX).then_some(self as usize)
    }
    fn signed(self) -> i64 {
        if self == u32::MAX {
            -1
        } else {
            i64::from(self)
        }
    }
}

const MORSEL: usize = 1 << 14;

/// A morsel's output slice.
pub(crate) struct Writer<'a, I> {
    left: &'a mut [I],
    right: &'a mut [I],
    at: usize,
}

impl<I: RowIndex> Writer<'_, I> {
    #[inline(always)]
    fn push(&mut self, l: usize, r: usize) {
        self.left[self.at] = if l == NONE { I::MISSING } else { I::from_row(l) };
        self.right[self.at] = if r == NONE { I::MISSING } else { I::from_row(r) };
        self.at += 1;
    }

    /// A pair of indices as they are (`MISSING` for no row).
    #[inline(always)]
    pub(crate) fn push_index(&mut self, l: I, r: I) {
        self.left[self.at] = l;
        self.right[self.at] = r;
        self.at += 1;
    }
}

/// `OutputTooLarge` when `total` output rows pass `max_output_rows`: checked before any output memory exists.
pub(crate) fn check_total(total: usize, args: &JoinArgs) -> Result<()> {
    match args.max_output_rows {
        Some(limit) if total as u64 > limit => Err(MergeError::OutputTooLarge {
            rows: total as u64,
            limit,
        }),
        _ => Ok(()),
    }
}

/// `len` row indices (zero until written), or the typed error for memory the machine does not have.
pub(crate) fn try_indices<I: RowIndex>(len: usize) -> Result<Vec<I>> {
    crate::alloc::try_zeroed_indices(len).ok_or(MergeError::OutOfMemory {
        rows: len as u64,
        bytes: (len as u64).saturating_mul(std::mem::size_of::<I>() as u64),
    })
}

/// Runs `count` then `fill` over units `0..n_units` in parallel morsels; the output keeps unit order.
pub(crate) fn emit<I: RowIndex>(
    n_units: usize,
    args: &JoinArgs,
    count: impl Fn(usize) -> usize + Sync,
    fill: impl Fn(usize, &mut Writer<I>) + Sync,
) -> Result<JoinIndices<I>> {
    let n_morsels = n_units.div_ceil(MORSEL);
    let counts: Vec<usize> = (0..n_morsels)
        .into_par_iter()
        .map(|m| {
            args.cancel.check()?;
            let units = m * MORSEL..((m + 1) * MORSEL).min(n_units);
            units
                .map(&count)
                .try_fold(0usize, usize::checked_add)
                .ok_or(too_large(u64::MAX, args))
        })
        .collect::<Result<_>>()?;
    let total = counts
        .iter()
        .try_fold(0usize, |a, &c| a.checked_add(c))
        .ok_or(too_large(u64::MAX, args))?;
    check_total(total, args)?;
    let pairs_bytes = (total as u64).saturating_mul(2 * std::mem::size_of::<I>() as u64);
    let unallocatable = |_| MergeError::OutOfMemory {
        rows: total as u64,
        bytes: pairs_bytes,
    };
    let mut out = JoinIndices {
        left: try_indices(total).map_err(unallocatable)?,
        right: try_indices(total).map_err(unallocatable)?,
    };
    let mut slices = Vec::with_capacity(n_morsels);
    let (mut l, mut r) = (&mut out.left[..], &mut out.right[..]);
    for &c in &counts {
        let (a, rest_l) = std::mem::take(&mut l).split_at_mut(c);
        let (b, rest_r) = std::mem::take(&mut r).split_at_mut(c);
        l = rest_l;
        r = rest_r;
        slices.push(Writer {
            left: a,
            right: b,
            at: 0,
        });
    }
    slices.into_par_iter().enumerate().try_for_each(|(m, mut w)| {
        args.cancel.check()?;
        for u in m * MORSEL..((m + 1) * MORSEL).min(n_units) {
            fill(u, &mut w);
        }
        debug_assert_eq!(w.at, w.left.len());
        Ok::<(), MergeError>(())
    })?;
    Ok(out)
}

fn too_large(rows: u64, args: &JoinArgs) -> MergeError {
    MergeError::OutputTooLarge {
        rows,
        limit: args.max_output_rows.unwrap_or(u64::MAX),
    }
}

pub(crate) fn cross<I: RowIndex>(n_left: usize, n_right: usize, args: &JoinArgs) -> Result<JoinIndices<I>> {
    emit(
        n_left,
        args,
        |_| n_right,
        |i, w| (0..n_right).for_each(|j| w.push(i, j)),
    )
}

/// Output in one side's row order (pandas' inner/left/right without `sort`). For a right join the right
/// side drives and the pairs come out swapped back.
pub(crate) fn row_ordered<I: RowIndex>(groups: &Groups, args: &JoinArgs) -> Result<JoinIndices<I>> {
    let drive_right = matches!(args.kind, JoinKind::Right | JoinKind::RightAnti);
    let (driver, other) = if drive_right {
        (&groups.right, &groups.left)
    } else {
        (&groups.left, &groups.right)
    };
    let matches = |i: usize| match driver.row_gid[i] {
        NONE => &[][..],
        g => other.rows_of(g),
    };
    let kind = args.kind;
    let count = |i: usize| {
        let m = matches(i).len();
        match kind {
            JoinKind::Inner => m,
            JoinKind::Left | JoinKind::Right => m.max(1),
            JoinKind::LeftSemi => usize::from(m > 0),
            _ => usize::from(m == 0), // the anti joins
        }
    };
    let push = |w: &mut Writer<I>, d: usize, o: usize| {
        if drive_right {
            w.push(o, d);
        } else {
            w.push(d, o);
        }
    };
    let fill = |i: usize, w: &mut Writer<I>| {
        let m = matches(i);
        match kind {
            JoinKind::Inner | JoinKind::Left | JoinKind::Right => {
                m.iter().for_each(|&o| push(w, i, o));
                if m.is_empty() && kind != JoinKind::Inner {
                    push(w, i, NONE);
                }
            }
            JoinKind::LeftSemi if !m.is_empty() => push(w, i, NONE),
            JoinKind::LeftAnti | JoinKind::RightAnti if m.is_empty() => push(w, i, NONE),
            _ => {}
        }
    };
    emit(driver.row_gid.len(), args, count, fill)
}

/// Output in key order: groups in `order`, then the rows whose key is null under SQL semantics (they match
/// nothing and sort nowhere), left ones then right ones.
pub(crate) fn key_ordered<I: RowIndex>(
    groups: &Groups,
    order: &[usize],
    args: &JoinArgs,
) -> Result<JoinIndices<I>> {
    let kind = args.kind;
    let loose = |side: &SideGroups, keep: bool| -> Vec<usize> {
        if !keep {
            return Vec::new();
        }
        side.row_gid
            .iter()
            .enumerate()
            .filter(|(_, &g)| g == NONE)
            .map(|(i, _)| i)
            .collect()
    };
    let loose_left = loose(&groups.left, kind.keeps_unmatched_left());
    let loose_right = loose(&groups.right, kind.keeps_unmatched_right());
    let n_groups = order.len();
    let n_units = n_groups + loose_left.len() + loose_right.len();

    let count = |u: usize| {
        if u >= n_groups {
            return 1;
        }
        let g = order[u];
        let (l, r) = (groups.left.count(g), groups.right.count(g));
        match kind {
            JoinKind::Inner => l * r,
            JoinKind::Left => l * r.max(1),
            JoinKind::Right => r * l.max(1),
            JoinKind::Outer if l > 0 && r > 0 => l * r,
            JoinKind::Outer => l + r,
            JoinKind::LeftSemi => l * usize::from(r > 0),
            JoinKind::LeftAnti => l * usize::from(r == 0),
            JoinKind::RightAnti => r * usize::from(l == 0),
            JoinKind::Cross => 0,
        }
    };
    let fill = |u: usize, w: &mut Writer<I>| {
        if u >= n_groups {
            let k = u - n_groups;
            match loose_left.get(k) {
                Some(&i) => w.push(i, NONE),
                None => w.push(NONE, loose_right[k - loose_left.len()]),
            }
            return;
        }
        let g = order[u];
        let (ls, rs) = (groups.left.rows_of(g), groups.right.rows_of(g));
        match kind {
            JoinKind::Inner | JoinKind::Left | JoinKind::Outer => {
                if rs.is_empty() {
                    if kind != JoinKind::Inner {
                        ls.iter().for_each(|&i| w.push(i, NONE));
                    }
                } else {
                    ls.iter().for_each(|&i| rs.iter().for_each(|&j| w.push(i, j)));
                }
                if ls.is_empty() && kind == JoinKind::Outer {
                    rs.iter().for_each(|&j| w.push(NONE, j));
                }
            }
            JoinKind::Right => {
                if ls.is_empty() {
                    rs.iter().for_each(|&j| w.push(NONE, j));
                } else {
                    rs.iter().for_each(|&j| ls.iter().for_each(|&i| w.push(i, j)));
                }
            }
            JoinKind::LeftSemi if !rs.is_empty() => ls.iter().for_each(|&i| w.push(i, NONE)),
            JoinKind::LeftAnti if rs.is_empty() => ls.iter().for_each(|&i| w.push(i, NONE)),
            JoinKind::RightAnti if ls.is_empty() => rs.iter().for_each(|&j| w.push(NONE, j)),
            _ => {}
        }
    };
    emit(n_units, args, count, fill)
}
