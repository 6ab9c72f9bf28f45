//! Small build sides: one hash table, probed in place by every thread.
//!
//! Partitioning pays when the build side's table would not fit in cache: each partition's table then
//! does. A build side of a few thousand keys (db-benchmark's `medium`, a dimension table) fits whole, and
//! scattering ten million probe rows into hundreds of partitions only to find them in cached tables costs
//! more than the probes. Here the table is built once, then the probe side is read in row order in
//! parallel chunks, each row hashed and looked up as it is read (no hash vector, no scatter).
//!
//! Only for joins that never insert probe keys (row-ordered joins without `validate=`), and for keys the
//! table can hold itself (`Word` keys and inline strings).

use hashbrown::HashTable;
use rayon::prelude::*;

use crate::join::build::{FactorizeOptions, Groups, Rep, SideGroups, TableWord, NONE};
use crate::join::keys::EncodedKeys;

/// Largest build side that gets one shared table (about 2 MiB of table entries).
pub(crate) const MAX_BUILD_ROWS: usize = 1 << 16;
/// Probe rows per parallel task.
const CHUNK: usize = 1 << 15;

/// The groups of a join whose build side is small enough for one shared table, or `None` when the
/// join needs the partitioned path (probe keys inserted, build side too big, keys not held as words).
pub(crate) fn factorize(left: &EncodedKeys, right: &EncodedKeys, opts: &FactorizeOptions) -> Option<Groups> {
    let left_builds = left.len() <= right.len();
    let (build, probe) = if left_builds { (left, right) } else { (right, left) };
    if opts.insert_probe || build.len() > MAX_BUILD_ROWS {
        return None;
    }
    let groups = if let (Some(bw), Some(pw)) = (build.words(), probe.words()) {
        shared_table(build, probe, opts, left_builds, |i| bw[i], |i| pw[i])
    } else if build.is_inline() && probe.is_inline() {
        shared_table(
            build,
            probe,
            opts,
            left_builds,
            |i| build.inline_word(i),
            |i| probe.inline_word(i),
        )
    } else {
        return None;
    };
    Some(groups)
}

fn shared_table<W: TableWord + Send + Sync>(
    build: &EncodedKeys,
    probe: &EncodedKeys,
    opts: &FactorizeOptions,
    left_builds: bool,
    build_word: impl Fn(usize) -> W,
    probe_word: impl Fn(usize) -> W + Sync,
) -> Groups {
    let build_rep = |row: usize| {
        if left_builds {
            Rep::Left(row)
        } else {
            Rep::Right(row)
        }
    };
    let mut table: HashTable<(W, usize)> = HashTable::with_capacity(build.len());
    let mut reps: Vec<Rep> = Vec::with_capacity(build.len());
    let mut null_gid = NONE;
    let mut build_gid = vec![NONE; build.len()];
    for (row, gid) in build_gid.iter_mut().enumerate() {
        if build.has_null(row) {
            if opts.nulls_equal {
                if null_gid == NONE {
                    null_gid = reps.len();
                    reps.push(build_rep(row));
                }
                *gid = null_gid;
            }
            continue;
        }
        let word = build_word(row);
        let h = word.table_hash();
        *gid = if let Some(&(_, g)) = table.find(h, |&(w, _)| w == word) {
            g
        } else {
            let g = reps.len();
            reps.push(build_rep(row));
            table.insert_unique(h, (word, g), |&(w, _)| w.table_hash());
            g
        };
    }

    let probe_null = if opts.nulls_equal { null_gid } else { NONE };
    let mut probe_gid = vec![NONE; probe.len()];
    probe_gid
        .par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(c, chunk)| {
            for (k, gid) in chunk.iter_mut().enumerate() {
                let row = c * CHUNK + k;
                *gid = if probe.has_null(row) {
                    probe_null
                } else {
                    let word = probe_word(row);
                    table
                        .find(word.table_hash(), |&(w, _)| w == word)
                        .map_or(NONE, |&(_, g)| g)
                };
            }
        });

    let n_groups = reps.len();
    let (build_csr, probe_csr) = if left_builds {
        (opts.csr_left, opts.csr_right)
    } else {
        (opts.csr_right, opts.csr_left)
    };
    let side = |row_gid, with_csr| SideGroups::from_row_gid(row_gid, n_groups, with_csr);
    let (build_side, probe_side) = (side(build_gid, build_csr), side(probe_gid, probe_csr));
    let (left, right) = if left_builds {
        (build_side, probe_side)
    } else {
        (probe_side, build_side)
    };
    Groups {
        n_groups,
        left,
        right,
        reps,
        ordered: false,
    }
}
