//! One engine call on loaded batches, and the gather and write of its output rows.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use arrow_array::{new_empty_array, Array, ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions};
use arrow_buffer::ScalarBuffer;
use arrow_cast::cast;
use arrow_select::concat::concat;
use arrow_select::zip::zip;
use rayon::prelude::*;

use super::args::SideId;
use super::driver::Driver;
use super::OUT_ROWS;
use crate::error::Result;
use crate::join::gather::Rows;
use crate::join::{JoinArgs, JoinKind};

impl Driver<'_> {
    pub(super) fn key_columns(&self, batches: &[RecordBatch], side: SideId) -> Result<Vec<ArrayRef>> {
        let (keys, schema) = self.side_info(side);
        keys.iter()
            .map(|&k| {
                let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(k).as_ref()).collect();
                match parts.len() {
                    0 => Ok(new_empty_array(schema.field(k).data_type())),
                    1 => Ok(Arc::clone(batches[0].column(k))),
                    _ => Ok(concat(&parts)?),
                }
            })
            .collect()
    }

    pub(super) fn engine(
        &self,
        lb: &[RecordBatch],
        rb: &[RecordBatch],
        kind: JoinKind,
        swap: bool,
    ) -> Result<(Vec<i64>, Vec<i64>)> {
        let lk = self.key_columns(lb, SideId::Left)?;
        let rk = self.key_columns(rb, SideId::Right)?;
        let mut a = JoinArgs::new(kind);
        a.nulls_equal = self.args.nulls_equal;
        // Pair-producing kinds can explode on a duplicated key, so their output is capped (the caller
        // halves the block); a semi or anti join returns at most one row per input row it already holds.
        let pairs = matches!(
            kind,
            JoinKind::Inner | JoinKind::Left | JoinKind::Right | JoinKind::Outer
        );
        a.max_output_rows = pairs.then_some(self.out_cap);
        a.threads = self.args.threads;
        a.cancel = self.args.cancel.clone();
        let idx = if swap {
            crate::join::join_indices(&rk, &lk, &self.args.right_on, &self.args.left_on, &a)?
        } else {
            crate::join::join_indices(&lk, &rk, &self.args.left_on, &self.args.right_on, &a)?
        };
        Ok((idx.left, idx.right))
    }

    pub(super) fn join_loaded(
        &mut self,
        lb: &[RecordBatch],
        rb: &[RecordBatch],
        kind: JoinKind,
    ) -> Result<()> {
        let (li, ri) = self.engine(lb, rb, kind, false)?;
        self.emit(lb, rb, li, ri)
    }

    /// Gather and write output rows `li`/`ri` (-1: no row) of the loaded batches.
    pub(super) fn emit(
        &mut self,
        lb: &[RecordBatch],
        rb: &[RecordBatch],
        li: Vec<i64>,
        ri: Vec<i64>,
    ) -> Result<()> {
        // Owned buffers, so every output slice's picks share them instead of copying.
        let (li, ri) = (ScalarBuffer::from(li), ScalarBuffer::from(ri));
        let lrows = Rows::new(lb, &self.r.lschema);
        let rrows = Rows::new(rb, &self.r.rschema);
        let slices: Vec<(usize, usize)> = (0..li.len())
            .step_by(OUT_ROWS)
            .map(|s| (s, (s + OUT_ROWS).min(li.len())))
            .collect();
        let group = rayon::current_num_threads().max(1) * 2;
        for chunk in slices.chunks(group) {
            self.args.cancel.check()?;
            let batches: Vec<RecordBatch> = chunk
                .par_iter()
                .map(|&(s, e)| self.output_batch(&lrows, &rrows, &li.slice(s, e - s), &ri.slice(s, e - s)))
                .collect::<Result<_>>()?;
            for b in &batches {
                self.out.write(b)?;
                self.args
                    .progress
                    .rows_written
                    .fetch_add(b.num_rows() as u64, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    pub(super) fn output_batch(
        &self,
        lrows: &Rows,
        rrows: &Rows,
        li: &ScalarBuffer<i64>,
        ri: &ScalarBuffer<i64>,
    ) -> Result<RecordBatch> {
        let lpicks = lrows.picks(li);
        let rpicks = rrows.picks(ri);
        let mut cols = Vec::with_capacity(self.r.plan.len());
        for &(side, k, co) in &self.r.plan {
            let col = match side {
                SideId::Left => lrows.column(k, &lpicks)?,
                SideId::Right => rrows.column(k, &rpicks)?,
            };
            let col = match co {
                Some(rk) => {
                    let from_right = rrows.column(rk, &rpicks)?;
                    let from_right = if from_right.data_type() == col.data_type() {
                        from_right
                    } else {
                        cast(&from_right, col.data_type())?
                    };
                    let has_left = BooleanArray::from(li.iter().map(|&i| i >= 0).collect::<Vec<_>>());
                    zip(&has_left, &col, &from_right)?
                }
                None => col,
            };
            cols.push(col);
        }
        let options = RecordBatchOptions::new().with_row_count(Some(li.len()));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.r.out_schema),
            cols,
            &options,
        )?)
    }
}
