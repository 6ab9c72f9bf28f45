//! Key types: the type both sides' key column is cast to, the way pandas unifies them (int32 with int64,
//! int with float, categorical with string, timestamp units), and the float normalisations that make equal
//! keys encode alike. Incompatible types are a `KeyTypeMismatch` naming both columns; the engine decides
//! this, so no front end guesses.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, PrimitiveArray};
use arrow_cast::{cast_with_options, CastOptions};
use arrow_schema::{DataType, TimeUnit};

use crate::error::{MergeError, Result};
use crate::join::words::word_bits;

/// The type both sides' key column is cast to, or `None` when pandas would refuse to join them.
fn common_type(l: &DataType, r: &DataType) -> Option<DataType> {
    use DataType::{
        Date32, Date64, Decimal128, Duration, Float16, Float32, Float64, Int64, LargeBinary, LargeUtf8, Null,
        Time32, Time64, Timestamp, UInt64,
    };
    let l = strip_dictionary(l);
    let r = strip_dictionary(r);
    if l == r {
        return Some(if matches!(l, Float16) { Float32 } else { l.clone() });
    }
    let finer = |a: &TimeUnit, b: &TimeUnit| if unit_rank(*a) >= unit_rank(*b) { *a } else { *b };
    Some(match (l, r) {
        (Null, t) | (t, Null) => t.clone(),
        (a, b) if is_string(a) && is_string(b) => LargeUtf8,
        (a, b) if is_bytes(a) && is_bytes(b) => LargeBinary,
        (a, b) if a.is_signed_integer() && b.is_signed_integer() => Int64,
        (a, b) if a.is_unsigned_integer() && b.is_unsigned_integer() => UInt64,
        (a, b) if a.is_integer() && b.is_integer() => Int64,
        (a, b) if a.is_numeric() && b.is_numeric() && (a.is_floating() || b.is_floating()) => Float64,
        (Decimal128(_, s1), Decimal128(_, s2)) => Decimal128(38, (*s1).max(*s2)),
        (Decimal128(_, s), i) | (i, Decimal128(_, s)) if i.is_integer() => Decimal128(38, *s),
        (Date32, Date64) | (Date64, Date32) => Date64,
        (Timestamp(u1, tz1), Timestamp(u2, tz2)) if tz1.is_some() == tz2.is_some() => {
            Timestamp(finer(u1, u2), tz1.clone())
        }
        (Duration(u1), Duration(u2)) => Duration(finer(u1, u2)),
        (Time32(_) | Time64(_), Time32(_) | Time64(_)) => Time64(TimeUnit::Nanosecond),
        _ => return None,
    })
}

fn unit_rank(u: TimeUnit) -> u8 {
    match u {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 1,
        TimeUnit::Microsecond => 2,
        TimeUnit::Nanosecond => 3,
    }
}

fn strip_dictionary(t: &DataType) -> &DataType {
    match t {
        DataType::Dictionary(_, v) => strip_dictionary(v),
        other => other,
    }
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

pub(crate) fn is_bytes(t: &DataType) -> bool {
    is_string(t)
        || matches!(
            t,
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_)
        )
}

fn is_supported(t: &DataType) -> bool {
    use DataType::{Decimal128, Decimal256, Interval, Null};
    word_bits(t).is_some()
        || is_bytes(t)
        || matches!(t, Null | Decimal128(_, _) | Decimal256(_, _) | Interval(_))
}

/// Whether the engine joins keys of these two types by their values: they have a common type (pandas'
/// compatible pairs) that the engine encodes. Front ends ask this instead of guessing from type names, and
/// number (factorize) the pairs it refuses, as pandas coerces them to objects.
#[must_use]
pub fn compare_by_value(l: &DataType, r: &DataType) -> bool {
    common_type(l, r).is_some_and(|t| t == DataType::Null || is_supported(&t))
}

/// Cast each pair of key columns to one common type. Errors name both columns and their types.
pub(crate) fn unify(
    left: &[ArrayRef],
    right: &[ArrayRef],
    left_names: &[String],
    right_names: &[String],
) -> Result<(Vec<ArrayRef>, Vec<ArrayRef>)> {
    if left.len() != right.len() {
        return Err(MergeError::InvalidArgument(format!(
            "len(right_on) must equal len(left_on): {} left key(s) {:?} but {} right key(s) {:?}",
            left.len(),
            left_names,
            right.len(),
            right_names
        )));
    }
    let name = |names: &[String], i: usize| names.get(i).cloned().unwrap_or_else(|| format!("key {i}"));
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    let mut out_l = Vec::with_capacity(left.len());
    let mut out_r = Vec::with_capacity(right.len());
    for (i, (l, r)) in left.iter().zip(right).enumerate() {
        let mismatch = || MergeError::KeyTypeMismatch {
            left: name(left_names, i),
            left_type: l.data_type().clone(),
            right: name(right_names, i),
            right_type: r.data_type().clone(),
        };
        let target = common_type(l.data_type(), r.data_type()).ok_or_else(mismatch)?;
        // Both sides all-null: join them as (null) strings, which every encoding supports.
        let target = if target == DataType::Null {
            DataType::Utf8
        } else {
            target
        };
        if let Some((l, r)) = crate::join::dictionary::recode(l, r, &target) {
            out_l.push(l);
            out_r.push(r);
            continue;
        }
        for (array, names, col) in [(l, left_names, &mut out_l), (r, right_names, &mut out_r)] {
            if !is_supported(&target) {
                return Err(MergeError::UnsupportedKeyType {
                    column: name(names, i),
                    dtype: array.data_type().clone(),
                });
            }
            let cast = if array.data_type() == &target {
                Arc::clone(array)
            } else {
                cast_with_options(array, &target, &options).map_err(|e| match e {
                    arrow_schema::ArrowError::CastError(_) | arrow_schema::ArrowError::ComputeError(_) => {
                        MergeError::KeyTypeMismatch {
                            left: name(left_names, i),
                            left_type: l.data_type().clone(),
                            right: format!("{} (a value does not fit {target}: {e})", name(right_names, i)),
                            right_type: r.data_type().clone(),
                        }
                    }
                    other => other.into(),
                })?
            };
            col.push(normalize_floats(cast));
        }
    }
    Ok((out_l, out_r))
}

/// -0.0 becomes 0.0 and every NaN the same NaN, so equal floats (as pandas sees them) encode alike.
fn normalize_floats(a: ArrayRef) -> ArrayRef {
    fn canon<T>(a: &PrimitiveArray<T>) -> ArrayRef
    where
        T: ArrowPrimitiveType,
        T::Native: num_like::Float,
    {
        Arc::new(a.unary::<_, T>(num_like::Float::canonical))
    }
    match a.data_type() {
        DataType::Float32 => canon(a.as_primitive::<Float32Type>()),
        DataType::Float64 => canon(a.as_primitive::<Float64Type>()),
        _ => a,
    }
}

/// Float NaNs become nulls (for `nulls_equal`, where pandas sees one missing value); other columns pass.
pub(crate) fn nan_as_null(cols: Vec<ArrayRef>) -> Vec<ArrayRef> {
    fn mask<T>(a: &PrimitiveArray<T>) -> Option<ArrayRef>
    where
        T: ArrowPrimitiveType,
        T::Native: num_like::Float,
    {
        use num_like::Float as _;
        if !a.values().iter().any(|v| v.is_nan_value()) {
            return None;
        }
        let not_nan: arrow_buffer::BooleanBuffer = a.values().iter().map(|v| !v.is_nan_value()).collect();
        let nulls = arrow_buffer::NullBuffer::union(a.nulls(), Some(&not_nan.into()));
        Some(Arc::new(PrimitiveArray::<T>::new(a.values().clone(), nulls)))
    }
    cols.into_iter()
        .map(|c| {
            let masked = match c.data_type() {
                DataType::Float32 => mask(c.as_primitive::<Float32Type>()),
                DataType::Float64 => mask(c.as_primitive::<Float64Type>()),
                _ => None,
            };
            masked.unwrap_or(c)
        })
        .collect()
}

mod num_like {
    pub trait Float: Copy {
        fn canonical(self) -> Self;
        fn is_nan_value(self) -> bool;
    }
    impl Float for f32 {
        #[inline]
        fn is_nan_value(self) -> bool {
            self.is_nan()
        }
        #[inline]
        fn canonical(self) -> Self {
            if self.is_nan() {
                f32::NAN
            } else if self == 0.0 {
                0.0
            } else {
                self
            }
        }
    }
    impl Float for f64 {
        #[inline]
        fn is_nan_value(self) -> bool {
            self.is_nan()
        }
        #[inline]
        fn canonical(self) -> Self {
            if self.is_nan() {
                f64::NAN
            } else if self == 0.0 {
                0.0
            } else {
                self
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::Field;

    #[test]
    fn compare_by_value_follows_the_common_types() {
        use DataType::{
            Boolean, Dictionary, Float64, Int32, Int64, Int8, LargeUtf8, List, Null, Timestamp, Utf8,
        };
        let dict = Dictionary(Box::new(Int8), Box::new(Utf8));
        let list = List(Arc::new(Field::new("item", Int64, true)));
        let naive = Timestamp(TimeUnit::Nanosecond, None);
        let utc = Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        // (left, right, whether the engine compares them by value); pandas coerces the pairs it does not
        // to objects: they have no common type here, or one the engine cannot encode.
        let cases = [
            (&Int32, &Float64, true),
            (&Utf8, &dict, true),
            (&LargeUtf8, &Utf8, true),
            (&Null, &Int64, true),
            (&Null, &Null, true),
            (&Boolean, &Int64, false),
            (&Utf8, &Int64, false),
            (&naive, &utc, false),
            (&list, &list, false),
            (&list, &Int64, false),
        ];
        for (l, r, want) in cases {
            assert_eq!(compare_by_value(l, r), want, "{l} vs {r}");
            assert_eq!(compare_by_value(r, l), want, "{r} vs {l}");
        }
    }
}
