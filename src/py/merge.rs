//! `_native.join_indices` and `_native.take`: owned Arrow inputs (via the `PyCapsule` interface, zero-copy),
//! one call into the engine with the GIL released, Arrow outputs.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch};
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

#[pyfunction]
#[pyo3(signature = (left_keys, right_keys, how, *, nulls_equal=true, sort=false, validate=None,
                    max_output_rows=None, threads=None))]
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
        if args.kind == JoinKind::Cross {
            let rows = |batches: &[RecordBatch]| batches.iter().map(arrow_array::RecordBatch::num_rows).sum();
            return crate::join::cross_indices(rows(&lb), rows(&rb), &args);
        }
        let (l, ln) = columns(&lb, &ls)?;
        let (r, rn) = columns(&rb, &rs)?;
        if l.len() != r.len() {
            return Err(MergeError::InvalidArgument(format!(
                "len(right_on) must equal len(left_on): {ln:?} vs {rn:?}"
            )));
        }
        crate::join::join_indices(&l, &r, &ln, &rn, &args)
    })?;
    Ok((int64_array(out.left), int64_array(out.right)))
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
        let idx = idx.as_any().downcast_ref::<Int64Array>().ok_or_else(|| {
            MergeError::InvalidArgument(format!("take() needs int64 indices, got {}", idx.data_type()))
        })?;
        if idx.null_count() > 0 {
            return Err(MergeError::InvalidArgument(
                "take() indices must not be null; use -1".into(),
            ));
        }
        let pool = crate::pool::pool_for_rows(threads, idx.len())?;
        let batches = pool.install(|| gather::take_rows(&schema, &batches, idx.values()))?;
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
