//! The GIL-release helper: engine work runs on its own thread with the GIL released, while the calling
//! thread wakes every few milliseconds to let Python handle signals. Ctrl-C sets the engine's cancel flag,
//! waits for the engine to stop (it polls between morsels), and raises `KeyboardInterrupt`. A panic in the
//! engine is caught here and raised as `mergekit.exceptions.InternalError`, never as a crash.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

use pyo3::prelude::*;

use crate::error::{MergeError, Result};
use crate::join::Cancel;

const SIGNAL_POLL: Duration = Duration::from_millis(50);

pub(crate) fn run_detached<T: Send>(
    py: Python<'_>,
    cancel: &Cancel,
    work: impl FnOnce() -> Result<T> + Send,
) -> PyResult<T> {
    let outcome = std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel(1);
        scope.spawn(move || {
            let result = catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".into());
                Err(MergeError::Internal(what))
            });
            // The receiver outlives this scope's threads, so the send cannot fail.
            let _ = tx.send(result);
        });
        let mut rx = rx;
        loop {
            // The receiver moves into the detached closure and back: `detach` needs a `Send` closure, and a
            // borrowed `Receiver` is not `Send`.
            let (back, received) = py.detach(move || {
                let r = rx.recv_timeout(SIGNAL_POLL);
                (rx, r)
            });
            rx = back;
            match received {
                Ok(result) => return Ok(result),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Err(interrupt) = py.check_signals() {
                        cancel.cancel();
                        // Let the engine notice the flag and unwind before raising.
                        let _ = py.detach(move || rx.recv());
                        return Err(interrupt);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Ok(Err(MergeError::Internal(
                        "the engine thread ended without a result".into(),
                    )))
                }
            }
        }
    })?;
    outcome.map_err(|e| crate::py::to_py_err(py, e))
}
