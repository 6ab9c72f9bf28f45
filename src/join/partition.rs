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

/// The rows of each partition, ascending. `usable(i) == false` rows go nowhere (SQL-null keys).
pub(crate) fn scatter(
    hashes: &[u64],
    bits: u32,
    usable: impl Fn(usize) -> bool + Sync,
    threads: usize,
) -> Vec<Vec<usize>> {
    let parts = 1usize << bits;
    let n = hashes.len();
    if parts == 1 {
        return vec![(0..n).filter(|&i| usable(i)).collect()];
    }
    let chunk = (n / (threads.max(1) * 4)).max(MIN_ROWS_TO_PARTITION);
    // Each chunk scatters into its own buckets; concatenating them in chunk order keeps rows ascending.
    let per_chunk: Vec<Vec<Vec<usize>>> = hashes
        .par_chunks(chunk)
        .enumerate()
        .map(|(c, hs)| {
            let mut buckets: Vec<Vec<usize>> = (0..parts)
                .map(|_| Vec::with_capacity(hs.len() / parts + 16))
                .collect();
            let base = c * chunk;
            for (k, &h) in hs.iter().enumerate() {
                let i = base + k;
                if usable(i) {
                    buckets[partition_of(h, bits)].push(i);
                }
            }
            buckets
        })
        .collect();
    (0..parts)
        .into_par_iter()
        .map(|p| {
            let len = per_chunk.iter().map(|b| b[p].len()).sum();
            let mut rows = Vec::with_capacity(len);
            for b in &per_chunk {
                rows.extend_from_slice(&b[p]);
            }
            rows
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scatter_keeps_every_usable_row_once_in_ascending_order() {
        let hashes: Vec<u64> = (0..200_000u64).map(crate::join::keys::hash_word).collect();
        let parts = scatter(&hashes, 4, |i| i % 7 != 0, 2);
        assert_eq!(parts.len(), 16);
        let mut all: Vec<usize> = parts.iter().flatten().copied().collect();
        for p in &parts {
            assert!(p.windows(2).all(|w| w[0] < w[1]));
        }
        all.sort_unstable();
        let expected: Vec<usize> = (0..200_000).filter(|i| i % 7 != 0).collect();
        assert_eq!(all, expected);
    }
}
