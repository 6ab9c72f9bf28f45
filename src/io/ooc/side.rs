//! The rows of one side of a (partition) pair, in memory or in a spill file.

use std::ops::Range;

use arrow_array::RecordBatch;

use super::ENGINE_BYTES_PER_ROW;
use crate::error::Result;
use crate::io::spill::SpillFile;

pub(super) enum SideData {
    Memory(Vec<RecordBatch>),
    Spill(SpillFile),
}

impl SideData {
    pub(super) fn rows(&self) -> u64 {
        match self {
            SideData::Memory(b) => b.iter().map(|b| b.num_rows() as u64).sum(),
            SideData::Spill(f) => f.rows,
        }
    }
    pub(super) fn bytes(&self) -> u64 {
        match self {
            SideData::Memory(b) => b.iter().map(|b| b.get_array_memory_size() as u64).sum(),
            SideData::Spill(f) => f.bytes,
        }
    }
    /// Memory needed to join this side in one engine call.
    pub(super) fn cost(&self) -> u64 {
        self.bytes() + self.rows() * ENGINE_BYTES_PER_ROW
    }
    pub(super) fn num_batches(&self) -> usize {
        match self {
            SideData::Memory(b) => b.len(),
            SideData::Spill(f) => f.num_batches(),
        }
    }
    pub(super) fn batch_rows(&self, i: usize) -> usize {
        match self {
            SideData::Memory(b) => b[i].num_rows(),
            SideData::Spill(f) => f.batch_rows()[i],
        }
    }
    pub(super) fn load(&self, range: Range<usize>) -> Result<Vec<RecordBatch>> {
        match self {
            SideData::Memory(b) => Ok(b[range].to_vec()),
            SideData::Spill(f) => f.load(range),
        }
    }
    /// Consecutive batch ranges of about `max_bytes` each (at least one batch), with their first row.
    pub(super) fn blocks(&self, max_bytes: u64) -> Vec<(Range<usize>, u64)> {
        let n = self.num_batches();
        let total_rows = self.rows().max(1);
        let per_row = (self.bytes() / total_rows).max(1);
        let mut out = Vec::new();
        let (mut start, mut acc, mut row0, mut row) = (0usize, 0u64, 0u64, 0u64);
        for i in 0..n {
            let r = self.batch_rows(i) as u64;
            if i > start && acc + r * (per_row + ENGINE_BYTES_PER_ROW) > max_bytes {
                out.push((start..i, row0));
                start = i;
                acc = 0;
                row0 = row;
            }
            acc += r * (per_row + ENGINE_BYTES_PER_ROW);
            row += r;
        }
        if start < n {
            out.push((start..n, row0));
        }
        out
    }
}
