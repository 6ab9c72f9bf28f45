"""Differential tests: ``mergekit.merge`` against ``pandas.merge`` on random frames.

Every example builds two small frames (duplicate keys, missing keys, empty frames), merges them with pandas
and with mergekit under the same arguments, and requires identical results (values, dtypes, row order,
column names and order, index) or the same kind of exception.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from parity_helpers import BASE, KEY_FAMILIES, PANDAS_3, VALUE_FAMILIES, codes_strategy, frame, run_both

import mergekit

HOWS = ["inner", "left", "right", "outer", "cross"] + (["left_anti", "right_anti"] if PANDAS_3 else [])
NULLABLE = {"float64", "float32", "object", "str", "string_python", "category", "datetime", "datetime_us",
            "datetimetz", "timedelta", "Int64", "boolean", "int64[pyarrow]", "string[pyarrow]",
            "large_string[pyarrow]", "float64[pyarrow]"}  # fmt: skip


@st.composite
def merge_case(draw, key_families=None, max_rows=8):
    """Two frames and pandas.merge keyword arguments."""
    if key_families is None:
        key_families = st.sampled_from(KEY_FAMILIES)
    n_keys = draw(st.integers(1, 2))
    fams = [draw(key_families) for _ in range(n_keys)]
    same_names = draw(st.booleans())
    lkeys = [f"k{i}" for i in range(n_keys)]
    rkeys = lkeys if same_names else [f"r{i}" for i in range(n_keys)]
    n_left = draw(st.integers(0, max_rows))
    n_right = draw(st.integers(0, max_rows))

    def codes(n, fam):
        return draw(codes_strategy(n, nulls=fam in NULLABLE))

    lcodes = {k: codes(n_left, f) for k, f in zip(lkeys, fams)}
    rcodes = {k: codes(n_right, f) for k, f in zip(rkeys, fams)}
    # Value columns: "v" on both sides collides (suffixes); "a"/"b" show dtype changes on missing rows.
    lvals = {"v": draw(st.sampled_from(VALUE_FAMILIES)), "a": draw(st.sampled_from(VALUE_FAMILIES))}
    rvals = {"v": draw(st.sampled_from(VALUE_FAMILIES)), "b": draw(st.sampled_from(VALUE_FAMILIES))}
    lcodes.update({c: codes(n_left, f) for c, f in lvals.items()})
    rcodes.update({c: codes(n_right, f) for c, f in rvals.items()})
    left = frame(dict(zip(lkeys, fams)), lvals, lcodes)
    right = frame(dict(zip(rkeys, fams)), rvals, rcodes)
    if draw(st.booleans()):  # a non-default index on the inputs (must be dropped, or carried for index joins)
        left.index = pd.Index([10 * i + 3 for i in range(n_left)], dtype="int64")
    how = draw(st.sampled_from(HOWS))
    kwargs = {
        "how": how,
        "sort": draw(st.booleans()),
        "indicator": draw(st.sampled_from([False, True, "src"])),
    }
    if how != "cross":
        if same_names and draw(st.booleans()):
            kwargs["on"] = lkeys if n_keys > 1 or draw(st.booleans()) else lkeys[0]
        elif same_names and draw(st.booleans()):
            pass  # on=None: pandas uses the common columns (keys and "v")
        else:
            kwargs["left_on"], kwargs["right_on"] = lkeys, rkeys
    kwargs["suffixes"] = draw(st.sampled_from([("_x", "_y"), ("", "_r"), ("_l", None), (None, "_r")]))
    return left, right, kwargs


def check(left, right, kwargs):
    run_both(
        lambda: pd.merge(left, right, **kwargs),
        lambda: mergekit.merge(left, right, **kwargs),
        n_left=len(left),
        kwargs=kwargs,
    )


@settings(BASE, max_examples=120)
@given(merge_case())
def test_pandas_random_merges_match(case):
    check(*case)


@pytest.mark.slow
@settings(BASE, max_examples=1000)
@given(merge_case(max_rows=25))
def test_pandas_random_merges_match_many(case):
    check(*case)


@pytest.mark.parametrize("family", KEY_FAMILIES)
@settings(BASE, max_examples=12)
@given(data=st.data())
def test_pandas_every_key_family_every_how(family, data):
    left, right, kwargs = data.draw(merge_case(key_families=st.just(family)))
    for how in HOWS:
        kw = dict(kwargs, how=how)
        if how == "cross":
            kw = {k: v for k, v in kw.items() if k not in ("on", "left_on", "right_on")}
        check(left, right, kw)


@st.composite
def validate_case(draw):
    left, right, kwargs = draw(merge_case(key_families=st.sampled_from(["int64", "object", "float64"])))
    if kwargs["how"] == "cross":
        kwargs = dict(kwargs, how="inner", on="k0") if "k0" in right else dict(kwargs, how="inner")
    kwargs["validate"] = draw(st.sampled_from(["1:1", "one_to_many", "m:1", "many_to_many", "1:m"]))
    return left, right, kwargs


@settings(BASE, max_examples=80)
@given(validate_case())
def test_pandas_validate_matches(case):
    left, right, kwargs = case
    if "on" not in kwargs and "left_on" not in kwargs:
        kwargs["on"] = [c for c in left.columns if c in right.columns][:1] or None
    got, expected = run_both(
        lambda: pd.merge(left, right, **kwargs), lambda: mergekit.merge(left, right, **kwargs)
    )
    if isinstance(expected, Exception):
        assert str(got) == str(expected)  # pandas' wording, including the listed duplicates


@st.composite
def index_case(draw):
    """left_index/right_index in all combinations with a key column on the other side."""
    family = draw(st.sampled_from(["int64", "object", "float64", "datetime", "category", "str"]))
    left, right, kwargs = draw(merge_case(key_families=st.just(family)))
    how = draw(st.sampled_from([h for h in HOWS if h != "cross"]))
    mode = draw(st.sampled_from(["both", "left_index", "right_index"]))
    lkey = next(c for c in left.columns if c.startswith("k"))
    rkey = next(c for c in right.columns if c.startswith(("k", "r")))
    kw = {"how": how, "sort": kwargs["sort"], "indicator": kwargs["indicator"], "suffixes": ("_x", "_y")}
    if family == "object" and mode == "both":
        # pandas' Index.join tells None from NaN in object indexes (its column merges do not); mergekit
        # treats every missing key alike (a documented difference), so index joins use one missing value.
        left[lkey] = left[lkey].where(left[lkey].notna(), np.nan)
        right[rkey] = right[rkey].where(right[rkey].notna(), np.nan)
    if mode in ("both", "left_index"):
        left = left.set_index(lkey)
        kw["left_index"] = True
    else:
        kw["left_on"] = lkey
    if mode in ("both", "right_index"):
        right = right.set_index(rkey)
        kw["right_index"] = True
    else:
        kw["right_on"] = rkey
    return left, right, kw


@pytest.mark.xfail(
    not PANDAS_3,
    reason="pandas 2.2's index joins name and order some results by internal path (documented in merge.py)",
    strict=False,
)
@settings(BASE, max_examples=150)
@given(index_case())
def test_pandas_index_joins_match(case):
    check(*case)


CROSS_FAMILY_PAIRS = [
    ("int64", "int32"),
    ("int64", "float64"),
    ("uint8", "int64"),
    ("int32", "float32"),
    ("Int64", "int64"),
    ("Int64", "float64"),
    ("int64[pyarrow]", "int64"),
    ("category", "object"),
    ("category", "str"),
    ("str", "object"),
    ("string[pyarrow]", "str"),
    ("large_string[pyarrow]", "object"),
    ("datetime", "datetime_us"),
    ("datetime", "datetimetz"),
    ("int64", "object"),
    ("bool", "object"),
    ("bool", "int64"),
    ("float64", "object"),
    ("timedelta", "datetime"),
    ("boolean", "bool"),
]


@pytest.mark.parametrize(("lfam", "rfam"), CROSS_FAMILY_PAIRS)
@settings(BASE, max_examples=15)
@given(data=st.data())
def test_pandas_mixed_key_dtypes_match(lfam, rfam, data):
    """Keys of different dtypes on the two sides: pandas either unifies them (and so must mergekit) or raises
    (and so must mergekit, with an exception pandas users already catch)."""
    left, _, _ = data.draw(merge_case(key_families=st.just(lfam)))
    _, right, kwargs = data.draw(merge_case(key_families=st.just(rfam)))
    lkeys = [c for c in left.columns if c.startswith("k")][:1]
    rkeys = [c for c in right.columns if c.startswith(("k", "r"))][:1]
    how = kwargs["how"] if kwargs["how"] != "cross" else "outer"
    check(left, right, {"how": how, "left_on": lkeys, "right_on": rkeys, "sort": kwargs["sort"]})


@settings(BASE, max_examples=60)
@given(
    merge_case(key_families=st.sampled_from(["float64", "object", "str", "Int64", "datetime", "category"]))
)
def test_pandas_sql_null_semantics(case):
    """nulls_equal=False: a missing key matches nothing. Oracle: pandas.merge with the missing-key rows of
    the side whose unmatched rows are dropped removed beforehand (they could only have matched nulls)."""
    left, right, kwargs = case
    how = kwargs["how"] if kwargs["how"] in ("inner", "left", "right") else "inner"
    lkeys = [c for c in left.columns if c.startswith("k")]
    rkeys = [c for c in right.columns if c.startswith(("k", "r"))]
    # sort=False: pandas sorts missing datetimes and categories first, the engine's SQL-null order puts
    # them last (documented), and this oracle would sort them pandas' way.
    kw = {"left_on": lkeys, "right_on": rkeys, "how": how, "sort": False}
    lclean = left if how == "left" else left.dropna(subset=lkeys)
    rclean = right if how == "right" else right.dropna(subset=rkeys)
    run_both(
        lambda: pd.merge(lclean, rclean, **kw),
        lambda: mergekit.merge(left, right, nulls_equal=False, **kw),
    )
