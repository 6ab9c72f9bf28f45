//! What a caller passes in (inputs, arguments, a progress handle) and gets back (the summary).

use std::sync::atomic::{AtomicU64, AtomicU8};
use std::sync::Arc;

use arrow_array::RecordBatchReader;

use crate::io::csv::CsvOptions;
use crate::io::spill::SpillCompression;
use crate::io::write::OutputFormat;
use crate::join::{Cancel, JoinKind};

pub enum Input {
    Csv {
        path: String,
        opts: CsvOptions,
    },
    /// Arrow batches from elsewhere (Parquet through pyarrow); `size_hint` is its size in memory.
    Batches {
        name: String,
        reader: Box<dyn RecordBatchReader + Send>,
        size_hint: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SideId {
    Left,
    Right,
}

/// One output column (the plan comes from `mergekit._arrow.plan_columns`, pandas' naming rules).
#[derive(Debug, Clone)]
pub struct OutColumn {
    pub name: String,
    pub side: SideId,
    pub source: String,
    /// For a shared key: the right column that fills rows the left side does not have.
    pub coalesce_from: Option<String>,
}

pub struct JoinFilesArgs {
    pub left_on: Vec<String>,
    pub right_on: Vec<String>,
    pub kind: JoinKind,
    pub nulls_equal: bool,
    pub plan: Vec<OutColumn>,
    pub memory_limit: u64,
    pub threads: Option<usize>,
    pub output: String,
    pub format: OutputFormat,
    pub temp_dir: Option<String>,
    pub spill_compression: SpillCompression,
    pub cancel: Cancel,
    pub progress: Arc<Progress>,
}

/// Counters a progress bar polls from another thread.
#[derive(Debug, Default)]
pub struct Progress {
    /// 0 starting, 1 reading, 2 partitioning, 3 joining, 4 done.
    pub phase: AtomicU8,
    pub done_bytes: AtomicU64,
    pub total_bytes: AtomicU64,
    pub rows_written: AtomicU64,
}

/// What a join did. With the `python` feature it crosses to Python in one conversion, as a dict of its
/// fields (`mergekit.files.JoinSummary` takes them as they are).
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "python", derive(pyo3::IntoPyObject))]
pub struct Summary {
    pub rows_left: u64,
    pub rows_right: u64,
    pub rows_written: u64,
    pub spilled: bool,
    /// One side was held in memory and the other streamed through it (nothing spilled).
    pub streamed: bool,
    /// Spill files' bytes on disk (compressed), and the same data's size as Arrow arrays.
    pub spill_bytes: u64,
    pub spill_raw_bytes: u64,
    pub partitions: u64,
    pub max_depth: u32,
    pub block_joins: u64,
    pub peak_rss_bytes: u64,
    pub bad_lines_left: u64,
    pub bad_lines_right: u64,
    pub warnings: Vec<String>,
    pub seconds: f64,
}

// ---------------------------------------------------------------------------------------------------------
// Memory.

/// Reset the kernel's peak-RSS mark so the summary reports this join's peak, not the process's.
pub(super) fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory of this process (`VmHWM`), in bytes; 0 where unknown.
pub fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|k| k.parse::<u64>().ok()))
        })
        .map_or(0, |kb| kb * 1024)
}
