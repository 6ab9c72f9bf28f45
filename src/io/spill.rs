//! Spill files: Arrow IPC files in a private temporary directory, read back through memory maps.
//!
//! Buffers are compressed (LZ4 frames by default, ZSTD on request) so a spill takes a fraction of the
//! input's bytes on disk, which is the limit at a billion rows. Uncompressed files are read zero-copy:
//! each load maps the file afresh and the decoded batches own that map, so when they are dropped the pages
//! leave this process and a partition that was joined stops counting against the memory budget.
//! The directory is removed when the join ends for any reason short of SIGKILL; a later run removes
//! directories left by processes that no longer exist.

use std::fs::File;
use std::io::BufWriter;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_ipc::reader::{read_footer_length, FileDecoder};
use arrow_ipc::writer::{FileWriter, IpcWriteOptions};
use arrow_ipc::CompressionType;
use arrow_schema::SchemaRef;
use memmap2::Mmap;

use crate::error::{MergeError, Result};

const PREFIX: &str = "mergekit-spill-";

fn io_err(path: &Path, e: std::io::Error) -> MergeError {
    MergeError::Io {
        path: path.display().to_string(),
        source: e,
    }
}

/// An Arrow writer's error about `path`: an I/O failure (a full disk) names the file, as `io_err` does.
fn write_err(path: &Path, e: arrow_schema::ArrowError) -> MergeError {
    match e {
        arrow_schema::ArrowError::IoError(_, source) => io_err(path, source),
        other => other.into(),
    }
}

/// How spill files compress their buffers. Measured at 1e8 x 1e7 rows of string keys and values under
/// 2 GB (`benches/ooc_bench.py`): none 23.6 s and 1.31 bytes on disk per input byte, LZ4 29.3 s and 1.02,
/// ZSTD 41.1 s and 0.61. Spill files that fit the page cache cost little to write, so compression only pays
/// when the disk is short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpillCompression {
    /// `None` when the disk has room for uncompressed spill files and the output, else `Zstd` (decided by
    /// the join from the free space, `ooc::disk::choose_compression`).
    #[default]
    Auto,
    None,
    Lz4,
    Zstd,
}

impl std::str::FromStr for SpillCompression {
    type Err = MergeError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "none" => Ok(Self::None),
            "lz4" => Ok(Self::Lz4),
            "zstd" => Ok(Self::Zstd),
            other => Err(MergeError::BadArgument(format!(
                "spill_compression must be one of 'auto', 'lz4', 'zstd', 'none', got {other:?}"
            ))),
        }
    }
}

impl SpillCompression {
    fn ipc(self) -> Option<CompressionType> {
        match self {
            // The join resolves `Auto` before creating its spill directory; uncompressed is the safe reading.
            Self::Auto | Self::None => None,
            Self::Lz4 => Some(CompressionType::LZ4_FRAME),
            Self::Zstd => Some(CompressionType::ZSTD),
        }
    }
}

/// The private directory of one join's spill files.
pub struct SpillDir {
    dir: tempfile::TempDir,
    compression: SpillCompression,
    next: AtomicU64,
    /// Bytes on disk of finished files.
    bytes: AtomicU64,
    /// The same data's size as Arrow arrays in memory.
    raw_bytes: AtomicU64,
}

impl SpillDir {
    pub fn new(parent: Option<&Path>, compression: SpillCompression) -> Result<Self> {
        let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        remove_stale(&parent);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}{}-", std::process::id()))
            .tempdir_in(&parent)
            .map_err(|e| io_err(&parent, e))?;
        Ok(SpillDir {
            dir,
            compression,
            next: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            raw_bytes: AtomicU64::new(0),
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Bytes written to spill files so far (on disk).
    pub fn bytes_written(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The size in memory (as Arrow arrays) of what was spilled so far.
    pub fn raw_bytes_written(&self) -> u64 {
        self.raw_bytes.load(Ordering::Relaxed)
    }

    pub fn writer(&self, schema: &SchemaRef) -> Result<SpillWriter> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.path().join(format!("{n}.arrow"));
        let file = File::create(&path).map_err(|e| io_err(&path, e))?;
        let options = IpcWriteOptions::default().try_with_compression(self.compression.ipc())?;
        let writer =
            FileWriter::try_new_with_options(BufWriter::with_capacity(1 << 16, file), schema, options)
                .map_err(|e| write_err(&path, e))?;
        Ok(SpillWriter {
            path,
            schema: Arc::clone(schema),
            writer,
            batch_rows: Vec::new(),
            raw_bytes: 0,
        })
    }

    fn add_bytes(&self, on_disk: u64, raw: u64) {
        self.bytes.fetch_add(on_disk, Ordering::Relaxed);
        self.raw_bytes.fetch_add(raw, Ordering::Relaxed);
    }
}

/// Remove directories of spill files whose process is gone (killed with SIGKILL, or a crash).
pub fn remove_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

pub struct SpillWriter {
    path: PathBuf,
    schema: SchemaRef,
    writer: FileWriter<BufWriter<File>>,
    batch_rows: Vec<usize>,
    raw_bytes: u64,
}

impl SpillWriter {
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.writer.write(batch).map_err(|e| write_err(&self.path, e))?;
        self.batch_rows.push(batch.num_rows());
        self.raw_bytes += batch.get_array_memory_size() as u64;
        Ok(())
    }

    pub fn finish(mut self, dir: &SpillDir) -> Result<SpillFile> {
        self.writer.finish().map_err(|e| write_err(&self.path, e))?;
        let file = self.writer.get_ref().get_ref();
        let on_disk = file.metadata().map_err(|e| io_err(&self.path, e))?.len();
        dir.add_bytes(on_disk, self.raw_bytes);
        let rows = self.batch_rows.iter().map(|&r| r as u64).sum();
        Ok(SpillFile {
            path: std::mem::take(&mut self.path),
            schema: Arc::clone(&self.schema),
            batch_rows: std::mem::take(&mut self.batch_rows),
            rows,
            bytes: self.raw_bytes,
            disk_bytes: on_disk,
        })
    }
}

/// A finished spill file. Deleted when dropped.
#[derive(Debug)]
pub struct SpillFile {
    path: PathBuf,
    schema: SchemaRef,
    batch_rows: Vec<usize>,
    pub rows: u64,
    /// Size of its data once loaded (as Arrow arrays in memory).
    pub bytes: u64,
    /// Size of the file (compressed).
    pub disk_bytes: u64,
}

impl SpillFile {
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }
    pub fn batch_rows(&self) -> &[usize] {
        &self.batch_rows
    }
    pub fn num_batches(&self) -> usize {
        self.batch_rows.len()
    }

    /// Batches `range` (indices into `batch_rows`), backed by a fresh memory map of the file.
    pub fn load(&self, range: Range<usize>) -> Result<Vec<RecordBatch>> {
        if range.is_empty() {
            return Ok(Vec::new());
        }
        let file = File::open(&self.path).map_err(|e| io_err(&self.path, e))?;
        // SAFETY: the file is private to this join (in its own temporary directory) and never written again.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| io_err(&self.path, e))?;
        let len = map.len();
        let bad = |what: &str| MergeError::Internal(format!("spill file {}: {what}", self.path.display()));
        if len < 10 {
            return Err(bad("truncated"));
        }
        let ptr = NonNull::new(map.as_ptr().cast_mut()).ok_or_else(|| bad("null map"))?;
        // SAFETY: `ptr` points at `len` readable bytes that stay mapped as long as the `Mmap` owner lives,
        // and the buffer (and every array sliced from it) keeps that owner alive.
        let buffer = unsafe { Buffer::from_custom_allocation(ptr, len, Arc::new(map)) };
        let mut trailer = [0u8; 10];
        trailer.copy_from_slice(&buffer[len - 10..]);
        let footer_len = read_footer_length(trailer)?;
        if footer_len + 10 > len {
            return Err(bad("bad footer length"));
        }
        let footer = arrow_ipc::root_as_footer(&buffer[len - 10 - footer_len..len - 10])
            .map_err(|e| bad(&format!("bad footer: {e}")))?;
        let blocks = footer.recordBatches().ok_or_else(|| bad("no record batches"))?;
        if blocks.len() != self.batch_rows.len() {
            return Err(bad("batch count differs from what was written"));
        }
        let decoder = FileDecoder::new(Arc::clone(&self.schema), footer.version());
        // SAFETY: this process wrote the file a moment ago with arrow's own writer; validating every
        // string again would cost a second pass over all spilled data. (Compressed buffers are
        // decompressed into fresh memory; uncompressed ones stay views of the map.)
        let mut decoder = unsafe { decoder.with_skip_validation(true) };
        // Dictionary columns (a Parquet input's, say) keep their dictionaries in separate blocks: read
        // them first, or every key would point into an empty dictionary.
        let block_data = |block: &arrow_ipc::Block| {
            let block_len = block.bodyLength() as usize + block.metaDataLength() as usize;
            let start = block.offset() as usize;
            if start + block_len > len {
                return Err(bad("block past the end"));
            }
            Ok(buffer.slice_with_length(start, block_len))
        };
        for block in footer.dictionaries().iter().flatten() {
            decoder.read_dictionary(block, &block_data(block)?)?;
        }
        range
            .map(|i| {
                let block = blocks.get(i);
                decoder
                    .read_record_batch(block, &block_data(block)?)?
                    .ok_or_else(|| bad("missing batch"))
            })
            .collect()
    }

    pub fn load_all(&self) -> Result<Vec<RecordBatch>> {
        self.load(0..self.num_batches())
    }
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        // Free the disk as soon as a partition is done; the directory removal catches anything left.
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Drop for SpillWriter {
    fn drop(&mut self) {
        // An unfinished writer (an error or a cancel mid-partitioning) leaves nothing behind.
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    #[test]
    fn write_then_load_ranges_and_cleanup() {
        let dir = SpillDir::new(None, SpillCompression::None).unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("v", DataType::Int64, true),
        ]));
        let mut w = dir.writer(&schema).unwrap();
        for b in 0..5i64 {
            let batch = RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(StringArray::from(vec![Some("a"), None, Some("é")])),
                    Arc::new(Int64Array::from(vec![b, b + 1, b + 2])),
                ],
            )
            .unwrap();
            w.write(&batch).unwrap();
        }
        let f = w.finish(&dir).unwrap();
        assert_eq!((f.rows, f.num_batches()), (15, 5));
        assert!(dir.bytes_written() > 0);
        let got = f.load(1..3).unwrap();
        assert_eq!(got.len(), 2);
        let v = got[1].column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(v.values(), &[2, 3, 4]);
        let path = f.path.clone();
        drop(got);
        drop(f);
        assert!(!path.exists());
        let d = dir.path().to_path_buf();
        drop(dir);
        assert!(!d.exists());
    }

    /// A batch with a column of every type the reader produces and a `Batches` input (Parquet) commonly
    /// carries, with nulls, sliced so offsets do not start at zero.
    fn every_type_batch() -> RecordBatch {
        use arrow_array::{
            ArrayRef, BinaryArray, BooleanArray, Date32Array, DictionaryArray, Float64Array, Int32Array,
            LargeStringArray, NullArray, StringViewArray, TimestampMicrosecondArray,
        };
        let n = 3000;
        let text = |i: usize| format!("value {} {}", i % 97, "x".repeat(i % 13));
        let columns: Vec<(&str, ArrayRef)> = vec![
            (
                "i64",
                Arc::new(
                    (0..n)
                        .map(|i| (i % 7 != 0).then_some(i as i64 * 31))
                        .collect::<Int64Array>(),
                ),
            ),
            (
                "i32",
                Arc::new((0..n).map(|i| Some(i as i32 - 1500)).collect::<Int32Array>()),
            ),
            (
                "f64",
                Arc::new(
                    (0..n)
                        .map(|i| (i % 5 != 0).then_some(i as f64 / 3.0))
                        .collect::<Float64Array>(),
                ),
            ),
            (
                "bool",
                Arc::new(
                    (0..n)
                        .map(|i| (i % 11 != 0).then_some(i % 2 == 0))
                        .collect::<BooleanArray>(),
                ),
            ),
            (
                "utf8",
                Arc::new(
                    (0..n)
                        .map(|i| (i % 9 != 0).then(|| text(i)))
                        .collect::<StringArray>(),
                ),
            ),
            (
                "large_utf8",
                Arc::new(LargeStringArray::from_iter_values((0..n).map(text))),
            ),
            (
                "utf8_view",
                Arc::new((0..n).map(|i| Some(text(i))).collect::<StringViewArray>()),
            ),
            (
                "binary",
                Arc::new(
                    (0..n)
                        .map(|i| Some(text(i).into_bytes()))
                        .collect::<BinaryArray>(),
                ),
            ),
            (
                "date32",
                Arc::new((0..n).map(|i| Some(i as i32)).collect::<Date32Array>()),
            ),
            (
                "ts_us",
                Arc::new(
                    (0..n)
                        .map(|i| Some(i as i64 * 1_000_003))
                        .collect::<TimestampMicrosecondArray>(),
                ),
            ),
            (
                "dict",
                Arc::new(
                    (0..n)
                        .map(|i| (i % 4 != 0).then(|| ["a", "bb", "ccc"][i % 3]))
                        .collect::<DictionaryArray<arrow_array::types::Int32Type>>(),
                ),
            ),
            ("null", Arc::new(NullArray::new(n))),
        ];
        let fields: Vec<Field> = columns
            .iter()
            .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
            .collect();
        let arrays = columns.into_iter().map(|(_, a)| a).collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
            .unwrap()
            .slice(17, n - 40)
    }

    #[test]
    fn every_type_round_trips_under_every_compression() {
        let batch = every_type_batch();
        let mut uncompressed = 0;
        for compression in [
            SpillCompression::None,
            SpillCompression::Lz4,
            SpillCompression::Zstd,
        ] {
            let dir = SpillDir::new(None, compression).unwrap();
            let mut w = dir.writer(&batch.schema()).unwrap();
            w.write(&batch).unwrap();
            w.write(&batch.slice(5, 100)).unwrap();
            let f = w.finish(&dir).unwrap();
            let got = f.load_all().unwrap();
            assert_eq!(got.len(), 2, "{compression:?}");
            assert_eq!(got[0], batch, "{compression:?}");
            assert_eq!(got[1], batch.slice(5, 100), "{compression:?}");
            assert_eq!(f.disk_bytes, dir.bytes_written());
            assert_eq!(f.bytes, dir.raw_bytes_written());
            if compression == SpillCompression::None {
                uncompressed = f.disk_bytes;
            } else {
                // Repetitive text compresses: the file must be well under the uncompressed file's size.
                assert!(
                    f.disk_bytes * 2 < uncompressed,
                    "{compression:?}: {} bytes, uncompressed {uncompressed}",
                    f.disk_bytes
                );
            }
        }
    }

    #[test]
    fn compression_names_parse_and_a_bad_one_is_named() {
        assert_eq!("lz4".parse::<SpillCompression>().unwrap(), SpillCompression::Lz4);
        assert_eq!(
            "auto".parse::<SpillCompression>().unwrap(),
            SpillCompression::Auto
        );
        assert_eq!(
            "zstd".parse::<SpillCompression>().unwrap(),
            SpillCompression::Zstd
        );
        assert_eq!(
            "none".parse::<SpillCompression>().unwrap(),
            SpillCompression::None
        );
        let e = "gzip".parse::<SpillCompression>().unwrap_err().to_string();
        assert!(e.contains("spill_compression") && e.contains("gzip"), "{e}");
    }
}
