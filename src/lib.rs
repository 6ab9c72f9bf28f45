//! mergekit: an Arrow-native, partitioned, multi-threaded hash join.
//!
//! This file is a table of contents. The engine (`join`, `io`) never sees a `PyO3` type; the bindings live in
//! `py` and are compiled only with the `python` feature that maturin turns on.

pub(crate) mod alloc;
pub mod error;
pub mod io;
pub mod join;
pub mod pool;

#[cfg(feature = "python")]
mod py;

/// Large buffers get transparent huge pages (see `alloc`): page faults were most of a join's time.
#[global_allocator]
static ALLOCATOR: alloc::HugePageHint = alloc::HugePageHint;

#[cfg(feature = "python")]
use pyo3::prelude::*;

/// The private native module behind `mergekit` (see `python/mergekit/_native.pyi`).
#[cfg(feature = "python")]
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    py::register(m)
}
