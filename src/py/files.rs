//! `_native.read_csv` and `_native.join_files`: argument conversion only; the work is in `crate::io`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::{PyRecordBatchReader, PyTable};

use crate::error::{MergeError, Result};
use crate::io::csv::{self, CsvOptions};
use crate::io::ooc::{self, Input, JoinFilesArgs, OutColumn, Progress, SideId};
use crate::io::write::OutputFormat;
use crate::join::Cancel;
use crate::py::{run_detached, to_py_err};

fn one_byte(what: &str, s: &str) -> Result<u8> {
    match s.as_bytes() {
        [b] => Ok(*b),
        _ => Err(MergeError::InvalidArgument(format!(
            "{what} must be a single one-byte character, got {s:?}"
        ))),
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn csv_options(
    sep: &str,
    quotechar: Option<&str>,
    header: bool,
    names: Option<Vec<String>>,
    on_bad_lines: &str,
) -> Result<CsvOptions> {
    Ok(CsvOptions {
        sep: one_byte("sep", sep)?,
        quote: quotechar.map(|q| one_byte("quotechar", q)).transpose()?,
        header,
        names,
        on_bad_lines: on_bad_lines.parse()?,
        ..CsvOptions::default()
    })
}

/// Returns (table, warnings, `bad_line_count`).
#[pyfunction]
#[pyo3(signature = (path, *, sep="\t", quotechar=Some("\""), header=true, names=None, on_bad_lines="error",
                    infer_types=false, threads=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn read_csv(
    py: Python<'_>,
    path: String,
    sep: &str,
    quotechar: Option<&str>,
    header: bool,
    names: Option<Vec<String>>,
    on_bad_lines: &str,
    infer_types: bool,
    threads: Option<usize>,
) -> PyResult<(PyTable, Vec<String>, u64)> {
    let opts = csv_options(sep, quotechar, header, names, on_bad_lines).map_err(|e| to_py_err(py, e))?;
    let cancel = Cancel::default();
    let c = cancel.clone();
    let r = run_detached(py, &cancel, move || {
        let pool = crate::pool::pool(threads)?;
        pool.install(|| csv::read_csv(&path, opts, infer_types, &c))
    })?;
    Ok((PyTable::try_new(r.batches, r.schema)?, r.warnings, r.bad_lines))
}

/// Counters of a running `join_files`, polled by the progress bar from another Python thread.
#[pyclass(frozen, module = "mergekit._native")]
pub(crate) struct JoinProgress(pub(crate) Arc<Progress>);

#[pymethods]
impl JoinProgress {
    #[new]
    fn new() -> Self {
        JoinProgress(Arc::new(Progress::default()))
    }
    /// (phase, `done_bytes`, `total_bytes`, `rows_written`); phase: 0 starting, 1 reading, 2 partitioning,
    /// 3 joining, 4 done.
    fn snapshot(&self) -> (u8, u64, u64, u64) {
        let p = &self.0;
        (
            p.phase.load(Ordering::Relaxed),
            p.done_bytes.load(Ordering::Relaxed),
            p.total_bytes.load(Ordering::Relaxed),
            p.rows_written.load(Ordering::Relaxed),
        )
    }
}

fn input(side: &Bound<'_, PyAny>, size_hint: u64, opts: &CsvOptions) -> PyResult<Input> {
    if let Ok(path) = side.extract::<String>() {
        return Ok(Input::Csv {
            path,
            opts: opts.clone(),
        });
    }
    let reader: PyRecordBatchReader = side.extract()?;
    Ok(Input::Batches {
        name: "<arrow stream>".into(),
        reader: reader.into_reader()?,
        size_hint,
    })
}

/// Returns the summary as a dict of `Summary`'s fields.
#[pyfunction]
#[pyo3(signature = (left, right, output, *, left_on, right_on, how, plan, memory_limit, left_size=0, right_size=0,
                    sep="\t", quotechar=Some("\""), header=true, on_bad_lines="error", output_sep=Some("\t"),
                    output_header=true, nulls_equal=true, threads=None, temp_dir=None, spill_compression="auto", progress=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn join_files<'py>(
    py: Python<'py>,
    left: &Bound<'py, PyAny>,
    right: &Bound<'py, PyAny>,
    output: String,
    left_on: Vec<String>,
    right_on: Vec<String>,
    how: &str,
    plan: Vec<(String, String, String, Option<String>)>,
    memory_limit: u64,
    left_size: u64,
    right_size: u64,
    sep: &str,
    quotechar: Option<&str>,
    header: bool,
    on_bad_lines: &str,
    output_sep: Option<&str>,
    output_header: bool,
    nulls_equal: bool,
    threads: Option<usize>,
    temp_dir: Option<String>,
    spill_compression: &str,
    progress: Option<&Bound<'py, JoinProgress>>,
) -> PyResult<Bound<'py, PyDict>> {
    let err = |e| to_py_err(py, e);
    let opts = csv_options(sep, quotechar, header, None, on_bad_lines).map_err(err)?;
    let format = match output_sep {
        Some(s) => OutputFormat::Delimited {
            sep: one_byte("output sep", s).map_err(err)?,
            header: output_header,
        },
        None => OutputFormat::Parquet,
    };
    let plan = plan
        .into_iter()
        .map(|(name, side, source, coalesce_from)| {
            let side = match side.as_str() {
                "left" => SideId::Left,
                "right" => SideId::Right,
                other => return Err(MergeError::InvalidArgument(format!("plan side {other:?}"))),
            };
            Ok(OutColumn {
                name,
                side,
                source,
                coalesce_from,
            })
        })
        .collect::<Result<Vec<_>>>()
        .map_err(err)?;
    let args = JoinFilesArgs {
        left_on,
        right_on,
        kind: how.parse().map_err(err)?,
        nulls_equal,
        plan,
        memory_limit,
        threads,
        output,
        format,
        temp_dir,
        spill_compression: spill_compression.parse().map_err(err)?,
        cancel: Cancel::default(),
        progress: progress.map_or_else(|| Arc::new(Progress::default()), |p| Arc::clone(&p.get().0)),
    };
    let l = input(left, left_size, &opts)?;
    let r = input(right, right_size, &opts)?;
    let cancel = args.cancel.clone();
    let s = run_detached(py, &cancel, move || {
        let pool = crate::pool::pool(args.threads)?;
        pool.install(|| ooc::join_files(l, r, &args))
    })?;
    s.into_pyobject(py)
}

/// Column names of a delimited file (reads only up to its first record).
#[pyfunction]
#[pyo3(signature = (path, *, sep="\t", quotechar=Some("\""), header=true))]
pub(crate) fn csv_columns(
    py: Python<'_>,
    path: &str,
    sep: &str,
    quotechar: Option<&str>,
    header: bool,
) -> PyResult<Vec<String>> {
    let opts = csv_options(sep, quotechar, header, None, "error").map_err(|e| to_py_err(py, e))?;
    let f = csv::CsvFile::open(path, opts).map_err(|e| to_py_err(py, e))?;
    Ok(f.schema().fields().iter().map(|f| f.name().clone()).collect())
}
