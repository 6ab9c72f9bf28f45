//! Row numbers over several batches, gathered with `interleave` without concatenating the batches first.

use arrow_array::{new_null_array, Array, ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use arrow_select::interleave::interleave;

use crate::error::Result;

/// Maps row numbers over several batches to (batch, row) for `interleave`; -1 selects a one-row null array.
pub(super) struct Selector<'a> {
    batches: &'a [RecordBatch],
    schema: &'a SchemaRef,
    starts: Vec<usize>,
}

impl<'a> Selector<'a> {
    pub(super) fn new(batches: &'a [RecordBatch], schema: &'a SchemaRef) -> Self {
        let mut starts = Vec::with_capacity(batches.len() + 1);
        let mut acc = 0;
        for b in batches {
            starts.push(acc);
            acc += b.num_rows();
        }
        starts.push(acc);
        Selector {
            batches,
            schema,
            starts,
        }
    }

    pub(super) fn positions(&self, idx: &[i64]) -> Vec<(usize, usize)> {
        let nb = self.batches.len();
        idx.iter()
            .map(|&i| {
                if i < 0 {
                    (nb, 0)
                } else {
                    let i = i as usize;
                    let b = self.starts.partition_point(|&s| s <= i) - 1;
                    (b, i - self.starts[b])
                }
            })
            .collect()
    }

    pub(super) fn gather(&self, col: usize, pos: &[(usize, usize)]) -> Result<ArrayRef> {
        let null = new_null_array(self.schema.field(col).data_type(), 1);
        let mut arrays: Vec<&dyn Array> = self.batches.iter().map(|b| b.column(col).as_ref()).collect();
        arrays.push(null.as_ref());
        Ok(interleave(&arrays, pos)?)
    }
}
