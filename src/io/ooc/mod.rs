//! The out-of-core join driver.
//!
//! Inputs that fit the memory budget are read and joined in memory. When the smaller input is small next to
//! the budget, it is held and the other streamed through it (`stream.rs`), with nothing spilled. Otherwise both inputs are
//! streamed once, hash-partitioned by key into compressed spill files, and each partition pair is joined with the in-memory
//! engine. A pair still too big is partitioned again with another seed; a pair that does not shrink
//! (one key holds most of its rows) is joined in blocks: the smaller side's blocks against the bigger
//! side's blocks, with a bitmap of matched rows per side so unmatched rows (left/right/outer/anti) and
//! semi-join matches are emitted exactly once at the end. Each engine call has `max_output_rows` set from
//! the budget; when a block pair would produce more, the block is halved, so many-to-many explosions on
//! one key never allocate more than the budget either.
//!
//! Output rows come out partition by partition, not in pandas' order.

mod args;
mod block;
mod disk;
mod driver;
mod emit;
mod keys;
mod resolve;
mod side;
mod source;
mod stream;
#[cfg(test)]
mod tests;

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::error::Result;
use crate::io::spill::{SpillCompression, SpillDir};
use crate::io::write::{OutputFile, OutputFormat};

use args::reset_peak_rss;
pub use args::{peak_rss, Input, JoinFilesArgs, OutColumn, Progress, SideId, Summary};
use driver::Driver;
use resolve::resolve;
use side::SideData;
use source::Source;

/// Engine working memory per input row on top of the data (hashes, group ids, index vectors).
const ENGINE_BYTES_PER_ROW: u64 = 64;
/// Output rows gathered and written per step.
const OUT_ROWS: usize = 1 << 16;
/// Partition levels before falling back to block joins.
const MAX_DEPTH: u32 = 4;
const MAX_PARTITIONS: u64 = 256;
/// A different seed from the engine's (and per level), so the rows of a spilled partition still spread
/// over the engine's own in-memory partitions, and a repartition splits what the last level could not.
const SPILL_SEED: u64 = 0x9e37_79b9_7f4a_7c15;
const NULL_KEY_HASH: u64 = 0x2545_f491_4f6c_dd1d;

/// How a join runs, chosen from the input sizes (delimited text becomes Arrow arrays of about its size, plus
/// the engine's per-row state: twice the text must fit half the budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    /// Both inputs are read and joined in memory.
    InMemory,
    /// The smaller input (this side) is held in memory and the other streamed through it; nothing spills.
    Stream(SideId),
    /// Both inputs are partitioned to spill files.
    Partition,
}

/// Streaming joins every streamed block against the whole held side, so the engine hashes the held rows
/// once per block: the held side must be small next to a block (about budget/9 of text, see `join_files`)
/// for that to cost less than partitioning both sides to disk. At budget/40 the held side adds at most
/// about a fifth to the engine's work. Measured at 1e8 x 1e7 rows under 2 GB (held 190 MB, 4x over this
/// bound, blocks of a quarter of what it left): streaming took 39 and 56 s in two runs and peaked at 3.0 GB,
/// over the limit; partitioning took 40 s and peaked at 1.7 GB.
const STREAM_HELD_SHARE: u64 = 40;

impl Strategy {
    fn from_sizes(left: u64, right: u64, budget: u64) -> Self {
        let fits = |bytes: u64| bytes.saturating_mul(2) <= budget / 2;
        if fits(left.saturating_add(right)) {
            Strategy::InMemory
        } else if left.min(right) <= budget / STREAM_HELD_SHARE {
            Strategy::Stream(if right <= left {
                SideId::Right
            } else {
                SideId::Left
            })
        } else {
            Strategy::Partition
        }
    }
}

/// Memory to join `batches` in one engine call: their arrays plus the engine's per-row state.
fn batches_cost(batches: &[arrow_array::RecordBatch]) -> u64 {
    batches
        .iter()
        .map(|b| b.get_array_memory_size() as u64 + b.num_rows() as u64 * ENGINE_BYTES_PER_ROW)
        .sum()
}

/// Join two files (or batch streams) into `args.output`, within `args.memory_limit` bytes where possible.
pub fn join_files(left: Input, right: Input, args: &JoinFilesArgs) -> Result<Summary> {
    let started = Instant::now();
    reset_peak_rss();
    let temp_parent = args
        .temp_dir
        .as_deref()
        .map_or_else(std::env::temp_dir, std::path::PathBuf::from);
    crate::io::spill::remove_stale(&temp_parent);
    let (mut ls, lname) = Source::open(left)?;
    let (mut rs, _rname) = Source::open(right)?;
    let _ = lname;
    let r = resolve(args, &ls.schema(), &rs.schema())?;
    let budget = args.memory_limit.max(1 << 20);
    let (lsize, rsize) = (ls.size(), rs.size());
    let strategy = Strategy::from_sizes(lsize, rsize, budget);
    // Refuse a join whose spill files and output cannot fit the disk before writing anything.
    let need = disk::estimate(
        args.kind,
        lsize,
        rsize,
        args.spill_compression,
        strategy == Strategy::Partition,
        args.format == OutputFormat::Parquet,
    );
    let output_dir = match std::path::Path::new(&args.output).parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    disk::check(need, &temp_parent, &output_dir, &disk::statvfs_probe)?;
    let compression = match args.spill_compression {
        SpillCompression::Auto => disk::choose_compression(
            lsize + rsize,
            need.output_expected,
            &temp_parent,
            &output_dir,
            &disk::statvfs_probe,
        ),
        chosen => chosen,
    };
    let out = OutputFile::create(&args.output, &r.out_schema, args.format)?;
    let mut d = Driver {
        args,
        r,
        out,
        budget,
        // Index pairs cost 16 bytes a row, and the gathered rows about as much again.
        out_cap: (budget / 4 / 32).max(1024),
        spill: None,
        summary: Summary::default(),
        compression,
    };
    let p = &args.progress;
    p.total_bytes.store(lsize + rsize, Ordering::Relaxed);
    let block_bytes = (budget / 8).clamp(1 << 16, 256 << 20) as usize;
    match strategy {
        Strategy::InMemory => {
            p.phase.store(1, Ordering::Relaxed);
            let l = d.read_all(&mut ls, SideId::Left, block_bytes, 0)?;
            let rr = d.read_all(&mut rs, SideId::Right, block_bytes, ls.position())?;
            p.phase.store(3, Ordering::Relaxed);
            d.join_pair(SideData::Memory(l), SideData::Memory(rr), 0)?;
            d.summary.partitions = 1;
        }
        Strategy::Stream(held_side) => {
            p.phase.store(1, Ordering::Relaxed);
            let held = match held_side {
                SideId::Left => d.read_all(&mut ls, held_side, block_bytes, 0)?,
                SideId::Right => d.read_all(&mut rs, held_side, block_bytes, 0)?,
            };
            if batches_cost(&held) <= budget / 2 {
                p.phase.store(3, Ordering::Relaxed);
                // What the held side leaves of the budget, for a streamed block as text: a block's Arrow
                // arrays, the engine's state over it and its output index pairs peaked at 8.7x its text
                // (1e8 x 1e6 rows, blocks of an eighth: 2.04 GiB under 2 GB), so a sixteenth.
                let free = budget.saturating_sub(batches_cost(&held));
                let stream_block = (free / 16).clamp(1 << 16, 512 << 20) as usize;
                let (src, base) = match held_side {
                    SideId::Left => (&mut rs, ls.position()),
                    SideId::Right => (&mut ls, rs.position()),
                };
                d.stream_join(&held, held_side, src, stream_block, base)?;
                d.summary.streamed = true;
                d.summary.partitions = 1;
            } else {
                // Bigger than its size promised: partitioned after all.
                d.partition_join(&mut ls, &mut rs, Some((held_side, held)), block_bytes)?;
            }
        }
        Strategy::Partition => d.partition_join(&mut ls, &mut rs, None, block_bytes)?,
    }
    if let Source::Csv(f) = &ls {
        d.summary.bad_lines_left = f.bad_lines;
        d.summary.warnings.extend(f.warnings.iter().cloned());
    }
    if let Source::Csv(f) = &rs {
        d.summary.bad_lines_right = f.bad_lines;
        d.summary.warnings.extend(f.warnings.iter().cloned());
    }
    let Driver {
        out,
        spill,
        mut summary,
        ..
    } = d;
    summary.rows_written = out.rows;
    summary.spill_bytes = spill.as_ref().map_or(0, SpillDir::bytes_written);
    summary.spill_raw_bytes = spill.as_ref().map_or(0, SpillDir::raw_bytes_written);
    out.commit()?;
    drop(spill);
    p.phase.store(4, Ordering::Relaxed);
    summary.peak_rss_bytes = peak_rss();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}
