//! An input, read block by block: a delimited file or a stream of Arrow batches.

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::SchemaRef;

use super::args::Input;
use crate::error::Result;
use crate::io::csv::CsvFile;
use crate::join::Cancel;

pub(super) enum Source {
    Csv(CsvFile),
    Batches {
        reader: Box<dyn RecordBatchReader + Send>,
        size_hint: u64,
        read: u64,
        done: bool,
    },
}

impl Source {
    pub(super) fn open(input: Input) -> Result<(Source, String)> {
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
    pub(super) fn schema(&self) -> SchemaRef {
        match self {
            Source::Csv(f) => f.schema(),
            Source::Batches { reader, .. } => reader.schema(),
        }
    }
    /// Estimated size of the whole input in memory.
    pub(super) fn size(&self) -> u64 {
        match self {
            Source::Csv(f) => f.len_bytes(),
            Source::Batches { size_hint, .. } => *size_hint,
        }
    }
    pub(super) fn position(&self) -> u64 {
        match self {
            Source::Csv(f) => f.position(),
            Source::Batches { read, .. } => *read,
        }
    }
    pub(super) fn next_block(
        &mut self,
        max_bytes: usize,
        cancel: &Cancel,
    ) -> Result<Option<Vec<RecordBatch>>> {
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
