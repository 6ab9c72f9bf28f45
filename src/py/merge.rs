//! `_native.join_indices` and `_native.take`: owned Arrow inputs (via the `PyCapsule` interface, zero-copy),
//! one call into the engine with the GIL released, Arrow outputs.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int32Array, Int64Array, RecordBatch};
use arrow_buffer::{Buffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema};
use arrow_select::concat::concat;
use pyo3::prelude::*;
use pyo3_arrow::{PyArray, PyDataType, PyTable};

use crate::error::{MergeError, Result};
use crate::join::{gather, JoinArgs, JoinKind};
use crate::py::{run_detached, to_py_err};

/// A table's columns, each as one array (chunks concatenated only when there are several), and their names.
fn columns(batches: &[RecordBatch], schema: &Schema) -> Result<(Vec<ArrayRef>, Vec<String>)> {
    let names = schema.fields().iter().map(|f| f.name().clone()).collect();
    let cols = (0..schema.fields().len())
        .map(|c| match batches {
            [] => Ok(arrow_array::new_empty_array(schema.field(c).data_type())),
            [one] => Ok(Arc::clone(one.column(c))),
            many => Ok(concat(
                &many.iter().map(|b| b.column(c).as_ref()).collect::<Vec<_>>(),
            )?),
        })
        .collect::<Result<_>>()?;
    Ok((cols, names))
}

fn int64_array(values: Vec<i64>) -> PyArray {
    let field = Arc::new(Field::new("index", DataType::Int64, false));
    PyArray::new(Arc::new(Int64Array::from(values)), field)
}

/// Four-byte indices cross to Python as int32 over the same buffer: `u32::MAX`, the engine's "no row", has
/// the bits of -1, the marker numpy and pandas code uses, and every row index is below 2^31 (the caller asks
/// for four bytes only then, see `NARROW_ROWS`).
fn int32_array(values: Vec<u32>) -> PyArray {
    let len = values.len();
    let field = Arc::new(Field::new("index", DataType::Int32, false));
    let values = ScalarBuffer::<i32>::new(Buffer::from_vec(values), 0, len);
    PyArray::new(Arc::new(Int32Array::new(values, None)), field)
}

/// Below this many rows per side the pairs may be four bytes wide for Python: their int32 view holds every
/// row number (the engine's own limit for `u32` indices is 2^32 - 1 rows).
const NARROW_ROWS: usize = 1 << 31;

/// The pairs as Python sees them: int32 when asked for and every row fits, else int64.
enum Pairs {
    Narrow(crate::join::JoinIndices<u32>),
    Wide(crate::join::JoinIndices<i64>),
}

#[pyfunction]
#[pyo3(signature = (left_keys, right_keys, how, *, nulls_equal=true, sort=false, validate=None,
                    max_output_rows=None, threads=None, narrow=false))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn join_indices(
    py: Python<'_>,
    left_keys: PyTable,
    right_keys: PyTable,
    how: &str,
    nulls_equal: bool,
    sort: bool,
    validate: Option<&str>,
    max_output_rows: Option<u64>,
    threads: Option<usize>,
    narrow: bool,
) -> PyResult<(PyArray, PyArray)> {
    let mut args = JoinArgs::new(how.parse().map_err(|e| to_py_err(py, e))?);
    args.nulls_equal = nulls_equal;
    args.sort = sort;
    args.validate = validate
        .map(str::parse)
        .transpose()
        .map_err(|e| to_py_err(py, e))?;
    args.max_output_rows = max_output_rows;
    args.threads = threads;
    let cancel = args.cancel.clone();
    let (lb, ls) = left_keys.into_inner();
    let (rb, rs) = right_keys.into_inner();
    let out = run_detached(py, &cancel, move || {
        let rows = |batches: &[RecordBatch]| -> usize { batches.iter().map(RecordBatch::num_rows).sum() };
        let (nl, nr) = (rows(&lb), rows(&rb));
        let narrow = narrow && nl < NARROW_ROWS && nr < NARROW_ROWS;
        if args.kind == JoinKind::Cross {
            return Ok(if narrow {
                Pairs::Narrow(crate::join::cross_indices_as(nl, nr, &args)?)
            } else {
                Pairs::Wide(crate::join::cross_indices(nl, nr, &args)?)
            });
        }
        let (l, ln) = columns(&lb, &ls)?;
        let (r, rn) = columns(&rb, &rs)?;
        if l.len() != r.len() {
            return Err(MergeError::InvalidArgument(format!(
                "len(right_on) must equal len(left_on): {ln:?} vs {rn:?}"
            )));
        }
        Ok(if narrow {
            Pairs::Narrow(crate::join::join_indices_as(&l, &r, &ln, &rn, &args)?)
        } else {
            Pairs::Wide(crate::join::join_indices(&l, &r, &ln, &rn, &args)?)
        })
    })?;
    Ok(match out {
        Pairs::Narrow(p) => (int32_array(p.left), int32_array(p.right)),
        Pairs::Wide(p) => (int64_array(p.left), int64_array(p.right)),
    })
}

#[pyfunction]
#[pyo3(signature = (table, indices, *, threads=None))]
pub(crate) fn take(
    py: Python<'_>,
    table: PyTable,
    indices: PyArray,
    threads: Option<usize>,
) -> PyResult<PyTable> {
    let (batches, schema) = table.into_inner();
    let (idx, _) = indices.into_inner();
    let cancel = crate::join::Cancel::default();
    let out = run_detached(py, &cancel, move || {
        if idx.null_count() > 0 {
            return Err(MergeError::InvalidArgument(
                "take() indices must not be null; use -1".into(),
            ));
        }
        let pool = crate::pool::pool_for_rows(threads, idx.len())?;
        let batches = if let Some(wide) = idx.as_any().downcast_ref::<Int64Array>() {
            pool.install(|| gather::take_rows(&schema, &batches, wide.values()))?
        } else if let Some(narrow) = idx.as_any().downcast_ref::<Int32Array>() {
            // join_indices' four-byte pairs: the same bits as the engine's u32 (-1 is u32::MAX, "no row").
            // Any other negative number becomes an index of 2^31 or more, which the range check refuses.
            let values = narrow.values();
            let as_u32 = ScalarBuffer::<u32>::new(values.inner().clone(), 0, values.len());
            pool.install(|| gather::take_rows(&schema, &batches, &as_u32))?
        } else {
            return Err(MergeError::InvalidArgument(format!(
                "take() needs int64 or int32 indices, got {}",
                idx.data_type()
            )));
        };
        let out_schema = batches
            .first()
            .map(arrow_array::RecordBatch::schema)
            .unwrap_or(schema);
        Ok((batches, out_schema))
    })?;
    PyTable::try_new(out.0, out.1)
}

/// `_native.take_block`: the rows `indices` of every column of a table of one fixed-width type (a pandas
/// block's columns, handed over zero-copy as Arrow arrays), written column after column into one array that
/// Python views as a 2-D (columns × rows) numpy array. `fill` is "same" (keep the type, -1 rows get
/// `fill_value`, NaN for floats) or "float64" (integers become float64, -1 rows NaN).
#[pyfunction]
#[pyo3(signature = (table, indices, fill, fill_value=0, *, threads=None))]
pub(crate) fn take_block(
    py: Python<'_>,
    table: PyTable,
    indices: PyArray,
    fill: &str,
    fill_value: i64,
    threads: Option<usize>,
) -> PyResult<PyArray> {
    let fill = match fill {
        "same" => gather::BlockFill::Same(fill_value),
        "float64" => gather::BlockFill::Float64,
        other => {
            return Err(to_py_err(
                py,
                MergeError::InvalidArgument(format!(
                    "take_block fill must be 'same' or 'float64', not {other:?}"
                )),
            ))
        }
    };
    let (batches, schema) = table.into_inner();
    let (idx, _) = indices.into_inner();
    let cancel = crate::join::Cancel::default();
    let out = run_detached(py, &cancel, move || {
        let idx = idx.as_any().downcast_ref::<Int64Array>().ok_or_else(|| {
            MergeError::InvalidArgument(format!(
                "take_block() needs int64 indices, got {}",
                idx.data_type()
            ))
        })?;
        let (cols, _) = columns(&batches, &schema)?;
        let pool = crate::pool::pool(threads)?;
        pool.install(|| gather::take_block(&cols, idx.values(), fill))
    })?;
    let field = Arc::new(Field::new("block", out.data_type().clone(), false));
    Ok(PyArray::new(out, field))
}

#[pyfunction]
pub(crate) fn default_threads() -> usize {
    crate::pool::default_threads()
}

/// Whether the engine joins keys of these two Arrow types by value (`join::unify::compare_by_value`); the
/// pandas face numbers the pairs it refuses instead of guessing which types compare.
#[pyfunction]
#[allow(clippy::needless_pass_by_value)] // owned, as every Arrow argument crosses the boundary
pub(crate) fn key_types_compare(left: PyDataType, right: PyDataType) -> bool {
    crate::join::unify::compare_by_value(left.as_ref(), right.as_ref())
}
