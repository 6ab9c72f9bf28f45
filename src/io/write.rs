//! The output file: delimited text (TSV/CSV) or Arrow IPC (which the Python side turns into Parquet),
//! written under a hidden temporary name beside the target and renamed over it only when complete, so a
//! failed, interrupted or killed run never leaves a partial output at the target path.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_ipc::writer::FileWriter;
use arrow_schema::{DataType, SchemaRef};
use rayon::prelude::*;

use crate::error::{MergeError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Delimited text with `sep`, a header line, and quotes only where a value needs them (pandas'
    /// `QUOTE_MINIMAL`): a value holding the separator, a quote or a line end. Nulls are empty fields.
    Delimited {
        sep: u8,
        header: bool,
    },
    ArrowIpc,
}

enum Sink {
    Delimited { out: BufWriter<File>, sep: u8 },
    Ipc(Box<FileWriter<BufWriter<File>>>),
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
            OutputFormat::ArrowIpc => Sink::Ipc(Box::new(FileWriter::try_new(buf, schema)?)),
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
            Some(Sink::Ipc(w)) => w.write(batch)?,
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
            Some(Sink::Ipc(mut w)) => {
                w.finish()?;
                w.into_inner()?
                    .into_inner()
                    .map_err(|e| io_err(&tmp, e.into_error()))?
            }
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
    use std::sync::Arc;

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
