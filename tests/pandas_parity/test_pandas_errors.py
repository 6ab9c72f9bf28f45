"""Bad input: each mistake raises the exception pandas users already catch, with a message that says what
to change. Where pandas raises, pandas is the oracle (same class, same message)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from parity_helpers import PANDAS_3, run_both

import mergekit
from mergekit import exceptions as mkx


@pytest.fixture
def frames():
    left = pd.DataFrame({"k": [1, 2, 2, 3], "v": [1.0, 2.0, 3.0, 4.0], "s": ["a", "b", "c", "d"]})
    right = pd.DataFrame({"k": [2, 3, 3, 5], "v": [5.0, 6.0, 7.0, 8.0], "t": ["w", "x", "y", "z"]})
    return left, right


def same_error(left, right, **kwargs):
    got, expected = run_both(
        lambda: pd.merge(left, right, **kwargs), lambda: mergekit.merge(left, right, **kwargs)
    )
    assert isinstance(expected, Exception), "pandas accepted this merge"
    assert str(got) == str(expected)
    return got


def test_pandas_int_key_with_string_key_is_pandas_value_error(frames):
    left, right = frames
    err = same_error(left, right.assign(k=right["k"].astype(str)), on="k")
    assert "You are trying to merge on int64 and" in str(err) and "key 'k'" in str(err)


def test_pandas_datetime_with_int_key_is_value_error(frames):
    left, right = frames
    same_error(left.assign(k=pd.to_datetime(left["k"], unit="D")), right, on="k")


def test_pandas_tz_aware_with_naive_key_is_value_error(frames):
    left, right = frames
    ts = pd.to_datetime(left["k"], unit="D")
    same_error(
        left.assign(k=ts.dt.tz_localize("UTC")), right.assign(k=pd.to_datetime(right["k"], unit="D")), on="k"
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"on": "missing"},
        {"left_on": "k", "right_on": "missing"},
        {"left_on": "missing", "right_on": "k"},
        {"on": ["k", "missing"]},
    ],
)
def test_pandas_missing_column_is_key_error(frames, kwargs):
    left, right = frames
    err = same_error(left, right, **kwargs)
    assert isinstance(err, KeyError)


def test_pandas_duplicate_key_column_label_is_value_error(frames):
    left, right = frames
    dup = pd.concat([left, left[["k"]]], axis=1)
    err = same_error(dup, right, on="k")
    assert "not unique" in str(err)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"on": "k", "left_on": "k"},
        {"on": "k", "left_index": True},
        {"left_on": "k"},
        {"right_on": "k"},
        {"left_index": True},
        {"left_on": "k", "left_index": True, "right_on": "k"},
        {"how": "cross", "on": "k"},
        {"on": "k", "validate": "1:1"},
        {"on": "k", "validate": "m:1"},
        {"on": "k", "validate": "1:m"},
        {"on": "k", "validate": "bogus"},
        # pandas 2.2 fails on an unknown how with an UnboundLocalError (a pandas bug); 3.x says ValueError
        *([{"on": "k", "how": "sideways"}] if PANDAS_3 else []),
        {"on": "k", "suffixes": (None, None)},
        {"on": "k", "suffixes": ("", "")},
        {"on": "k", "suffixes": {"_a", "_b"}},
        {"on": "k", "indicator": "v"},
        {"on": "k", "indicator": 5},
        {"left_on": ["k", "v"], "right_on": ["k"]},
        {"on": "k", "left_index": "yes"},
    ],
)
def test_pandas_invalid_specifications_raise_like_pandas(frames, kwargs):
    left, right = frames
    same_error(left, right, **kwargs)


def test_pandas_validate_errors_name_the_duplicates(frames):
    left, right = frames
    err = same_error(left, right, on="k", validate="one_to_one")
    assert isinstance(err, pd.errors.MergeError) and isinstance(err, mkx.MergeValidationError)
    assert "not unique in either left or right" in str(err)


def test_pandas_validate_passes_when_unique(frames):
    left, right = frames
    run_both(
        lambda: pd.merge(left.drop_duplicates("k"), right.drop_duplicates("k"), on="k", validate="1:1"),
        lambda: mergekit.merge(left.drop_duplicates("k"), right.drop_duplicates("k"), on="k", validate="1:1"),
    )


def test_pandas_equal_suffixes_are_accepted_like_pandas(frames):
    left, right = frames
    run_both(
        lambda: pd.merge(left, right, on="k", suffixes=("_a", "_a")),
        lambda: mergekit.merge(left, right, on="k", suffixes=("_a", "_a")),
    )


def test_pandas_suffix_collision_with_existing_column(frames):
    left, right = frames
    err = same_error(left.assign(v_x=0), right, on="k")
    assert "duplicate columns" in str(err)


def test_pandas_unnamed_series_and_non_frames(frames):
    left, right = frames
    same_error(left, pd.Series([1, 2]))
    with pytest.raises(TypeError, match="Can only merge"):
        mergekit.merge(left, [1, 2, 3])
    with pytest.raises(TypeError, match="Can only merge"):
        mergekit.merge({"k": [1]}, right)


def test_pandas_list_keys_are_unsupported():
    # pandas joins list keys only on its paths that never hash them (e.g. sorted unique keys) and raises
    # "unhashable type" elsewhere; mergekit refuses them always, with a TypeError naming the column.
    left = pd.DataFrame({"k": [[2], [1], [2]], "v": [1, 2, 3]})
    with pytest.raises(mkx.UnsupportedKeyTypeError, match=r'"k".*cannot be used as a join key') as ours:
        mergekit.merge(left, left, on="k")
    assert isinstance(ours.value, TypeError)


def test_pandas_max_output_rows_overflow_is_memory_error():
    left = pd.DataFrame({"k": np.zeros(300, dtype=np.int64)})
    # 300 x 300 duplicate keys: 90,000 rows, refused before any output is allocated.
    with pytest.raises(mkx.OutputTooLargeError, match=r"90000 rows.*max_output_rows=1000") as info:
        mergekit.merge(left, left, on="k", max_output_rows=1000)
    assert isinstance(info.value, MemoryError)
    # At the limit it goes through and equals pandas.
    run_both(
        lambda: pd.merge(left, left, on="k"),
        lambda: mergekit.merge(left, left, on="k", max_output_rows=90_000),
    )


def test_pandas_max_output_rows_applies_to_cross_joins():
    left = pd.DataFrame({"a": range(100)})
    with pytest.raises(mkx.OutputTooLargeError, match="10000 rows"):
        mergekit.merge(left, left, how="cross", max_output_rows=9_999)


def test_arrow_mismatched_key_types_name_both_columns():
    left = pa.table({"id": [1, 2]})
    right = pa.table({"code": ["1", "2"]})
    with pytest.raises(mkx.KeyTypeMismatchError, match=r'"id".*Int64.*"code".*Utf8') as info:
        mergekit.merge(left, right, left_on="id", right_on="code")
    assert isinstance(info.value, ValueError)


def test_arrow_missing_column_is_key_error_listing_columns():
    left = pa.table({"id": [1, 2], "x": [1, 2]})
    with pytest.raises(KeyError, match=r"\['nope'\] not found.*\['id', 'x'\]"):
        mergekit.merge(left, left, on="nope")


def test_arrow_duplicate_column_names_are_refused():
    left = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["id", "id"])
    right = pa.table({"id": [1]})
    with pytest.raises(mkx.DuplicateColumnError, match=r"duplicate column names \['id'\]") as info:
        mergekit.merge(left, right, on="id")
    assert isinstance(info.value, pd.errors.MergeError)


def test_arrow_list_keys_are_unsupported():
    t = pa.table({"k": pa.array([[1], [2]]), "v": [1, 2]})
    with pytest.raises(mkx.UnsupportedKeyTypeError, match=r'"k" has type List'):
        mergekit.merge(t, t, on="k")


def test_arrow_max_output_rows():
    t = pa.table({"k": [7] * 50})
    with pytest.raises(mkx.OutputTooLargeError, match="2500 rows"):
        mergekit.merge(t, t, on="k", max_output_rows=100)


def test_arrow_index_arguments_are_refused():
    t = pa.table({"k": [1]})
    with pytest.raises(mkx.InvalidMergeError, match="no index"):
        mergekit.merge(t, t, left_index=True, right_index=True)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"on": "k", "left_on": "k"}, pd.errors.MergeError, "Can only pass argument"),
        ({"how": "cross", "on": "k"}, pd.errors.MergeError, "Can not pass on"),
        ({"left_on": "k"}, pd.errors.MergeError, "Must pass"),
        *([({"on": "k", "how": "sideways"}, ValueError, "not a valid Merge type")] if PANDAS_3 else []),
        ({"on": "k", "validate": "bogus"}, ValueError, "not a valid argument"),
        ({"on": "k", "validate": "1:1"}, pd.errors.MergeError, "not unique"),
        ({"on": "k", "suffixes": (None, None)}, ValueError, "columns overlap but no suffix"),
        ({"on": "k", "suffixes": {"a", "b"}}, TypeError, "Provide 'suffixes' as a tuple"),
        ({"on": "k", "indicator": "v"}, ValueError, "existing column"),
    ],
)
def test_arrow_invalid_specifications_raise_pandas_classes(kwargs, exc, match):
    t = pa.table({"k": [1, 1, 2], "v": [1, 2, 3]})
    with pytest.raises(exc, match=match):
        mergekit.merge(t, t, **kwargs)
    # pandas raises the same class for the same mistake.
    with pytest.raises(exc):
        pd.merge(t.to_pandas(), t.to_pandas(), **kwargs)


def test_pandas_join_runs_in_the_engine(frames, monkeypatch):
    """With pandas' own join routines disabled, mergekit still produces pandas' results: the matching is the
    engine's, pandas only assembles the frame."""
    left, right = frames
    expected = {how: pd.merge(left, right, on="k", how=how) for how in ("inner", "left", "right", "outer")}
    expected["index"] = pd.merge(left.set_index("k"), right.set_index("k"), left_index=True, right_index=True)
    expected["right_index"] = pd.merge(left, right.set_index("k"), left_on="k", right_index=True, how="left")

    def refuse(*args, **kwargs):
        raise AssertionError("pandas computed a join")

    from pandas.core.reshape import merge as pdm

    for name in (
        "get_join_indexers",
        "get_join_indexers_non_unique",
        "_factorize_keys",
        "_left_join_on_index",
    ):
        monkeypatch.setattr(pdm, name, refuse)
    monkeypatch.setattr(pd.Index, "join", refuse)
    for how in ("inner", "left", "right", "outer"):
        pd.testing.assert_frame_equal(mergekit.merge(left, right, on="k", how=how), expected[how])
    pd.testing.assert_frame_equal(
        mergekit.merge(left.set_index("k"), right.set_index("k"), left_index=True, right_index=True),
        expected["index"],
    )
    pd.testing.assert_frame_equal(
        mergekit.merge(left, right.set_index("k"), left_on="k", right_index=True, how="left"),
        expected["right_index"],
    )
