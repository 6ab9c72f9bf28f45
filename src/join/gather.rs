//! Gather: build output columns from row indices, in parallel over (column, row range) tasks.

use std::sync::Arc;

use arrow_array::{
    new_null_array, Array, ArrayRef, ArrowPrimitiveType, Float64Array, PrimitiveArray, RecordBatch,
    RecordBatchOptions,
};
use arrow_buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};
use arrow_schema::{Field, Schema, SchemaRef};
use arrow_select::interleave::interleave;
use arrow_select::take::take;
use rayon::prelude::*;

use crate::error::{MergeError, Result};
use crate::join::RowIndex;

/// Output rows per batch. Bounded so one batch's string offsets stay far from i32 overflow, and so there are
/// enough tasks to keep every thread busy on a table with few columns.
const ROWS_PER_BATCH: usize = 1 << 20;

/// A table held as several batches, read by row number counted across the batches, without concatenating
/// them first: a single batch is read with `take`, several with `interleave`. Every face's gather goes
/// through it (the Arrow face's `take_rows`, the out-of-core writer).
pub struct Rows<'a> {
    batches: &'a [RecordBatch],
    schema: &'a SchemaRef,
    /// First row number of each batch, and the total at the end.
    starts: Vec<usize>,
}

/// Where one slice of output rows comes from, worked out once and then used for every column of the slice
/// (building it per column copied the indices once per column).
pub enum Picks {
    /// Row numbers into the only batch (or into an empty side), "no row" as a null index: `take` turns a
    /// null index into a null value.
    One(ArrayRef),
    /// (batch, row) pairs for `interleave`; the batch number `batches.len()` is a one-row null array.
    Many(Vec<(usize, usize)>),
}

impl<'a> Rows<'a> {
    pub fn new(batches: &'a [RecordBatch], schema: &'a SchemaRef) -> Self {
        let mut starts = Vec::with_capacity(batches.len() + 1);
        let mut acc = 0;
        for b in batches {
            starts.push(acc);
            acc += b.num_rows();
        }
        starts.push(acc);
        Rows {
            batches,
            schema,
            starts,
        }
    }

    /// The picks of output rows `indices` (`RowIndex::MISSING`: a null row); a single batch's picks share
    /// `indices`' buffer.
    pub fn picks<I: RowIndex>(&self, indices: &ScalarBuffer<I>) -> Picks {
        if self.batches.len() <= 1 {
            return Picks::One(Arc::new(index_array(indices)));
        }
        let nb = self.batches.len();
        Picks::Many(
            indices
                .iter()
                .map(|&i| match i.row() {
                    None => (nb, 0),
                    Some(i) => {
                        let b = self.starts.partition_point(|&s| s <= i) - 1;
                        (b, i - self.starts[b])
                    }
                })
                .collect(),
        )
    }

    /// Column `col` at `picks`.
    pub fn column(&self, col: usize, picks: &Picks) -> Result<ArrayRef> {
        match picks {
            Picks::One(idx) => {
                let Some(batch) = self.batches.first() else {
                    let empty = arrow_array::new_empty_array(self.schema.field(col).data_type());
                    return Ok(take(empty.as_ref(), idx.as_ref(), None)?);
                };
                Ok(take(batch.column(col).as_ref(), idx.as_ref(), None)?)
            }
            Picks::Many(pos) => {
                let null = new_null_array(self.schema.field(col).data_type(), 1);
                let mut arrays: Vec<&dyn Array> =
                    self.batches.iter().map(|b| b.column(col).as_ref()).collect();
                arrays.push(null.as_ref());
                Ok(interleave(&arrays, pos)?)
            }
        }
    }
}

/// The rows of a table (`batches` sharing `schema`) at `indices`, where `RowIndex::MISSING` (-1 for i64)
/// gives an all-null row. Fields become nullable when any index is missing.
pub fn take_rows<I: RowIndex>(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    indices: &ScalarBuffer<I>,
) -> Result<Vec<RecordBatch>> {
    let rows = Rows::new(batches, schema);
    // One pass for both questions: is any index out of range (arrow's `take` would panic on it, so it is
    // refused here with the index and the row count), and is any -1 (the fields become nullable)?
    let n_rows = rows.starts.last().copied().unwrap_or(0) as i64;
    let (low, high) = indices
        .par_iter()
        .fold(
            || (0i64, -1i64),
            |(lo, hi), &i| (lo.min(i.signed()), hi.max(i.signed())),
        )
        .reduce(|| (0, -1), |(a, b), (c, d)| (a.min(c), b.max(d)));
    if low < -1 || high >= n_rows {
        let bad = if low < -1 { low } else { high };
        return Err(MergeError::BadArgument(format!(
            "row index {bad} out of range for {n_rows} rows"
        )));
    }
    let any_missing = low < 0;
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
    let n_columns = schema.fields().len();

    let ranges: Vec<(usize, usize)> = (0..indices.len())
        .step_by(ROWS_PER_BATCH)
        .map(|s| (s, (s + ROWS_PER_BATCH).min(indices.len())))
        .collect();
    let picks: Vec<Picks> = ranges
        .par_iter()
        .map(|&(start, end)| rows.picks(&indices.slice(start, end - start)))
        .collect();
    let tasks: Vec<(usize, usize)> = (0..ranges.len())
        .flat_map(|r| (0..n_columns).map(move |c| (r, c)))
        .collect();
    let taken: Vec<ArrayRef> = tasks
        .par_iter()
        .map(|&(r, c)| rows.column(c, &picks[r]))
        .collect::<Result<_>>()?;

    let mut taken = taken.into_iter();
    ranges
        .iter()
        .map(|&(start, end)| {
            let cols: Vec<ArrayRef> = taken.by_ref().take(n_columns).collect();
            let options = RecordBatchOptions::new().with_row_count(Some(end - start));
            Ok(RecordBatch::try_new_with_options(
                Arc::clone(&out_schema),
                cols,
                &options,
            )?)
        })
        .collect()
}

/// Indices as an Arrow array over the same buffer (no copy); "no row" becomes a null index, which `take`
/// turns into a null value.
fn index_array<I: RowIndex>(indices: &ScalarBuffer<I>) -> PrimitiveArray<I::Arrow> {
    let values = indices.clone();
    let nulls = if indices.contains(&I::MISSING) {
        Some(NullBuffer::new(BooleanBuffer::collect_bool(indices.len(), |k| {
            indices[k] != I::MISSING
        })))
    } else {
        None
    };
    // Null slots keep the marker as their value; `take` never reads a null slot's value.
    PrimitiveArray::new(values, nulls)
}

/// How `take_block` fills a row whose index is -1, following pandas' `take` with `allow_fill=True`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BlockFill {
    /// Keep the column type and write this value (floats: `NaN`; datetimes: `NaT`'s integer; category codes: -1).
    /// Integers pass it through `as`; floats take NaN whatever the value.
    Same(i64),
    /// Integers become float64 and missing rows NaN (pandas' promotion of an int column with missing rows).
    Float64,
}

/// Rows per parallel task of `take_block`: large enough that a task's bookkeeping is noise, small enough for
/// every thread to get work on a single column.
const BLOCK_TASK_ROWS: usize = 1 << 16;

/// The rows `indices` of every column of a block (columns of one fixed-width type), written column after
/// column into one buffer of `columns.len() * indices.len()` values, so a caller can view it as a 2-D
/// (columns × rows) array without another copy. -1 rows are filled per `fill`; other indices must be in
/// range. Null slots of the inputs are not looked at (numpy data have none).
pub fn take_block(columns: &[ArrayRef], indices: &[i64], fill: BlockFill) -> Result<ArrayRef> {
    use arrow_array::types::{
        Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type,
        UInt64Type, UInt8Type,
    };
    use arrow_schema::DataType as D;
    let Some(first) = columns.first() else {
        return Err(MergeError::InvalidArgument(
            "take_block needs at least one column".into(),
        ));
    };
    let dtype = first.data_type().clone();
    if let Some(other) = columns.iter().find(|c| c.data_type() != &dtype) {
        return Err(MergeError::InvalidArgument(format!(
            "take_block needs columns of one type, got {dtype} and {}",
            other.data_type()
        )));
    }
    let rows = first.len();
    if columns.iter().any(|c| c.len() != rows) {
        return Err(MergeError::InvalidArgument(
            "take_block needs columns of one length".into(),
        ));
    }
    if let Some(&bad) = indices.par_iter().find_any(|&&i| i >= rows as i64 || i < -1) {
        return Err(MergeError::InvalidArgument(format!(
            "row index {bad} out of range for {rows} rows"
        )));
    }
    macro_rules! same {
        ($t:ty, $fill:expr) => {
            take_same::<$t>(columns, indices, $fill)
        };
    }
    macro_rules! widen {
        ($t:ty) => {
            take_widened::<$t>(columns, indices)
        };
    }
    match (fill, &dtype) {
        (BlockFill::Same(v), D::Int8) => same!(Int8Type, v as i8),
        (BlockFill::Same(v), D::Int16) => same!(Int16Type, v as i16),
        (BlockFill::Same(v), D::Int32) => same!(Int32Type, v as i32),
        (BlockFill::Same(v), D::Int64) => same!(Int64Type, v),
        (BlockFill::Same(v), D::UInt8) => same!(UInt8Type, v as u8),
        (BlockFill::Same(v), D::UInt16) => same!(UInt16Type, v as u16),
        (BlockFill::Same(v), D::UInt32) => same!(UInt32Type, v as u32),
        (BlockFill::Same(v), D::UInt64) => same!(UInt64Type, v as u64),
        (BlockFill::Same(_), D::Float32) => same!(Float32Type, f32::NAN),
        (BlockFill::Same(_), D::Float64) => same!(Float64Type, f64::NAN),
        (BlockFill::Float64, D::Int8) => widen!(Int8Type),
        (BlockFill::Float64, D::Int16) => widen!(Int16Type),
        (BlockFill::Float64, D::Int32) => widen!(Int32Type),
        (BlockFill::Float64, D::Int64) => widen!(Int64Type),
        (BlockFill::Float64, D::UInt8) => widen!(UInt8Type),
        (BlockFill::Float64, D::UInt16) => widen!(UInt16Type),
        (BlockFill::Float64, D::UInt32) => widen!(UInt32Type),
        (BlockFill::Float64, D::UInt64) => widen!(UInt64Type),
        (_, other) => Err(MergeError::InvalidArgument(format!(
            "take_block does not gather {other} columns with {fill:?}"
        ))),
    }
}

fn values_of<T: ArrowPrimitiveType>(columns: &[ArrayRef]) -> Result<Vec<&[T::Native]>> {
    columns
        .iter()
        .map(|c| {
            c.as_any()
                .downcast_ref::<PrimitiveArray<T>>()
                .map(|a| a.values().as_ref())
                .ok_or_else(|| MergeError::Internal(format!("take_block: not a {}", c.data_type())))
        })
        .collect()
}

/// Gathers every column into its own `rows`-long slice of `out`, in parallel over (column, row range).
fn fill_parallel<S: Copy + Sync, O: Copy + Send>(
    sources: &[&[S]],
    indices: &[i64],
    out: &mut [O],
    pick: impl Fn(&[S], i64) -> O + Sync,
) {
    let n = indices.len();
    if n == 0 {
        return;
    }
    out.par_chunks_mut(n)
        .zip(sources.par_iter())
        .for_each(|(dst, src)| {
            dst.par_chunks_mut(BLOCK_TASK_ROWS)
                .zip(indices.par_chunks(BLOCK_TASK_ROWS))
                .for_each(|(d, idx)| {
                    for (o, &i) in d.iter_mut().zip(idx) {
                        *o = pick(src, i);
                    }
                });
        });
}

fn take_same<T: ArrowPrimitiveType>(
    columns: &[ArrayRef],
    indices: &[i64],
    fill: T::Native,
) -> Result<ArrayRef> {
    let sources = values_of::<T>(columns)?;
    let mut out = vec![T::Native::default(); sources.len() * indices.len()];
    // Indices were range-checked by `take_block`; -1 is the only negative one.
    fill_parallel(&sources, indices, &mut out, |src, i| {
        if i < 0 {
            fill
        } else {
            src[i as usize]
        }
    });
    Ok(Arc::new(PrimitiveArray::<T>::new(ScalarBuffer::from(out), None)))
}

fn take_widened<T: ArrowPrimitiveType>(columns: &[ArrayRef], indices: &[i64]) -> Result<ArrayRef>
where
    T::Native: num_traits_lite::AsF64,
{
    use num_traits_lite::AsF64;
    let sources = values_of::<T>(columns)?;
    let mut out = vec![0f64; sources.len() * indices.len()];
    fill_parallel(&sources, indices, &mut out, |src, i| {
        if i < 0 {
            f64::NAN
        } else {
            src[i as usize].as_f64()
        }
    });
    Ok(Arc::new(Float64Array::new(ScalarBuffer::from(out), None)))
}

/// Integer → float64 as numpy's `astype(float64)` does it (nearest value; above 2^53 not exact).
mod num_traits_lite {
    pub trait AsF64: Copy {
        fn as_f64(self) -> f64;
    }
    macro_rules! as_f64 {
        ($($t:ty),*) => {$(impl AsF64 for $t {
            // `as` for every width alike: numpy's rounding, and 64-bit integers cannot use `From`.
            #[allow(clippy::cast_lossless, clippy::cast_precision_loss)]
            #[inline(always)]
            fn as_f64(self) -> f64 {
                self as f64
            }
        })*};
    }
    as_f64!(i8, i16, i32, i64, u8, u16, u32, u64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_array::{Int64Array, StringArray};

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
        let out = take_rows(&schema, &[b1, b2], &vec![2i64, -1, 0].into()).unwrap();
        assert_eq!(out.len(), 1);
        let s = out[0].column(0).as_string::<i32>();
        assert_eq!((s.value(0), s.is_null(1), s.value(2)), ("c", true, "a"));
        assert!(out[0].schema().field(0).is_nullable());
    }

    /// One batch (`take`) and the same rows split over batches (`interleave`) give the same column, for a
    /// dictionary column whose batches carry different dictionaries and for nullable integers.
    #[test]
    fn one_batch_and_many_batches_pick_the_same_rows() {
        use arrow_array::DictionaryArray;
        use arrow_schema::DataType;
        let dict_type = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let schema = Arc::new(Schema::new(vec![
            Field::new("d", dict_type, true),
            Field::new("x", DataType::Int64, true),
        ]));
        let batch = |words: Vec<&str>, xs: Vec<Option<i64>>| {
            let d: DictionaryArray<arrow_array::types::Int32Type> = words.into_iter().collect();
            RecordBatch::try_new(schema.clone(), vec![Arc::new(d), Arc::new(Int64Array::from(xs))]).unwrap()
        };
        let parts = [
            batch(vec!["a", "b", "a"], vec![Some(1), None, Some(3)]),
            batch(vec!["c", "b"], vec![Some(4), Some(5)]),
            batch(vec!["z"], vec![Some(6)]),
        ];
        let whole = arrow_select::concat::concat_batches(&schema, &parts).unwrap();
        let idx = [5i64, -1, 0, 3, 1, 4, -1, 2, 5];
        let buffer = ScalarBuffer::from(idx.to_vec());
        let many = take_rows(&schema, &parts, &buffer).unwrap();
        let one = take_rows(&schema, std::slice::from_ref(&whole), &buffer).unwrap();
        let values = |b: &RecordBatch| {
            let d = arrow_cast::cast(b.column(0), &DataType::Utf8).unwrap();
            let d = d.as_string::<i32>();
            let x = b.column(1).as_primitive::<Int64Type>();
            (0..b.num_rows())
                .map(|k| {
                    (
                        d.is_valid(k).then(|| d.value(k).to_string()),
                        x.is_valid(k).then(|| x.value(k)),
                    )
                })
                .collect::<Vec<_>>()
        };
        let want: Vec<_> = idx
            .iter()
            .map(|&i| {
                values(&whole)
                    .get(usize::try_from(i).unwrap_or(usize::MAX))
                    .cloned()
                    .unwrap_or((None, None))
            })
            .collect();
        assert_eq!(values(&many[0]), want);
        assert_eq!(values(&one[0]), want);
        // The engine's four-byte pairs (u32::MAX: no row) pick the same rows both ways.
        let narrow: Vec<u32> = idx
            .iter()
            .map(|&i| u32::try_from(i).unwrap_or(u32::MAX))
            .collect();
        let narrow = ScalarBuffer::from(narrow);
        let many = take_rows(&schema, &parts, &narrow).unwrap();
        let one = take_rows(&schema, std::slice::from_ref(&whole), &narrow).unwrap();
        assert_eq!(values(&many[0]), want);
        assert_eq!(values(&one[0]), want);
    }

    #[test]
    fn take_rows_refuses_indices_out_of_range() {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "x",
            arrow_schema::DataType::Int64,
            false,
        )]));
        let b = RecordBatch::try_new(schema.clone(), vec![int_column(vec![1, 2])]).unwrap();
        for bad in [2i64, -2] {
            let err = take_rows(&schema, std::slice::from_ref(&b), &vec![0, bad].into()).unwrap_err();
            assert!(matches!(err, MergeError::BadArgument(_)), "{err:?}");
            let message = format!("row index {bad} out of range for 2 rows");
            assert!(err.to_string().contains(&message), "{err}");
        }
    }

    #[test]
    fn missing_rows_of_an_empty_side_are_nulls() {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "x",
            arrow_schema::DataType::Int64,
            true,
        )]));
        let out = take_rows(&schema, &[], &vec![-1i64, -1].into()).unwrap();
        let x = out[0].column(0).as_primitive::<Int64Type>();
        assert_eq!(x.null_count(), 2);
    }

    fn int_column(v: Vec<i64>) -> ArrayRef {
        Arc::new(Int64Array::from(v))
    }

    /// The brute-force oracle: pandas' take with fill, column by column.
    fn oracle(cols: &[Vec<i64>], idx: &[i64]) -> Vec<Option<i64>> {
        cols.iter()
            .flat_map(|c| idx.iter().map(|&i| (i >= 0).then(|| c[i as usize])))
            .collect()
    }

    #[test]
    fn take_block_keeps_the_type_and_fills_the_given_value() {
        let cols = vec![vec![10, 11, 12], vec![20, 21, 22]];
        let arrays: Vec<ArrayRef> = cols.iter().cloned().map(int_column).collect();
        let idx = [2, -1, 0, 0];
        let out = take_block(&arrays, &idx, BlockFill::Same(i64::MIN)).unwrap();
        let got = out.as_primitive::<Int64Type>().values().to_vec();
        let want: Vec<i64> = oracle(&cols, &idx)
            .into_iter()
            .map(|v| v.unwrap_or(i64::MIN))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn take_block_widens_integers_to_float_with_nan() {
        let arrays: Vec<ArrayRef> = vec![Arc::new(arrow_array::Int16Array::from(vec![1i16, -7]))];
        let out = take_block(&arrays, &[1, -1, 0], BlockFill::Float64).unwrap();
        let got = out
            .as_primitive::<arrow_array::types::Float64Type>()
            .values()
            .to_vec();
        assert_eq!((got[0], got[1].is_nan(), got[2]), (-7.0, true, 1.0));
    }

    #[test]
    fn take_block_floats_fill_nan_and_match_the_oracle_over_many_tasks() {
        let n = 3 * BLOCK_TASK_ROWS + 17;
        let col: Vec<f64> = (0..n).map(|i| i as f64 * 0.5).collect();
        let idx: Vec<i64> = (0..n as i64)
            .map(|i| if i % 7 == 0 { -1 } else { (i * 31) % n as i64 })
            .collect();
        let arrays: Vec<ArrayRef> = (0..3)
            .map(|_| Arc::new(Float64Array::from(col.clone())) as ArrayRef)
            .collect();
        let out = take_block(&arrays, &idx, BlockFill::Same(0)).unwrap();
        let got = out.as_primitive::<arrow_array::types::Float64Type>().values();
        assert_eq!(got.len(), 3 * n);
        for c in 0..3 {
            for (k, &i) in idx.iter().enumerate() {
                let v = got[c * n + k];
                if i < 0 {
                    assert!(v.is_nan());
                } else {
                    assert_eq!(v.to_bits(), col[i as usize].to_bits());
                }
            }
        }
    }

    #[test]
    fn take_block_rejects_out_of_range_and_mixed_types() {
        let a = int_column(vec![1, 2]);
        assert!(take_block(std::slice::from_ref(&a), &[2], BlockFill::Same(0)).is_err());
        assert!(take_block(std::slice::from_ref(&a), &[-2], BlockFill::Same(0)).is_err());
        let f: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 2.0]));
        assert!(take_block(&[a, f], &[0], BlockFill::Same(0)).is_err());
        assert!(take_block(&[], &[0], BlockFill::Same(0)).is_err());
    }

    #[test]
    fn take_block_of_no_rows_is_empty() {
        let a = int_column(vec![1, 2]);
        let out = take_block(&[a.clone(), a], &[], BlockFill::Float64).unwrap();
        assert_eq!(out.len(), 0);
    }
}
