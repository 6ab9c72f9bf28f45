//! Streaming: one side is held in memory whole and the other is read block by block and joined against it,
//! so nothing is spilled. Used when the smaller input fits the budget but the two together do not.
//!
//! Each streamed block meets every held row, so its own rows are decided (matched or not) as soon as its
//! pairs are out; the held side's unmatched rows (a right or outer join holding the right side) are
//! emitted once, after the last block, from a bitmap of the held rows that found a partner.

use arrow_array::RecordBatch;

use super::args::SideId;
use super::block::BitSet;
use super::driver::Driver;
use super::source::Source;
use crate::error::Result;

impl Driver<'_> {
    /// Join `held` (all rows of `held_side`, already normalised) with every block of `src` (the other side),
    /// `block` input bytes at a time; `base` is the progress position where `src` starts.
    pub(super) fn stream_join(
        &mut self,
        held: &[RecordBatch],
        held_side: SideId,
        src: &mut Source,
        block: usize,
        base: u64,
    ) -> Result<()> {
        let streamed_side = match held_side {
            SideId::Left => SideId::Right,
            SideId::Right => SideId::Left,
        };
        let kind = self.args.kind;
        let held_rows: usize = held.iter().map(RecordBatch::num_rows).sum();
        let mut held_matched = BitSet::new(held_rows);
        while let Some(batches) = self.next_normalised(src, streamed_side, block, base)? {
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            let mut matched = BitSet::new(rows);
            match held_side {
                SideId::Right => {
                    self.block_pair(&batches, held, 0, 0, &mut matched, &mut held_matched, kind)?;
                }
                SideId::Left => {
                    self.block_pair(held, &batches, 0, 0, &mut held_matched, &mut matched, kind)?;
                }
            }
            self.emit_decided(streamed_side, &batches, 0, &matched)?;
        }
        self.emit_decided(held_side, held, 0, &held_matched)
    }
}
