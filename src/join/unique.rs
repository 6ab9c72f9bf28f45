//! Row-ordered joins whose other side has unique keys: a dimension table, a lookup, each of
//! db-benchmark's right sides. Every driving row then matches at most one row, so the group machinery
//! (a row→group map for both sides, a group→rows CSR, a count and a fill that read both) reduces to one
//! lookup per driving row: the looked-up row *is* the output's other column (left and right joins), or
//! the input of one compaction (inner, semi and anti joins).
//!
//! Profiled at db-benchmark's q1 (1e7 rows into 10 keys), the general path spent 14% of `join_indices`
//! building the row→group map, 26% counting through it and 40% filling through it. Here the probe writes
//! the other side's row straight into a four- or eight-byte column, and the driving side's column of a left
//! join is the identity.
//!
//! Taken when the other side's keys are unique and held as words: a direct map for dense integer keys
//! (as `dense`), one hash table for a small other side (as `shared`). Anything else, or a duplicate found
//! while building, returns `None` and the join takes the general path.

use hashbrown::HashTable;
use rayon::prelude::*;

use crate::error::{MergeError, Result};
use crate::join::args::{JoinArgs, JoinKind};
use crate::join::build::TableWord;
use crate::join::keys::EncodedKeys;
use crate::join::pairs::{self, JoinIndices, RowIndex};
use crate::join::{dense, shared};

/// Driving rows per parallel task.
const CHUNK: usize = 1 << 15;

/// The pairs of a row-ordered join whose other side has unique keys, or `None` when the join is not one
/// (or its keys are not held as words), for the general path to take.
pub(crate) fn join<I: RowIndex>(
    left: &EncodedKeys,
    right: &EncodedKeys,
    args: &JoinArgs,
) -> Result<Option<JoinIndices<I>>> {
    if args.key_ordered() || args.validate.is_some() {
        return Ok(None);
    }
    let drive_right = matches!(args.kind, JoinKind::Right | JoinKind::RightAnti);
    let (driver, other) = if drive_right { (right, left) } else { (left, right) };
    let hits = match (driver.words(), other.words()) {
        (Some(dw), Some(ow)) => match dense::direct_range(&[(other, ow)], other.len()) {
            Some((min, range)) => match dense_lookup::<I>(other, ow, min, range, args.nulls_equal) {
                Some(map) => probe(driver, args, |i| map.find(driver, dw, i))?,
                None => return Ok(None),
            },
            None => match table_lookup::<I, u64>(other, |i| ow[i], args.nulls_equal) {
                Some(map) => probe(driver, args, |i| map.find(driver.has_null(i), dw[i]))?,
                None => return Ok(None),
            },
        },
        _ if driver.is_inline() && other.is_inline() => {
            match table_lookup::<I, u128>(other, |i| other.inline_word(i), args.nulls_equal) {
                Some(map) => probe(driver, args, |i| {
                    map.find(driver.has_null(i), driver.inline_word(i))
                })?,
                None => return Ok(None),
            }
        }
        _ => return Ok(None),
    };
    emit(hits, args, drive_right).map(Some)
}

/// A dense key's row on the other side: `slots[word - min]`, the null key's row beside it.
struct DenseLookup<I> {
    min: u64,
    slots: Vec<I>,
    null: I,
}

impl<I: RowIndex> DenseLookup<I> {
    #[inline(always)]
    fn find(&self, driver: &EncodedKeys, words: &[u64], i: usize) -> I {
        if driver.has_null(i) {
            return self.null;
        }
        // Below `min` the difference wraps past every slot.
        let at = words[i].wrapping_sub(self.min);
        usize::try_from(at)
            .ok()
            .and_then(|at| self.slots.get(at))
            .copied()
            .unwrap_or(I::MISSING)
    }
}

/// The other side's rows by key in `range` slots from `min` (`dense::direct_range`), or `None` when a key
/// repeats.
fn dense_lookup<I: RowIndex>(
    other: &EncodedKeys,
    words: &[u64],
    min: u64,
    range: usize,
    nulls_equal: bool,
) -> Option<DenseLookup<I>> {
    let mut slots = vec![I::MISSING; range];
    let mut null = I::MISSING;
    for (row, &word) in words.iter().enumerate() {
        let slot = if other.has_null(row) {
            if !nulls_equal {
                continue;
            }
            &mut null
        } else {
            &mut slots[(word - min) as usize]
        };
        if *slot != I::MISSING {
            return None;
        }
        *slot = I::from_row(row);
    }
    Some(DenseLookup { min, slots, null })
}

/// A small other side's rows by key in one hash table. The table holds row numbers only and the keys sit
/// beside it, one per row: at db-benchmark's q4 (1e4 string keys) a table of (inline key, row) entries
/// was 512 KiB, a core's whole L2 cache, and every probe missed it; rows and keys are a third of that.
struct TableLookup<W, I> {
    table: HashTable<I>,
    keys: Vec<W>,
    null: I,
}

impl<W: TableWord, I: RowIndex> TableLookup<W, I> {
    #[inline(always)]
    fn find(&self, is_null: bool, word: W) -> I {
        if is_null {
            return self.null;
        }
        self.table
            .find(word.table_hash(), |&row| self.key(row) == word)
            .map_or(I::MISSING, |&row| row)
    }

    #[inline(always)]
    fn key(&self, row: I) -> W {
        // Only rows this table inserted are in it, and `keys` has one key per row of the other side.
        self.keys[row.row().unwrap_or(usize::MAX)]
    }
}

/// `None` when the other side is too big for one table or a key repeats.
fn table_lookup<I: RowIndex, W: TableWord>(
    other: &EncodedKeys,
    word: impl Fn(usize) -> W,
    nulls_equal: bool,
) -> Option<TableLookup<W, I>> {
    if other.len() > shared::MAX_BUILD_ROWS {
        return None;
    }
    let mut lookup = TableLookup {
        table: HashTable::with_capacity(other.len()),
        keys: (0..other.len()).map(&word).collect(),
        null: I::MISSING,
    };
    for row in 0..other.len() {
        if other.has_null(row) {
            if !nulls_equal {
                continue;
            }
            if lookup.null != I::MISSING {
                return None;
            }
            lookup.null = I::from_row(row);
            continue;
        }
        let w = lookup.keys[row];
        let h = w.table_hash();
        if lookup.table.find(h, |&r| lookup.key(r) == w).is_some() {
            return None;
        }
        let keys = &lookup.keys;
        lookup.table.insert_unique(h, I::from_row(row), |&r| {
            keys[r.row().unwrap_or(usize::MAX)].table_hash()
        });
    }
    Some(lookup)
}

/// Every driving row's match on the other side (`MISSING` for none), looked up in parallel chunks.
fn probe<I: RowIndex>(
    driver: &EncodedKeys,
    args: &JoinArgs,
    find: impl Fn(usize) -> I + Sync,
) -> Result<Vec<I>> {
    let mut hits = pairs::try_indices::<I>(driver.len())?;
    hits.par_chunks_mut(CHUNK)
        .enumerate()
        .try_for_each(|(c, chunk)| {
            args.cancel.check()?;
            let base = c * CHUNK;
            for (k, hit) in chunk.iter_mut().enumerate() {
                *hit = find(base + k);
            }
            Ok::<(), MergeError>(())
        })?;
    Ok(hits)
}

/// The pairs from every driving row's match, swapped back for a join the right side drives.
fn emit<I: RowIndex>(hits: Vec<I>, args: &JoinArgs, drive_right: bool) -> Result<JoinIndices<I>> {
    let n = hits.len();
    let (driving, other) = match args.kind {
        // Every driving row once, in order: its own index, and its match or none.
        JoinKind::Left | JoinKind::Right => {
            pairs::check_total(n, args)?;
            (identity::<I>(n, args)?, hits)
        }
        JoinKind::Inner => {
            let kept = pairs::emit(
                n,
                args,
                |i| usize::from(hits[i] != I::MISSING),
                |i, w| {
                    if hits[i] != I::MISSING {
                        w.push_index(I::from_row(i), hits[i]);
                    }
                },
            )?;
            (kept.left, kept.right)
        }
        // Semi and anti joins keep driving rows only: those with a match, or those without.
        _ => {
            let keep = args.kind == JoinKind::LeftSemi;
            let kept = pairs::emit(
                n,
                args,
                |i| usize::from((hits[i] != I::MISSING) == keep),
                |i, w| {
                    if (hits[i] != I::MISSING) == keep {
                        w.push_index(I::from_row(i), I::MISSING);
                    }
                },
            )?;
            (kept.left, kept.right)
        }
    };
    Ok(if drive_right {
        JoinIndices {
            left: other,
            right: driving,
        }
    } else {
        JoinIndices {
            left: driving,
            right: other,
        }
    })
}

/// Rows `0..n` as indices.
fn identity<I: RowIndex>(n: usize, args: &JoinArgs) -> Result<Vec<I>> {
    let mut rows = pairs::try_indices::<I>(n)?;
    rows.par_chunks_mut(CHUNK)
        .enumerate()
        .try_for_each(|(c, chunk)| {
            args.cancel.check()?;
            for (k, row) in chunk.iter_mut().enumerate() {
                *row = I::from_row(c * CHUNK + k);
            }
            Ok::<(), MergeError>(())
        })?;
    Ok(rows)
}
