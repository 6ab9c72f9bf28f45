"""The pandas behaviours users rely on most, spelled out (the random tests cover them too, but here each
one is checked on purpose, against pandas and against the documented outcome)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from parity_helpers import PANDAS_3, assert_same

import mergekit

LEFT = pd.DataFrame(
    {
        "k": [1, 2, 3, 3],
        "i": np.array([10, 20, 30, 40], dtype=np.int64),
        "b": [True, False, True, False],
        "c": pd.Categorical(["x", "y", "x", "z"]),
        "t": pd.date_range("2024-03-30", periods=4, freq="D", tz="Europe/Paris"),
        "s": pd.Series(["p", "q", "r", "s"], dtype="str" if PANDAS_3 else "string"),
        "n": pd.array([1, None, 3, 4], dtype="Int64"),
    }
)
RIGHT = pd.DataFrame(
    {"k": [3, 4, 1, 3], "j": np.array([7, 8, 9, 6], dtype=np.int32), "u": [True, True, False, True]}
)


def both(**kwargs):
    expected = pd.merge(LEFT, RIGHT, **kwargs)
    got = mergekit.merge(LEFT, RIGHT, **kwargs)
    assert_same(got, expected)
    return got


def test_pandas_missing_rows_change_dtypes_like_pandas():
    out = both(on="k", how="outer")
    # ints become float and bools object where a side has no row; extension dtypes keep their type
    assert out["i"].dtype == np.float64 and out["j"].dtype == np.float64
    assert out["b"].dtype == object and out["u"].dtype == object
    assert isinstance(out["c"].dtype, pd.CategoricalDtype)
    assert str(out["t"].dt.tz) == "Europe/Paris"
    assert out["n"].dtype == "Int64"
    inner = both(on="k", how="inner")
    assert inner["i"].dtype == np.int64 and inner["j"].dtype == np.int32 and inner["b"].dtype == bool


def test_pandas_outer_and_right_joins_coalesce_the_shared_key():
    out = both(on="k", how="outer")
    assert out["k"].tolist() == [1, 2, 3, 3, 3, 3, 4]  # outer joins sort the keys
    right = both(on="k", how="right")
    assert right["k"].tolist() == [3, 3, 4, 1, 3, 3]  # right order; 4 is filled from the right side
    named = both(left_on="k", right_on="j", how="outer")
    assert "k_x" in named and "k_y" in named  # different key names: both kept, suffixed


def test_pandas_inner_join_keeps_left_order_then_right_order():
    out = both(on="k")
    assert out["i"].tolist() == [10, 30, 30, 40, 40]
    assert out["j"].tolist() == [9, 7, 6, 7, 6]


def test_pandas_indicator_is_an_ordered_set_of_categories():
    out = both(on="k", how="outer", indicator=True)
    assert list(out["_merge"].cat.categories) == ["left_only", "right_only", "both"]
    assert out["_merge"].tolist() == ["both", "left_only", "both", "both", "both", "both", "right_only"]
    named = both(on="k", how="left", indicator="where")
    assert "where" in named and "_merge" not in named


@pytest.mark.skipif(not PANDAS_3, reason="anti joins arrived in pandas 3.0")
@pytest.mark.parametrize("how", ["left_anti", "right_anti"])
def test_pandas_anti_joins_keep_pandas_index(how):
    out = both(on="k", how=how)
    # pandas filters its left/right join result, so the index keeps those rows' positions.
    expected_index = [1] if how == "left_anti" else [2]
    assert out.index.tolist() == expected_index


def test_pandas_sort_orders_by_keys():
    out = both(on="k", how="left", sort=True)
    assert out["k"].tolist() == sorted(out["k"].tolist())


def test_pandas_suffixes_apply_only_to_overlapping_non_key_columns():
    right = RIGHT.rename(columns={"j": "i"})
    got = mergekit.merge(LEFT, right, on="k", suffixes=("_left", None))
    expected = pd.merge(LEFT, right, on="k", suffixes=("_left", None))
    assert_same(got, expected)
    assert "i_left" in got and "i" in got


def test_pandas_index_merges_carry_the_index():
    left = LEFT.set_index("k")
    right = RIGHT.set_index("k")
    for kwargs in (
        {"left_index": True, "right_index": True, "how": "outer"},
        {"left_index": True, "right_on": "k", "how": "left"},
    ):
        r = right if "right_index" in kwargs else RIGHT
        assert_same(mergekit.merge(left, r, **kwargs), pd.merge(left, r, **kwargs))


def _tuples(values) -> pd.Index:
    return pd.Index(values, tupleize_cols=False, name="t")


TUPLE_LEFT = pd.DataFrame({"a": [1, 2, 3, 4]}, index=_tuples([(3, 4), (1, 2), (5, 6), (1, 2)]))
TUPLE_RIGHT = pd.DataFrame({"b": [7, 8, 9]}, index=_tuples([(1, 2), (3, 4), (9, 9)]))


@pytest.mark.parametrize("how", ["inner", "left", "right", "outer"])
@pytest.mark.parametrize("sort", [False, True])
@pytest.mark.parametrize(
    "shape", ["index-index", "column-index", "column-column", "multiindex-level"], ids=str
)
def test_pandas_tuple_valued_keys_join_like_pandas(how, sort, shape):
    # Tuples are hashable, so pandas joins them; Arrow reads them as lists, which the engine does not
    # compare, so mergekit numbers them (pandas.factorize) and the engine joins the numbers.
    left, right = TUPLE_LEFT, TUPLE_RIGHT
    kwargs: dict = {"how": how, "sort": sort}
    if shape == "index-index":
        kwargs.update(left_index=True, right_index=True)
    elif shape == "column-index":
        left = left.reset_index()
        kwargs.update(left_on="t", right_index=True)
    elif shape == "column-column":
        left, right = left.reset_index(), right.reset_index()
        kwargs.update(on="t")
    else:
        left = left.set_index(pd.Index([10, 20, 30, 40], name="x"), append=True)
        right = right.set_index(pd.Index([10, 20, 30], name="x"), append=True)
        kwargs.update(left_index=True, right_index=True)
    assert_same(mergekit.merge(left, right, **kwargs), pd.merge(left, right, **kwargs))
