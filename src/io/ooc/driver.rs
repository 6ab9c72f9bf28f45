//! Partitioning to spill files, and the recursion over partition pairs.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, SchemaRef};
use rayon::prelude::*;

use super::args::{JoinFilesArgs, SideId, Summary};
use super::keys::{normalise, split_batch};
use super::resolve::Resolved;
use super::side::SideData;
use super::source::Source;
use super::{MAX_DEPTH, MAX_PARTITIONS, SPILL_SEED};
use crate::error::{MergeError, Result};
use crate::io::spill::{SpillCompression, SpillDir, SpillFile, SpillWriter};
use crate::io::write::OutputFile;

pub(super) struct Driver<'a> {
    pub(super) args: &'a JoinFilesArgs,
    pub(super) r: Resolved,
    pub(super) out: OutputFile,
    pub(super) budget: u64,
    pub(super) out_cap: u64,
    pub(super) spill: Option<SpillDir>,
    pub(super) summary: Summary,
    /// Spill compression, `Auto` already resolved from the free space.
    pub(super) compression: SpillCompression,
}

impl Driver<'_> {
    pub(super) fn side_info(&self, side: SideId) -> (&[usize], &SchemaRef) {
        match side {
            SideId::Left => (&self.r.lkeys, &self.r.lschema),
            SideId::Right => (&self.r.rkeys, &self.r.rschema),
        }
    }

    pub(super) fn key_types(&self) -> Vec<DataType> {
        self.r
            .lkeys
            .iter()
            .map(|&k| self.r.lschema.field(k).data_type().clone())
            .collect()
    }

    pub(super) fn count_rows(&mut self, side: SideId, n: u64) {
        match side {
            SideId::Left => self.summary.rows_left += n,
            SideId::Right => self.summary.rows_right += n,
        }
    }

    /// The next block of `src` (about `block` input bytes) with its keys normalised, batch by batch in
    /// parallel; its rows are counted for `side` and the progress set to `base` plus what `src` has read.
    /// `None` at the end of `src`. Every reader of an input goes through it.
    pub(super) fn next_normalised(
        &mut self,
        src: &mut Source,
        side: SideId,
        block: usize,
        base: u64,
    ) -> Result<Option<Vec<RecordBatch>>> {
        let Some(batches) = src.next_block(block, &self.args.cancel)? else {
            return Ok(None);
        };
        let (keys, schema) = self.side_info(side);
        let types = self.key_types();
        let batches: Vec<RecordBatch> = batches
            .par_iter()
            .map(|b| normalise(b, keys, &types, schema))
            .collect::<Result<_>>()?;
        self.count_rows(side, batches.iter().map(|b| b.num_rows() as u64).sum());
        self.args
            .progress
            .done_bytes
            .store(base + src.position(), Ordering::Relaxed);
        Ok(Some(batches))
    }

    pub(super) fn read_all(
        &mut self,
        src: &mut Source,
        side: SideId,
        block: usize,
        base: u64,
    ) -> Result<Vec<RecordBatch>> {
        let mut all = Vec::new();
        while let Some(batches) = self.next_normalised(src, side, block, base)? {
            all.extend(batches);
        }
        Ok(all)
    }

    /// Partition both inputs to spill files and join each partition pair. `held` is a side already read
    /// whole by `read_all` (it did not fit after all); its rows are partitioned first and its source is
    /// exhausted.
    pub(super) fn partition_join(
        &mut self,
        ls: &mut Source,
        rs: &mut Source,
        held: Option<(SideId, Vec<RecordBatch>)>,
        block: usize,
    ) -> Result<()> {
        let p = Arc::clone(&self.args.progress);
        p.phase.store(2, Ordering::Relaxed);
        let spill = SpillDir::new(
            self.args.temp_dir.as_deref().map(std::path::Path::new),
            self.compression,
        )?;
        let (mut lfirst, rfirst) = match held {
            Some((SideId::Left, b)) => (Some(b), None),
            Some((SideId::Right, b)) => (None, Some(b)),
            None => (None, None),
        };
        if lfirst.is_none() {
            lfirst = self.next_normalised(ls, SideId::Left, block, 0)?;
        }
        // Size the partitions from a sample: the first block of the left input tells how many Arrow bytes
        // and rows an input byte becomes, so each partition pair's engine footprint is about a quarter of
        // the budget and joins without another level.
        let consumed = ls.position().max(1);
        let factor = lfirst.as_ref().map_or(2.0, |b| {
            (super::batches_cost(b) as f64 / consumed as f64).max(1.0)
        });
        let est_cost = ((ls.size() + rs.size()) as f64 * factor) as u64;
        let parts = est_cost
            .div_ceil((self.budget / 4).max(1))
            .clamp(2, MAX_PARTITIONS)
            .next_power_of_two();
        let bits = parts.trailing_zeros();
        let lparts = self.partition_source(ls, lfirst, SideId::Left, &spill, bits, block, 0)?;
        let rparts = self.partition_source(rs, rfirst, SideId::Right, &spill, bits, block, ls.position())?;
        self.summary.spilled = true;
        self.summary.partitions = parts;
        let spilled = spill.raw_bytes_written();
        self.spill = Some(spill);
        p.phase.store(3, Ordering::Relaxed);
        p.done_bytes.store(0, Ordering::Relaxed);
        p.total_bytes.store(spilled.max(1), Ordering::Relaxed);
        for (l, r) in lparts.into_iter().zip(rparts) {
            self.args.cancel.check()?;
            let bytes = l.bytes + r.bytes;
            self.join_pair(SideData::Spill(l), SideData::Spill(r), 1)?;
            p.done_bytes.fetch_add(bytes, Ordering::Relaxed);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn partition_source(
        &mut self,
        src: &mut Source,
        first: Option<Vec<RecordBatch>>,
        side: SideId,
        spill: &SpillDir,
        bits: u32,
        block: usize,
        base: u64,
    ) -> Result<Vec<SpillFile>> {
        let (keys, schema) = self.side_info(side);
        let (keys, schema) = (keys.to_vec(), Arc::clone(schema));
        let mut writers = (0..1usize << bits)
            .map(|_| spill.writer(&schema))
            .collect::<Result<Vec<_>>>()?;
        let mut first = first;
        loop {
            // `first` was read (counted and normalised) by the caller.
            let batches = match first.take() {
                Some(b) => b,
                None => match self.next_normalised(src, side, block, base)? {
                    Some(b) => b,
                    None => break,
                },
            };
            let pieces: Vec<Vec<RecordBatch>> = batches
                .into_par_iter()
                .map(|b| split_batch(&b, &keys, SPILL_SEED, bits))
                .collect::<Result<_>>()?;
            write_pieces(&mut writers, pieces)?;
        }
        writers.into_iter().map(|w| w.finish(spill)).collect()
    }

    /// Partition one side of a pair again (level `depth`, its own seed).
    pub(super) fn repartition(
        &self,
        data: &SideData,
        side: SideId,
        bits: u32,
        depth: u32,
    ) -> Result<Vec<SpillFile>> {
        let spill = self
            .spill
            .as_ref()
            .ok_or_else(|| MergeError::Internal("repartition without spill".into()))?;
        let (keys, schema) = self.side_info(side);
        let mut writers = (0..1usize << bits)
            .map(|_| spill.writer(schema))
            .collect::<Result<Vec<_>>>()?;
        let seed = SPILL_SEED.wrapping_add(u64::from(depth).wrapping_mul(0x6a09_e667_f3bc_c909));
        for (range, _) in data.blocks(self.budget / 4) {
            self.args.cancel.check()?;
            let batches = data.load(range)?;
            let pieces: Vec<Vec<RecordBatch>> = batches
                .par_iter()
                .map(|b| split_batch(b, keys, seed, bits))
                .collect::<Result<_>>()?;
            write_pieces(&mut writers, pieces)?;
        }
        writers.into_iter().map(|w| w.finish(spill)).collect()
    }

    pub(super) fn join_pair(&mut self, l: SideData, r: SideData, depth: u32) -> Result<()> {
        self.args.cancel.check()?;
        self.summary.max_depth = self.summary.max_depth.max(depth);
        if l.rows() == 0 && r.rows() == 0 {
            return Ok(());
        }
        let cost = l.cost() + r.cost();
        if cost <= self.budget / 2 {
            let lb = l.load(0..l.num_batches())?;
            let rb = r.load(0..r.num_batches())?;
            match self.join_loaded(&lb, &rb, self.args.kind) {
                Err(MergeError::OutputTooLarge { .. } | MergeError::OutOfMemory { .. }) => {}
                other => return other,
            }
            drop((lb, rb));
            return self.block_join(&l, &r);
        }
        if depth >= MAX_DEPTH || self.spill.is_none() {
            return self.block_join(&l, &r);
        }
        let parts = (cost.saturating_mul(2) / self.budget)
            .clamp(2, 64)
            .next_power_of_two();
        let bits = parts.trailing_zeros();
        let lc = self.repartition(&l, SideId::Left, bits, depth + 1)?;
        drop(l);
        let rc = self.repartition(&r, SideId::Right, bits, depth + 1)?;
        drop(r);
        for (cl, cr) in lc.into_iter().zip(rc) {
            let (cl, cr) = (SideData::Spill(cl), SideData::Spill(cr));
            // A child that kept (nearly) everything holds one heavy key: partitioning cannot split it.
            if cl.cost() + cr.cost() >= cost / 10 * 9 {
                self.summary.max_depth = self.summary.max_depth.max(depth + 1);
                self.block_join(&cl, &cr)?;
            } else {
                self.join_pair(cl, cr, depth + 1)?;
            }
        }
        Ok(())
    }
}

/// Appends every batch's pieces (`pieces[batch][partition]`) to their partitions' spill files. The files are
/// independent, so they are written, and compressed, in parallel: one writer after another left a core idle
/// (the 1e9-row run used about 1.2 of 2 cores with ZSTD spills). Each partition keeps its batches' order.
fn write_pieces(writers: &mut [SpillWriter], pieces: Vec<Vec<RecordBatch>>) -> Result<()> {
    let mut per_partition: Vec<Vec<RecordBatch>> = (0..writers.len())
        .map(|_| Vec::with_capacity(pieces.len()))
        .collect();
    for batch_pieces in pieces {
        for (partition, piece) in per_partition.iter_mut().zip(batch_pieces) {
            partition.push(piece);
        }
    }
    writers
        .par_iter_mut()
        .zip(per_partition)
        .try_for_each(|(w, batches)| batches.iter().try_for_each(|b| w.write(b)))
}
