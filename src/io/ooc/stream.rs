//! Streaming: one side is held in memory whole and the other is read block by block and joined against it,
//! so nothing is spilled. Used when the smaller input fits the budget but the two together do not.
//!
//! Each streamed block meets every held row, so its own rows are decided (matched or not) as soon as its
//! pairs are out; the held side's unmatched rows (a right or outer join holding the right side) are
//! emitted once, after the last block, from a bitmap of the held rows that found a partner.

use std::sync::atomic::Ordering;

use arrow_array::RecordBatch;
use rayon::prelude::*;

use super::args::SideId;
use super::block::BitSet;
use super::driver::Driver;
use super::keys::normalise;
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
        let (keys, schema) = self.side_info(streamed_side);
        let (keys, schema) = (keys.to_vec(), std::sync::Arc::clone(schema));
        let types = self.key_types();
        let kind = self.args.kind;
        let held_rows: usize = held.iter().map(RecordBatch::num_rows).sum();
        let mut held_matched = BitSet::new(held_rows);
        while let Some(batches) = src.next_block(block, &self.args.cancel)? {
            let batches: Vec<RecordBatch> = batches
                .par_iter()
                .map(|b| normalise(b, &keys, &types, &schema))
                .collect::<Result<_>>()?;
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            self.count_rows(streamed_side, rows as u64);
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
            self.args
                .progress
                .done_bytes
                .store(base + src.position(), Ordering::Relaxed);
        }
        self.emit_decided(held_side, held, 0, &held_matched)
    }
}
