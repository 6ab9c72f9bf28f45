"""Wide frames with a column of every dtype family, through every ``how``: the result gather (the engine's
block gather for pandas, polars' own gather for polars frames, the engine's Arrow take for Arrow tables) is
checked type by type against pandas.merge, pyarrow's join and polars' join."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import mergekit

PANDAS_3 = int(pd.__version__.split(".")[0]) >= 3
HOWS = ["inner", "left", "right", "outer", "cross"] + (["left_anti", "right_anti"] if PANDAS_3 else [])


def wide_pandas(keys, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(keys)
    ints = rng.integers(-100, 100, n)
    return pd.DataFrame(
        {
            "k": keys,
            "i8": ints.astype(np.int8),
            "i32": ints.astype(np.int32),
            "i64": ints.astype(np.int64),
            "u16": np.abs(ints).astype(np.uint16),
            "u64": np.abs(ints).astype(np.uint64),
            "f32": (ints / 4).astype(np.float32),
            "f64": np.where(ints % 5 == 0, np.nan, ints / 8),
            "b": ints % 2 == 0,
            "dt": pd.Timestamp("2021-03-27") + pd.to_timedelta(ints, unit="h"),
            "dt_s": (pd.Timestamp("2021-01-01") + pd.to_timedelta(ints, unit="D")).as_unit("s"),
            "dt_tz": (pd.Timestamp("2021-03-27", tz="Europe/Berlin") + pd.to_timedelta(ints, unit="h")),
            "td": pd.to_timedelta(ints, unit="min"),
            "cat": pd.Categorical.from_codes(np.abs(ints) % 4 - (ints % 7 == 0), ["c", "a", "d", "b"]),
            "obj": np.array([f"o{i}" if i % 3 else None for i in ints], dtype=object),
            "str": pd.array([f"s{i}" for i in ints], dtype="string"),
            "masked": pd.array([i if i % 4 else None for i in ints], dtype="Int64"),
            "arrow_i": pd.array(ints, dtype="int64[pyarrow]"),
            "arrow_s": pd.array([f"a{i}" for i in ints], dtype=pd.ArrowDtype(pa.string())),
            "c128": ints.astype(np.complex128),
        }
    )


# Left keys repeat and miss; right keys repeat and miss: every how has matched, unmatched and duplicate rows.
LEFT_KEYS = [1, 2, 2, 3, 5, 8, 8, 8, 13, 0]
RIGHT_KEYS = [2, 3, 3, 21, 8, 34, 1, 0]


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("sort", [False, True])
def test_wide_pandas_every_dtype_matches_pandas(how, sort):
    left = wide_pandas(LEFT_KEYS, 0)
    right = wide_pandas(RIGHT_KEYS, 1)
    kw = {} if how == "cross" else {"on": "k"}
    expected = pd.merge(left, right, how=how, sort=sort, **kw)
    got = mergekit.merge(left, right, how=how, sort=sort, **kw)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert list(got.dtypes) == list(expected.dtypes)


@pytest.mark.parametrize("how", ["inner", "left", "right", "outer"])
def test_wide_pandas_index_and_multiple_blocks_match_pandas(how):
    """Non-default indexes, several blocks of one dtype and a right-index join."""
    left = wide_pandas(LEFT_KEYS, 2).set_index(pd.Index(list("abcdefghij"), name="L"))
    left["i64_again"] = left["i64"] * 2  # a second int64 block
    right = wide_pandas(RIGHT_KEYS, 3).set_index("k")
    expected = pd.merge(left, right, how=how, left_on="k", right_index=True)
    got = mergekit.merge(left, right, how=how, left_on="k", right_index=True)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def wide_arrow(keys, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    ints = rng.integers(-100, 100, len(keys))
    strs = [f"s{i}" if i % 3 else None for i in ints]
    return pa.table(
        {
            "k": pa.array(keys, pa.int64()),
            "i8": pa.array(ints, pa.int8()),
            "u32": pa.array(np.abs(ints), pa.uint32()),
            "f64": pa.array(ints / 8),
            "b": pa.array(ints % 2 == 0),
            "s": pa.array(strs, pa.string()),
            "ls": pa.array(strs, pa.large_string()),
            "sv": pa.array(strs, pa.string_view()),
            "dict": pa.array(strs, pa.string()).dictionary_encode(),
            "ts": pa.array(ints * 3_600_000_000, pa.timestamp("us", tz="UTC")),
            "d32": pa.array(ints.astype(np.int32) + 18000, pa.int32()).cast(pa.date32()),
            "dec": pa.array(
                [None if s is None else int(i) for i, s in zip(ints, strs)], pa.decimal128(10, 2)
            ),
            "lst": pa.array([[int(i), 1] if i % 4 else None for i in ints], pa.list_(pa.int64())),
            "st": pa.array([{"a": int(i)} for i in ints], pa.struct([("a", pa.int64())])),
        }
    )


def multiset(table: pa.Table, names) -> Counter:
    cols = []
    for n in names:
        c = table.column(n)
        if pa.types.is_dictionary(c.type):
            c = c.cast(c.type.value_type)
        cols.append([repr(v) for v in c.to_pylist()])
    return Counter(zip(*cols))


PYARROW_HOW = {"inner": "inner", "left": "left outer", "right": "right outer", "outer": "full outer"}


@pytest.mark.parametrize("how", sorted(PYARROW_HOW))
def test_wide_arrow_every_type_matches_pyarrow(how):
    left, right = wide_arrow(LEFT_KEYS, 4), wide_arrow(RIGHT_KEYS, 5)
    # pyarrow's hash join cannot carry list/struct payloads: compare those through the polars oracle below.
    flat = [n for n in left.column_names if n not in ("lst", "st", "sv")]
    lf, rf = left.select(flat), right.select(flat)
    got = mergekit.merge(lf, rf, on="k", how=how)
    expected = lf.join(rf, "k", join_type=PYARROW_HOW[how], left_suffix="_x", right_suffix="_y")
    assert sorted(got.column_names) == sorted(expected.column_names)
    assert multiset(got, expected.column_names) == multiset(expected, expected.column_names)
    for n in expected.column_names:
        assert got.schema.field(n).type == expected.schema.field(n).type, n
    # string_view, list and struct columns pass through the gather with their type and values.
    full = mergekit.merge(left, right, on="k", how=how)
    for n in ("sv_x", "lst_x", "st_x", "sv_y", "lst_y", "st_y"):
        assert full.schema.field(n).type == left.schema.field(n[:-2]).type
    assert full.num_rows == got.num_rows


POLARS_ORDER = {"inner": "left_right", "left": "left_right", "right": "right_left", "outer": None}


@pytest.mark.parametrize("how", sorted(POLARS_ORDER))
def test_wide_polars_every_type_matches_polars(how):
    left = pl.from_arrow(wide_arrow(LEFT_KEYS, 6)).with_columns(
        pl.col("s").cast(pl.Categorical).alias("cat"),
        pl.col("s").cast(pl.Enum([f"s{i}" for i in range(-100, 100)])).alias("enum"),
    )
    right = pl.from_arrow(wide_arrow(RIGHT_KEYS, 7))
    right = right.with_columns(pl.col("s").cast(pl.Categorical).alias("cat"))
    got = mergekit.merge(left, right, on="k", how=how, suffixes=("", "_right"))
    order = POLARS_ORDER[how]
    expected = left.join(
        right, on="k", how="full" if how == "outer" else how, coalesce=True, maintain_order=order or "none"
    )
    assert sorted(got.columns) == sorted(expected.columns)
    got = got.select(expected.columns)
    assert got.schema == expected.schema  # Categorical, Enum, list, struct, decimal kept as polars types
    if order is not None:
        assert got.to_dicts() == expected.to_dicts()
    else:
        key = lambda r: repr(r)  # noqa: E731
        assert sorted(got.rows(), key=key) == sorted(expected.rows(), key=key)
