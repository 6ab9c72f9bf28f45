#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchReader, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::{join_files, Input, JoinFilesArgs, OutColumn, Progress, SideId, Summary};
use crate::io::write::OutputFormat;
use crate::join::{Cancel, JoinKind};

fn batch(keys: &[Option<&str>], vals: &[&str], k: &str, v: &str) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new(k, DataType::Utf8, true),
        Field::new(v, DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(keys.to_vec())),
            Arc::new(StringArray::from(vals.to_vec())),
        ],
    )
    .unwrap()
}

struct VecReader(Vec<RecordBatch>, SchemaRef);
impl Iterator for VecReader {
    type Item = std::result::Result<RecordBatch, arrow_schema::ArrowError>;
    fn next(&mut self) -> Option<Self::Item> {
        (!self.0.is_empty()).then(|| Ok(self.0.remove(0)))
    }
}
impl RecordBatchReader for VecReader {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.1)
    }
}

/// A multiset of output rows.
fn read_rows(path: &std::path::Path) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines().skip(1) {
        *m.entry(line.to_string()).or_insert(0) += 1;
    }
    m
}

fn run(
    kind: JoinKind,
    limit: u64,
    left: Vec<RecordBatch>,
    right: Vec<RecordBatch>,
) -> (BTreeMap<String, usize>, Summary) {
    // Claim big inputs so the driver spills.
    run_sized(kind, limit, (left, 50 << 20), (right, 50 << 20))
}

/// `run` with each side's claimed size (`Input::Batches`' size hint), which picks the driver's strategy.
fn run_sized(
    kind: JoinKind,
    limit: u64,
    (left, lsize): (Vec<RecordBatch>, u64),
    (right, rsize): (Vec<RecordBatch>, u64),
) -> (BTreeMap<String, usize>, Summary) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.tsv");
    let plan = vec![
        OutColumn {
            name: "k".into(),
            side: SideId::Left,
            source: "k".into(),
            coalesce_from: None,
        },
        OutColumn {
            name: "a".into(),
            side: SideId::Left,
            source: "a".into(),
            coalesce_from: None,
        },
        OutColumn {
            name: "b".into(),
            side: SideId::Right,
            source: "b".into(),
            coalesce_from: None,
        },
        OutColumn {
            name: "k_r".into(),
            side: SideId::Right,
            source: "k".into(),
            coalesce_from: None,
        },
    ];
    let args = JoinFilesArgs {
        left_on: vec!["k".into()],
        right_on: vec!["k".into()],
        kind,
        nulls_equal: true,
        plan,
        memory_limit: limit,
        threads: Some(2),
        output: out.to_str().unwrap().into(),
        format: OutputFormat::Delimited {
            sep: b'\t',
            header: true,
        },
        temp_dir: Some(dir.path().to_str().unwrap().into()),
        spill_compression: crate::io::spill::SpillCompression::default(),
        cancel: Cancel::default(),
        progress: Arc::new(Progress::default()),
    };
    let ls = left[0].schema();
    let rs = right[0].schema();
    let l = Input::Batches {
        name: "l".into(),
        reader: Box::new(VecReader(left, ls)),
        size_hint: lsize,
    };
    let r = Input::Batches {
        name: "r".into(),
        reader: Box::new(VecReader(right, rs)),
        size_hint: rsize,
    };
    let s = join_files(l, r, &args).unwrap();
    let rows = read_rows(&out);
    // Only the output is left in the directory: spill files and the temporary output are gone.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("o.tsv")]);
    (rows, s)
}

#[test]
fn spilled_and_block_joins_match_in_memory() {
    // Key "h" holds most rows on both sides: a block join with many-to-many output.
    let mut lk = Vec::new();
    let mut rk = Vec::new();
    for i in 0..3000 {
        lk.push(if i % 4 == 0 {
            format!("k{}", i % 700)
        } else {
            "h".into()
        });
        rk.push(if i % 3 == 0 {
            format!("k{}", i % 900)
        } else if i % 50 == 1 {
            "h".into()
        } else {
            format!("r{i}")
        });
    }
    lk.push(String::new());
    rk.push(String::new());
    for kind in JoinKind::KEYED {
        let (big, _) = run(kind, 1 << 40, keyed(&lk, "a", "L"), keyed(&rk, "b", "R"));
        let (small, s) = run(kind, 1 << 20, keyed(&lk, "a", "L"), keyed(&rk, "b", "R"));
        assert!(s.spilled, "{kind:?} {s:?}");
        // Pair-producing kinds overflow the output cap on the heavy key and fall back to blocks.
        let pairs = matches!(
            kind,
            JoinKind::Inner | JoinKind::Left | JoinKind::Right | JoinKind::Outer
        );
        assert!(!pairs || s.block_joins > 0, "{kind:?} {s:?}");
        assert_eq!(big, small, "{kind:?}");
        let (big_total, _) = (big.values().sum::<usize>(), 0);
        assert!(big_total > 0 || kind == JoinKind::RightAnti, "{kind:?}");
    }
}

/// Keyed batches of 257 rows: `keys` ("" is a null key) with a value column `col` tagged `tag`.
fn keyed(keys: &[String], col: &str, tag: &str) -> Vec<RecordBatch> {
    keys.chunks(257)
        .enumerate()
        .map(|(c, ks)| {
            let k: Vec<Option<&str>> = ks.iter().map(|s| (!s.is_empty()).then_some(s.as_str())).collect();
            let v: Vec<String> = (0..ks.len()).map(|i| format!("{tag}{c}_{i}")).collect();
            let v: Vec<&str> = v.iter().map(String::as_str).collect();
            batch(&k, &v, "k", col)
        })
        .collect()
}

#[test]
fn streaming_through_the_smaller_side_matches_in_memory() {
    // A big side (8,000 rows, a heavy key) and a small one (300 rows, unmatched keys and a null) under a
    // 1 MiB budget: the small side is small enough to hold (under a 40th), the two together do not fit.
    let big: Vec<String> = (0..8000)
        .map(|i| match i % 5 {
            0 => "h".into(),
            1 => String::new(),
            _ => format!("k{}", i % 997),
        })
        .collect();
    let small: Vec<String> = (0..300)
        .map(|i| match i % 7 {
            0 => "h".into(),
            1 => format!("only{i}"),
            2 => String::new(),
            _ => format!("k{}", i * 3),
        })
        .collect();
    let (small_size, big_size) = (20 << 10, 50 << 20);
    for kind in JoinKind::KEYED {
        for small_right in [true, false] {
            let (l, r) = if small_right {
                (&big, &small)
            } else {
                (&small, &big)
            };
            let sides = || (keyed(l, "a", "L"), keyed(r, "b", "R"));
            let (lb, rb) = sides();
            let (want, _) = run_sized(kind, 1 << 40, (lb, 1), (rb, 1));
            let (lb, rb) = sides();
            let sizes = if small_right {
                (big_size, small_size)
            } else {
                (small_size, big_size)
            };
            let (got, s) = run_sized(kind, 1 << 20, (lb, sizes.0), (rb, sizes.1));
            assert!(
                s.streamed && !s.spilled,
                "{kind:?} small_right={small_right} {s:?}"
            );
            assert_eq!(got, want, "{kind:?} small_right={small_right}");
            assert_eq!((s.rows_left, s.rows_right), (l.len() as u64, r.len() as u64));
            // A side whose size hint promised it fits but whose rows do not: partitioned after all, with
            // the rows already read counted once. (The partitioned path itself is tested for every kind
            // above; a few kinds cover the hand-over.)
            if !matches!(kind, JoinKind::Outer | JoinKind::LeftSemi | JoinKind::RightAnti) {
                continue;
            }
            let (lb, rb) = sides();
            let sizes = if small_right { (big_size, 1) } else { (1, big_size) };
            let extra: Vec<String> = (0..8000).map(|i| format!("k{}", i % 1500)).collect();
            let (lb, rb) = if small_right {
                (lb, [rb, keyed(&extra, "b", "X")].concat())
            } else {
                ([lb, keyed(&extra, "a", "X")].concat(), rb)
            };
            let (lb2, rb2) = (lb.clone(), rb.clone());
            let (want, _) = run_sized(kind, 1 << 40, (lb2, 1), (rb2, 1));
            let (got, s) = run_sized(kind, 1 << 20, (lb, sizes.0), (rb, sizes.1));
            assert!(
                s.spilled && !s.streamed,
                "{kind:?} small_right={small_right} {s:?}"
            );
            assert_eq!(got, want, "{kind:?} small_right={small_right} (fallback)");
            let extra_rows = extra.len() as u64;
            let (lrows, rrows) = if small_right {
                (l.len() as u64, r.len() as u64 + extra_rows)
            } else {
                (l.len() as u64 + extra_rows, r.len() as u64)
            };
            assert_eq!(
                (s.rows_left, s.rows_right),
                (lrows, rrows),
                "{kind:?} counted once"
            );
        }
    }
}

#[test]
fn dictionary_columns_with_a_dictionary_per_batch_spill_and_match_in_memory() {
    // A Parquet input brings a dictionary per row group; one spill file can hold only one per column.
    let as_dictionary = |batches: Vec<RecordBatch>| -> Vec<RecordBatch> {
        batches
            .into_iter()
            .map(|b| {
                let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
                let cols = vec![
                    Arc::clone(b.column(0)),
                    arrow_cast::cast(b.column(1), &dict).unwrap(),
                ];
                let fields: Vec<Field> = b
                    .schema()
                    .fields()
                    .iter()
                    .zip(&cols)
                    .map(|(f, c)| Field::new(f.name(), c.data_type().clone(), true))
                    .collect();
                RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
            })
            .collect()
    };
    let lk: Vec<String> = (0..3000).map(|i| format!("k{}", i % 611)).collect();
    let rk: Vec<String> = (0..2000).map(|i| format!("k{}", i % 887)).collect();
    for kind in [JoinKind::Inner, JoinKind::Outer] {
        let sides = || {
            (
                as_dictionary(keyed(&lk, "a", "L")),
                as_dictionary(keyed(&rk, "b", "R")),
            )
        };
        let (l, r) = sides();
        let (want, _) = run(kind, 1 << 40, l, r);
        let (l, r) = sides();
        let (got, s) = run(kind, 1 << 20, l, r);
        assert!(s.spilled, "{kind:?} {s:?}");
        assert_eq!(got, want, "{kind:?}");
        assert!(!got.is_empty());
    }
}
