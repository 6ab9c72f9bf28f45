//! The `Word` key encoding: fixed-width key columns packed into one 64-bit word per row, the first column
//! in the most significant bits, each column's bits order-preserving, so that comparing words compares the
//! keys lexicographically (pandas' outer-join order), hashing is one multiply and a dense table can be
//! indexed by the word.
//!
//! Two ways to pack, chosen by `keys::Layout::choose`:
//! - by type: the columns' full widths add up to at most 64 bits (two Int32 columns, say);
//! - by range (`Span`): wider columns whose values, offset by the smallest one, fit together in 64 bits.
//!   Real multi-column keys are like that: a TPC-H (partkey, suppkey) pair is two Int64 columns of values
//!   below 2^21 and 2^17, so 38 bits, where arrow's row format spent 18 bytes a row and a byte-wise
//!   compare. Both sides are packed with the same spans, computed from both.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, DurationMicrosecondType, DurationMillisecondType, DurationNanosecondType,
    DurationSecondType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type,
    Time32MillisecondType, Time32SecondType, Time64MicrosecondType, Time64NanosecondType,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
    UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType};
use arrow_schema::{DataType, TimeUnit};
use rayon::prelude::*;

use crate::error::{MergeError, Result};

/// Rows per parallel task.
const CHUNK: usize = 1 << 16;

/// Bits a fixed-width key needs in a packed `Word` by its type, or `None` if it is not word-sized.
pub(crate) fn word_bits(t: &DataType) -> Option<u32> {
    use DataType::{
        Boolean, Date32, Date64, Duration, Float32, Float64, Int16, Int32, Int64, Int8, Time32, Time64,
        Timestamp, UInt16, UInt32, UInt64, UInt8,
    };
    Some(match t {
        Boolean => 1,
        Int8 | UInt8 => 8,
        Int16 | UInt16 => 16,
        Int32 | UInt32 | Float32 | Date32 | Time32(_) => 32,
        Int64 | UInt64 | Float64 | Date64 | Time64(_) | Timestamp(_, _) | Duration(_) => 64,
        _ => return None,
    })
}

/// Where one column sits in a word packed by range: its order-preserving bits minus `offset` (the
/// smallest over both sides) fit in `bits` bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) offset: u64,
    pub(crate) bits: u32,
}

impl Span {
    /// The span of column `type_bits` wide at its full width (packing by type).
    fn full(type_bits: u32) -> Span {
        Span {
            offset: 0,
            bits: type_bits,
        }
    }
}

/// Spans for packing the key columns of both sides by range, or `None` when even their value ranges need
/// more than 64 bits together. Columns without nulls only (the caller checks): a null has no bits.
pub(crate) fn range_spans(left: &[ArrayRef], right: &[ArrayRef]) -> Result<Option<Vec<Span>>> {
    let mut spans = Vec::with_capacity(left.len());
    let mut total = 0u32;
    for (l, r) in left.iter().zip(right) {
        let span =
            merge_ranges(bit_range(l)?, bit_range(r)?).map_or(Span { offset: 0, bits: 0 }, |(lo, hi)| Span {
                offset: lo,
                bits: u64::BITS - (hi - lo).leading_zeros(),
            });
        total += span.bits;
        if total > 64 {
            return Ok(None);
        }
        spans.push(span);
    }
    Ok(Some(spans))
}

/// The key bits of every row packed into words: by type (`spans` `None`) or by range. Null rows get 0:
/// their null flag, not their word, decides equality.
pub(crate) fn pack_words(columns: &[ArrayRef], len: usize, spans: Option<&[Span]>) -> Result<Vec<u64>> {
    let spans: Vec<Span> = match spans {
        Some(s) => s.to_vec(),
        None => columns
            .iter()
            .map(|c| {
                word_bits(c.data_type())
                    .map(Span::full)
                    .ok_or_else(|| MergeError::Internal(format!("word layout for {}", c.data_type())))
            })
            .collect::<Result<_>>()?,
    };
    let mut words = vec![0u64; len];
    let mut shift: u32 = spans.iter().map(|s| s.bits).sum();
    for (col, span) in columns.iter().zip(&spans) {
        shift -= span.bits;
        if span.bits > 0 {
            let mask = if span.bits == 64 {
                u64::MAX
            } else {
                (1u64 << span.bits) - 1
            };
            visit_bits(
                col,
                &mut OrBits {
                    words: &mut words,
                    shift,
                    mask,
                    offset: span.offset,
                },
            )?;
        }
    }
    Ok(words)
}

/// Flip the sign bit so that signed values order like unsigned ones.
const fn flip64(v: i64) -> u64 {
    (v as u64) ^ (1 << 63)
}
const fn flip32(v: i32) -> u64 {
    ((v as u32) ^ (1 << 31)) as u64
}
/// IEEE total order as an unsigned integer (NaN, canonicalised positive, sorts after +inf).
fn float64_bits(v: f64) -> u64 {
    let b = v.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}
fn float32_bits(v: f32) -> u64 {
    let b = v.to_bits();
    u64::from(if b >> 31 == 1 { !b } else { b | (1 << 31) })
}

/// What is done with every valid row's order-preserving bits of one fixed-width column.
trait BitsVisitor {
    fn primitive<T: ArrowPrimitiveType>(&mut self, col: &ArrayRef, bits_of: impl Fn(T::Native) -> u64 + Sync);
    fn boolean(&mut self, col: &ArrayRef);
}

/// Runs `visitor` over `col` with its type's order-preserving bit mapping. Generic per type, so the
/// per-row conversion inlines into a tight loop.
fn visit_bits(col: &ArrayRef, v: &mut impl BitsVisitor) -> Result<()> {
    use DataType::{
        Boolean, Date32, Date64, Duration, Float32, Float64, Int16, Int32, Int64, Int8, Time32, Time64,
        Timestamp, UInt16, UInt32, UInt64, UInt8,
    };
    match col.data_type() {
        Boolean => v.boolean(col),
        Int8 => v.primitive::<Int8Type>(col, |x| u64::from((x as u8) ^ 0x80)),
        Int16 => v.primitive::<Int16Type>(col, |x| u64::from((x as u16) ^ 0x8000)),
        Int32 => v.primitive::<Int32Type>(col, flip32),
        Int64 => v.primitive::<Int64Type>(col, flip64),
        UInt8 => v.primitive::<UInt8Type>(col, u64::from),
        UInt16 => v.primitive::<UInt16Type>(col, u64::from),
        UInt32 => v.primitive::<UInt32Type>(col, u64::from),
        UInt64 => v.primitive::<UInt64Type>(col, |x| x),
        Float32 => v.primitive::<Float32Type>(col, float32_bits),
        Float64 => v.primitive::<Float64Type>(col, float64_bits),
        Date32 => v.primitive::<Date32Type>(col, flip32),
        Date64 => v.primitive::<Date64Type>(col, flip64),
        Time32(TimeUnit::Second) => v.primitive::<Time32SecondType>(col, flip32),
        Time32(_) => v.primitive::<Time32MillisecondType>(col, flip32),
        Time64(TimeUnit::Microsecond) => v.primitive::<Time64MicrosecondType>(col, flip64),
        Time64(_) => v.primitive::<Time64NanosecondType>(col, flip64),
        Timestamp(TimeUnit::Second, _) => v.primitive::<TimestampSecondType>(col, flip64),
        Timestamp(TimeUnit::Millisecond, _) => v.primitive::<TimestampMillisecondType>(col, flip64),
        Timestamp(TimeUnit::Microsecond, _) => v.primitive::<TimestampMicrosecondType>(col, flip64),
        Timestamp(TimeUnit::Nanosecond, _) => v.primitive::<TimestampNanosecondType>(col, flip64),
        Duration(TimeUnit::Second) => v.primitive::<DurationSecondType>(col, flip64),
        Duration(TimeUnit::Millisecond) => v.primitive::<DurationMillisecondType>(col, flip64),
        Duration(TimeUnit::Microsecond) => v.primitive::<DurationMicrosecondType>(col, flip64),
        Duration(TimeUnit::Nanosecond) => v.primitive::<DurationNanosecondType>(col, flip64),
        other => return Err(MergeError::Internal(format!("no word layout for {other}"))),
    }
    Ok(())
}

/// ORs each valid row's bits, less `offset`, masked and shifted, into its word. Null rows are left alone.
struct OrBits<'a> {
    words: &'a mut [u64],
    shift: u32,
    mask: u64,
    offset: u64,
}

impl BitsVisitor for OrBits<'_> {
    fn primitive<T: ArrowPrimitiveType>(
        &mut self,
        col: &ArrayRef,
        bits_of: impl Fn(T::Native) -> u64 + Sync,
    ) {
        let (shift, mask, offset) = (self.shift, self.mask, self.offset);
        let values = col.as_primitive::<T>().values();
        let nulls = col.logical_nulls();
        self.words
            .par_chunks_mut(CHUNK)
            .zip(values.par_chunks(CHUNK))
            .enumerate()
            .for_each(|(c, (ws, vs))| match &nulls {
                // Without nulls the loop has no branch, so it vectorises.
                None => {
                    for (w, &v) in ws.iter_mut().zip(vs) {
                        *w |= (bits_of(v).wrapping_sub(offset) & mask) << shift;
                    }
                }
                Some(n) => {
                    for (k, (w, &v)) in ws.iter_mut().zip(vs).enumerate() {
                        if n.is_valid(c * CHUNK + k) {
                            *w |= (bits_of(v).wrapping_sub(offset) & mask) << shift;
                        }
                    }
                }
            });
    }

    fn boolean(&mut self, col: &ArrayRef) {
        let b = col.as_boolean();
        for (i, word) in self.words.iter_mut().enumerate() {
            if b.is_valid(i) {
                *word |= (u64::from(b.value(i)).wrapping_sub(self.offset) & self.mask) << self.shift;
            }
        }
    }
}

/// The smallest and largest bits over the valid rows (`None`: no valid row).
#[derive(Default)]
struct BitRange(Option<(u64, u64)>);

fn merge_ranges(a: Option<(u64, u64)>, b: Option<(u64, u64)>) -> Option<(u64, u64)> {
    match (a, b) {
        (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
        (one, None) | (None, one) => one,
    }
}

impl BitsVisitor for BitRange {
    fn primitive<T: ArrowPrimitiveType>(
        &mut self,
        col: &ArrayRef,
        bits_of: impl Fn(T::Native) -> u64 + Sync,
    ) {
        let values = col.as_primitive::<T>().values();
        let nulls = col.logical_nulls();
        self.0 = values
            .par_chunks(CHUNK)
            .enumerate()
            .map(|(c, vs)| {
                let valid = |k: usize| nulls.as_ref().map_or(true, |n| n.is_valid(c * CHUNK + k));
                let (lo, hi) = vs
                    .iter()
                    .enumerate()
                    .filter(|&(k, _)| valid(k))
                    .map(|(_, &v)| bits_of(v))
                    .fold((u64::MAX, 0), |(lo, hi), x| (lo.min(x), hi.max(x)));
                (lo <= hi).then_some((lo, hi))
            })
            .reduce(|| None, merge_ranges);
    }

    fn boolean(&mut self, col: &ArrayRef) {
        self.0 = (col.len() > col.logical_null_count()).then_some((0, 1));
    }
}

fn bit_range(col: &ArrayRef) -> Result<Option<(u64, u64)>> {
    let mut range = BitRange::default();
    visit_bits(col, &mut range)?;
    Ok(range.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float64Array, Int64Array};
    use std::sync::Arc;

    fn arr(a: impl Array + 'static) -> ArrayRef {
        Arc::new(a)
    }

    #[test]
    fn range_packing_keeps_equality_and_lexicographic_order() {
        // Two Int64 columns, negative values included, whose ranges fit in 64 bits together.
        let l = vec![
            arr(Int64Array::from(vec![-5, 7, 7, 1_000_000, -5])),
            arr(Int64Array::from(vec![3, -2, 9, 0, 3])),
        ];
        let r = vec![
            arr(Int64Array::from(vec![7, 2_000_000])),
            arr(Int64Array::from(vec![9, -40])),
        ];
        let spans = range_spans(&l, &r).unwrap().unwrap();
        assert_eq!(spans.iter().map(|s| s.bits).collect::<Vec<_>>(), vec![21, 6]);
        let (wl, wr) = (
            pack_words(&l, 5, Some(&spans)).unwrap(),
            pack_words(&r, 2, Some(&spans)).unwrap(),
        );
        // Brute force: words are equal exactly when the tuples are, and ordered as the tuples.
        let tl: Vec<(i64, i64)> = vec![(-5, 3), (7, -2), (7, 9), (1_000_000, 0), (-5, 3)];
        let tr: Vec<(i64, i64)> = vec![(7, 9), (2_000_000, -40)];
        let all: Vec<((i64, i64), u64)> = tl.into_iter().zip(wl).chain(tr.into_iter().zip(wr)).collect();
        for (ta, wa) in &all {
            for (tb, wb) in &all {
                assert_eq!(ta.cmp(tb), wa.cmp(wb), "{ta:?} {tb:?}");
            }
        }
    }

    #[test]
    fn wide_ranges_do_not_pack_and_floats_pack_by_their_bits() {
        let wide = vec![
            arr(Int64Array::from(vec![i64::MIN, i64::MAX])),
            arr(Int64Array::from(vec![0, 1])),
        ];
        assert!(range_spans(&wide, &wide).unwrap().is_none());
        let f = vec![
            arr(Float64Array::from(vec![1.5, -2.0])),
            arr(Int64Array::from(vec![1, 2])),
        ];
        let spans = range_spans(&f, &f).unwrap().unwrap();
        let w = pack_words(&f, 2, Some(&spans)).unwrap();
        assert!(w[1] < w[0], "(-2.0, 2) sorts before (1.5, 1)");
        // A side with no rows takes the other side's range.
        let empty = vec![
            arr(Int64Array::from(Vec::<i64>::new())),
            arr(Int64Array::from(Vec::<i64>::new())),
        ];
        assert_eq!(range_spans(&empty, &f).unwrap(), Some(spans));
    }
}
