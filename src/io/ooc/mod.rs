//! The out-of-core join driver.
//!
//! Inputs that fit the memory budget are read and joined in memory. When only the smaller input fits, it
//! is held and the other streamed through it (`stream.rs`), with nothing spilled. Otherwise both inputs are
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
mod driver;
mod emit;
mod keys;
mod resolve;
mod selector;
mod side;
mod source;
mod stream;
#[cfg(test)]
mod tests;

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::error::Result;
use crate::io::spill::SpillDir;
use crate::io::write::OutputFile;

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
    let out = OutputFile::create(&args.output, &r.out_schema, args.format)?;
    let budget = args.memory_limit.max(1 << 20);
    let mut d = Driver {
        args,
        r,
        out,
        budget,
        // Index pairs cost 16 bytes a row, and the gathered rows about as much again.
        out_cap: (budget / 4 / 32).max(1024),
        spill: None,
        summary: Summary::default(),
    };
    let p = &args.progress;
    let input_bytes = ls.size() + rs.size();
    p.total_bytes.store(input_bytes, Ordering::Relaxed);
    // CSV text becomes Arrow strings of about the same size, plus the engine's per-row state.
    let fits = input_bytes.saturating_mul(2) <= budget / 2;
    let block_bytes = (budget / 8).clamp(1 << 16, 256 << 20) as usize;
    if fits {
        p.phase.store(1, Ordering::Relaxed);
        let l = d.read_all(&mut ls, SideId::Left, block_bytes, 0)?;
        let rr = d.read_all(&mut rs, SideId::Right, block_bytes, ls.position())?;
        p.phase.store(3, Ordering::Relaxed);
        d.join_pair(SideData::Memory(l), SideData::Memory(rr), 0)?;
        d.summary.partitions = 1;
    } else {
        // The smaller input, when it fits the budget alone, is held in memory and the other streamed through
        // it: nothing is spilled. Otherwise (or when it turns out bigger than its size promised) both are
        // partitioned to spill files.
        let held_side = if rs.size() <= ls.size() {
            SideId::Right
        } else {
            SideId::Left
        };
        let held = {
            let src = match held_side {
                SideId::Left => &mut ls,
                SideId::Right => &mut rs,
            };
            if src.size().saturating_mul(2) <= budget / 2 {
                p.phase.store(1, Ordering::Relaxed);
                Some(d.read_all(src, held_side, block_bytes, 0)?)
            } else {
                None
            }
        };
        match held {
            Some(h) if batches_cost(&h) <= budget / 2 => {
                p.phase.store(3, Ordering::Relaxed);
                // What the held side leaves of the budget, for a streamed block as text (which becomes
                // about twice its size as Arrow arrays, engine state and output rows).
                let free = budget.saturating_sub(batches_cost(&h));
                let stream_block = (free / 4).clamp(1 << 16, 512 << 20) as usize;
                let (src, base) = match held_side {
                    SideId::Left => (&mut rs, ls.position()),
                    SideId::Right => (&mut ls, rs.position()),
                };
                d.stream_join(&h, held_side, src, stream_block, base)?;
                d.summary.streamed = true;
                d.summary.partitions = 1;
            }
            held => d.partition_join(&mut ls, &mut rs, held.map(|h| (held_side, h)), block_bytes)?,
        }
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
