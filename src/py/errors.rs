//! The one place engine errors become Python exceptions. `MergeError::class` says which class; this file
//! holds the class objects in a table indexed by `ErrorClass`, registered once by `mergekit.exceptions`
//! when it is imported (`register_error_classes`, which checks every name against the module), so raising
//! an error never looks a class up by name and a renamed class fails at import, not at raise time.

use std::sync::Mutex;

use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::error::{ErrorClass, MergeError};

static CLASSES: Mutex<Option<Vec<Py<PyType>>>> = Mutex::new(None);

/// Longest message an engine error carries: messages that quote input (a header, a field) are capped so
/// a hostile file cannot make a megabyte exception.
const MAX_MESSAGE_CHARS: usize = 2000;

pub(crate) fn cap_message(message: String) -> String {
    let count = message.chars().count();
    if count <= MAX_MESSAGE_CHARS {
        return message;
    }
    let kept: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
    format!("{kept}... ({} more characters)", count - MAX_MESSAGE_CHARS)
}

/// The names of the classes the engine raises, in table order.
#[pyfunction]
pub(crate) fn error_class_names() -> Vec<&'static str> {
    ErrorClass::ALL.iter().map(|c| c.python_name()).collect()
}

/// Called by `mergekit.exceptions` at import with one class per name of `error_class_names()`.
#[pyfunction]
pub(crate) fn register_error_classes(classes: Vec<Bound<'_, PyType>>) -> PyResult<()> {
    if classes.len() != ErrorClass::ALL.len() {
        return Err(PyValueError::new_err(format!(
            "register_error_classes needs {} classes, got {}",
            ErrorClass::ALL.len(),
            classes.len()
        )));
    }
    for (class, want) in classes.iter().zip(ErrorClass::ALL) {
        let name = class.name()?.to_string();
        if name != want.python_name() || !class.is_subclass_of::<pyo3::exceptions::PyException>()? {
            return Err(PyTypeError::new_err(format!(
                "error class {} is registered as {name}",
                want.python_name()
            )));
        }
    }
    let table = classes.into_iter().map(Bound::unbind).collect();
    *CLASSES.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(table);
    Ok(())
}

fn class_of(py: Python<'_>, class: ErrorClass) -> Option<Py<PyType>> {
    let lookup = || {
        CLASSES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .and_then(|t| t.get(class as usize).map(|c| c.clone_ref(py)))
    };
    lookup().or_else(|| {
        // Only if `_native` was imported on its own: importing the module registers the table.
        py.import("mergekit.exceptions").ok()?;
        lookup()
    })
}

// By value: every caller hands it over from `map_err`.
#[allow(clippy::needless_pass_by_value)]
pub(crate) fn to_py_err(py: Python<'_>, err: MergeError) -> PyErr {
    let Some(class) = err.class() else {
        return PyKeyboardInterrupt::new_err("the join was interrupted");
    };
    let message = cap_message(err.to_string());
    match class_of(py, class).map(|c| c.bind(py).call1((message.clone(),))) {
        Some(Ok(instance)) => PyErr::from_value(instance),
        // The exceptions module itself failed to import: still raise, with the engine's message.
        _ => PyRuntimeError::new_err(message),
    }
}
