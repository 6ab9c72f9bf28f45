//! The output file: delimited text (TSV/CSV) or Parquet (row groups encoded as batches arrive, so the
//! output is never held whole), written under a hidden temporary name beside the target and renamed over
//! it only when complete, so a failed, interrupted or killed run never leaves a partial output at the
//! target path.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{ArrowError, DataType, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use rayon::prelude::*;

use crate::error::{MergeError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Delimited text with `sep`, a header line, and quotes only where a value needs them (pandas'
    /// `QUOTE_MINIMAL`): a value holding the separator, a quote or a line end. Nulls are empty fields.
    Delimited { sep: u8, header: bool },
    /// Parquet with Snappy pages (pyarrow's and `DuckDB`'s default) and the Arrow schema in its metadata,
    /// so pyarrow reads back the exact Arrow types.
    Parquet,
}

enum Sink {
    Delimited { out: BufWriter<File>, sep: u8 },
    // The writer's encoders are not `Sync`; the mutex lets an `OutputFile` sit in state that parallel
    // tasks share (only one thread ever writes, so it is never contended).
    Parquet(Box<Mutex<ArrowWriter<BufWriter<File>>>>),
}

pub struct OutputFile {
    target: PathBuf,
    tmp: PathBuf,
    sink: Option<Sink>,
    pub rows: u64,
}

fn io_err(path: &Path, e: std::io::Error) -> MergeError {
    MergeError::Io {
        path: path.display().to_string(),
        source: e,
    }
}

/// A write failure (ENOSPC and the like) names the file like any other I/O error; anything else the Parquet
/// encoder refuses is an engine error.
fn parquet_err(path: &Path, e: ParquetError) -> MergeError {
    match e {
        ParquetError::External(inner) => match inner.downcast::<std::io::Error>() {
            Ok(io) => io_err(path, *io),
            Err(other) => MergeError::Arrow(ArrowError::ExternalError(other)),
        },
        other => MergeError::Arrow(ArrowError::ExternalError(Box::new(other))),
    }
}

/// Rows formatted per parallel task.
const FORMAT_ROWS: usize = 1 << 14;

impl OutputFile {
    pub fn create(target: &str, schema: &SchemaRef, format: OutputFormat) -> Result<Self> {
        let target = PathBuf::from(target);
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target.file_name().ok_or_else(|| {
            MergeError::InvalidArgument(format!("output {} is not a file path", target.display()))
        })?;
        let tmp = dir.join(format!(
            ".{}.mergekit-{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        let buf = BufWriter::with_capacity(1 << 20, file);
        let mut out = OutputFile {
            target,
            tmp,
            sink: None,
            rows: 0,
        };
        out.sink = Some(match format {
            OutputFormat::Delimited { sep, header } => {
                let mut w = buf;
                if header {
                    let mut line = Vec::new();
                    for (i, f) in schema.fields().iter().enumerate() {
                        if i > 0 {
                            line.push(sep);
                        }
                        push_field(&mut line, f.name().as_bytes(), sep);
                    }
                    line.push(b'\n');
                    w.write_all(&line).map_err(|e| io_err(&out.tmp, e))?;
                }
                Sink::Delimited { out: w, sep }
            }
            OutputFormat::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .build();
                let w = ArrowWriter::try_new(buf, Arc::clone(schema), Some(props))
                    .map_err(|e| parquet_err(&out.tmp, e))?;
                Sink::Parquet(Box::new(Mutex::new(w)))
            }
        });
        Ok(out)
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let tmp = self.tmp.clone();
        match self.sink.as_mut() {
            Some(Sink::Delimited { out, sep }) => {
                let sep = *sep;
                let n = batch.num_rows();
                let parts: Vec<Vec<u8>> = (0..n.div_ceil(FORMAT_ROWS))
                    .into_par_iter()
                    .map(|k| format_rows(batch, k * FORMAT_ROWS, ((k + 1) * FORMAT_ROWS).min(n), sep))
                    .collect::<Result<_>>()?;
                for p in parts {
                    out.write_all(&p).map_err(|e| io_err(&tmp, e))?;
                }
            }
            Some(Sink::Parquet(w)) => w
                .get_mut()
                .map_err(|_| MergeError::Internal("a Parquet write panicked".into()))?
                .write(batch)
                .map_err(|e| parquet_err(&tmp, e))?,
            None => return Err(MergeError::Internal("write after commit".into())),
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Flush, sync and move the file to its target name.
    pub fn commit(mut self) -> Result<()> {
        let tmp = self.tmp.clone();
        let file = match self.sink.take() {
            Some(Sink::Delimited { out, .. }) => {
                out.into_inner().map_err(|e| io_err(&tmp, e.into_error()))?
            }
            // `into_inner` writes the footer; the buffer is then flushed like the delimited one's.
            Some(Sink::Parquet(w)) => w
                .into_inner()
                .map_err(|_| MergeError::Internal("a Parquet write panicked".into()))?
                .into_inner()
                .map_err(|e| parquet_err(&tmp, e))?
                .into_inner()
                .map_err(|e| io_err(&tmp, e.into_error()))?,
            None => return Err(MergeError::Internal("commit twice".into())),
        };
        mark_written(&file);
        file.sync_all().map_err(|e| io_err(&tmp, e))?;
        drop(file);
        std::fs::rename(&tmp, &self.target).map_err(|e| io_err(&self.target, e))?;
        self.tmp = PathBuf::new();
        Ok(())
    }
}

/// The extended attribute by which a later run knows mergekit wrote this file and may replace it
/// (`python/mergekit/_output.py`). Set before the rename, so a published output always carries it; where
/// the file system has no extended attributes it is simply absent and a later run asks for `overwrite`.
fn mark_written(file: &File) {
    use std::os::fd::AsRawFd;
    const NAME: &std::ffi::CStr = c"user.mergekit.output";
    const VALUE: &[u8] = b"mergekit";
    // SAFETY: `file` is an open descriptor for the call's duration; name is NUL-terminated and value is
    // valid for VALUE.len() bytes. Failure is harmless (see above).
    let _ = unsafe {
        libc::fsetxattr(
            file.as_raw_fd(),
            NAME.as_ptr(),
            VALUE.as_ptr().cast(),
            VALUE.len(),
            0,
        )
    };
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn push_field(out: &mut Vec<u8>, v: &[u8], sep: u8) {
    let needs_quotes = v
        .iter()
        .any(|&b| b == sep || b == b'"' || b == b'\n' || b == b'\r');
    if needs_quotes {
        out.push(b'"');
        for &b in v {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(v);
    }
}

fn format_rows(batch: &RecordBatch, start: usize, end: usize, sep: u8) -> Result<Vec<u8>> {
    use std::fmt::Write as _;
    enum Col<'a> {
        Str(&'a arrow_array::StringArray),
        Other(ArrayFormatter<'a>, &'a dyn Array),
    }
    let options = FormatOptions::default().with_null("");
    let mut out = Vec::with_capacity((end - start) * 16 * batch.num_columns().max(1));
    let cols: Vec<Col> = batch
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            DataType::Utf8 => Ok(Col::Str(c.as_string::<i32>())),
            _ => Ok(Col::Other(
                ArrayFormatter::try_new(c.as_ref(), &options)?,
                c.as_ref(),
            )),
        })
        .collect::<Result<_>>()?;
    let mut scratch = String::new();
    for i in start..end {
        for (k, c) in cols.iter().enumerate() {
            if k > 0 {
                out.push(sep);
            }
            match c {
                Col::Str(a) => {
                    if a.is_valid(i) {
                        push_field(&mut out, a.value(i).as_bytes(), sep);
                    }
                }
                Col::Other(f, a) => {
                    if a.is_valid(i) {
                        scratch.clear();
                        write!(scratch, "{}", f.value(i))
                            .map_err(|e| MergeError::Internal(format!("formatting a value: {e}")))?;
                        push_field(&mut out, scratch.as_bytes(), sep);
                    }
                }
            }
        }
        out.push(b'\n');
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{Field, Schema};

    #[test]
    fn quotes_only_where_needed_and_appears_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.tsv");
        let schema = Arc::new(Schema::new(vec![
            Field::new("s", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(vec![
                    Some("a\tb"),
                    None,
                    Some("q\"x"),
                    Some("plain"),
                ])),
                Arc::new(Int64Array::from(vec![Some(1), Some(2), None, Some(-4)])),
            ],
        )
        .unwrap();
        let mut out = OutputFile::create(
            target.to_str().unwrap(),
            &schema,
            OutputFormat::Delimited {
                sep: b'\t',
                header: true,
            },
        )
        .unwrap();
        out.write(&batch).unwrap();
        assert!(!target.exists());
        out.commit().unwrap();
        let text = std::fs::read_to_string(&target).unwrap();
        assert_eq!(text, "s\tn\n\"a\tb\"\t1\n\t2\n\"q\"\"x\"\t\nplain\t-4\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn parquet_reads_back_the_same_batches_and_appears_atomically() {
        use arrow_array::types::Int32Type;
        use arrow_array::{ArrayRef, DictionaryArray, Float64Array};
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.parquet");
        let dict: DictionaryArray<Int32Type> =
            vec![Some("b"), None, Some("a"), Some("b")].into_iter().collect();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![Some("a\tb"), None, Some(""), Some("é")])),
            Arc::new(Int64Array::from(vec![Some(1), Some(2), None, Some(i64::MIN)])),
            Arc::new(Float64Array::from(vec![
                Some(0.5),
                None,
                Some(f64::NAN),
                Some(-1.0),
            ])),
            Arc::new(dict),
        ];
        let schema = Arc::new(Schema::new(
            cols.iter()
                .enumerate()
                .map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true))
                .collect::<Vec<_>>(),
        ));
        let batch = RecordBatch::try_new(Arc::clone(&schema), cols).unwrap();
        let mut out = OutputFile::create(target.to_str().unwrap(), &schema, OutputFormat::Parquet).unwrap();
        out.write(&batch).unwrap();
        out.write(&batch.slice(1, 2)).unwrap();
        assert!(!target.exists());
        out.commit().unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let file = File::open(&target).unwrap();
        let back: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        let back = arrow_select::concat::concat_batches(&schema, &back).unwrap();
        let want =
            arrow_select::concat::concat_batches(&schema, &[batch.clone(), batch.slice(1, 2)]).unwrap();
        // Same Arrow types (the schema travels in the file's metadata) and the same values, NaN included.
        assert_eq!(back.schema(), schema);
        for (b, w) in back.columns().iter().zip(want.columns()) {
            assert_eq!(b.to_data(), w.to_data());
        }
    }

    #[test]
    fn dropped_without_commit_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, true)]));
        let out = OutputFile::create(
            target.to_str().unwrap(),
            &schema,
            OutputFormat::Delimited {
                sep: b',',
                header: true,
            },
        )
        .unwrap();
        drop(out);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
