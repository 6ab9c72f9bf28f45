//! `_native.read_csv` and `_native.join_files`: argument conversion only; the work is in `crate::io`.

use pyo3::prelude::*;
use pyo3_arrow::PyTable;

use crate::error::{MergeError, Result};
use crate::io::csv::{self, CsvOptions};
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

/// Returns (table, warnings, bad_line_count).
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
    let opts =
        csv_options(sep, quotechar, header, names, on_bad_lines).map_err(|e| to_py_err(py, e))?;
    let cancel = Cancel::default();
    let c = cancel.clone();
    let r = run_detached(py, &cancel, move || {
        let pool = crate::pool::pool(threads)?;
        pool.install(|| csv::read_csv(&path, opts, infer_types, &c))
    })?;
    Ok((
        PyTable::try_new(r.batches, r.schema)?,
        r.warnings,
        r.bad_lines,
    ))
}
