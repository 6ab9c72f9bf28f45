//! The one place engine errors become Python exceptions: each `MergeError::kind` names a class in
//! `mergekit.exceptions`, which derives from the pandas/builtin exception users already catch.

use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError};
use pyo3::prelude::*;

use crate::error::MergeError;

// By value: every caller hands it over from `map_err`.
#[allow(clippy::needless_pass_by_value)]
pub(crate) fn to_py_err(py: Python<'_>, err: MergeError) -> PyErr {
    if let MergeError::Cancelled = err {
        return PyKeyboardInterrupt::new_err("the join was interrupted");
    }
    let message = err.to_string();
    let class = py
        .import("mergekit.exceptions")
        .and_then(|m| m.getattr(err.kind()));
    match class.and_then(|c| c.call1((message.clone(),))) {
        Ok(instance) => PyErr::from_value(instance),
        // The exceptions module itself failed to import: still raise, with the engine's message.
        Err(_) => PyRuntimeError::new_err(message),
    }
}
