//! The out-of-core join driver.
//!
//! Inputs that fit the memory budget are read and joined in memory. Otherwise both inputs are streamed
//! once, hash-partitioned by key into spill files, and each partition pair is joined with the in-memory
//! engine. A pair still too big is partitioned again with another seed; a pair that does not shrink
//! (one key holds most of its rows) is joined in blocks: the smaller side's blocks against the bigger
//! side's blocks, with a bitmap of matched rows per side so unmatched rows (left/right/outer/anti) and
//! semi-join matches are emitted exactly once at the end. Each engine call has `max_output_rows` set from
//! the budget; when a block pair would produce more, the block is halved, so many-to-many explosions on
//! one key never allocate more than the budget either.
//!
//! Output rows come out partition by partition, not in pandas' order.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{
    new_empty_array, new_null_array, Array, ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions,
    RecordBatchReader,
};
use arrow_cast::cast;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use arrow_select::concat::concat;
use arrow_select::interleave::interleave;
use arrow_select::zip::zip;
use rayon::prelude::*;

use crate::error::{MergeError, Result};
use crate::io::csv::{CsvFile, CsvOptions};
use crate::io::spill::{SpillDir, SpillFile};
use crate::io::write::{OutputFile, OutputFormat};
use crate::join::{Cancel, JoinArgs, JoinKind};

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

// ---------------------------------------------------------------------------------------------------------
// Inputs.

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

enum Source {
    Csv(CsvFile),
    Batches {
        reader: Box<dyn RecordBatchReader + Send>,
        size_hint: u64,
        read: u64,
        done: bool,
    },
}

impl Source {
    fn open(input: Input) -> Result<(Source, String)> {
        Ok(match input {
            Input::Csv { path, opts } => {
                let f = CsvFile::open(&path, opts)?;
                (Source::Csv(f), path)
            }
            Input::Batches {
                name,
                reader,
                size_hint,
            } => (
                Source::Batches {
                    reader,
                    size_hint,
                    read: 0,
                    done: false,
                },
                name,
            ),
        })
    }
    fn schema(&self) -> SchemaRef {
        match self {
            Source::Csv(f) => f.schema(),
            Source::Batches { reader, .. } => reader.schema(),
        }
    }
    /// Estimated size of the whole input in memory.
    fn size(&self) -> u64 {
        match self {
            Source::Csv(f) => f.len_bytes(),
            Source::Batches { size_hint, .. } => *size_hint,
        }
    }
    fn position(&self) -> u64 {
        match self {
            Source::Csv(f) => f.position(),
            Source::Batches { read, .. } => *read,
        }
    }
    fn next_block(&mut self, max_bytes: usize, cancel: &Cancel) -> Result<Option<Vec<RecordBatch>>> {
        match self {
            Source::Csv(f) => f.next_block(max_bytes, cancel),
            Source::Batches {
                reader, read, done, ..
            } => {
                if *done {
                    return Ok(None);
                }
                let mut out = Vec::new();
                let mut bytes = 0usize;
                while bytes < max_bytes {
                    cancel.check()?;
                    if let Some(b) = reader.next() {
                        let b = b?;
                        bytes += b.get_array_memory_size();
                        out.push(b);
                    } else {
                        *done = true;
                        break;
                    }
                }
                *read += bytes as u64;
                Ok((!out.is_empty()).then_some(out))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Arguments, progress, summary.

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

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub rows_left: u64,
    pub rows_right: u64,
    pub rows_written: u64,
    pub spilled: bool,
    pub spill_bytes: u64,
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
fn reset_peak_rss() {
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

// ---------------------------------------------------------------------------------------------------------
// Sides: the rows of one side of a (partition) pair, in memory or in a spill file.

enum SideData {
    Memory(Vec<RecordBatch>),
    Spill(SpillFile),
}

impl SideData {
    fn rows(&self) -> u64 {
        match self {
            SideData::Memory(b) => b.iter().map(|b| b.num_rows() as u64).sum(),
            SideData::Spill(f) => f.rows,
        }
    }
    fn bytes(&self) -> u64 {
        match self {
            SideData::Memory(b) => b.iter().map(|b| b.get_array_memory_size() as u64).sum(),
            SideData::Spill(f) => f.bytes,
        }
    }
    /// Memory needed to join this side in one engine call.
    fn cost(&self) -> u64 {
        self.bytes() + self.rows() * ENGINE_BYTES_PER_ROW
    }
    fn num_batches(&self) -> usize {
        match self {
            SideData::Memory(b) => b.len(),
            SideData::Spill(f) => f.num_batches(),
        }
    }
    fn batch_rows(&self, i: usize) -> usize {
        match self {
            SideData::Memory(b) => b[i].num_rows(),
            SideData::Spill(f) => f.batch_rows()[i],
        }
    }
    fn load(&self, range: Range<usize>) -> Result<Vec<RecordBatch>> {
        match self {
            SideData::Memory(b) => Ok(b[range].to_vec()),
            SideData::Spill(f) => f.load(range),
        }
    }
    /// Consecutive batch ranges of about `max_bytes` each (at least one batch), with their first row.
    fn blocks(&self, max_bytes: u64) -> Vec<(Range<usize>, u64)> {
        let n = self.num_batches();
        let total_rows = self.rows().max(1);
        let per_row = (self.bytes() / total_rows).max(1);
        let mut out = Vec::new();
        let (mut start, mut acc, mut row0, mut row) = (0usize, 0u64, 0u64, 0u64);
        for i in 0..n {
            let r = self.batch_rows(i) as u64;
            if i > start && acc + r * (per_row + ENGINE_BYTES_PER_ROW) > max_bytes {
                out.push((start..i, row0));
                start = i;
                acc = 0;
                row0 = row;
            }
            acc += r * (per_row + ENGINE_BYTES_PER_ROW);
            row += r;
        }
        if start < n {
            out.push((start..n, row0));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------------------
// Keys: one type per key column on both sides, and a partition hash.

/// The key type both sides are cast to, so equal keys hash alike in the partitioner.
fn normal_type(t: &DataType) -> DataType {
    use DataType::{
        Binary, BinaryView, Dictionary, Float16, Float32, Float64, Int16, Int32, Int64, Int8, LargeBinary,
        LargeUtf8, UInt16, UInt32, UInt64, UInt8, Utf8, Utf8View,
    };
    match t {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => Int64,
        Float16 | Float32 | Float64 => Float64,
        LargeUtf8 | Utf8View => Utf8,
        LargeBinary | BinaryView => Binary,
        Dictionary(_, v) => normal_type(v),
        other => other.clone(),
    }
}

fn key_types(l: &[DataType], r: &[DataType]) -> Vec<DataType> {
    l.iter()
        .zip(r)
        .map(|(a, b)| {
            let (a, b) = (normal_type(a), normal_type(b));
            if a == b {
                a
            } else if matches!(
                (&a, &b),
                (DataType::Int64, DataType::Float64) | (DataType::Float64, DataType::Int64)
            ) {
                DataType::Float64
            } else {
                a
            }
        })
        .collect()
}

/// Cast a batch's key columns to the common key types (the schema changes with them).
fn normalise(
    batch: &RecordBatch,
    keys: &[usize],
    types: &[DataType],
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let mut cols = batch.columns().to_vec();
    for (&k, t) in keys.iter().zip(types) {
        if cols[k].data_type() != t {
            cols[k] = cast(&cols[k], t)?;
        }
    }
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(schema),
        cols,
        &options,
    )?)
}

fn normal_schema(schema: &SchemaRef, keys: &[usize], types: &[DataType]) -> SchemaRef {
    let mut fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    for (&k, t) in keys.iter().zip(types) {
        fields[k] = Field::new(fields[k].name(), t.clone(), true);
    }
    Arc::new(Schema::new(fields))
}

#[inline]
fn mix(h: u64, v: u64) -> u64 {
    // A multiply-xorshift step: cheap, and every input bit reaches the top bits the partitioner uses.
    let x = (h ^ v).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^ (x >> 31)
}

/// Partition number of every row: the top `bits` of a seeded hash of the key columns.
fn partition_ids(batch: &RecordBatch, keys: &[usize], seed: u64, bits: u32) -> Result<Vec<u32>> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    use std::hash::BuildHasher;
    let n = batch.num_rows();
    let state = foldhash::fast::FixedState::with_seed(seed);
    let mut h = vec![seed; n];
    for &k in keys {
        let col = batch.column(k);
        let col = match col.data_type() {
            DataType::Utf8 | DataType::Int64 | DataType::Float64 | DataType::Boolean | DataType::Binary => {
                Arc::clone(col)
            }
            // Any other (already unified) type hashes through its text form, which equal values share.
            _ => cast(col, &DataType::Utf8)?,
        };
        let is_null = |i: usize| col.is_null(i);
        macro_rules! fold {
            ($arr:expr, $f:expr) => {{
                let a = $arr;
                for (i, hv) in h.iter_mut().enumerate() {
                    let v = if is_null(i) { NULL_KEY_HASH } else { $f(a, i) };
                    *hv = mix(*hv, v);
                }
            }};
        }
        match col.data_type() {
            DataType::Utf8 => fold!(col.as_string::<i32>(), |a: &arrow_array::StringArray, i| {
                state.hash_one(a.value(i).as_bytes())
            }),
            DataType::Binary => fold!(col.as_binary::<i32>(), |a: &arrow_array::BinaryArray, i| {
                state.hash_one(a.value(i))
            }),
            DataType::Int64 => {
                fold!(
                    col.as_primitive::<Int64Type>(),
                    |a: &arrow_array::Int64Array, i| state.hash_one(a.value(i))
                );
            }
            DataType::Float64 => fold!(
                col.as_primitive::<Float64Type>(),
                |a: &arrow_array::Float64Array, i| {
                    let v: f64 = a.value(i);
                    // -0.0 == 0.0 and every NaN is one key (pandas), so they must land in one partition.
                    let bits = if v == 0.0 {
                        0u64
                    } else if v.is_nan() {
                        0x7ff8_0000_0000_0000
                    } else {
                        v.to_bits()
                    };
                    state.hash_one(bits)
                }
            ),
            DataType::Boolean => {
                fold!(col.as_boolean(), |a: &arrow_array::BooleanArray, i| state
                    .hash_one(u8::from(a.value(i))));
            }
            other => return Err(MergeError::Internal(format!("partition hash of {other}"))),
        }
    }
    Ok(h.into_iter()
        .map(|x| if bits == 0 { 0 } else { (x >> (64 - bits)) as u32 })
        .collect())
}

/// Split a batch into one batch per partition.
fn split_batch(batch: &RecordBatch, keys: &[usize], seed: u64, bits: u32) -> Result<Vec<RecordBatch>> {
    let parts = 1usize << bits;
    let ids = partition_ids(batch, keys, seed, bits)?;
    let mut rows: Vec<Vec<u32>> = vec![Vec::new(); parts];
    for (i, &p) in ids.iter().enumerate() {
        rows[p as usize].push(i as u32);
    }
    rows.into_iter()
        .map(|r| {
            let idx = arrow_array::UInt32Array::from(r);
            Ok(arrow_select::take::take_record_batch(batch, &idx)?)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------------
// The driver.

struct Resolved {
    /// Key column positions per side.
    lkeys: Vec<usize>,
    rkeys: Vec<usize>,
    lschema: SchemaRef,
    rschema: SchemaRef,
    /// Output: (side, column, coalesce column on the right).
    plan: Vec<(SideId, usize, Option<usize>)>,
    out_schema: SchemaRef,
}

struct Driver<'a> {
    args: &'a JoinFilesArgs,
    r: Resolved,
    out: OutputFile,
    budget: u64,
    out_cap: u64,
    spill: Option<SpillDir>,
    summary: Summary,
}

fn position(schema: &Schema, name: &str, side: &str) -> Result<usize> {
    schema.index_of(name).map_err(|_| MergeError::ColumnNotFound {
        side: if side == "left" { "left" } else { "right" },
        column: name.to_string(),
        available: crate::error::column_list(schema.fields().iter().map(|f| f.name().as_str())),
    })
}

fn resolve(args: &JoinFilesArgs, ls: &SchemaRef, rs: &SchemaRef) -> Result<Resolved> {
    if args.left_on.is_empty() || args.left_on.len() != args.right_on.len() {
        return Err(MergeError::InvalidArgument(
            "join_files needs the same number (at least one) of left and right key columns".into(),
        ));
    }
    if args.kind == JoinKind::Cross {
        return Err(MergeError::InvalidArgument(
            "how='cross' is not supported by join_files".into(),
        ));
    }
    let lkeys = args
        .left_on
        .iter()
        .map(|n| position(ls, n, "left"))
        .collect::<Result<Vec<_>>>()?;
    let rkeys = args
        .right_on
        .iter()
        .map(|n| position(rs, n, "right"))
        .collect::<Result<Vec<_>>>()?;
    let lt: Vec<DataType> = lkeys.iter().map(|&k| ls.field(k).data_type().clone()).collect();
    let rt: Vec<DataType> = rkeys.iter().map(|&k| rs.field(k).data_type().clone()).collect();
    let types = key_types(&lt, &rt);
    let lschema = normal_schema(ls, &lkeys, &types);
    let rschema = normal_schema(rs, &rkeys, &types);
    // The engine decides which key types can be joined: ask it on zero rows, so join_files accepts and
    // rejects exactly what `merge` does, with the same error.
    let le: Vec<ArrayRef> = lkeys
        .iter()
        .map(|&k| new_empty_array(lschema.field(k).data_type()))
        .collect();
    let re: Vec<ArrayRef> = rkeys
        .iter()
        .map(|&k| new_empty_array(rschema.field(k).data_type()))
        .collect();
    crate::join::join_indices(
        &le,
        &re,
        &args.left_on,
        &args.right_on,
        &JoinArgs::new(JoinKind::Inner),
    )?;

    let mut plan = Vec::with_capacity(args.plan.len());
    let mut fields = Vec::with_capacity(args.plan.len());
    for c in &args.plan {
        let (schema, side) = match c.side {
            SideId::Left => (&lschema, "left"),
            SideId::Right => (&rschema, "right"),
        };
        let k = position(schema, &c.source, side)?;
        let co = c
            .coalesce_from
            .as_deref()
            .map(|n| position(&rschema, n, "right"))
            .transpose()?;
        plan.push((c.side, k, co));
        fields.push(Field::new(&c.name, schema.field(k).data_type().clone(), true));
    }
    Ok(Resolved {
        lkeys,
        rkeys,
        lschema,
        rschema,
        plan,
        out_schema: Arc::new(Schema::new(fields)),
    })
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
        p.phase.store(2, Ordering::Relaxed);
        let spill = SpillDir::new(args.temp_dir.as_deref().map(std::path::Path::new))?;
        // Size the partitions from a sample: the first block of the left input tells how many Arrow bytes
        // and rows an input byte becomes, so each partition pair's engine footprint is about a quarter of
        // the budget and joins without another level.
        let first = ls.next_block(block_bytes, &args.cancel)?;
        let consumed = ls.position().max(1);
        let factor = first.as_ref().map_or(2.0, |b| {
            let arrow: u64 = b.iter().map(|b| b.get_array_memory_size() as u64).sum();
            let rows: u64 = b.iter().map(|b| b.num_rows() as u64).sum();
            ((arrow + rows * ENGINE_BYTES_PER_ROW) as f64 / consumed as f64).max(1.0)
        });
        let est_cost = (input_bytes as f64 * factor) as u64;
        let parts = est_cost
            .div_ceil((budget / 4).max(1))
            .clamp(2, MAX_PARTITIONS)
            .next_power_of_two();
        let bits = parts.trailing_zeros();
        let lparts = d.partition_source(&mut ls, first, SideId::Left, &spill, bits, block_bytes, 0)?;
        let rparts = d.partition_source(
            &mut rs,
            None,
            SideId::Right,
            &spill,
            bits,
            block_bytes,
            ls.position(),
        )?;
        d.summary.spilled = true;
        d.summary.partitions = parts;
        let spilled = spill.bytes_written();
        d.spill = Some(spill);
        p.phase.store(3, Ordering::Relaxed);
        p.done_bytes.store(0, Ordering::Relaxed);
        p.total_bytes.store(spilled.max(1), Ordering::Relaxed);
        for (l, r) in lparts.into_iter().zip(rparts) {
            args.cancel.check()?;
            let bytes = l.bytes + r.bytes;
            d.join_pair(SideData::Spill(l), SideData::Spill(r), 1)?;
            p.done_bytes.fetch_add(bytes, Ordering::Relaxed);
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
    out.commit()?;
    drop(spill);
    p.phase.store(4, Ordering::Relaxed);
    summary.peak_rss_bytes = peak_rss();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

impl Driver<'_> {
    fn side_info(&self, side: SideId) -> (&[usize], &SchemaRef) {
        match side {
            SideId::Left => (&self.r.lkeys, &self.r.lschema),
            SideId::Right => (&self.r.rkeys, &self.r.rschema),
        }
    }

    fn key_types(&self) -> Vec<DataType> {
        self.r
            .lkeys
            .iter()
            .map(|&k| self.r.lschema.field(k).data_type().clone())
            .collect()
    }

    fn count_rows(&mut self, side: SideId, n: u64) {
        match side {
            SideId::Left => self.summary.rows_left += n,
            SideId::Right => self.summary.rows_right += n,
        }
    }

    fn read_all(
        &mut self,
        src: &mut Source,
        side: SideId,
        block: usize,
        base: u64,
    ) -> Result<Vec<RecordBatch>> {
        let (keys, schema) = self.side_info(side);
        let (keys, schema) = (keys.to_vec(), Arc::clone(schema));
        let types = self.key_types();
        let mut all = Vec::new();
        while let Some(batches) = src.next_block(block, &self.args.cancel)? {
            for b in batches {
                self.count_rows(side, b.num_rows() as u64);
                all.push(normalise(&b, &keys, &types, &schema)?);
            }
            self.args
                .progress
                .done_bytes
                .store(base + src.position(), Ordering::Relaxed);
        }
        Ok(all)
    }

    #[allow(clippy::too_many_arguments)]
    fn partition_source(
        &mut self,
        src: &mut Source,
        first: Option<Vec<RecordBatch>>,
        side: SideId,
        spill: &SpillDir,
        bits: u32,
        block: usize,
        base: u64,
    ) -> Result<Vec<SpillFile>> {
        let (keys, schema) = self.side_info(side);
        let (keys, schema) = (keys.to_vec(), Arc::clone(schema));
        let types = self.key_types();
        let mut writers = (0..1usize << bits)
            .map(|_| spill.writer(&schema))
            .collect::<Result<Vec<_>>>()?;
        let mut first = first;
        loop {
            let batches = match first.take() {
                Some(b) => b,
                None => match src.next_block(block, &self.args.cancel)? {
                    Some(b) => b,
                    None => break,
                },
            };
            self.count_rows(side, batches.iter().map(|b| b.num_rows() as u64).sum());
            let pieces: Vec<Vec<RecordBatch>> = batches
                .into_par_iter()
                .map(|b| split_batch(&normalise(&b, &keys, &types, &schema)?, &keys, SPILL_SEED, bits))
                .collect::<Result<_>>()?;
            for per_part in pieces {
                for (w, b) in writers.iter_mut().zip(per_part) {
                    w.write(&b)?;
                }
            }
            self.args
                .progress
                .done_bytes
                .store(base + src.position(), Ordering::Relaxed);
        }
        writers.into_iter().map(|w| w.finish(spill)).collect()
    }

    /// Partition one side of a pair again (level `depth`, its own seed).
    fn repartition(&self, data: &SideData, side: SideId, bits: u32, depth: u32) -> Result<Vec<SpillFile>> {
        let spill = self
            .spill
            .as_ref()
            .ok_or_else(|| MergeError::Internal("repartition without spill".into()))?;
        let (keys, schema) = self.side_info(side);
        let mut writers = (0..1usize << bits)
            .map(|_| spill.writer(schema))
            .collect::<Result<Vec<_>>>()?;
        let seed = SPILL_SEED.wrapping_add(u64::from(depth).wrapping_mul(0x6a09_e667_f3bc_c909));
        for (range, _) in data.blocks(self.budget / 4) {
            self.args.cancel.check()?;
            let batches = data.load(range)?;
            let pieces: Vec<Vec<RecordBatch>> = batches
                .par_iter()
                .map(|b| split_batch(b, keys, seed, bits))
                .collect::<Result<_>>()?;
            for per_part in pieces {
                for (w, b) in writers.iter_mut().zip(per_part) {
                    w.write(&b)?;
                }
            }
        }
        writers.into_iter().map(|w| w.finish(spill)).collect()
    }

    fn join_pair(&mut self, l: SideData, r: SideData, depth: u32) -> Result<()> {
        self.args.cancel.check()?;
        self.summary.max_depth = self.summary.max_depth.max(depth);
        if l.rows() == 0 && r.rows() == 0 {
            return Ok(());
        }
        let cost = l.cost() + r.cost();
        if cost <= self.budget / 2 {
            let lb = l.load(0..l.num_batches())?;
            let rb = r.load(0..r.num_batches())?;
            match self.join_loaded(&lb, &rb, self.args.kind) {
                Err(MergeError::OutputTooLarge { .. } | MergeError::OutOfMemory { .. }) => {}
                other => return other,
            }
            drop((lb, rb));
            return self.block_join(&l, &r);
        }
        if depth >= MAX_DEPTH || self.spill.is_none() {
            return self.block_join(&l, &r);
        }
        let parts = (cost.saturating_mul(2) / self.budget)
            .clamp(2, 64)
            .next_power_of_two();
        let bits = parts.trailing_zeros();
        let lc = self.repartition(&l, SideId::Left, bits, depth + 1)?;
        drop(l);
        let rc = self.repartition(&r, SideId::Right, bits, depth + 1)?;
        drop(r);
        for (cl, cr) in lc.into_iter().zip(rc) {
            let (cl, cr) = (SideData::Spill(cl), SideData::Spill(cr));
            // A child that kept (nearly) everything holds one heavy key: partitioning cannot split it.
            if cl.cost() + cr.cost() >= cost / 10 * 9 {
                self.summary.max_depth = self.summary.max_depth.max(depth + 1);
                self.block_join(&cl, &cr)?;
            } else {
                self.join_pair(cl, cr, depth + 1)?;
            }
        }
        Ok(())
    }

    fn key_columns(&self, batches: &[RecordBatch], side: SideId) -> Result<Vec<ArrayRef>> {
        let (keys, schema) = self.side_info(side);
        keys.iter()
            .map(|&k| {
                let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(k).as_ref()).collect();
                match parts.len() {
                    0 => Ok(new_empty_array(schema.field(k).data_type())),
                    1 => Ok(Arc::clone(batches[0].column(k))),
                    _ => Ok(concat(&parts)?),
                }
            })
            .collect()
    }

    fn engine(
        &self,
        lb: &[RecordBatch],
        rb: &[RecordBatch],
        kind: JoinKind,
        swap: bool,
    ) -> Result<(Vec<i64>, Vec<i64>)> {
        let lk = self.key_columns(lb, SideId::Left)?;
        let rk = self.key_columns(rb, SideId::Right)?;
        let mut a = JoinArgs::new(kind);
        a.nulls_equal = self.args.nulls_equal;
        a.max_output_rows = Some(self.out_cap);
        a.threads = self.args.threads;
        a.cancel = self.args.cancel.clone();
        let idx = if swap {
            crate::join::join_indices(&rk, &lk, &self.args.right_on, &self.args.left_on, &a)?
        } else {
            crate::join::join_indices(&lk, &rk, &self.args.left_on, &self.args.right_on, &a)?
        };
        Ok((idx.left, idx.right))
    }

    fn join_loaded(&mut self, lb: &[RecordBatch], rb: &[RecordBatch], kind: JoinKind) -> Result<()> {
        let (li, ri) = self.engine(lb, rb, kind, false)?;
        self.emit(lb, rb, &li, &ri)
    }

    /// Gather and write output rows `li`/`ri` (-1: no row) of the loaded batches.
    fn emit(&mut self, lb: &[RecordBatch], rb: &[RecordBatch], li: &[i64], ri: &[i64]) -> Result<()> {
        let lsel = Selector::new(lb, &self.r.lschema);
        let rsel = Selector::new(rb, &self.r.rschema);
        let slices: Vec<(usize, usize)> = (0..li.len())
            .step_by(OUT_ROWS)
            .map(|s| (s, (s + OUT_ROWS).min(li.len())))
            .collect();
        let group = rayon::current_num_threads().max(1) * 2;
        for chunk in slices.chunks(group) {
            self.args.cancel.check()?;
            let batches: Vec<RecordBatch> = chunk
                .par_iter()
                .map(|&(s, e)| self.output_batch(&lsel, &rsel, &li[s..e], &ri[s..e]))
                .collect::<Result<_>>()?;
            for b in &batches {
                self.out.write(b)?;
                self.args
                    .progress
                    .rows_written
                    .fetch_add(b.num_rows() as u64, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    fn output_batch(&self, lsel: &Selector, rsel: &Selector, li: &[i64], ri: &[i64]) -> Result<RecordBatch> {
        let lpos = lsel.positions(li);
        let rpos = rsel.positions(ri);
        let mut cols = Vec::with_capacity(self.r.plan.len());
        for &(side, k, co) in &self.r.plan {
            let col = match side {
                SideId::Left => lsel.gather(k, &lpos)?,
                SideId::Right => rsel.gather(k, &rpos)?,
            };
            let col = match co {
                Some(rk) => {
                    let from_right = rsel.gather(rk, &rpos)?;
                    let from_right = if from_right.data_type() == col.data_type() {
                        from_right
                    } else {
                        cast(&from_right, col.data_type())?
                    };
                    let has_left = BooleanArray::from(li.iter().map(|&i| i >= 0).collect::<Vec<_>>());
                    zip(&has_left, &col, &from_right)?
                }
                None => col,
            };
            cols.push(col);
        }
        let options = RecordBatchOptions::new().with_row_count(Some(li.len()));
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.r.out_schema),
            cols,
            &options,
        )?)
    }

    /// Join a pair that does not fit (or whose output does not) in blocks, tracking matched rows.
    fn block_join(&mut self, l: &SideData, r: &SideData) -> Result<()> {
        self.summary.block_joins += 1;
        let kind = self.args.kind;
        let block = self.budget / 5;
        let lblocks = l.blocks(block);
        let rblocks = r.blocks(block);
        let mut lmatched = BitSet::new(l.rows() as usize);
        let mut rmatched = BitSet::new(r.rows() as usize);
        // The side with fewer blocks is loaded in the outer loop, so the other side is re-read fewer times.
        let left_outer = lblocks.len() <= rblocks.len();
        let (outer, inner) = if left_outer {
            (&lblocks, &rblocks)
        } else {
            (&rblocks, &lblocks)
        };
        for (orange, obase) in outer {
            let ob = if left_outer {
                l.load(orange.clone())?
            } else {
                r.load(orange.clone())?
            };
            for (irange, ibase) in inner {
                self.args.cancel.check()?;
                let ib = if left_outer {
                    r.load(irange.clone())?
                } else {
                    l.load(irange.clone())?
                };
                let (lb, rb, lbase, rbase) = if left_outer {
                    (&ob, &ib, *obase, *ibase)
                } else {
                    (&ib, &ob, *ibase, *obase)
                };
                self.block_pair(
                    lb,
                    rb,
                    lbase as usize,
                    rbase as usize,
                    &mut lmatched,
                    &mut rmatched,
                    kind,
                )?;
            }
        }
        // Rows decided only now that every pair was seen.
        let emit_left = match kind {
            JoinKind::Left | JoinKind::Outer | JoinKind::LeftAnti => Some(false),
            JoinKind::LeftSemi => Some(true),
            _ => None,
        };
        if let Some(want) = emit_left {
            for (range, base) in &lblocks {
                let lb = l.load(range.clone())?;
                let n: usize = lb.iter().map(arrow_array::RecordBatch::num_rows).sum();
                let li: Vec<i64> = (0..n)
                    .filter(|&i| lmatched.get(*base as usize + i) == want)
                    .map(|i| i as i64)
                    .collect();
                let ri = vec![-1i64; li.len()];
                self.emit(&lb, &[], &li, &ri)?;
            }
        }
        if matches!(kind, JoinKind::Right | JoinKind::Outer | JoinKind::RightAnti) {
            for (range, base) in &rblocks {
                let rb = r.load(range.clone())?;
                let n: usize = rb.iter().map(arrow_array::RecordBatch::num_rows).sum();
                let ri: Vec<i64> = (0..n)
                    .filter(|&i| !rmatched.get(*base as usize + i))
                    .map(|i| i as i64)
                    .collect();
                let li = vec![-1i64; ri.len()];
                self.emit(&[], &rb, &li, &ri)?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn block_pair(
        &mut self,
        lb: &[RecordBatch],
        rb: &[RecordBatch],
        lbase: usize,
        rbase: usize,
        lmatched: &mut BitSet,
        rmatched: &mut BitSet,
        kind: JoinKind,
    ) -> Result<()> {
        match kind {
            JoinKind::LeftSemi | JoinKind::LeftAnti => {
                let (li, _) = self.engine(lb, rb, JoinKind::LeftSemi, false)?;
                li.iter().for_each(|&i| lmatched.set(lbase + i as usize));
                Ok(())
            }
            JoinKind::RightAnti => {
                // The engine's left side is our right side here.
                let (ri, _) = self.engine(lb, rb, JoinKind::LeftSemi, true)?;
                ri.iter().for_each(|&j| rmatched.set(rbase + j as usize));
                Ok(())
            }
            _ => match self.engine(lb, rb, JoinKind::Inner, false) {
                Ok((li, ri)) => {
                    li.iter().for_each(|&i| lmatched.set(lbase + i as usize));
                    ri.iter().for_each(|&j| rmatched.set(rbase + j as usize));
                    self.emit(lb, rb, &li, &ri)
                }
                Err(MergeError::OutputTooLarge { .. } | MergeError::OutOfMemory { .. }) => {
                    // Halve the side with more rows and try each half.
                    let ln: usize = lb.iter().map(arrow_array::RecordBatch::num_rows).sum();
                    let rn: usize = rb.iter().map(arrow_array::RecordBatch::num_rows).sum();
                    if ln >= rn && ln > 1 {
                        let (a, b, na) = halves(lb);
                        self.block_pair(&a, rb, lbase, rbase, lmatched, rmatched, kind)?;
                        self.block_pair(&b, rb, lbase + na, rbase, lmatched, rmatched, kind)
                    } else if rn > 1 {
                        let (a, b, na) = halves(rb);
                        self.block_pair(lb, &a, lbase, rbase, lmatched, rmatched, kind)?;
                        self.block_pair(lb, &b, lbase, rbase + na, lmatched, rmatched, kind)
                    } else {
                        Err(MergeError::Internal(
                            "one row pair exceeds the output limit".into(),
                        ))
                    }
                }
                Err(e) => Err(e),
            },
        }
    }
}

/// Split batches into two halves by rows (zero-copy slices); returns the rows of the first half too.
fn halves(batches: &[RecordBatch]) -> (Vec<RecordBatch>, Vec<RecordBatch>, usize) {
    let total: usize = batches.iter().map(arrow_array::RecordBatch::num_rows).sum();
    let half = total / 2;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut seen = 0;
    for batch in batches {
        let n = batch.num_rows();
        if seen + n <= half {
            a.push(batch.clone());
        } else if seen >= half {
            b.push(batch.clone());
        } else {
            let cut = half - seen;
            a.push(batch.slice(0, cut));
            b.push(batch.slice(cut, n - cut));
        }
        seen += n;
    }
    (a, b, half)
}

struct BitSet(Vec<u64>);
impl BitSet {
    fn new(n: usize) -> Self {
        BitSet(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn get(&self, i: usize) -> bool {
        self.0[i / 64] >> (i % 64) & 1 == 1
    }
}

/// Maps row numbers over several batches to (batch, row) for `interleave`; -1 selects a one-row null array.
struct Selector<'a> {
    batches: &'a [RecordBatch],
    schema: &'a SchemaRef,
    starts: Vec<usize>,
}

impl<'a> Selector<'a> {
    fn new(batches: &'a [RecordBatch], schema: &'a SchemaRef) -> Self {
        let mut starts = Vec::with_capacity(batches.len() + 1);
        let mut acc = 0;
        for b in batches {
            starts.push(acc);
            acc += b.num_rows();
        }
        starts.push(acc);
        Selector {
            batches,
            schema,
            starts,
        }
    }

    fn positions(&self, idx: &[i64]) -> Vec<(usize, usize)> {
        let nb = self.batches.len();
        idx.iter()
            .map(|&i| {
                if i < 0 {
                    (nb, 0)
                } else {
                    let i = i as usize;
                    let b = self.starts.partition_point(|&s| s <= i) - 1;
                    (b, i - self.starts[b])
                }
            })
            .collect()
    }

    fn gather(&self, col: usize, pos: &[(usize, usize)]) -> Result<ArrayRef> {
        let null = new_null_array(self.schema.field(col).data_type(), 1);
        let mut arrays: Vec<&dyn Array> = self.batches.iter().map(|b| b.column(col).as_ref()).collect();
        arrays.push(null.as_ref());
        Ok(interleave(&arrays, pos)?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;
    use arrow_array::StringArray;
    use std::collections::BTreeMap;

    fn batch(keys: &[Option<&str>], vals: &[&str], k: &str, v: &str) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new(k, DataType::Utf8, true),
            Field::new(v, DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(keys.to_vec())),
                Arc::new(StringArray::from(vals.to_vec())),
            ],
        )
        .unwrap()
    }

    struct VecReader(Vec<RecordBatch>, SchemaRef);
    impl Iterator for VecReader {
        type Item = std::result::Result<RecordBatch, arrow_schema::ArrowError>;
        fn next(&mut self) -> Option<Self::Item> {
            (!self.0.is_empty()).then(|| Ok(self.0.remove(0)))
        }
    }
    impl RecordBatchReader for VecReader {
        fn schema(&self) -> SchemaRef {
            Arc::clone(&self.1)
        }
    }

    /// A multiset of output rows.
    fn read_rows(path: &std::path::Path) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for line in std::fs::read_to_string(path).unwrap().lines().skip(1) {
            *m.entry(line.to_string()).or_insert(0) += 1;
        }
        m
    }

    fn run(
        kind: JoinKind,
        limit: u64,
        left: Vec<RecordBatch>,
        right: Vec<RecordBatch>,
    ) -> (BTreeMap<String, usize>, Summary) {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("o.tsv");
        let plan = vec![
            OutColumn {
                name: "k".into(),
                side: SideId::Left,
                source: "k".into(),
                coalesce_from: None,
            },
            OutColumn {
                name: "a".into(),
                side: SideId::Left,
                source: "a".into(),
                coalesce_from: None,
            },
            OutColumn {
                name: "b".into(),
                side: SideId::Right,
                source: "b".into(),
                coalesce_from: None,
            },
            OutColumn {
                name: "k_r".into(),
                side: SideId::Right,
                source: "k".into(),
                coalesce_from: None,
            },
        ];
        let args = JoinFilesArgs {
            left_on: vec!["k".into()],
            right_on: vec!["k".into()],
            kind,
            nulls_equal: true,
            plan,
            memory_limit: limit,
            threads: Some(2),
            output: out.to_str().unwrap().into(),
            format: OutputFormat::Delimited {
                sep: b'\t',
                header: true,
            },
            temp_dir: Some(dir.path().to_str().unwrap().into()),
            cancel: Cancel::default(),
            progress: Arc::new(Progress::default()),
        };
        let ls = left[0].schema();
        let rs = right[0].schema();
        let size = 50 << 20; // claim a big input so the driver spills
        let l = Input::Batches {
            name: "l".into(),
            reader: Box::new(VecReader(left, ls)),
            size_hint: size,
        };
        let r = Input::Batches {
            name: "r".into(),
            reader: Box::new(VecReader(right, rs)),
            size_hint: size,
        };
        let s = join_files(l, r, &args).unwrap();
        let rows = read_rows(&out);
        // Only the output is left in the directory: spill files and the temporary output are gone.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("o.tsv")]);
        (rows, s)
    }

    #[test]
    fn spilled_and_block_joins_match_in_memory() {
        // Key "h" holds most rows on both sides: a block join with many-to-many output.
        let mut lk = Vec::new();
        let mut rk = Vec::new();
        for i in 0..3000 {
            lk.push(if i % 4 == 0 {
                format!("k{}", i % 700)
            } else {
                "h".into()
            });
            rk.push(if i % 3 == 0 {
                format!("k{}", i % 900)
            } else if i % 50 == 1 {
                "h".into()
            } else {
                format!("r{i}")
            });
        }
        lk.push(String::new());
        rk.push(String::new());
        let mk = |keys: &[String], col: &str, tag: &str| -> Vec<RecordBatch> {
            keys.chunks(257)
                .enumerate()
                .map(|(c, ks)| {
                    let k: Vec<Option<&str>> =
                        ks.iter().map(|s| (!s.is_empty()).then_some(s.as_str())).collect();
                    let v: Vec<String> = (0..ks.len()).map(|i| format!("{tag}{c}_{i}")).collect();
                    let v: Vec<&str> = v.iter().map(String::as_str).collect();
                    batch(&k, &v, "k", col)
                })
                .collect()
        };
        for kind in JoinKind::KEYED {
            let (big, _) = run(kind, 1 << 40, mk(&lk, "a", "L"), mk(&rk, "b", "R"));
            let (small, s) = run(kind, 1 << 20, mk(&lk, "a", "L"), mk(&rk, "b", "R"));
            assert!(s.spilled, "{kind:?} {s:?}");
            // Pair-producing kinds overflow the output cap on the heavy key and fall back to blocks.
            let pairs = matches!(
                kind,
                JoinKind::Inner | JoinKind::Left | JoinKind::Right | JoinKind::Outer
            );
            assert!(!pairs || s.block_joins > 0, "{kind:?} {s:?}");
            assert_eq!(big, small, "{kind:?}");
            let (big_total, _) = (big.values().sum::<usize>(), 0);
            assert!(big_total > 0 || kind == JoinKind::RightAnti, "{kind:?}");
        }
    }
}
