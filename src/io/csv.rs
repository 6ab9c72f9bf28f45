//! The delimited-file reader: memory-map the file, cut it into chunks at record boundaries, parse the
//! chunks in parallel into Arrow string columns.
//!
//! Dialect (documented in `docs/files.md`): one-byte separator; records end at `\n` (a `\r` before it is
//! dropped); a field that *starts* with the quote character is quoted and may hold separators, newlines
//! and doubled quotes; a quote anywhere else is an ordinary character; text after a closing quote is kept
//! (as pandas does); empty fields, quoted or not, are null; blank lines are skipped; a UTF-8 BOM at the
//! start is ignored. Every record must have as many fields as the header (pyarrow's rule: pandas pads
//! short rows), otherwise `on_bad_lines` decides.
//!
//! The chunk splitter and the parser run the same state machine, so a chunk boundary is always a record
//! boundary even when quoted fields contain newlines.

use std::fs::File;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions, StringArray};
use arrow_buffer::{BooleanBufferBuilder, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_cast::{cast_with_options, CastOptions};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use memmap2::Mmap;
use rayon::prelude::*;

use std::os::unix::fs::FileTypeExt;

use crate::error::{MergeError, Result};
use crate::io::mapguard::MapGuard;
use crate::join::Cancel;

/// What to do with a record whose field count differs from the header's (pandas' `on_bad_lines`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadLines {
    Error,
    Warn,
    Skip,
}

impl std::str::FromStr for BadLines {
    type Err = MergeError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "error" => Ok(BadLines::Error),
            "warn" => Ok(BadLines::Warn),
            "skip" => Ok(BadLines::Skip),
            other => Err(MergeError::InvalidArgument(format!(
                "on_bad_lines={other:?} is not supported; use 'error', 'warn' or 'skip'"
            ))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CsvOptions {
    pub sep: u8,
    pub quote: Option<u8>,
    /// The first record names the columns.
    pub header: bool,
    /// Column names to use instead of the header's (or of "0", "1", ... without a header).
    pub names: Option<Vec<String>>,
    pub on_bad_lines: BadLines,
    /// Target size of one parallel parse task.
    pub chunk_bytes: usize,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            sep: b'\t',
            quote: Some(b'"'),
            header: true,
            names: None,
            on_bad_lines: BadLines::Error,
            chunk_bytes: 4 << 20,
        }
    }
}

/// At most this many warnings are kept (the count of bad lines is always exact).
const MAX_WARNINGS: usize = 1000;
const BOM: &[u8] = b"\xEF\xBB\xBF";

// ---------------------------------------------------------------------------------------------------------
// Records: the state machine shared by the splitter and the parser.

/// Where a field's bytes are: a slice of the input, or (when doubled quotes or text after a closing quote
/// had to be rewritten) a range of the record's scratch buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldRef {
    Input(usize, usize),
    Scratch(usize, usize),
}

impl FieldRef {
    fn bytes<'a>(self, data: &'a [u8], scratch: &'a [u8]) -> &'a [u8] {
        match self {
            FieldRef::Input(a, b) => &data[a..b],
            FieldRef::Scratch(a, b) => &scratch[a..b],
        }
    }
}

/// One parsed record.
struct Record {
    /// Position just after the record (after its `\n`, or the end of the data).
    end: usize,
    /// `\n` bytes consumed (inside quotes and the terminator).
    newlines: u64,
}

#[derive(Debug, PartialEq, Eq)]
enum RecordError {
    /// A quoted field runs to the end of the data.
    Unterminated,
}

/// Parse the record starting at `pos` (which must be a record boundary, `pos < data.len()`), appending its
/// fields to `fields` (and rewritten bytes to `scratch`).
fn parse_record(
    data: &[u8],
    pos: usize,
    sep: u8,
    quote: Option<u8>,
    fields: &mut Vec<FieldRef>,
    scratch: &mut Vec<u8>,
) -> std::result::Result<Record, RecordError> {
    let n = data.len();
    let mut p = pos;
    let mut newlines = 0u64;
    loop {
        // At a field start.
        if quote.is_some_and(|q| p < n && data[p] == q) {
            let q = data[p];
            let mut seg = p + 1;
            let mut at = p + 1;
            let mut rewritten: Option<usize> = None; // scratch start when the field needed rewriting
            let close = loop {
                let Some(k) = memchr::memchr(q, &data[at..]) else {
                    return Err(RecordError::Unterminated);
                };
                let k = at + k;
                if k + 1 < n && data[k + 1] == q {
                    // A doubled quote: keep one.
                    rewritten.get_or_insert(scratch.len());
                    scratch.extend_from_slice(&data[seg..=k]);
                    seg = k + 2;
                    at = k + 2;
                    continue;
                }
                break k;
            };
            newlines += memchr::memchr_iter(b'\n', &data[p + 1..close]).count() as u64;
            // Text after the closing quote, up to the separator or the end of the line, is kept literally.
            let after = close + 1;
            let stop = memchr::memchr2(sep, b'\n', &data[after..]).map_or(n, |k| after + k);
            let tail_end = if stop < n && data[stop] == b'\n' && stop > after && data[stop - 1] == b'\r' {
                stop - 1
            } else {
                stop
            };
            let field = if rewritten.is_none() && tail_end == after {
                FieldRef::Input(p + 1, close)
            } else {
                let s = rewritten.unwrap_or(scratch.len());
                scratch.extend_from_slice(&data[seg..close]);
                scratch.extend_from_slice(&data[after..tail_end]);
                FieldRef::Scratch(s, scratch.len())
            };
            fields.push(field);
            p = stop;
        } else {
            let stop = memchr::memchr2(sep, b'\n', &data[p..]).map_or(n, |k| p + k);
            let end = if stop < n && data[stop] == b'\n' && stop > p && data[stop - 1] == b'\r' {
                stop - 1
            } else {
                stop
            };
            fields.push(FieldRef::Input(p, end));
            p = stop;
        }
        if p >= n {
            return Ok(Record { end: n, newlines });
        }
        if data[p] == b'\n' {
            return Ok(Record {
                end: p + 1,
                newlines: newlines + 1,
            });
        }
        p += 1; // the separator; a separator at the end of a line leaves one more (empty) field
    }
}

/// The first record boundary at or after `target` when scanning from the boundary `from`: the position
/// just after a record's `\n`, or `data.len()`.
pub(crate) fn next_boundary(data: &[u8], from: usize, target: usize, sep: u8, quote: Option<u8>) -> usize {
    let n = data.len();
    if target >= n {
        return n;
    }
    let target = target.max(from);
    // Fast path: no quote character between `from` and the first newline after `target`, so no field in
    // between can be quoted and that newline ends a record.
    let nl = match memchr::memchr(b'\n', &data[target..]) {
        Some(k) => target + k,
        None => return n,
    };
    if quote.map_or(true, |q| memchr::memchr(q, &data[from..nl]).is_none()) {
        return nl + 1;
    }
    // Slow path: walk records (the parser's own state machine) until one ends at or after `target`.
    let mut fields = Vec::new();
    let mut scratch = Vec::new();
    let mut p = from;
    while p < n {
        fields.clear();
        scratch.clear();
        match parse_record(data, p, sep, quote, &mut fields, &mut scratch) {
            Ok(r) => p = r.end,
            Err(RecordError::Unterminated) => return n,
        }
        if p >= target {
            return p;
        }
    }
    n
}

// ---------------------------------------------------------------------------------------------------------
// Chunks: parse a run of records into string columns.

struct ColumnBuf {
    values: Vec<u8>,
    offsets: Vec<i32>,
    valid: BooleanBufferBuilder,
}

impl ColumnBuf {
    fn new(rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        ColumnBuf {
            values: Vec::with_capacity(bytes),
            offsets,
            valid: BooleanBufferBuilder::new(rows),
        }
    }
}

/// A problem found in a chunk, with its line relative to the chunk's first line (0-based).
#[derive(Debug)]
struct LocalError {
    line: u64,
    message: String,
}

struct ChunkOut {
    columns: Vec<ColumnBuf>,
    rows: usize,
    /// Local line of each row (to name the line of a value that fails UTF-8 validation).
    row_lines: Vec<u64>,
    newlines: u64,
    warnings: Vec<LocalError>,
    bad_lines: u64,
    error: Option<LocalError>,
}

fn parse_chunk(data: &[u8], ncols: usize, opts: &CsvOptions) -> ChunkOut {
    let est_rows = 64;
    let mut out = ChunkOut {
        columns: (0..ncols)
            .map(|_| ColumnBuf::new(est_rows, data.len() / ncols.max(1)))
            .collect(),
        rows: 0,
        row_lines: Vec::new(),
        newlines: 0,
        warnings: Vec::new(),
        bad_lines: 0,
        error: None,
    };
    if data.len() > i32::MAX as usize {
        out.error = Some(LocalError {
            line: 0,
            message: "a single record is larger than 2 GiB; is the quote character right?".into(),
        });
        return out;
    }
    let mut fields = Vec::with_capacity(ncols);
    let mut scratch = Vec::new();
    let mut p = 0;
    let mut line = 0u64;
    while p < data.len() {
        fields.clear();
        scratch.clear();
        let record = match parse_record(data, p, opts.sep, opts.quote, &mut fields, &mut scratch) {
            Ok(r) => r,
            Err(RecordError::Unterminated) => {
                out.error = Some(LocalError {
                    line,
                    message: "unterminated quoted field: the quote opened on this line is never closed"
                        .into(),
                });
                return out;
            }
        };
        let start_line = line;
        line += record.newlines;
        let blank = is_blank(&data[p..record.end]);
        p = record.end;
        if blank {
            continue;
        }
        if fields.len() != ncols {
            let message = format!("expected {ncols} fields, saw {}", fields.len());
            match opts.on_bad_lines {
                BadLines::Error => {
                    out.error = Some(LocalError {
                        line: start_line,
                        message,
                    });
                    return out;
                }
                BadLines::Warn => {
                    out.bad_lines += 1;
                    if out.warnings.len() < MAX_WARNINGS {
                        out.warnings.push(LocalError {
                            line: start_line,
                            message,
                        });
                    }
                }
                BadLines::Skip => out.bad_lines += 1,
            }
            continue;
        }
        for (col, f) in out.columns.iter_mut().zip(&fields) {
            let bytes = f.bytes(data, &scratch);
            col.values.extend_from_slice(bytes);
            // Cannot overflow: a chunk is at most i32::MAX bytes and a field's bytes never exceed its input.
            col.offsets.push(col.values.len() as i32);
            col.valid.append(!bytes.is_empty());
        }
        out.row_lines.push(start_line);
        out.rows += 1;
    }
    out.newlines = line;
    out
}

/// A record that is only a line end (pandas and pyarrow skip these).
fn is_blank(raw: &[u8]) -> bool {
    raw == b"\n" || raw == b"\r\n"
}

fn string_array(col: ColumnBuf) -> std::result::Result<StringArray, (usize, usize)> {
    let ColumnBuf {
        values,
        offsets,
        mut valid,
    } = col;
    let nulls = NullBuffer::new(valid.finish());
    let nulls = (nulls.null_count() > 0).then_some(nulls);
    let values_buf = Buffer::from_vec(values);
    // ok: offsets start at 0 and only grow, so `OffsetBuffer::new`'s monotonicity check cannot fail.
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    if let Ok(a) = StringArray::try_new(offsets.clone(), values_buf.clone(), nulls) {
        Ok(a)
    } else {
        // Find the first value that is not UTF-8, to name its line and bytes.
        let bytes = values_buf.as_slice();
        for (row, w) in offsets.windows(2).enumerate() {
            let v = &bytes[w[0] as usize..w[1] as usize];
            if let Err(e) = std::str::from_utf8(v) {
                return Err((row, e.valid_up_to()));
            }
        }
        Err((0, 0))
    }
}

/// At most `SHOWN_BYTES` bytes as `\\xNN` escapes (the rest of a field could be megabytes).
fn show_bytes(b: &[u8]) -> String {
    const SHOWN_BYTES: usize = 16;
    use std::fmt::Write as _;
    let mut s = String::with_capacity(SHOWN_BYTES * 4 + 3);
    for x in b.iter().take(SHOWN_BYTES) {
        // Writing to a String cannot fail.
        let _ = write!(s, "\\x{x:02x}");
    }
    if b.len() > SHOWN_BYTES {
        s.push_str("...");
    }
    s
}

// ---------------------------------------------------------------------------------------------------------
// Files.

/// An open delimited file, read block by block (each block parsed in parallel on the current rayon pool).
fn bytes_of(b: &Bytes) -> &[u8] {
    match b {
        Bytes::Map { map, .. } => map,
        Bytes::Owned(v) => v,
        Bytes::Empty => &[],
    }
}

/// Whether a record holds a carriage return that does not end a line, outside quoted fields: the mark
/// of a file with CR-only (classic Mac) line ends, which this reader would otherwise take as one record.
fn bare_cr_outside_quotes(rec: &[u8], sep: u8, quote: Option<u8>) -> bool {
    let mut i = 0;
    let mut field_start = true;
    while i < rec.len() {
        let b = rec[i];
        if field_start && quote == Some(b) {
            // Skip the quoted field: up to a quote that is not doubled.
            i += 1;
            while i < rec.len() {
                if Some(rec[i]) == quote {
                    if rec.get(i + 1).copied() == quote {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i += 1;
            field_start = false;
            continue;
        }
        if b == b'\r' && rec.get(i + 1) != Some(&b'\n') {
            return true;
        }
        field_start = b == sep || b == b'\n';
        i += 1;
    }
    false
}

/// Where a file's bytes live: a map of a regular file, or (for a pipe) the bytes read from it.
enum Bytes {
    Map {
        // Declared before `map`: the guard is released before the map is unmapped.
        guard: Option<MapGuard>,
        map: Mmap,
        file: File,
    },
    Owned(Vec<u8>),
    Empty,
}

pub struct CsvFile {
    path: String,
    bytes: Bytes,
    opts: CsvOptions,
    schema: SchemaRef,
    /// Next unread byte (a record boundary).
    pos: usize,
    /// Lines before `pos`.
    line: u64,
    pub warnings: Vec<String>,
    pub bad_lines: u64,
    pub rows: u64,
}

impl CsvFile {
    pub fn open(path: &str, opts: CsvOptions) -> Result<Self> {
        let io = |e| MergeError::Io {
            path: path.to_string(),
            source: e,
        };
        if opts.quote == Some(opts.sep) || opts.sep == b'\n' || opts.sep == b'\r' {
            return Err(MergeError::InvalidArgument(format!(
                "separator {:?} cannot be the quote character or a line end",
                opts.sep as char
            )));
        }
        let kind = std::fs::metadata(path).map_err(io)?.file_type();
        let bytes = if kind.is_file() {
            let file = File::open(path).map_err(io)?;
            let len = file.metadata().map_err(io)?.len();
            if len == 0 {
                // A zero-length file cannot be mapped; it has no columns and no rows.
                Bytes::Empty
            } else {
                // SAFETY: the map is read-only. If another program truncates the file while we read it,
                // reads of the lost pages fault; `MapGuard` turns that fault into a page of zeros and a
                // mark that `check_unchanged` reports as an error (instead of SIGBUS killing the process).
                let map = unsafe { Mmap::map(&file) }.map_err(io)?;
                let _ = map.advise(memmap2::Advice::Sequential);
                let guard = MapGuard::register(map.as_ptr(), map.len());
                Bytes::Map { map, guard, file }
            }
        } else if kind.is_fifo() || kind.is_socket() {
            // A pipe (or `/dev/stdin` fed by one) cannot be mapped: read it to its end.
            let mut data = Vec::new();
            File::open(path)
                .and_then(|mut f| std::io::Read::read_to_end(&mut f, &mut data))
                .map_err(io)?;
            Bytes::Owned(data)
        } else {
            let what = if kind.is_dir() {
                "a directory"
            } else if kind.is_char_device() {
                "a character device (a terminal or a device node)"
            } else if kind.is_block_device() {
                "a block device"
            } else {
                "not a regular file"
            };
            return Err(io(std::io::Error::other(format!(
                "is {what}, not a delimited file"
            ))));
        };
        let mut f = CsvFile {
            path: path.to_string(),
            bytes,
            opts,
            schema: Arc::new(Schema::empty()),
            pos: 0,
            line: 0,
            warnings: Vec::new(),
            bad_lines: 0,
            rows: 0,
        };
        let header = f.read_header();
        f.check_unchanged()?;
        header?;
        Ok(f)
    }

    /// An error if the mapped file shrank while it was read (see `MapGuard`): what was parsed from the
    /// lost pages is not the file's content.
    fn check_unchanged(&self) -> Result<()> {
        if let Bytes::Map { map, guard, file } = &self.bytes {
            let now = file.metadata().map_or(0, |m| m.len());
            if guard.as_ref().is_some_and(MapGuard::faulted) || now < map.len() as u64 {
                return Err(MergeError::Io {
                    path: self.path.clone(),
                    source: std::io::Error::other(format!(
                        "the file shrank from {} to {now} bytes while it was being read \
                         (another program truncated or rewrote it)",
                        map.len()
                    )),
                });
            }
        }
        Ok(())
    }

    fn data(&self) -> &[u8] {
        bytes_of(&self.bytes)
    }

    fn parse_error(&self, line: u64, message: impl Into<String>) -> MergeError {
        MergeError::Parse {
            path: self.path.clone(),
            line,
            message: message.into(),
        }
    }

    fn read_header(&mut self) -> Result<()> {
        let data = bytes_of(&self.bytes);
        let mut pos = if data.starts_with(BOM) { BOM.len() } else { 0 };
        let mut line = 0u64;
        // Skip blank lines before the first record, as the parser does.
        let mut first: Option<(Vec<String>, usize, u64)> = None;
        let mut fields = Vec::new();
        let mut scratch = Vec::new();
        while pos < data.len() {
            fields.clear();
            scratch.clear();
            let r = parse_record(
                data,
                pos,
                self.opts.sep,
                self.opts.quote,
                &mut fields,
                &mut scratch,
            )
            .map_err(|_| self.parse_error(line + 1, "unterminated quoted field in the first record"))?;
            if is_blank(&data[pos..r.end]) {
                pos = r.end;
                line += r.newlines;
                continue;
            }
            let mut names = Vec::with_capacity(fields.len());
            for f in &fields {
                let b = f.bytes(data, &scratch);
                match std::str::from_utf8(b) {
                    // Arrow's C interface (how tables reach Python) cannot carry a NUL in a name.
                    Ok(s) if s.contains('\0') => {
                        return Err(self.parse_error(
                            line + 1,
                            format!("column {} of the header holds a NUL byte", names.len() + 1),
                        ))
                    }
                    Ok(s) => names.push(s.to_string()),
                    Err(e) => {
                        return Err(self.parse_error(
                            line + 1,
                            format!(
                                "invalid UTF-8 in the first record: bytes {}",
                                show_bytes(&b[e.valid_up_to()..])
                            ),
                        ))
                    }
                }
            }
            if bare_cr_outside_quotes(&data[pos..r.end], self.opts.sep, self.opts.quote) {
                return Err(self.parse_error(
                    line + 1,
                    "the line ends are bare carriage returns (CR, classic Mac style); mergekit reads \
                     LF or CRLF line ends: convert the file first (for example: tr '\\r' '\\n')",
                ));
            }
            first = Some((names, r.end, r.newlines));
            break;
        }
        let Some((first_fields, end, newlines)) = first else {
            // Nothing but blank lines: no columns (or the given names), no rows.
            let names = self.opts.names.clone().unwrap_or_default();
            self.schema = string_schema(&names);
            self.pos = data.len();
            return Ok(());
        };
        let ncols = first_fields.len();
        let names = match (&self.opts.names, self.opts.header) {
            (Some(n), _) => {
                if n.len() != ncols {
                    return Err(self.parse_error(
                        line + 1,
                        format!(
                            "{} names were given but the first record has {ncols} fields",
                            n.len()
                        ),
                    ));
                }
                n.clone()
            }
            (None, true) => header_names(first_fields),
            (None, false) => (0..ncols).map(|i| i.to_string()).collect(),
        };
        if self.opts.header {
            self.pos = end;
            self.line = line + newlines;
        } else {
            self.pos = pos;
            self.line = line;
        }
        self.schema = string_schema(&names);
        Ok(())
    }

    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
    pub fn len_bytes(&self) -> u64 {
        self.data().len() as u64
    }
    /// Bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.pos as u64
    }
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Parse about `max_bytes` more of the file (whole records), or `None` at the end.
    pub fn next_block(&mut self, max_bytes: usize, cancel: &Cancel) -> Result<Option<Vec<RecordBatch>>> {
        let parsed = self.parse_block(max_bytes, cancel);
        if parsed.is_err() {
            // A parse error in the zeros that replaced a truncated file's pages is really that truncation.
            self.check_unchanged()?;
        }
        parsed
    }

    fn parse_block(&mut self, max_bytes: usize, cancel: &Cancel) -> Result<Option<Vec<RecordBatch>>> {
        let data = self.data();
        let n = data.len();
        if self.pos >= n {
            return Ok(None);
        }
        let ncols = self.schema.fields().len();
        let step = self.opts.chunk_bytes.clamp(1, max_bytes.max(1));
        let mut bounds = vec![self.pos];
        let mut p = self.pos;
        while p < n && p - self.pos < max_bytes {
            p = next_boundary(data, p, p + step, self.opts.sep, self.opts.quote);
            bounds.push(p);
        }
        let opts = &self.opts;
        let outs: Vec<ChunkOut> = bounds
            .par_windows(2)
            .map(|w| {
                if cancel.check().is_err() {
                    return None;
                }
                Some(parse_chunk(&data[w[0]..w[1]], ncols, opts))
            })
            .collect::<Option<Vec<_>>>()
            .ok_or(MergeError::Cancelled)?;
        let mut batches = Vec::with_capacity(outs.len());
        let mut line = self.line;
        for out in outs {
            let base = line + 1; // 1-based line of the chunk's first line
                                 // Problems are reported in file order: a bad value in a row parsed before the chunk's error
                                 // comes first.
            let mut columns: Vec<ArrayRef> = Vec::with_capacity(ncols);
            let mut bad_utf8: Option<(usize, usize, usize)> = None; // (row, column, byte)
            for (c, col) in out.columns.into_iter().enumerate() {
                match string_array(col) {
                    Ok(a) => columns.push(Arc::new(a)),
                    Err((row, at)) => {
                        if bad_utf8.map_or(true, |(r, _, _)| row < r) {
                            bad_utf8 = Some((row, c, at));
                        }
                    }
                }
            }
            if let Some((row, c, at)) = bad_utf8 {
                let name = self.schema.field(c).name();
                let l = out.row_lines.get(row).copied().unwrap_or(0);
                return Err(self.parse_error(
                    base + l,
                    format!("invalid UTF-8 in column {name:?} at byte {at} of the field"),
                ));
            }
            if let Some(e) = out.error {
                return Err(self.parse_error(base + e.line, e.message));
            }
            for w in out.warnings {
                if self.warnings.len() < MAX_WARNINGS {
                    self.warnings
                        .push(format!("{}:{}: {}", self.path, base + w.line, w.message));
                }
            }
            self.bad_lines += out.bad_lines;
            let rows = out.rows;
            let options = RecordBatchOptions::new().with_row_count(Some(rows));
            batches.push(RecordBatch::try_new_with_options(
                self.schema(),
                columns,
                &options,
            )?);
            self.rows += rows as u64;
            line += out.newlines;
        }
        // The parsed batches own copies of the bytes: let the kernel drop the mapped pages, so reading a
        // file larger than memory does not keep it resident in this process.
        // Parsed from pages the file no longer has: an error, not rows.
        self.check_unchanged()?;
        if let Bytes::Map { map: m, .. } = &self.bytes {
            let page = 4096;
            let start = self.pos / page * page;
            // SAFETY: a read-only, file-backed shared map: MADV_DONTNEED only drops pages, which are read back
            // from the file if touched again; nothing borrows this range any more.
            let _ = unsafe { m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, p - start) };
        }
        self.pos = p;
        self.line = line;
        Ok(Some(batches))
    }
}

fn string_schema(names: &[String]) -> SchemaRef {
    Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

/// pandas' header rules: an empty name becomes "Unnamed: i", a repeated name "a.1", "a.2", ...
fn header_names(raw: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, name) in raw.into_iter().enumerate() {
        let base = if name.is_empty() {
            format!("Unnamed: {i}")
        } else {
            name
        };
        let mut candidate = base.clone();
        let mut k = 1;
        while !seen.insert(candidate.clone()) {
            candidate = format!("{base}.{k}");
            k += 1;
        }
        out.push(candidate);
    }
    out
}

/// A whole file read into memory.
pub struct ReadResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub warnings: Vec<String>,
    pub bad_lines: u64,
}

/// Read a whole file; with `infer_types`, columns whose every value parses as int64, float64 or bool
/// (true/false, any case) get that type.
pub fn read_csv(path: &str, opts: CsvOptions, infer_types: bool, cancel: &Cancel) -> Result<ReadResult> {
    let mut f = CsvFile::open(path, opts)?;
    let block = (f.opts.chunk_bytes * rayon::current_num_threads().max(1) * 4).max(1 << 20);
    let mut batches = Vec::new();
    while let Some(mut b) = f.next_block(block, cancel)? {
        batches.append(&mut b);
    }
    let mut schema = f.schema();
    if infer_types && !batches.is_empty() {
        let (s, b) = infer(&schema, &batches)?;
        schema = s;
        batches = b;
    }
    Ok(ReadResult {
        schema,
        batches,
        warnings: std::mem::take(&mut f.warnings),
        bad_lines: f.bad_lines,
    })
}

fn parse_bool(a: &StringArray) -> Option<BooleanArray> {
    let mut out = Vec::with_capacity(a.len());
    for v in a {
        out.push(match v {
            None => None,
            Some(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Some(s) if s.eq_ignore_ascii_case("false") => Some(false),
            Some(_) => return None,
        });
    }
    Some(BooleanArray::from(out))
}

fn infer(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let strict = CastOptions {
        safe: false,
        ..Default::default()
    };
    let ncols = schema.fields().len();
    let converted: Vec<(DataType, Vec<ArrayRef>)> = (0..ncols)
        .into_par_iter()
        .map(|c| {
            let chunks: Vec<&StringArray> = batches
                .iter()
                .filter_map(|b| b.column(c).as_any().downcast_ref::<StringArray>())
                .collect();
            let all_null = chunks.iter().all(|a| a.null_count() == a.len());
            if !all_null {
                for ty in [DataType::Int64, DataType::Float64] {
                    let cast: std::result::Result<Vec<ArrayRef>, _> = chunks
                        .iter()
                        .map(|a| cast_with_options(*a, &ty, &strict))
                        .collect();
                    if let Ok(v) = cast {
                        return (ty, v);
                    }
                }
                let bools: Option<Vec<ArrayRef>> = chunks
                    .iter()
                    .map(|a| parse_bool(a).map(|b| Arc::new(b) as ArrayRef))
                    .collect();
                if let Some(v) = bools {
                    return (DataType::Boolean, v);
                }
            }
            (
                DataType::Utf8,
                chunks
                    .iter()
                    .map(|a| Arc::new((*a).clone()) as ArrayRef)
                    .collect(),
            )
        })
        .collect();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(&converted)
        .map(|(f, (t, _))| Field::new(f.name(), t.clone(), true))
        .collect();
    let new_schema = Arc::new(Schema::new(fields));
    let out = (0..batches.len())
        .map(|b| {
            let cols: Vec<ArrayRef> = converted.iter().map(|(_, v)| Arc::clone(&v[b])).collect();
            let options = RecordBatchOptions::new().with_row_count(Some(batches[b].num_rows()));
            Ok(RecordBatch::try_new_with_options(
                Arc::clone(&new_schema),
                cols,
                &options,
            )?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((new_schema, out))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use std::io::Write;

    fn write_tmp(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f.flush().unwrap();
        f
    }

    /// Every row as `Option<String>` values.
    fn rows(r: &ReadResult) -> Vec<Vec<Option<String>>> {
        let mut out = Vec::new();
        for b in &r.batches {
            for i in 0..b.num_rows() {
                out.push(
                    (0..b.num_columns())
                        .map(|c| {
                            let a = b.column(c).as_string::<i32>();
                            a.is_valid(i).then(|| a.value(i).to_string())
                        })
                        .collect(),
                );
            }
        }
        out
    }

    fn read(bytes: &[u8], opts: CsvOptions) -> Result<ReadResult> {
        let f = write_tmp(bytes);
        read_csv(f.path().to_str().unwrap(), opts, false, &Cancel::default())
    }

    fn s(v: &[Option<&str>]) -> Vec<Option<String>> {
        v.iter().map(|x| x.map(str::to_string)).collect()
    }

    #[test]
    fn quoting_crlf_bom_and_nulls() {
        let data = b"\xEF\xBB\xBFa,b,c\r\n\"x,1\",\"he said \"\"hi\"\"\",\r\n\"multi\nline\",,z\r\n\r\n\"\",q,\"r\"s\n";
        let opts = CsvOptions {
            sep: b',',
            ..Default::default()
        };
        let r = read(data, opts).unwrap();
        let names: Vec<_> = r.schema.fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(
            rows(&r),
            vec![
                s(&[Some("x,1"), Some("he said \"hi\""), None]),
                s(&[Some("multi\nline"), None, Some("z")]),
                s(&[None, Some("q"), Some("rs")]),
            ]
        );
    }

    #[test]
    fn bad_lines_error_warn_skip_name_the_line() {
        let data = b"a\tb\n1\t2\n3\n\"4\n4\"\t5\t6\n7\t8\n";
        let err = read(data, CsvOptions::default()).err().unwrap();
        match err {
            MergeError::Parse { line, message, .. } => {
                assert_eq!(line, 3);
                assert_eq!(message, "expected 2 fields, saw 1");
            }
            other => panic!("{other:?}"),
        }
        let r = read(
            data,
            CsvOptions {
                on_bad_lines: BadLines::Warn,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(r.bad_lines, 2);
        assert!(
            r.warnings[1].ends_with(":4: expected 2 fields, saw 3"),
            "{:?}",
            r.warnings
        );
        assert_eq!(
            rows(&r),
            vec![s(&[Some("1"), Some("2")]), s(&[Some("7"), Some("8")])]
        );
        let r = read(
            data,
            CsvOptions {
                on_bad_lines: BadLines::Skip,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(r.warnings.is_empty());
        assert_eq!(rows(&r).len(), 2);
    }

    #[test]
    fn unterminated_quote_and_invalid_utf8_are_errors() {
        let err = read(b"a\n1\n\"open\nx\n", CsvOptions::default()).err().unwrap();
        assert!(matches!(err, MergeError::Parse { line: 3, .. }), "{err:?}");
        let err = read(b"a\tb\n1\t2\nx\t\xff\xfe\n", CsvOptions::default())
            .err()
            .unwrap();
        match err {
            MergeError::Parse { line, message, .. } => {
                assert_eq!(line, 3);
                assert!(message.contains("invalid UTF-8 in column \"b\""), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn header_rules_and_no_header() {
        let r = read(b"a\t\ta\n1\t2\t3\n", CsvOptions::default()).unwrap();
        let names: Vec<_> = r.schema.fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["a", "Unnamed: 1", "a.1"]);
        let r = read(
            b"1\t2\n3\t4",
            CsvOptions {
                header: false,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(r.schema.field(1).name(), "1");
        assert_eq!(rows(&r).len(), 2);
        let r = read(b"", CsvOptions::default()).unwrap();
        assert_eq!(r.schema.fields().len(), 0);
        let r = read(b"x\ty\n", CsvOptions::default()).unwrap();
        assert_eq!((r.schema.fields().len(), rows(&r).len()), (2, 0));
    }

    #[test]
    fn type_inference() {
        let f = write_tmp(b"i\tf\tb\ts\n1\t1.5\tTrue\tx\n\t2\tfalse\t1\n-3\t\t\t2\n");
        let r = read_csv(
            f.path().to_str().unwrap(),
            CsvOptions::default(),
            true,
            &Cancel::default(),
        )
        .unwrap();
        let types: Vec<_> = r.schema.fields().iter().map(|f| f.data_type().clone()).collect();
        assert_eq!(
            types,
            [
                DataType::Int64,
                DataType::Float64,
                DataType::Boolean,
                DataType::Utf8
            ]
        );
    }

    /// Parse `data` with chunks of `chunk` bytes (and blocks of `block` bytes) into rows, or an error line.
    fn parse_with(
        data: &[u8],
        opts: &CsvOptions,
        chunk: usize,
        block: usize,
    ) -> std::result::Result<Vec<Vec<Option<String>>>, u64> {
        let f = write_tmp(data);
        let opts = CsvOptions {
            chunk_bytes: chunk,
            ..opts.clone()
        };
        let mut file = match CsvFile::open(f.path().to_str().unwrap(), opts) {
            Ok(f) => f,
            Err(MergeError::Parse { line, .. }) => return Err(line),
            Err(e) => panic!("{e}"),
        };
        let mut all = Vec::new();
        loop {
            match file.next_block(block, &Cancel::default()) {
                Ok(Some(b)) => all.extend(b),
                Ok(None) => break,
                Err(MergeError::Parse { line, .. }) => return Err(line),
                Err(e) => panic!("{e}"),
            }
        }
        Ok(rows(&ReadResult {
            schema: file.schema(),
            batches: all,
            warnings: vec![],
            bad_lines: 0,
        }))
    }

    fn quote_field(v: &str, sep: char, always: bool) -> String {
        if always
            || v.contains(sep)
            || v.contains('"')
            || v.contains('\n')
            || v.contains('\r')
            || v.is_empty()
        {
            format!("\"{}\"", v.replace('"', "\"\""))
        } else {
            v.to_string()
        }
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// Records written with quoting read back exactly, whatever the chunk and block sizes.
        #[test]
        fn roundtrip_any_chunking(
            records in prop::collection::vec(prop::collection::vec("[a-c,\t\"\n\r é]{0,6}", 3), 1..20),
            crlf in any::<bool>(),
            always_quote in any::<bool>(),
            chunk in 1usize..64,
            block in 1usize..200,
            comma in any::<bool>(),
        ) {
            let sep = if comma { ',' } else { '\t' };
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut text = format!("x{sep}y{sep}z{eol}");
            for r in &records {
                let line: Vec<String> = r.iter().map(|v| quote_field(v, sep, always_quote)).collect();
                text.push_str(&line.join(&sep.to_string()));
                text.push_str(eol);
            }
            let opts = CsvOptions { sep: sep as u8, ..Default::default() };
            let got = parse_with(text.as_bytes(), &opts, chunk, block).unwrap();
            let want: Vec<Vec<Option<String>>> = records
                .iter()
                .map(|r| r.iter().map(|v| (!v.is_empty()).then(|| v.clone())).collect())
                .collect();
            prop_assert_eq!(got, want);
        }

        /// Arbitrary bytes never panic, and chunking never changes the outcome.
        #[test]
        fn arbitrary_bytes_chunking_is_invisible(
            data in prop::collection::vec(prop::sample::select(vec![b'a', b'\t', b'"', b'\n', b'\r', 0xff, b'b']), 0..120),
            chunk in 1usize..32,
            block in 1usize..64,
            mode in 0usize..3,
        ) {
            let on_bad_lines = [BadLines::Error, BadLines::Warn, BadLines::Skip][mode];
            let opts = CsvOptions { on_bad_lines, ..Default::default() };
            let whole = parse_with(&data, &opts, 1 << 20, 1 << 20);
            let chunked = parse_with(&data, &opts, chunk, block);
            prop_assert_eq!(whole, chunked);
        }
    }
}
