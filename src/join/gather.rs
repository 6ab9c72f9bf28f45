//! Gather: build output columns from row indices, in parallel over (column, row range) tasks.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, RecordBatchOptions};
use arrow_buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};
use arrow_schema::{Field, Schema, SchemaRef};
use arrow_select::concat::concat;
use arrow_select::take::take;
use rayon::prelude::*;

use crate::error::Result;

/// Output rows per batch. Bounded so one batch's string offsets stay far from i32 overflow, and so there are
/// enough tasks to keep every thread busy on a table with few columns.
const ROWS_PER_BATCH: usize = 1 << 20;

/// The rows of a table (`batches` sharing `schema`) at `indices`, where -1 gives an all-null row.
/// Fields become nullable when any index is -1.
pub fn take_rows(schema: &SchemaRef, batches: &[RecordBatch], indices: &[i64]) -> Result<Vec<RecordBatch>> {
    let columns: Vec<ArrayRef> = (0..schema.fields().len())
        .into_par_iter()
        .map(|c| {
            let chunks: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
            match chunks.len() {
                0 => Ok(arrow_array::new_empty_array(schema.field(c).data_type())),
                1 => Ok(Arc::clone(batches[0].column(c))),
                _ => Ok(concat(&chunks)?),
            }
        })
        .collect::<Result<_>>()?;
    let any_missing = indices.par_iter().any(|&i| i < 0);
    let out_schema = if any_missing {
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
    } else {
        Arc::clone(schema)
    };

    let ranges: Vec<(usize, usize)> = (0..indices.len())
        .step_by(ROWS_PER_BATCH)
        .map(|s| (s, (s + ROWS_PER_BATCH).min(indices.len())))
        .collect();
    let tasks: Vec<(usize, usize)> = (0..ranges.len())
        .flat_map(|r| (0..columns.len()).map(move |c| (r, c)))
        .collect();
    let taken: Vec<ArrayRef> = tasks
        .par_iter()
        .map(|&(r, c)| {
            let (start, end) = ranges[r];
            Ok(take(
                columns[c].as_ref(),
                &index_array(&indices[start..end]),
                None,
            )?)
        })
        .collect::<Result<_>>()?;

    let mut taken = taken.into_iter();
    ranges
        .iter()
        .map(|&(start, end)| {
            let cols: Vec<ArrayRef> = taken.by_ref().take(columns.len()).collect();
            let options = RecordBatchOptions::new().with_row_count(Some(end - start));
            Ok(RecordBatch::try_new_with_options(
                Arc::clone(&out_schema),
                cols,
                &options,
            )?)
        })
        .collect()
}

/// Indices as an Arrow array; -1 becomes a null index, which `take` turns into a null value.
fn index_array(indices: &[i64]) -> Int64Array {
    let values = ScalarBuffer::from(indices.to_vec());
    let nulls = if indices.iter().any(|&i| i < 0) {
        Some(NullBuffer::new(BooleanBuffer::collect_bool(indices.len(), |k| {
            indices[k] >= 0
        })))
    } else {
        None
    };
    // Null slots keep -1 as their value; `take` never reads a null slot's value.
    Int64Array::new(values, nulls)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_array::StringArray;

    #[test]
    fn gathers_across_chunks_with_missing_rows() {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "s",
            arrow_schema::DataType::Utf8,
            false,
        )]));
        let b1 =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(vec!["a", "b"]))]).unwrap();
        let b2 = RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(vec!["c"]))]).unwrap();
        let out = take_rows(&schema, &[b1, b2], &[2, -1, 0]).unwrap();
        assert_eq!(out.len(), 1);
        let s = out[0].column(0).as_string::<i32>();
        assert_eq!((s.value(0), s.is_null(1), s.value(2)), ("c", true, "a"));
        assert!(out[0].schema().field(0).is_nullable());
    }

    #[test]
    fn missing_rows_of_an_empty_side_are_nulls() {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "x",
            arrow_schema::DataType::Int64,
            true,
        )]));
        let out = take_rows(&schema, &[], &[-1, -1]).unwrap();
        let x = out[0].column(0).as_primitive::<Int64Type>();
        assert_eq!(x.null_count(), 2);
    }
}
