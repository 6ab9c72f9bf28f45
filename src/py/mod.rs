//! Python bindings: argument conversion, the GIL-release helper and the error map. No join logic here.

mod errors;
mod files;
mod gil;
mod merge;

use pyo3::prelude::*;

pub(crate) use errors::to_py_err;
pub(crate) use gil::run_detached;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(merge::join_indices, m)?)?;
    m.add_function(wrap_pyfunction!(merge::take, m)?)?;
    m.add_function(wrap_pyfunction!(merge::take_block, m)?)?;
    m.add_function(wrap_pyfunction!(merge::default_threads, m)?)?;
    m.add_function(wrap_pyfunction!(merge::key_types_compare, m)?)?;
    m.add_function(wrap_pyfunction!(files::read_csv, m)?)?;
    m.add_function(wrap_pyfunction!(files::csv_columns, m)?)?;
    m.add_function(wrap_pyfunction!(files::join_files, m)?)?;
    m.add_function(wrap_pyfunction!(errors::error_class_names, m)?)?;
    m.add_function(wrap_pyfunction!(errors::register_error_classes, m)?)?;
    m.add_class::<files::JoinProgress>()?;
    Ok(())
}
