//! String and binary key columns: borrowed from the Arrow buffers, and, when every value is short, also
//! encoded inline as one 128-bit word per key.
//!
//! Why inline words: a hash table of strings holds row numbers, so every probe compares against the
//! group's representative by reading its offsets and bytes somewhere in a column of millions of rows (two
//! cache misses). Keys of at most 15 bytes fit in a `u128` together with their length, so the table can
//! hold the key itself and a probe compares in place, as integer keys do. db-benchmark's factors
//! (`id4`..`id6`) and typical `ID` columns are 3 to 12 bytes.

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;

/// Longest value that is encoded inline (the 16th byte holds the length).
pub(crate) const INLINE_MAX: usize = 15;

/// A borrowed string/binary column.
pub(crate) enum BytesColumn {
    Utf8(arrow_array::StringArray),
    LargeUtf8(arrow_array::LargeStringArray),
    Utf8View(arrow_array::StringViewArray),
    Binary(arrow_array::BinaryArray),
    LargeBinary(arrow_array::LargeBinaryArray),
    BinaryView(arrow_array::BinaryViewArray),
    Fixed(arrow_array::FixedSizeBinaryArray),
}

impl BytesColumn {
    pub(crate) fn new(a: &ArrayRef) -> Option<Self> {
        Some(match a.data_type() {
            DataType::Utf8 => BytesColumn::Utf8(a.as_string::<i32>().clone()),
            DataType::LargeUtf8 => BytesColumn::LargeUtf8(a.as_string::<i64>().clone()),
            DataType::Utf8View => BytesColumn::Utf8View(a.as_string_view().clone()),
            DataType::Binary => BytesColumn::Binary(a.as_binary::<i32>().clone()),
            DataType::LargeBinary => BytesColumn::LargeBinary(a.as_binary::<i64>().clone()),
            DataType::BinaryView => BytesColumn::BinaryView(a.as_binary_view().clone()),
            DataType::FixedSizeBinary(_) => BytesColumn::Fixed(a.as_fixed_size_binary().clone()),
            _ => return None,
        })
    }

    #[inline(always)]
    pub(crate) fn value(&self, i: usize) -> &[u8] {
        match self {
            BytesColumn::Utf8(a) => a.value(i).as_bytes(),
            BytesColumn::LargeUtf8(a) => a.value(i).as_bytes(),
            BytesColumn::Utf8View(a) => a.value(i).as_bytes(),
            BytesColumn::Binary(a) => a.value(i),
            BytesColumn::LargeBinary(a) => a.value(i),
            BytesColumn::BinaryView(a) => a.value(i),
            BytesColumn::Fixed(a) => a.value(i),
        }
    }

    /// `inline_word(self.value(i))` for a value of at most `INLINE_MAX` bytes. Offset-based layouts read
    /// it with one unaligned 16-byte load where the buffer has room: copying a few bytes into a zeroed
    /// buffer and reading that as one word stalls on store forwarding, which made this the slowest part
    /// of probing ten million strings.
    #[inline(always)]
    pub(crate) fn inline_word(&self, i: usize) -> u128 {
        match self {
            BytesColumn::Utf8(a) => offsets_word(a.value_offsets(), a.values(), i),
            BytesColumn::LargeUtf8(a) => offsets_word(a.value_offsets(), a.values(), i),
            BytesColumn::Binary(a) => offsets_word(a.value_offsets(), a.values(), i),
            BytesColumn::LargeBinary(a) => offsets_word(a.value_offsets(), a.values(), i),
            _ => inline_word(self.value(i)),
        }
    }
}

/// The inline word of value `i` of an offsets-and-values layout.
#[inline(always)]
fn offsets_word<O: arrow_array::OffsetSizeTrait>(offsets: &[O], values: &[u8], i: usize) -> u128 {
    let (start, end) = (offsets[i].as_usize(), offsets[i + 1].as_usize());
    let len = end - start;
    match values.get(start..).and_then(<[u8]>::first_chunk::<16>) {
        Some(raw) if len <= INLINE_MAX => {
            // The value's bytes, the rest cleared, the length in the last byte: as `inline_word` builds it.
            let mask = (1u128 << (8 * len)) - 1;
            (u128::from_le_bytes(*raw) & mask) | ((len as u128) << 120)
        }
        _ => inline_word(&values[start..end]),
    }
}

/// The length of the longest value in a string/binary column (null slots included: their bytes are
/// normally empty, and a long one only costs the inline encoding), or `None` for other types.
pub(crate) fn max_len(a: &ArrayRef) -> Option<usize> {
    fn widest<O: Copy + Into<i64>>(offsets: &[O]) -> usize {
        let longest = offsets.windows(2).map(|w| w[1].into() - w[0].into()).max();
        usize::try_from(longest.unwrap_or(0)).unwrap_or(usize::MAX)
    }
    // A view's low 32 bits are its length.
    let view_len = |views: &[u128]| views.iter().map(|&v| v as u32).max().unwrap_or(0) as usize;
    Some(match a.data_type() {
        DataType::Utf8 => widest(a.as_string::<i32>().value_offsets()),
        DataType::LargeUtf8 => widest(a.as_string::<i64>().value_offsets()),
        DataType::Binary => widest(a.as_binary::<i32>().value_offsets()),
        DataType::LargeBinary => widest(a.as_binary::<i64>().value_offsets()),
        DataType::Utf8View => view_len(a.as_string_view().views()),
        DataType::BinaryView => view_len(a.as_binary_view().views()),
        DataType::FixedSizeBinary(w) => usize::try_from(*w).unwrap_or(usize::MAX),
        _ => return None,
    })
}

/// One value of at most `INLINE_MAX` bytes as a word: the bytes, zero padded, then the length in the last
/// byte, so two values are equal exactly when their words are.
#[inline(always)]
pub(crate) fn inline_word(b: &[u8]) -> u128 {
    debug_assert!(b.len() <= INLINE_MAX);
    let mut buf = [0u8; 16];
    buf[..b.len()].copy_from_slice(b);
    #[allow(clippy::cast_possible_truncation)] // at most INLINE_MAX
    {
        buf[15] = b.len() as u8;
    }
    u128::from_le_bytes(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{LargeStringArray, StringArray, StringViewArray};
    use std::sync::Arc;

    #[test]
    fn inline_words_are_equal_exactly_when_values_are() {
        let values = ["", "a", "a\0", "\0", "ab", "id1", "id10", "0123456789abcde", "ba"];
        for x in values {
            for y in values {
                assert_eq!(
                    inline_word(x.as_bytes()) == inline_word(y.as_bytes()),
                    x == y,
                    "{x:?} {y:?}"
                );
            }
        }
    }

    #[test]
    fn the_word_load_equals_the_copied_word_at_every_offset_and_near_the_buffer_end() {
        let values = ["", "a", "id1", "id20866", "0123456789abcde", "x", "", "ab"];
        let strings = StringArray::from(values.to_vec());
        let large = LargeStringArray::from(values.to_vec());
        let binary = arrow_array::BinaryArray::from(values.iter().map(|v| v.as_bytes()).collect::<Vec<_>>());
        let sliced: ArrayRef = Arc::new(StringArray::from(values.to_vec()));
        let sliced = sliced.slice(3, 4);
        for column in [
            BytesColumn::new(&(Arc::new(strings) as ArrayRef)).unwrap(),
            BytesColumn::new(&(Arc::new(large) as ArrayRef)).unwrap(),
            BytesColumn::new(&(Arc::new(binary) as ArrayRef)).unwrap(),
        ] {
            for (i, v) in values.iter().enumerate() {
                assert_eq!(column.inline_word(i), inline_word(v.as_bytes()), "{v:?}");
            }
        }
        let column = BytesColumn::new(&sliced).unwrap();
        for (i, v) in values[3..7].iter().enumerate() {
            assert_eq!(column.inline_word(i), inline_word(v.as_bytes()), "{v:?}");
        }
    }

    #[test]
    fn max_len_reads_every_string_layout_and_respects_slices() {
        let plain: ArrayRef = Arc::new(StringArray::from(vec!["a", "0123456789abcdef", "abc"]));
        assert_eq!(max_len(&plain), Some(16));
        assert_eq!(max_len(&plain.slice(2, 1)), Some(3));
        let large: ArrayRef = Arc::new(LargeStringArray::from(vec![Some("abcd"), None]));
        assert_eq!(max_len(&large), Some(4));
        let view: ArrayRef = Arc::new(StringViewArray::from(vec!["short", "a value longer than twelve"]));
        assert_eq!(max_len(&view), Some(26));
        let int: ArrayRef = Arc::new(arrow_array::Int32Array::from(vec![1]));
        assert_eq!(max_len(&int), None);
    }
}
