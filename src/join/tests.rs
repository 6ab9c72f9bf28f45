//! Engine tests against a brute-force oracle that spells out pandas' row-order rules.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, StringArray};
use proptest::prelude::*;

use super::*;

/// Every pair with equal keys, nested loops, in pandas' order for each join kind.
fn brute(left: &[Option<i64>], right: &[Option<i64>], args: &JoinArgs) -> JoinIndices {
    let eq = |a: Option<i64>, b: Option<i64>| match (a, b) {
        (Some(x), Some(y)) => x == y,
        (None, None) => args.nulls_equal,
        _ => false,
    };
    let mut out = JoinIndices::default();
    let mut push = |l: i64, r: i64| {
        out.left.push(l);
        out.right.push(r);
    };
    let l_matches = |i: usize| {
        (0..right.len())
            .filter(|&j| eq(left[i], right[j]))
            .collect::<Vec<_>>()
    };
    let r_matches = |j: usize| {
        (0..left.len())
            .filter(|&i| eq(left[i], right[j]))
            .collect::<Vec<_>>()
    };
    if args.key_ordered() {
        // Distinct usable keys, ascending, nulls last; then SQL-null rows.
        let usable = |k: Option<i64>| args.nulls_equal || k.is_some();
        let mut keys: Vec<Option<i64>> = left.iter().chain(right).copied().filter(|&k| usable(k)).collect();
        keys.sort_by_key(|k| (k.is_none(), *k));
        keys.dedup();
        for k in keys {
            let ls: Vec<usize> = (0..left.len())
                .filter(|&i| usable(left[i]) && left[i] == k)
                .collect();
            let rs: Vec<usize> = (0..right.len())
                .filter(|&j| usable(right[j]) && right[j] == k)
                .collect();
            match args.kind {
                JoinKind::Inner | JoinKind::Left | JoinKind::Outer => {
                    for &i in &ls {
                        for &j in &rs {
                            push(i as i64, j as i64);
                        }
                        if rs.is_empty() && args.kind != JoinKind::Inner {
                            push(i as i64, -1);
                        }
                    }
                    if ls.is_empty() && args.kind == JoinKind::Outer {
                        rs.iter().for_each(|&j| push(-1, j as i64));
                    }
                }
                JoinKind::Right => {
                    for &j in &rs {
                        ls.iter().for_each(|&i| push(i as i64, j as i64));
                        if ls.is_empty() {
                            push(-1, j as i64);
                        }
                    }
                }
                _ => unreachable!(),
            }
        }
        if args.kind.keeps_unmatched_left() {
            (0..left.len())
                .filter(|&i| !usable(left[i]))
                .for_each(|i| push(i as i64, -1));
        }
        if args.kind.keeps_unmatched_right() {
            (0..right.len())
                .filter(|&j| !usable(right[j]))
                .for_each(|j| push(-1, j as i64));
        }
        return out;
    }
    match args.kind {
        JoinKind::Right | JoinKind::RightAnti => {
            for j in 0..right.len() {
                let m = r_matches(j);
                if args.kind == JoinKind::Right {
                    m.iter().for_each(|&i| push(i as i64, j as i64));
                }
                if m.is_empty() {
                    push(-1, j as i64);
                }
            }
        }
        kind => {
            for i in 0..left.len() {
                let m = l_matches(i);
                match kind {
                    JoinKind::Inner | JoinKind::Left => {
                        m.iter().for_each(|&j| push(i as i64, j as i64));
                    }
                    JoinKind::LeftSemi if !m.is_empty() => push(i as i64, -1),
                    _ => {}
                }
                if m.is_empty() && matches!(kind, JoinKind::Left | JoinKind::LeftAnti) {
                    push(i as i64, -1);
                }
            }
        }
    }
    out
}

fn col(v: &[Option<i64>]) -> Vec<ArrayRef> {
    vec![Arc::new(Int64Array::from(v.to_vec()))]
}

/// The same logical keys in each physical layout, order preserved: dense ints (direct map), sparse ints
/// (hashed words), zero-padded strings (short enough for inline words), strings of which some are too long
/// to be inline (bytes compared through the column), and two columns (row format).
#[derive(Debug, Clone, Copy)]
enum Encoding {
    Dense,
    Sparse,
    Strings,
    LongStrings,
    TwoColumns,
}

fn encode(v: &[Option<i64>], e: Encoding) -> Vec<ArrayRef> {
    match e {
        Encoding::Dense => col(v),
        Encoding::Sparse => vec![Arc::new(Int64Array::from(
            v.iter()
                .map(|k| k.map(|k| k * 1_000_000_007 - 5_000_000_000))
                .collect::<Vec<_>>(),
        ))],
        Encoding::Strings => {
            vec![Arc::new(StringArray::from(
                v.iter().map(|k| k.map(|k| format!("{k:03}"))).collect::<Vec<_>>(),
            ))]
        }
        Encoding::LongStrings => vec![Arc::new(StringArray::from(
            v.iter()
                .map(|k| {
                    k.map(|k| {
                        format!(
                            "{k:03}{}",
                            if k % 3 == 0 { "-".repeat(14) } else { String::new() }
                        )
                    })
                })
                .collect::<Vec<_>>(),
        ))],
        Encoding::TwoColumns => vec![
            Arc::new(Int64Array::from(
                v.iter().map(|k| k.map(|k| k / 4)).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                v.iter()
                    .map(|k| k.map(|k| format!("{}", k % 4)))
                    .collect::<Vec<_>>(),
            )),
        ],
    }
}

fn names() -> Vec<String> {
    vec!["k".to_string()]
}

const KINDS: [JoinKind; 7] = JoinKind::KEYED;

fn run(left: &[Option<i64>], right: &[Option<i64>], args: &JoinArgs) -> JoinIndices {
    join_indices(&col(left), &col(right), &names(), &names(), args).expect("join")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn matches_brute_force(
        left in prop::collection::vec(prop::option::weighted(0.9, 0i64..12), 0..40),
        right in prop::collection::vec(prop::option::weighted(0.9, 0i64..12), 0..40),
        nulls_equal: bool,
        sort: bool,
        threads in 1usize..4,
        encoding in prop_oneof![
            Just(Encoding::Dense), Just(Encoding::Sparse), Just(Encoding::Strings), Just(Encoding::LongStrings),
            Just(Encoding::TwoColumns)
        ],
    ) {
        let (l, r) = (encode(&left, encoding), encode(&right, encoding));
        let names: Vec<String> = (0..l.len()).map(|i| format!("k{i}")).collect();
        for kind in KINDS {
            if sort && matches!(kind, JoinKind::LeftSemi | JoinKind::LeftAnti | JoinKind::RightAnti) {
                continue;
            }
            let mut args = JoinArgs::new(kind);
            args.nulls_equal = nulls_equal;
            args.sort = sort;
            args.threads = Some(threads);
            let got = join_indices(&l, &r, &names, &names, &args).expect("join");
            let narrow = join_indices_as::<u32>(&l, &r, &names, &names, &args).expect("join");
            prop_assert_eq!(&got, &brute(&left, &right, &args), "kind {:?}", kind);
            prop_assert_eq!(widened(&narrow), got, "four-byte pairs, kind {:?}", kind);
        }
    }
}

/// Four-byte pairs as eight-byte ones (`u32::MAX`, "no row", as -1).
fn widened(p: &JoinIndices<u32>) -> JoinIndices {
    let wide = |v: &[u32]| v.iter().map(|&i| i.signed()).collect();
    JoinIndices {
        left: wide(&p.left),
        right: wide(&p.right),
    }
}

#[test]
fn four_byte_indices_number_rows_up_to_the_2_pow_32_boundary() {
    // u32::MAX is the "no row" marker, so a side may have 2^32 - 1 rows (indices up to 2^32 - 2).
    let limit = u32::MAX as usize;
    assert!(u32::holds(limit) && !u32::holds(limit + 1));
    assert!(i64::holds(limit + 1));
    assert!(narrow_indices_fit(limit, 0) && !narrow_indices_fit(3, limit + 1));
    assert_eq!(u32::from_row(limit - 1).row(), Some(limit - 1));
    assert_eq!(u32::from_row(limit - 1).signed(), (limit - 1) as i64);
    assert_eq!((u32::MISSING.row(), u32::MISSING.signed()), (None, -1));
    assert_eq!(
        (i64::MISSING.row(), i64::from_row(limit + 1).row()),
        (None, Some(limit + 1))
    );
    // Synthetic row counts (an empty left side: no output row, nothing allocated): the engine refuses
    // four-byte pairs for a side past the boundary instead of wrapping its row numbers.
    let args = JoinArgs::new(JoinKind::Cross);
    assert!(cross_indices_as::<u32>(0, limit, &args)
        .expect("fits")
        .left
        .is_empty());
    let err = cross_indices_as::<u32>(0, limit + 1, &args).unwrap_err();
    assert!(
        err.to_string()
            .contains("4-byte row indices cannot number 4294967296 rows"),
        "{err}"
    );
    assert!(cross_indices_as::<i64>(0, limit + 1, &args)
        .expect("fits")
        .left
        .is_empty());
}

#[test]
fn four_byte_pairs_of_a_large_join_match_the_eight_byte_ones() {
    // Past the small-input thresholds: the partitioned and parallel emission paths with u32 indices.
    let n = 300_000i64;
    let left: Vec<Option<i64>> = (0..n)
        .map(|i| (i % 11 != 0).then_some((i * 7919) % 50_000))
        .collect();
    let right: Vec<Option<i64>> = (0..n / 3).map(|i| Some((i * 13) % 60_000)).collect();
    for kind in [JoinKind::Inner, JoinKind::Left, JoinKind::Right, JoinKind::Outer] {
        let mut args = JoinArgs::new(kind);
        args.threads = Some(3);
        let (l, r) = (col(&left), col(&right));
        let wide = join_indices(&l, &r, &names(), &names(), &args).expect("join");
        let narrow = join_indices_as::<u32>(&l, &r, &names(), &names(), &args).expect("join");
        assert!(!wide.left.is_empty());
        assert_eq!(widened(&narrow), wide, "{kind:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// A small build side takes one shared table (`shared`); the same groups through the partitioned
    /// path must give the same pairs.
    #[test]
    fn shared_table_and_partitioned_paths_give_the_same_pairs(
        left in prop::collection::vec(prop::option::weighted(0.9, 0i64..30), 0..60),
        right in prop::collection::vec(prop::option::weighted(0.9, 0i64..30), 0..60),
        nulls_equal: bool,
        strings: bool,
        kind in prop::sample::select(vec![
            JoinKind::Inner, JoinKind::Left, JoinKind::Right, JoinKind::LeftSemi, JoinKind::LeftAnti,
            JoinKind::RightAnti,
        ]),
    ) {
        let encoding = if strings { Encoding::Strings } else { Encoding::Sparse };
        let (l, r) = (encode(&left, encoding), encode(&right, encoding));
        let layout = keys::Layout::choose(&l, &r).unwrap();
        let (el, er) = (layout.encode(&l).unwrap(), layout.encode(&r).unwrap());
        let mut args = JoinArgs::new(kind);
        args.nulls_equal = nulls_equal;
        let opts = factorize_options(&args, 2);
        let shared = shared::factorize(&el, &er, &opts).expect("a small build side takes the shared table");
        let partitioned = factorize(&el, &er, &opts).unwrap();
        let via_shared = pairs::row_ordered::<i64>(&shared, &args).unwrap();
        prop_assert_eq!(via_shared, pairs::row_ordered(&partitioned, &args).unwrap());
    }
}

/// Large enough to partition (or, with the smaller right side, to probe one shared table from many
/// chunks) and to spread morsels over threads, even in a debug build.
#[test]
fn parallel_partitioned_path_matches_brute_force_on_large_input() {
    for right_rows in [40_000, 75_000] {
        parallel_path_matches_brute_force(right_rows);
    }
}

fn parallel_path_matches_brute_force(right_rows: i64) {
    let n = 150_000i64;
    let left: Vec<Option<i64>> = (0..n)
        .map(|i| {
            if i % 97 == 0 {
                None
            } else {
                Some((i * 7919) % 50_000 * 1_000_003)
            }
        })
        .collect();
    let right: Vec<Option<i64>> = (0..right_rows)
        .map(|i| Some((i * 31) % 70_000 * 1_000_003))
        .collect();
    for kind in [JoinKind::Inner, JoinKind::Left, JoinKind::Outer] {
        let mut args = JoinArgs::new(kind);
        args.threads = Some(4);
        let got = run(&left, &right, &args);
        // The oracle via a map, since nested loops would take minutes at this size.
        let mut by_key: std::collections::HashMap<Option<i64>, Vec<i64>> =
            std::collections::HashMap::default();
        for (j, k) in right.iter().enumerate() {
            by_key.entry(*k).or_default().push(j as i64);
        }
        let expected_rows: usize = left
            .iter()
            .map(|k| {
                by_key
                    .get(k)
                    .map_or(usize::from(kind != JoinKind::Inner), std::vec::Vec::len)
            })
            .sum::<usize>();
        if kind != JoinKind::Outer {
            assert_eq!(got.left.len(), expected_rows, "{kind:?}");
            // Left order is kept.
            assert!(got.left.windows(2).all(|w| w[0] <= w[1]), "{kind:?}");
        }
        for (&l, &r) in got.left.iter().zip(&got.right) {
            if l >= 0 && r >= 0 {
                assert_eq!(left[l as usize], right[r as usize]);
            }
        }
    }
}

#[test]
fn strings_and_floats_join() {
    let l: Vec<ArrayRef> = vec![Arc::new(StringArray::from(vec![Some("b"), None, Some("a")]))];
    let r: Vec<ArrayRef> = vec![Arc::new(StringArray::from(vec![Some("a"), Some("b"), None]))];
    let got = join_indices(&l, &r, &names(), &names(), &JoinArgs::new(JoinKind::Inner)).unwrap();
    assert_eq!(got.left, vec![0, 1, 2]);
    assert_eq!(got.right, vec![1, 2, 0]);

    let l: Vec<ArrayRef> = vec![Arc::new(Float64Array::from(vec![f64::NAN, 1.0]))];
    let r: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(vec![1, 2]))];
    let got = join_indices(&l, &r, &names(), &names(), &JoinArgs::new(JoinKind::Left)).unwrap();
    assert_eq!((got.left, got.right), (vec![0, 1], vec![-1, 0]));
}

#[test]
fn max_output_rows_refuses_an_explosion_before_allocating() {
    let keys: Vec<Option<i64>> = vec![Some(1); 1000];
    let mut args = JoinArgs::new(JoinKind::Inner);
    args.max_output_rows = Some(999_999);
    let err = join_indices(&col(&keys), &col(&keys), &names(), &names(), &args).unwrap_err();
    assert!(
        matches!(
            err,
            MergeError::OutputTooLarge {
                rows: 1_000_000,
                limit: 999_999
            }
        ),
        "{err}"
    );
}

#[test]
fn validate_reports_the_non_unique_side() {
    let mut args = JoinArgs::new(JoinKind::Inner);
    args.validate = Some(Validate::OneToOne);
    let err = join_indices(
        &col(&[Some(1), Some(1)]),
        &col(&[Some(1)]),
        &names(),
        &names(),
        &args,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Merge keys are not unique in left dataset; not a one-to-one merge"
    );
    args.validate = Some(Validate::ManyToOne);
    assert!(join_indices(
        &col(&[Some(1), Some(1)]),
        &col(&[Some(1)]),
        &names(),
        &names(),
        &args
    )
    .is_ok());
}

#[test]
fn cancelled_join_stops_with_cancelled() {
    let args = JoinArgs::new(JoinKind::Inner);
    args.cancel.cancel();
    let err = join_indices(&col(&[Some(1)]), &col(&[Some(1)]), &names(), &names(), &args).unwrap_err();
    assert!(matches!(err, MergeError::Cancelled));
}

#[test]
fn bad_how_and_validate_strings_are_errors() {
    assert!("sideways".parse::<JoinKind>().is_err());
    assert!("2:2"
        .parse::<Validate>()
        .unwrap_err()
        .to_string()
        .contains("is not a valid argument"));
}

#[test]
fn cross_join_is_the_full_product_in_left_major_order() {
    let got = join_indices(
        &col(&[Some(5), Some(6)]),
        &col(&[Some(7), None, Some(8)]),
        &names(),
        &names(),
        &JoinArgs::new(JoinKind::Cross),
    )
    .unwrap();
    assert_eq!(got.left, vec![0, 0, 0, 1, 1, 1]);
    assert_eq!(got.right, vec![0, 1, 2, 0, 1, 2]);
}

/// Distinct keys (a permutation of part of `0..range`), some of them null, for the other side of a join
/// onto unique keys (`unique`).
fn unique_keys(order: &[usize], take: usize, null_at: Option<usize>) -> Vec<Option<i64>> {
    let mut keys: Vec<Option<i64>> = order.iter().take(take).map(|&k| Some(k as i64)).collect();
    if let Some(at) = null_at.filter(|&at| at < keys.len()) {
        keys[at] = None;
    }
    keys
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// A row-ordered join whose other side has unique keys looks each driving row up (`unique`): the same
    /// pairs as the brute force for every layout, kind and width, with a null key on either side.
    #[test]
    fn joins_onto_unique_keys_match_brute_force(
        left in prop::collection::vec(prop::option::weighted(0.9, 0i64..24), 0..50),
        order in Just((0..24usize).collect::<Vec<_>>()).prop_shuffle(),
        take in 0usize..24,
        null_at in prop::option::of(0usize..24),
        nulls_equal: bool,
        threads in 1usize..4,
        encoding in prop_oneof![
            Just(Encoding::Dense), Just(Encoding::Sparse), Just(Encoding::Strings), Just(Encoding::LongStrings),
        ],
    ) {
        let unique = unique_keys(&order, take, null_at);
        for kind in [
            JoinKind::Inner, JoinKind::Left, JoinKind::Right, JoinKind::LeftSemi, JoinKind::LeftAnti,
            JoinKind::RightAnti,
        ] {
            // The right side is the unique one unless the right side drives.
            let (lk, rk) = if matches!(kind, JoinKind::Right | JoinKind::RightAnti) {
                (unique.clone(), left.clone())
            } else {
                (left.clone(), unique.clone())
            };
            let (l, r) = (encode(&lk, encoding), encode(&rk, encoding));
            let mut args = JoinArgs::new(kind);
            args.nulls_equal = nulls_equal;
            args.threads = Some(threads);
            let got = join_indices(&l, &r, &names(), &names(), &args).expect("join");
            prop_assert_eq!(&got, &brute(&lk, &rk, &args), "kind {:?}", kind);
            let narrow = join_indices_as::<u32>(&l, &r, &names(), &names(), &args).expect("join");
            prop_assert_eq!(widened(&narrow), got, "four-byte pairs, kind {:?}", kind);
        }
    }
}

#[test]
fn unique_lookup_takes_unique_sides_and_leaves_duplicates_to_the_general_path() {
    let left = col(&[Some(1), Some(2), None, Some(2)]);
    let encoded = |l: &[ArrayRef], r: &[ArrayRef]| {
        let layout = keys::Layout::choose(l, r).unwrap();
        (layout.encode(l).unwrap(), layout.encode(r).unwrap())
    };
    let args = JoinArgs::new(JoinKind::Left);
    let (el, er) = encoded(&left, &col(&[Some(2), None, Some(1)]));
    let pairs = unique::join::<i64>(&el, &er, &args)
        .unwrap()
        .expect("unique right keys");
    assert_eq!((pairs.left, pairs.right), (vec![0, 1, 2, 3], vec![2, 0, 1, 0]));
    // A repeated key, or a second null under pandas' rule that nulls match, is not unique.
    for dup in [vec![Some(2), Some(2)], vec![None, None]] {
        let (el, er) = encoded(&left, &col(&dup));
        assert!(unique::join::<i64>(&el, &er, &args).unwrap().is_none(), "{dup:?}");
    }
    // Two nulls are distinct keys under SQL semantics, and match nothing.
    let mut sql = JoinArgs::new(JoinKind::Inner);
    sql.nulls_equal = false;
    let (el, er) = encoded(&left, &col(&[None, Some(1), None]));
    let pairs = unique::join::<u32>(&el, &er, &sql)
        .unwrap()
        .expect("nulls are not keys");
    assert_eq!((pairs.left, pairs.right), (vec![0], vec![1]));
}

#[test]
fn joins_onto_unique_keys_in_parallel_chunks_match_brute_force() {
    // Many probe chunks and morsels, a dense right side and a hashed one.
    let n = 70_000i64;
    let left: Vec<Option<i64>> = (0..n)
        .map(|i| (i % 13 != 0).then_some((i * 7919) % 400))
        .collect();
    for right in [
        (0..300).rev().map(Some).collect::<Vec<_>>(),
        // One far key makes the range too sparse for a direct map: the hash table.
        (0..300).map(|k| Some(if k == 7 { 1 << 40 } else { k })).collect(),
    ] {
        for kind in [JoinKind::Inner, JoinKind::Left, JoinKind::LeftAnti] {
            let mut args = JoinArgs::new(kind);
            args.threads = Some(3);
            assert_eq!(run(&left, &right, &args), brute(&left, &right, &args), "{kind:?}");
        }
    }
}
