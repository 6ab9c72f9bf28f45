//! Files: the delimited-file reader, spill files, the output writer and the out-of-core join driver.
//! Nothing here sees a `PyO3` type; `src/py/files.rs` is the binding.

pub mod csv;
pub mod mapguard;
pub mod ooc;
pub mod spill;
pub mod write;
