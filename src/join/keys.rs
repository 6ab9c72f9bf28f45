//! Join keys: once both sides' key types are unified (`unify`), encode every row's key so that equal keys
//! hash alike and compare cheaply.
//!
//! Three encodings, chosen once per join from the unified types:
//! - `Word`: fixed-width keys that fit in 64 bits (one int/float/date/... column, or several columns
//!   packed together by type or by value range, see `words`). Hashing and comparing is one multiply and
//!   one integer compare.
//! - `Bytes`: one string or binary column, borrowed from the Arrow buffers (no copy); hashed once, and
//!   when every value on both sides is short, also held as inline 128-bit words (see `bytes`).
//! - `Rows`: anything else, in arrow's row format (several columns, decimals, nulls in multi-column keys).

use std::sync::OnceLock;

use arrow_array::{Array, ArrayRef};
use arrow_buffer::NullBuffer;
use arrow_row::{RowConverter, Rows, SortField};
use arrow_schema::DataType;
use rayon::prelude::*;

use crate::error::{MergeError, Result};
use crate::join::bytes::{inline_word, max_len, BytesColumn, INLINE_MAX};
use crate::join::unify::is_bytes;
use crate::join::words::{pack_words, range_spans, word_bits, Span};

/// Hash given to a null key (in the `Word` and `Bytes` encodings nulls are compared by flag, not value).
const NULL_HASH: u64 = 0x5bd1_e995_2f4a_7c15;
const SEED: u64 = 0x243f_6a88_85a3_08d3;
const MUL: u64 = 0x9e37_79b9_7f4a_7c15;
/// Rows per parallel task when encoding and hashing.
const CHUNK: usize = 1 << 16;

/// A strong enough 64-bit mix for integer keys: a folded 128-bit multiply spreads every input bit into the
/// high bits (used for partitioning) and the low bits (used by the hash table).
#[inline(always)]
pub(crate) fn hash_word(x: u64) -> u64 {
    let m = u128::from(x ^ SEED).wrapping_mul(u128::from(MUL));
    (m >> 64) as u64 ^ (m as u64)
}

#[inline(always)]
fn hash_bytes(b: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    // A fixed seed: both sides of a join, and every Spark executor, must hash the same key alike.
    foldhash::fast::FixedState::with_seed(SEED).hash_one(b)
}

pub(crate) enum Repr {
    Word(Vec<u64>),
    Bytes(BytesColumn),
    Rows(Rows),
}

/// One side's keys, encoded. Both sides of a join are always encoded with the same `Layout`.
pub(crate) struct EncodedKeys {
    repr: Repr,
    /// Rows whose key has a null in any column (validity `false`).
    nulls: Option<NullBuffer>,
    len: usize,
    /// `Bytes` keys of at most `INLINE_MAX` bytes on both sides (`inline_word` applies).
    inline: bool,
    /// Computed on first use: the dense path never hashes.
    hashes: OnceLock<Vec<u64>>,
}

/// How both sides encode their keys; decided once from the unified types.
pub(crate) enum Layout {
    /// Fixed-width columns packed at their full widths.
    Word,
    /// Fixed-width columns packed by the value ranges both sides hold.
    Packed(Vec<Span>),
    /// One string/binary column; `inline` when both sides' values fit an inline word.
    Bytes {
        inline: bool,
    },
    Rows(RowConverter),
}

impl Layout {
    pub(crate) fn choose(left: &[ArrayRef], right: &[ArrayRef]) -> Result<Layout> {
        let types: Vec<&DataType> = left.iter().map(arrow_array::Array::data_type).collect();
        let any_nulls = left.iter().chain(right).any(|a| a.logical_null_count() > 0);
        if types.len() == 1 && word_bits(types[0]).is_some() {
            return Ok(Layout::Word);
        }
        if types.len() == 1 && is_bytes(types[0]) {
            let fits = |a: &ArrayRef| max_len(a).is_some_and(|n| n <= INLINE_MAX);
            return Ok(Layout::Bytes {
                inline: fits(&left[0]) && fits(&right[0]),
            });
        }
        let bits: Option<u32> = types.iter().map(|t| word_bits(t)).sum();
        // Several fixed-width columns pack into one word, but only without nulls: a packed word has no
        // room for one null flag per column.
        if !any_nulls && bits.is_some_and(|b| b <= 64) {
            return Ok(Layout::Word);
        }
        if !any_nulls && bits.is_some() {
            if let Some(spans) = range_spans(left, right)? {
                return Ok(Layout::Packed(spans));
            }
        }
        // Nulls last, as pandas sorts them: the row format's byte order is then the output's key order.
        let options = arrow_schema::SortOptions {
            descending: false,
            nulls_first: false,
        };
        let fields = types
            .iter()
            .map(|t| SortField::new_with_options((*t).clone(), options))
            .collect();
        Ok(Layout::Rows(RowConverter::new(fields)?))
    }

    pub(crate) fn encode(&self, columns: &[ArrayRef]) -> Result<EncodedKeys> {
        let len = columns.first().map_or(0, arrow_array::Array::len);
        let nulls = columns.iter().fold(None, |acc: Option<NullBuffer>, c| {
            NullBuffer::union(acc.as_ref(), c.logical_nulls().as_ref())
        });
        let repr = match self {
            Layout::Word => Repr::Word(pack_words(columns, len, None)?),
            Layout::Packed(spans) => Repr::Word(pack_words(columns, len, Some(spans))?),
            Layout::Bytes { .. } => Repr::Bytes(BytesColumn::new(&columns[0]).ok_or_else(|| {
                MergeError::Internal(format!("bytes layout for {}", columns[0].data_type()))
            })?),
            Layout::Rows(converter) => Repr::Rows(converter.convert_columns(columns)?),
        };
        let inline = matches!((&repr, self), (Repr::Bytes(_), Layout::Bytes { inline: true }));
        Ok(EncodedKeys {
            repr,
            nulls,
            len,
            inline,
            hashes: OnceLock::new(),
        })
    }
}

/// `f(i)` for every row, computed in parallel chunks.
fn par_map(len: usize, f: impl Fn(usize) -> u64 + Sync) -> Vec<u64> {
    let mut out = vec![0u64; len];
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, chunk)| {
        let base = c * CHUNK;
        for (k, slot) in chunk.iter_mut().enumerate() {
            *slot = f(base + k);
        }
    });
    out
}

impl EncodedKeys {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Every row's key hash (nulls share one), computed in parallel on first use.
    pub(crate) fn hashes(&self) -> &[u64] {
        self.hashes.get_or_init(|| match &self.repr {
            Repr::Word(words) => par_map(self.len, |i| {
                if self.has_null(i) {
                    NULL_HASH
                } else {
                    hash_word(words[i])
                }
            }),
            Repr::Bytes(col) => par_map(self.len, |i| {
                if self.has_null(i) {
                    NULL_HASH
                } else {
                    hash_bytes(col.value(i))
                }
            }),
            Repr::Rows(rows) => par_map(self.len, |i| hash_bytes(rows.row(i).as_ref())),
        })
    }

    /// Whether the key at `i` has a null in any column.
    #[inline(always)]
    pub(crate) fn has_null(&self, i: usize) -> bool {
        self.nulls.as_ref().is_some_and(|n| n.is_null(i))
    }

    /// The keys as words, when the layout is `Word` (dense fast path, sorting).
    pub(crate) fn words(&self) -> Option<&[u64]> {
        match &self.repr {
            Repr::Word(w) => Some(w),
            _ => None,
        }
    }

    /// Whether the keys are short strings that `inline_word` encodes (`Layout::Bytes { inline: true }`).
    pub(crate) fn is_inline(&self) -> bool {
        self.inline
    }

    /// Row `i`'s key as an inline word (null rows get the empty value's; callers compare null flags
    /// first). Only for `is_inline` keys.
    #[inline(always)]
    pub(crate) fn inline_word(&self, i: usize) -> u128 {
        match &self.repr {
            Repr::Bytes(col) if !self.has_null(i) => col.inline_word(i),
            _ => inline_word(&[]),
        }
    }

    /// The key's bytes for sorting: string/binary value bytes, or the order-preserving row encoding.
    /// `None` for the `Word` layout (sort by `words`).
    #[inline(always)]
    pub(crate) fn sort_bytes(&self, i: usize) -> Option<&[u8]> {
        match &self.repr {
            Repr::Word(_) => None,
            Repr::Bytes(b) => Some(if self.has_null(i) { &[] } else { b.value(i) }),
            Repr::Rows(r) => Some(r.row(i).data()),
        }
    }

    /// Whether nulls are encoded inside the key bytes (row format) rather than flagged beside them.
    pub(crate) fn nulls_in_bytes(&self) -> bool {
        matches!(self.repr, Repr::Rows(_))
    }

    /// Whether row `i` of `self` and row `j` of `other` have equal keys (nulls equal each other; callers that
    /// want SQL semantics never look up null keys).
    #[inline(always)]
    pub(crate) fn key_eq(&self, i: usize, other: &EncodedKeys, j: usize) -> bool {
        match (&self.repr, &other.repr) {
            (Repr::Word(a), Repr::Word(b)) => a[i] == b[j] && self.has_null(i) == other.has_null(j),
            (Repr::Bytes(a), Repr::Bytes(b)) => {
                let (na, nb) = (self.has_null(i), other.has_null(j));
                na == nb && (na || a.value(i) == b.value(j))
            }
            (Repr::Rows(a), Repr::Rows(b)) => a.row(i) == b.row(j),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::MergeError;
    use crate::join::unify::unify;
    use arrow_array::{Float64Array, Int32Array, Int64Array, StringArray};
    use std::sync::Arc;

    fn arr(a: impl Array + 'static) -> ArrayRef {
        Arc::new(a)
    }

    #[test]
    fn ints_of_different_widths_unify_and_match() {
        let l = vec![arr(Int32Array::from(vec![1, 2, 3]))];
        let r = vec![arr(Int64Array::from(vec![3, 1]))];
        let (l, r) = unify(&l, &r, &["a".into()], &["b".into()]).unwrap();
        let layout = Layout::choose(&l, &r).unwrap();
        let (el, er) = (layout.encode(&l).unwrap(), layout.encode(&r).unwrap());
        assert!(el.key_eq(0, &er, 1));
        assert!(el.key_eq(2, &er, 0));
        assert!(!el.key_eq(1, &er, 0));
        assert_eq!(el.hashes()[0], er.hashes()[1]);
    }

    #[test]
    fn negative_zero_and_nan_match_as_in_pandas() {
        let l = vec![arr(Float64Array::from(vec![-0.0, f64::NAN]))];
        let r = vec![arr(Float64Array::from(vec![0.0, -f64::NAN]))];
        let (l, r) = unify(&l, &r, &["a".into()], &["b".into()]).unwrap();
        let layout = Layout::choose(&l, &r).unwrap();
        let (el, er) = (layout.encode(&l).unwrap(), layout.encode(&r).unwrap());
        assert!(el.key_eq(0, &er, 0));
        assert!(el.key_eq(1, &er, 1));
    }

    #[test]
    fn int_and_string_keys_are_a_named_error() {
        let l = vec![arr(Int64Array::from(vec![1]))];
        let r = vec![arr(StringArray::from(vec!["1"]))];
        let err = unify(&l, &r, &["id".into()], &["code".into()]).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, MergeError::KeyTypeMismatch { .. }));
        assert!(
            msg.contains("\"id\"") && msg.contains("\"code\"") && msg.contains("Int64"),
            "{msg}"
        );
    }

    #[test]
    fn list_keys_are_unsupported() {
        use arrow_array::builder::{Int32Builder, ListBuilder};
        let mut b = ListBuilder::new(Int32Builder::new());
        b.append_value([Some(1)]);
        let l = vec![arr(b.finish())];
        let r = l.clone();
        let err = unify(&l, &r, &["xs".into()], &["xs".into()]).unwrap_err();
        assert!(matches!(err, MergeError::UnsupportedKeyType { .. }), "{err}");
    }

    #[test]
    fn narrow_columns_pack_into_one_word() {
        let cols = vec![
            arr(Int32Array::from(vec![1, 1])),
            arr(Int32Array::from(vec![2, 3])),
        ];
        let layout = Layout::choose(&cols, &cols).unwrap();
        assert!(matches!(layout, Layout::Word));
        let e = layout.encode(&cols).unwrap();
        assert!(!e.key_eq(0, &e, 1));
        assert!(e.key_eq(1, &e, 1));
    }

    #[test]
    fn short_strings_on_both_sides_are_inline_words_and_one_long_value_keeps_bytes() {
        let short = vec![arr(StringArray::from(vec![
            Some("id1"),
            None,
            Some("0123456789abcde"),
        ]))];
        let long = vec![arr(StringArray::from(vec!["id1", "0123456789abcdef"]))];
        let layout = Layout::choose(&short, &short).unwrap();
        assert!(matches!(layout, Layout::Bytes { inline: true }));
        let e = layout.encode(&short).unwrap();
        assert!(
            e.is_inline() && e.inline_word(0) != e.inline_word(2) && e.inline_word(1) == inline_word(b"")
        );
        assert!(e.key_eq(0, &e, 0) && !e.key_eq(0, &e, 2) && e.has_null(1));
        let layout = Layout::choose(&short, &long).unwrap();
        assert!(matches!(layout, Layout::Bytes { inline: false }));
        assert!(!layout.encode(&long).unwrap().is_inline());
    }

    #[test]
    fn multi_column_keys_with_nulls_use_rows() {
        let cols = vec![
            arr(Int32Array::from(vec![Some(1), None])),
            arr(StringArray::from(vec!["a", "b"])),
        ];
        let layout = Layout::choose(&cols, &cols).unwrap();
        assert!(matches!(layout, Layout::Rows(_)));
        let e = layout.encode(&cols).unwrap();
        assert!(e.has_null(1) && !e.has_null(0));
        assert!(e.key_eq(1, &e, 1) && !e.key_eq(0, &e, 1));
    }
}
