//! Build and probe: factorize both sides' keys into one space of dense group ids.
//!
//! The smaller side is the build side: its rows are hash-partitioned and each partition gets its own hash
//! table (built in parallel). The other side is partitioned the same way and probed partition by partition;
//! when the output must be key-ordered, or `validate=` must see every key, its unmatched keys are inserted
//! too. The result is, per side, each row's group id and the rows of each group (CSR), from which the
//! emitter writes index pairs.

use hashbrown::HashTable;
use rayon::prelude::*;

use crate::error::Result;
use crate::join::args::Cancel;
use crate::join::keys::{hash_word, EncodedKeys};
use crate::join::partition::{partition_bits, scatter, Partitioned};

/// "No group": a row whose key matched nothing (and was not inserted), or a SQL-null key.
pub(crate) const NONE: usize = usize::MAX;

/// One side's rows by group.
pub(crate) struct SideGroups {
    /// Each row's group, or `NONE`.
    pub row_gid: Vec<usize>,
    /// CSR: the rows of group `g` are `rows[offsets[g]..offsets[g + 1]]`, ascending. Empty when the join
    /// never reads this side by group (the driving side of a row-ordered join).
    pub offsets: Vec<usize>,
    pub rows: Vec<usize>,
}

impl SideGroups {
    /// From a row→group map, with the group→rows CSR when `with_csr`.
    pub(crate) fn from_row_gid(row_gid: Vec<usize>, n_groups: usize, with_csr: bool) -> Self {
        let (offsets, rows) = if with_csr {
            csr(&row_gid, n_groups)
        } else {
            (Vec::new(), Vec::new())
        };
        SideGroups {
            row_gid,
            offsets,
            rows,
        }
    }

    #[inline(always)]
    pub(crate) fn rows_of(&self, g: usize) -> &[usize] {
        &self.rows[self.offsets[g]..self.offsets[g + 1]]
    }
    #[inline(always)]
    pub(crate) fn count(&self, g: usize) -> usize {
        self.offsets[g + 1] - self.offsets[g]
    }
}

/// Where a group's key can be read (for sorting groups by key).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Rep {
    Left(usize),
    Right(usize),
}

pub(crate) struct Groups {
    pub n_groups: usize,
    pub left: SideGroups,
    pub right: SideGroups,
    /// A row holding each group's key (empty when `ordered`).
    pub reps: Vec<Rep>,
    /// Group ids already follow key order (the dense path), so sorting is free.
    pub ordered: bool,
}

/// A partition's groups: the representative of each local group id (is it on the probe side, row). The
/// rows' local group ids are written beside the partitioned rows and offset later by the partition's base.
type PartReps = Vec<(bool, usize)>;

pub(crate) struct FactorizeOptions<'a> {
    pub nulls_equal: bool,
    /// Which sides need their group→rows CSR: a row-ordered join reads only the non-driving side's.
    pub csr_left: bool,
    pub csr_right: bool,
    /// Give unmatched probe-side keys groups of their own.
    pub insert_probe: bool,
    pub threads: usize,
    pub cancel: &'a Cancel,
}

pub(crate) fn factorize(left: &EncodedKeys, right: &EncodedKeys, opts: &FactorizeOptions) -> Result<Groups> {
    let left_builds = left.len() <= right.len();
    let (build, probe) = if left_builds { (left, right) } else { (right, left) };
    let sides = Side {
        build,
        probe,
        insert_probe: opts.insert_probe,
    };
    // Keys the table can hold travel with their partitioned rows (see `scatter`); others are compared
    // through their representative rows.
    let grouped = if let (Some(bw), Some(pw)) = (build.words(), probe.words()) {
        partition_and_group(&sides, opts, |i| bw[i], |i| pw[i], group_partition_words)
    } else if build.is_inline() && probe.is_inline() {
        let (bi, pi) = (|i| build.inline_word(i), |i| probe.inline_word(i));
        partition_and_group(&sides, opts, bi, pi, group_partition_words)
    } else {
        partition_and_group(&sides, opts, |_| (), |_| (), group_partition)
    };
    let Grouped {
        build_parts,
        probe_parts,
        build_gid,
        probe_gid,
        parts,
    } = grouped;
    opts.cancel.check()?;

    let mut bases = Vec::with_capacity(parts.len() + 1);
    bases.push(0usize);
    for p in &parts {
        bases.push(bases[bases.len() - 1] + p.len());
    }
    let n_groups = bases[parts.len()];

    let rep_of = |(on_probe, row): (bool, usize)| {
        if on_probe == left_builds {
            Rep::Right(row)
        } else {
            Rep::Left(row)
        }
    };
    let reps: Vec<Rep> = parts.iter().flat_map(|p| p.iter().map(|&r| rep_of(r))).collect();

    let (build_csr, probe_csr) = if left_builds {
        (opts.csr_left, opts.csr_right)
    } else {
        (opts.csr_right, opts.csr_left)
    };
    let build_side = side_groups(build.len(), n_groups, &bases, build_csr, &build_parts, &build_gid);
    let probe_side = side_groups(probe.len(), n_groups, &bases, probe_csr, &probe_parts, &probe_gid);
    let (left, right) = if left_builds {
        (build_side, probe_side)
    } else {
        (probe_side, build_side)
    };
    Ok(Groups {
        n_groups,
        left,
        right,
        reps,
        ordered: false,
    })
}

/// Both sides partitioned, and every partitioned row's local group id.
struct Grouped {
    build_parts: Partitioned,
    probe_parts: Partitioned,
    build_gid: Vec<usize>,
    probe_gid: Vec<usize>,
    parts: Vec<PartReps>,
}

/// Partition both sides by hash (each row carrying `build_word(row)` / `probe_word(row)`), then group each
/// partition's rows with `group` in parallel.
fn partition_and_group<W: Copy + Send + Sync, K: Send>(
    sides: &Side,
    opts: &FactorizeOptions,
    build_word: impl Fn(usize) -> W + Sync + Send,
    probe_word: impl Fn(usize) -> W + Sync + Send,
    group: impl Fn(&Side, &mut HashTable<(K, usize)>, PartRows<W>, PartRows<W>) -> PartReps + Sync,
) -> Grouped {
    let (build, probe) = (sides.build, sides.probe);
    let bits = partition_bits(build.len().max(probe.len()), opts.threads);
    let nulls_equal = opts.nulls_equal;
    let ((build_parts, build_words), (probe_parts, probe_words)) = rayon::join(
        || {
            let usable = |i| nulls_equal || !build.has_null(i);
            scatter(build.hashes(), bits, usable, opts.threads, build_word)
        },
        || {
            let usable = |i| nulls_equal || !probe.has_null(i);
            scatter(probe.hashes(), bits, usable, opts.threads, probe_word)
        },
    );
    // Each row's local group id, beside its partitioned row number; every slot is written by `group`.
    let mut build_gid = vec![NONE; build_parts.rows.len()];
    let mut probe_gid = vec![NONE; probe_parts.rows.len()];
    let parts: Vec<PartReps> = build_parts
        .split_mut(&mut build_gid)
        .into_par_iter()
        .zip(probe_parts.split_mut(&mut probe_gid))
        .enumerate()
        // One table per worker, emptied for each partition: a fresh table per partition is a fresh block
        // from the system allocator every time, and its pages fault in again.
        .map_init(HashTable::new, |table, (k, (bg, pg))| {
            table.clear();
            let (bb, pb) = (&build_parts.bounds, &probe_parts.bounds);
            group(
                sides,
                table,
                (build_parts.part(k), &build_words[bb[k]..bb[k + 1]], bg),
                (probe_parts.part(k), &probe_words[pb[k]..pb[k + 1]], pg),
            )
        })
        .collect();
    Grouped {
        build_parts,
        probe_parts,
        build_gid,
        probe_gid,
        parts,
    }
}

/// Both sides' keys, and whether unmatched probe keys get groups of their own.
struct Side<'a> {
    build: &'a EncodedKeys,
    probe: &'a EncodedKeys,
    insert_probe: bool,
}

/// One side's rows of a partition, the key words that travel with them, and where their local group ids go.
type PartRows<'a, W> = (&'a [usize], &'a [W], &'a mut [usize]);

fn group_partition(
    sides: &Side,
    table: &mut HashTable<(u64, usize)>,
    (build_rows, _, build_gid): PartRows<()>,
    (probe_rows, _, probe_gid): PartRows<()>,
) -> PartReps {
    let Side {
        build,
        probe,
        insert_probe,
    } = *sides;
    table.reserve(build_rows.len(), |&(h, _)| h);
    let mut reps: Vec<(bool, usize)> = Vec::with_capacity(build_rows.len());
    let side = |on_probe: bool| if on_probe { probe } else { build };
    // The row's group; a new one when the key is unseen and `insert`, else NONE.
    let mut group_of = |on_probe: bool, row: usize, insert: bool| -> usize {
        let keys = side(on_probe);
        let h = keys.hashes()[row];
        let same = |&(hh, g): &(u64, usize)| {
            let (rep_on_probe, rep) = reps[g];
            hh == h && side(rep_on_probe).key_eq(rep, keys, row)
        };
        match table.find(h, same) {
            Some(&(_, g)) => g,
            None if insert => {
                let g = reps.len();
                reps.push((on_probe, row));
                table.insert_unique(h, (h, g), |&(hh, _)| hh);
                g
            }
            None => NONE,
        }
    };
    for (&row, g) in build_rows.iter().zip(build_gid.iter_mut()) {
        *g = group_of(false, row, true);
    }
    for (&row, g) in probe_rows.iter().zip(probe_gid.iter_mut()) {
        *g = group_of(true, row, insert_probe);
    }
    reps
}

/// A key that a hash table can hold in place of a row number: a `Word` key or an inline string.
pub(crate) trait TableWord: Copy + Eq {
    /// The hash inside one partition's table (partitioning used the key's own hash).
    fn table_hash(self) -> u64;
}

impl TableWord for u64 {
    #[inline(always)]
    fn table_hash(self) -> u64 {
        hash_word(self)
    }
}

impl TableWord for u128 {
    #[inline(always)]
    fn table_hash(self) -> u64 {
        #[allow(clippy::cast_possible_truncation)] // the low half, on purpose
        let low = self as u64;
        hash_word(low ^ hash_word((self >> 64) as u64))
    }
}

/// `group_partition` for keys held as words (`Word` keys, inline strings): the table holds the key itself,
/// so a probe compares in place instead of chasing the group's representative row through the whole
/// column (a cache miss per probe). Null keys (which reach here only with `nulls_equal`) share one group
/// kept beside the table.
fn group_partition_words<W: TableWord>(
    sides: &Side,
    table: &mut HashTable<(W, usize)>,
    (build_rows, build_words, build_gid): PartRows<W>,
    (probe_rows, probe_words, probe_gid): PartRows<W>,
) -> PartReps {
    let Side {
        build,
        probe,
        insert_probe,
    } = *sides;
    table.reserve(build_rows.len(), |&(w, _)| w.table_hash());
    let mut reps: Vec<(bool, usize)> = Vec::with_capacity(build_rows.len());
    let mut null_gid = NONE;
    let mut group_of = |word: W, is_null: bool, rep: (bool, usize), insert: bool| -> usize {
        if is_null {
            if null_gid == NONE && insert {
                null_gid = reps.len();
                reps.push(rep);
            }
            return null_gid;
        }
        let h = word.table_hash();
        match table.find(h, |&(w, _)| w == word) {
            Some(&(_, g)) => g,
            None if insert => {
                let g = reps.len();
                reps.push(rep);
                table.insert_unique(h, (word, g), |&(w, _)| w.table_hash());
                g
            }
            None => NONE,
        }
    };
    for ((&row, &word), g) in build_rows.iter().zip(build_words).zip(build_gid.iter_mut()) {
        *g = group_of(word, build.has_null(row), (false, row), true);
    }
    for ((&row, &word), g) in probe_rows.iter().zip(probe_words).zip(probe_gid.iter_mut()) {
        *g = group_of(word, probe.has_null(row), (true, row), insert_probe);
    }
    reps
}

/// Assemble one side's row→group map and group→rows CSR from the partitions, in parallel. `gids` holds
/// each partitioned row's local group id (`NONE` or below its partition's group count).
fn side_groups(
    n_rows: usize,
    n_groups: usize,
    bases: &[usize],
    with_csr: bool,
    parts: &Partitioned,
    gids: &[usize],
) -> SideGroups {
    let n_parts = parts.parts();
    let part = |k: usize| (parts.part(k), &gids[parts.bounds[k]..parts.bounds[k + 1]]);
    let mut row_gid = vec![NONE; n_rows];
    if !with_csr {
        let writer = RowGidWriter(row_gid.as_mut_ptr(), n_rows);
        (0..n_parts).into_par_iter().for_each(|k| {
            let (part_rows, part_gids) = part(k);
            for (&row, &g) in part_rows.iter().zip(part_gids).filter(|(_, &g)| g != NONE) {
                // SAFETY: as below: rows are disjoint across partitions and in bounds.
                unsafe { writer.write(row, bases[k] + g) };
            }
        });
        return SideGroups {
            row_gid,
            offsets: Vec::new(),
            rows: Vec::new(),
        };
    }
    let mut offsets = vec![0usize; n_groups + 1];
    // Grouped rows per partition; partition k owns rows[starts[k]..starts[k + 1]] and offsets[bases[k]..bases[k + 1]].
    let grouped: Vec<usize> = (0..n_parts)
        .into_par_iter()
        .map(|k| part(k).1.iter().filter(|&&g| g != NONE).count())
        .collect();
    let total: usize = grouped.iter().sum();
    let mut rows = vec![0usize; total];

    let mut offset_slices = Vec::with_capacity(n_parts);
    let mut row_slices = Vec::with_capacity(n_parts);
    let (mut off_rest, mut rows_rest) = (&mut offsets[..n_groups], &mut rows[..]);
    let mut start = 0usize;
    for k in 0..n_parts {
        let (o, r) = std::mem::take(&mut off_rest).split_at_mut(bases[k + 1] - bases[k]);
        off_rest = r;
        let (a, b) = std::mem::take(&mut rows_rest).split_at_mut(grouped[k]);
        rows_rest = b;
        offset_slices.push((o, start));
        row_slices.push(a);
        start += grouped[k];
    }
    let writer = RowGidWriter(row_gid.as_mut_ptr(), n_rows);
    offset_slices
        .into_par_iter()
        .zip(row_slices)
        .enumerate()
        .for_each(|(k, ((offs, start), out_rows))| {
            let (part_rows, part_gids) = part(k);
            let base = bases[k];
            // Counting sort by local group; rows stay ascending within each group.
            let mut counts = vec![0usize; offs.len()];
            for &g in part_gids.iter().filter(|&&g| g != NONE) {
                counts[g] += 1;
            }
            let mut next = start;
            for (o, c) in offs.iter_mut().zip(counts.iter_mut()) {
                *o = next;
                next += *c;
                *c = *o - start;
            }
            for (&row, &g) in part_rows.iter().zip(part_gids.iter()) {
                if g != NONE {
                    out_rows[counts[g]] = row;
                    counts[g] += 1;
                    // SAFETY: every row is in exactly one partition, so no two tasks write the same slot,
                    // and `row < n_rows` because partitions hold row numbers of this side.
                    unsafe { writer.write(row, base + g) };
                }
            }
        });
    offsets[n_groups] = total;
    SideGroups {
        row_gid,
        offsets,
        rows,
    }
}

/// Disjoint parallel writes into the row→group map (each row belongs to exactly one partition).
struct RowGidWriter(*mut usize, usize);
// SAFETY: only used for writes to distinct indices from different threads (see `side_groups`).
unsafe impl Sync for RowGidWriter {}
impl RowGidWriter {
    /// # Safety
    /// `i < len`, and no other thread writes index `i`.
    unsafe fn write(&self, i: usize, v: usize) {
        debug_assert!(i < self.1);
        // SAFETY: the caller guarantees bounds and exclusivity.
        unsafe { *self.0.add(i) = v };
    }
}

/// Group→rows CSR from a row→group map, by counting sort (rows stay ascending within a group).
pub(crate) fn csr(row_gid: &[usize], n_groups: usize) -> (Vec<usize>, Vec<usize>) {
    let mut offsets = vec![0usize; n_groups + 1];
    for &g in row_gid.iter().filter(|&&g| g != NONE) {
        offsets[g + 1] += 1;
    }
    for g in 0..n_groups {
        offsets[g + 1] += offsets[g];
    }
    let mut next = offsets.clone();
    let mut rows = vec![0usize; offsets[n_groups]];
    for (row, &g) in row_gid.iter().enumerate() {
        if g != NONE {
            rows[next[g]] = row;
            next[g] += 1;
        }
    }
    (offsets, rows)
}
