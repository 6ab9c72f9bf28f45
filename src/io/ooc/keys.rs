//! Keys: one type per key column on both sides, and a partition hash.

use std::sync::Arc;

use arrow_array::{Array, RecordBatch, RecordBatchOptions};
use arrow_cast::cast;
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::NULL_KEY_HASH;
use crate::error::{MergeError, Result};

/// The key type both sides are cast to, so equal keys hash alike in the partitioner.
pub(super) fn normal_type(t: &DataType) -> DataType {
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

pub(super) fn key_types(l: &[DataType], r: &[DataType]) -> Vec<DataType> {
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
pub(super) fn normalise(
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
    for (col, field) in cols.iter_mut().zip(schema.fields()) {
        if col.data_type() != field.data_type() {
            *col = cast(col, field.data_type())?;
        }
    }
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        Arc::clone(schema),
        cols,
        &options,
    )?)
}

pub(super) fn normal_schema(schema: &SchemaRef, keys: &[usize], types: &[DataType]) -> SchemaRef {
    // Dictionary columns become their values: an Arrow IPC file (a spill file) holds one dictionary per
    // column, and every batch of an input (each Parquet row group) may bring its own.
    let mut fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let f = f.as_ref().clone().with_nullable(true);
            match f.data_type() {
                DataType::Dictionary(_, values) => {
                    let values = values.as_ref().clone();
                    f.with_data_type(values)
                }
                _ => f,
            }
        })
        .collect();
    for (&k, t) in keys.iter().zip(types) {
        fields[k] = Field::new(fields[k].name(), t.clone(), true);
    }
    Arc::new(Schema::new(fields))
}

#[inline]
pub(super) fn mix(h: u64, v: u64) -> u64 {
    // A multiply-xorshift step: cheap, and every input bit reaches the top bits the partitioner uses.
    let x = (h ^ v).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^ (x >> 31)
}

/// Partition number of every row: the top `bits` of a seeded hash of the key columns.
pub(super) fn partition_ids(batch: &RecordBatch, keys: &[usize], seed: u64, bits: u32) -> Result<Vec<u32>> {
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
pub(super) fn split_batch(
    batch: &RecordBatch,
    keys: &[usize],
    seed: u64,
    bits: u32,
) -> Result<Vec<RecordBatch>> {
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
