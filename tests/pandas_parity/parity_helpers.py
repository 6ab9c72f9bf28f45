"""Shared data builders for the pandas-parity suite: small frames whose key columns come from a tiny pool
of values (so keys repeat and match often), in every dtype family mergekit must handle like pandas."""

from __future__ import annotations

import os
from typing import Optional

import numpy as np
import pandas as pd
import pytest

try:
    from hypothesis import HealthCheck, settings
    from hypothesis import strategies as st
except ImportError:  # the hypothesis-driven modules skip themselves; the example-based ones still run
    HealthCheck = settings = st = None

# The parent of every test's settings here (applied per test, so other suites' hypothesis settings are left
# alone). CI runs a fixed set of examples (derandomized: a rare pandas quirk cannot make a run flaky); set
# MERGEKIT_HYPOTHESIS=explore to search new random examples, the way the suite's cases were found.
BASE = (
    settings(
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
        derandomize=os.environ.get("MERGEKIT_HYPOTHESIS") != "explore",
        database=None,
    )
    if settings is not None
    else None
)

PANDAS_3 = int(pd.__version__.split(".")[0]) >= 3
BASE_TS = pd.Timestamp("2021-03-27 22:00")  # near a DST change, so tz conversions matter

# family -> (builder from codes, whether the family can hold missing values)
CATEGORIES = ["s3", "s0", "s1", "s4", "s2"]  # deliberately not sorted: pandas sorts categoricals by code


def _strings(codes):
    return [None if c is None else f"s{c}" for c in codes]


def _arrow(type_name: str):
    import pyarrow as pa

    return pd.ArrowDtype(getattr(pa, type_name)())


def build(family: str, codes: list[Optional[int]]) -> pd.Series:
    """A column of ``family`` whose i-th value is determined by ``codes[i]`` (``None`` = missing)."""
    if family == "int64":
        return pd.Series([0 if c is None else c for c in codes], dtype="int64")
    if family == "int32":
        return pd.Series([0 if c is None else c for c in codes], dtype="int32")
    if family == "uint8":
        return pd.Series([0 if c is None else c for c in codes], dtype="uint8")
    if family == "float64":
        return pd.Series([np.nan if c is None else c / 2 for c in codes], dtype="float64")
    if family == "float32":
        return pd.Series([np.nan if c is None else c / 2 for c in codes], dtype="float32")
    if family == "bool":
        return pd.Series([c is not None and c % 2 == 0 for c in codes], dtype="bool")
    if family == "object":
        # None and NaN both stand for missing in object columns; pandas matches them with each other.
        return pd.Series(
            [(None if i % 2 else np.nan) if c is None else f"s{c}" for i, c in enumerate(codes)],
            dtype=object,
        )
    if family == "str":
        return pd.Series(_strings(codes), dtype="str" if PANDAS_3 else "string")
    if family == "string_python":
        return pd.Series(_strings(codes), dtype=pd.StringDtype("python"))
    if family == "category":
        return pd.Series(pd.Categorical(_strings(codes), categories=CATEGORIES))
    if family == "datetime":
        return pd.Series(
            [pd.NaT if c is None else BASE_TS + pd.Timedelta(hours=c) for c in codes], dtype="datetime64[ns]"
        )
    if family == "datetime_us":
        return pd.Series(
            [pd.NaT if c is None else BASE_TS + pd.Timedelta(hours=c) for c in codes], dtype="datetime64[us]"
        )
    if family == "datetimetz":
        return (
            pd.Series(
                [pd.NaT if c is None else BASE_TS + pd.Timedelta(hours=c) for c in codes],
                dtype="datetime64[ns]",
            )
            .dt.tz_localize("UTC")
            .dt.tz_convert("Europe/Berlin")
        )
    if family == "timedelta":
        return pd.Series([pd.NaT if c is None else pd.Timedelta(minutes=c) for c in codes], dtype="m8[ns]")
    if family == "Int64":
        return pd.Series([pd.NA if c is None else c for c in codes], dtype="Int64")
    if family == "boolean":
        return pd.Series([pd.NA if c is None else c % 2 == 0 for c in codes], dtype="boolean")
    if family == "int64[pyarrow]":
        return pd.Series([None if c is None else c for c in codes], dtype=_arrow("int64"))
    if family == "string[pyarrow]":
        return pd.Series(_strings(codes), dtype=pd.StringDtype("pyarrow"))
    if family == "large_string[pyarrow]":
        return pd.Series(_strings(codes), dtype=_arrow("large_string"))
    if family == "float64[pyarrow]":
        return pd.Series([None if c is None else c / 2 for c in codes], dtype=_arrow("float64"))
    raise ValueError(family)


KEY_FAMILIES = [
    "int64",
    "int32",
    "uint8",
    "float64",
    "float32",
    "bool",
    "object",
    "str",
    "string_python",
    "category",
    "datetime",
    "datetime_us",
    "datetimetz",
    "timedelta",
    "Int64",
    "boolean",
    "int64[pyarrow]",
    "string[pyarrow]",
    "large_string[pyarrow]",
    "float64[pyarrow]",
]
VALUE_FAMILIES = [
    "int64",
    "float64",
    "bool",
    "object",
    "str",
    "category",
    "datetimetz",
    "Int64",
    "int64[pyarrow]",
]


def codes_strategy(n: int, pool: int = 5, nulls: bool = True):
    """``n`` value codes from a pool of ``pool`` (so keys repeat), some missing when ``nulls``."""
    value = st.integers(0, pool - 1)
    elem = st.one_of(st.none(), value) if nulls else value
    return st.lists(elem, min_size=n, max_size=n)


def frame(
    key_families: dict[str, str], value_families: dict[str, str], codes: dict[str, list]
) -> pd.DataFrame:
    n = len(next(iter(codes.values()))) if codes else 0
    cols = {}
    for name, fam in {**key_families, **value_families}.items():
        cols[name] = build(fam, codes.get(name, [i % 3 for i in range(n)])).reset_index(drop=True)
    return pd.DataFrame(cols)


def assert_same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Exact equality: values, dtypes, column and index types, row order."""
    assert type(got) is type(expected)
    pd.testing.assert_frame_equal(
        got,
        expected,
        check_dtype=True,
        check_index_type=True,
        check_column_type=True,
        check_categorical=True,
        check_exact=True,
        check_flags=True,
        check_freq=True,
    )


def pandas22_inner_order_bug(n_left: int, kwargs: dict, expected: pd.DataFrame) -> bool:
    """pandas 2.2 reorders an inner join without ``sort`` wrongly when its output happens to have as many rows
    as the left frame while some left rows match several times (libjoin's 1:1 shortcut; fixed in pandas
    3.0). mergekit keeps the documented order (left rows in order, each one's matches in right order)."""
    how = kwargs.get("how", "inner")
    return (
        not PANDAS_3
        and how in ("inner", "cross")
        and not kwargs.get("sort")
        and not kwargs.get("left_index")
        and not kwargs.get("right_index")
        and len(expected) == n_left
    )


def assert_same_rows(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Everything but row order: columns, dtypes, index type, and the multiset of rows."""
    pd.testing.assert_index_equal(got.columns, expected.columns)
    pd.testing.assert_series_equal(got.dtypes, expected.dtypes)
    assert type(got.index) is type(expected.index) and len(got) == len(expected)

    def rows(df):
        return sorted(map(repr, df.astype(object).itertuples(index=False, name=None)))

    assert rows(got) == rows(expected)


def run_both(pandas_call, mergekit_call, *, n_left=None, kwargs=None):
    """Run the oracle and mergekit; they must both succeed with equal frames, or both raise a compatible
    error (mergekit's class derives from pandas' so ``except`` clauses written for pandas keep working)."""
    try:
        expected = pandas_call()
    except Exception as e:
        with pytest.raises(type(e)) as info:
            mergekit_call()
        return info.value, e
    got = mergekit_call()
    if n_left is not None and pandas22_inner_order_bug(n_left, kwargs or {}, expected):
        assert_same_rows(got, expected)
    else:
        assert_same(got, expected)
    return got, expected
