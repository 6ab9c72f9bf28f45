//! Radix partitioning by hash. Each partition's hash table is built and probed by one thread, and a
//! partition is small enough to stay in cache while it is.

use rayon::prelude::*;

/// Smallest input that is worth partitioning; below it one table is faster than the scatter.
const MIN_ROWS_TO_PARTITION: usize = 1 << 16;

/// Which partition a hash belongs to. Bits 32.. are used: hashbrown takes its bucket index from the low
/// bits and its 7-bit tag from the top bits, so partitioning on either would make them constant within a
/// partition and slow every probe.
#[inline(always)]
pub(crate) fn partition_of(hash: u64, bits: u32) -> usize {
    ((hash >> 32) & ((1u64 << bits) - 1)) as usize
}

/// Rows per partition to aim for: a partition's table (16 bytes an entry) then fits in a core's L2 cache.
const ROWS_PER_PARTITION: usize = 1 << 15;

/// log2 of the partition count: cache-sized partitions, at least a few per thread, none for small inputs.
pub(crate) fn partition_bits(rows: usize, threads: usize) -> u32 {
    if rows < MIN_ROWS_TO_PARTITION {
        return 0;
    }
    let want = (threads.max(1) * 8)
        .max(rows / ROWS_PER_PARTITION)
        .next_power_of_two();
    want.trailing_zeros().min(10)
}

/// Every usable row, grouped by partition: partition `p`'s rows are `rows[bounds[p]..bounds[p + 1]]`,
/// ascending. One allocation for all of them: a vector per partition (hundreds of 100 KiB blocks) would
/// be mapped and unmapped by the system allocator on every join, and each page faulted in afresh.
pub(crate) struct Partitioned {
    pub rows: Vec<usize>,
    pub bounds: Vec<usize>,
}

impl Partitioned {
    pub(crate) fn parts(&self) -> usize {
        self.bounds.len() - 1
    }

    pub(crate) fn part(&self, p: usize) -> &[usize] {
        &self.rows[self.bounds[p]..self.bounds[p + 1]]
    }

    /// `values` (one per row of `rows`) cut at the partition bounds.
    pub(crate) fn split_mut<'a, T>(&self, mut values: &'a mut [T]) -> Vec<&'a mut [T]> {
        let mut out = Vec::with_capacity(self.parts());
        for w in self.bounds.windows(2) {
            let (head, tail) = std::mem::take(&mut values).split_at_mut(w[1] - w[0]);
            out.push(head);
            values = tail;
        }
        out
    }
}

/// Partition the rows by hash. `usable(i) == false` rows go nowhere (SQL-null keys). Beside each
/// partitioned row goes `payload(row)` (its key word, say), so that a partition's join reads its keys in
/// sequence rather than one cache miss at a time through the whole column; `|_| ()` carries nothing.
///
/// Two passes over parallel chunks: count each chunk's rows per partition, then write every row straight
/// to its final slot (chunk `c`'s rows of partition `p` follow those of chunks before `c`, so rows stay
/// ascending within a partition).
pub(crate) fn scatter<W: Copy + Send + Sync>(
    hashes: &[u64],
    bits: u32,
    usable: impl Fn(usize) -> bool + Sync,
    threads: usize,
    payload: impl Fn(usize) -> W + Sync,
) -> (Partitioned, Vec<W>) {
    let parts = 1usize << bits;
    let n = hashes.len();
    if parts == 1 {
        let rows: Vec<usize> = (0..n).filter(|&i| usable(i)).collect();
        let values = rows.iter().map(|&i| payload(i)).collect();
        let bounds = vec![0, rows.len()];
        return (Partitioned { rows, bounds }, values);
    }
    let chunk = (n / (threads.max(1) * 4)).max(MIN_ROWS_TO_PARTITION);
    let counts: Vec<Vec<usize>> = hashes
        .par_chunks(chunk)
        .enumerate()
        .map(|(c, hs)| {
            let mut count = vec![0usize; parts];
            for (k, &h) in hs.iter().enumerate() {
                if usable(c * chunk + k) {
                    count[partition_of(h, bits)] += 1;
                }
            }
            count
        })
        .collect();
    // starts[c][p]: where chunk c writes its first row of partition p.
    let mut bounds = Vec::with_capacity(parts + 1);
    let mut starts = vec![vec![0usize; parts]; counts.len()];
    let mut next = 0usize;
    for p in 0..parts {
        bounds.push(next);
        for (c, count) in counts.iter().enumerate() {
            starts[c][p] = next;
            next += count[p];
        }
    }
    bounds.push(next);
    let mut rows: Vec<usize> = Vec::with_capacity(next);
    let mut values: Vec<W> = Vec::with_capacity(next);
    let out = SlotWriter(rows.as_mut_ptr(), next);
    let out_values = SlotWriter(values.as_mut_ptr(), next);
    hashes
        .par_chunks(chunk)
        .zip(starts)
        .enumerate()
        .for_each(|(c, (hs, mut at))| {
            for (k, &h) in hs.iter().enumerate() {
                let i = c * chunk + k;
                if usable(i) {
                    let p = partition_of(h, bits);
                    // SAFETY: chunk c owns slots starts[c][p]..starts[c][p] + counts[c][p] of each
                    // partition, disjoint from every other chunk's, and the counting pass saw exactly
                    // these rows, so every slot below `next` is written once and none beyond it.
                    unsafe {
                        out.write(at[p], i);
                        out_values.write(at[p], payload(i));
                    }
                    at[p] += 1;
                }
            }
        });
    // SAFETY: the loop above initialised all `next` slots of both (see the write).
    unsafe {
        rows.set_len(next);
        values.set_len(next);
    }
    (Partitioned { rows, bounds }, values)
}

/// Disjoint parallel writes into a partitioned (uninitialised) buffer.
struct SlotWriter<T>(*mut T, usize);
// SAFETY: only used for writes of `Send` values to distinct slots from different threads (see `scatter`).
unsafe impl<T: Send> Sync for SlotWriter<T> {}
impl<T> SlotWriter<T> {
    /// # Safety
    /// `i < len`, and no other thread writes slot `i`.
    unsafe fn write(&self, i: usize, v: T) {
        assert!(i < self.1, "partition slot out of bounds");
        // SAFETY: the caller guarantees exclusivity; the bound is checked above.
        unsafe { self.0.add(i).write(v) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scatter_keeps_every_usable_row_once_in_ascending_order() {
        let hashes: Vec<u64> = (0..200_000u64).map(crate::join::keys::hash_word).collect();
        let (parts, payload) = scatter(&hashes, 4, |i| i % 7 != 0, 2, |i| i * 3);
        assert_eq!(payload, parts.rows.iter().map(|&i| i * 3).collect::<Vec<_>>());
        assert_eq!(parts.parts(), 16);
        let mut all = parts.rows.clone();
        for p in 0..parts.parts() {
            let rows = parts.part(p);
            assert!(rows.windows(2).all(|w| w[0] < w[1]));
            assert!(rows.iter().all(|&i| partition_of(hashes[i], 4) == p));
        }
        all.sort_unstable();
        let expected: Vec<usize> = (0..200_000).filter(|i| i % 7 != 0).collect();
        assert_eq!(all, expected);
    }
}
