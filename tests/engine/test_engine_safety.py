"""Engine safety (issue 9): NaN and null float keys are one key under ``nulls_equal`` on every input kind,
``threads=`` is validated and pools are bounded, numeric arguments give a ``ValueError`` naming them, a
ChunkedArray is a ``TypeError``, and the Rust error -> Python class table is checked against
``mergekit.exceptions.__all__``."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import mergekit
from mergekit import _native, exceptions
from mergekit.exceptions import InvalidArgumentError, MergekitError

NAN = float("nan")


def _arrow_sides():
    left = pa.table({"k": pa.array([1.0, None, NAN, 2.0], pa.float64()), "a": [1, 2, 3, 4]})
    right = pa.table({"k": pa.array([None, NAN, 1.0, NAN], pa.float64()), "b": [5, 6, 7, 8]})
    return left, right


def _pandas_oracle(how):
    left, right = _arrow_sides()
    # pandas itself has one missing value for floats: its merge is the oracle.
    return pd.merge(left.to_pandas(), right.to_pandas(), on="k", how=how)


def _canon(df: pd.DataFrame) -> list[tuple]:
    return sorted(
        tuple(-np.inf if pd.isna(v) else float(v) for v in row)  # one missing value, as pandas sees it
        for row in df.itertuples(index=False)
    )


@pytest.mark.parametrize("how", ["inner", "left", "right", "outer"])
@pytest.mark.parametrize("kind", ["pandas", "pyarrow", "polars"])
def test_nan_and_null_float_keys_are_one_key(kind, how):
    left, right = _arrow_sides()
    if kind == "pandas":
        got = mergekit.merge(left.to_pandas(), right.to_pandas(), on="k", how=how)
    elif kind == "pyarrow":
        got = mergekit.merge(left, right, on="k", how=how).to_pandas()
    else:
        lp = pl.from_arrow(left)
        rp = pl.from_arrow(right)
        assert lp["k"].is_nan().sum() == 1 and lp["k"].is_null().sum() == 1  # polars keeps both
        got = mergekit.merge(lp, rp, on="k", how=how).to_pandas()
    want = _pandas_oracle(how)
    assert len(got) == len(want)
    assert _canon(got[want.columns.tolist()]) == _canon(want)


def test_nulls_equal_false_keeps_sql_nulls_and_spark_nans():
    """SQL semantics: a null matches nothing; NaN equals NaN, as in Spark's joins (unchanged)."""
    left, right = _arrow_sides()
    got = mergekit.merge(left, right, on="k", nulls_equal=False)
    keys = got.column("k").to_pylist()
    assert None not in keys
    assert sorted(got.column("b").to_pylist()) == [6, 7, 8]


# ---------------------------------------------------------------------------------------------------------
# Threads


def _tasks() -> int:
    return len(os.listdir("/proc/self/task"))


def test_many_thread_counts_do_not_accumulate_threads():
    """40 distinct threads= values on joins large enough to use them: the process keeps a bounded number of
    OS threads (on main: one pool per value, 823 threads after 40 values)."""
    code = (
        "import os, time, pyarrow as pa, mergekit\n"
        "t = pa.table({'k': list(range(50_000))})\n"
        "for n in range(1, 41):\n"
        "    mergekit.merge(t, t, on='k', threads=n)\n"
        "end = time.monotonic() + 30\n"
        "while len(os.listdir('/proc/self/task')) > 170 and time.monotonic() < end:\n"
        "    time.sleep(0.05)\n"  # dropped pools' threads exit asynchronously
        "print(len(os.listdir('/proc/self/task')))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    # 4 pools at most: the last four sizes are 37..40 threads (154), plus the interpreter's own threads.
    assert int(r.stdout) <= 37 + 38 + 39 + 40 + 16


def test_trivial_join_starts_no_large_pool():
    """threads=64 (the cap here or above) on 3 rows runs on one engine thread: no pool of 64 is started."""
    cap = mergekit._args.max_threads()
    before = _tasks()
    t = pa.table({"k": [1, 2, 3]})
    out = mergekit.merge(t, t, on="k", threads=cap)
    assert out.num_rows == 3
    assert _tasks() - before <= 2


@pytest.mark.parametrize("threads", [0, -1, 10_000, 2**70, 1.5, "4", True])
def test_threads_out_of_range(threads):
    t = pa.table({"k": [1, 2, 3]})
    with pytest.raises(InvalidArgumentError, match="threads"):
        mergekit.merge(t, t, on="k", threads=threads)
    with pytest.raises(InvalidArgumentError, match="threads"):
        mergekit.merge(t.to_pandas(), t.to_pandas(), on="k", threads=threads)


@pytest.mark.parametrize("rows", [-1, 2**64, 2**70, 1.0])
def test_max_output_rows_out_of_range(rows):
    t = pa.table({"k": [1, 2, 3]})
    with pytest.raises(InvalidArgumentError, match="max_output_rows") as e:
        mergekit.merge(t, t, on="k", max_output_rows=rows)
    assert isinstance(e.value, ValueError) and not isinstance(e.value, OverflowError)


def test_engine_refuses_bad_threads_itself():
    """The native layer checks too (for callers that skip the Python layer)."""
    keys = pa.table({"k": [1, 2, 3]})
    with pytest.raises(InvalidArgumentError, match="threads"):
        _native.join_indices(keys, keys, "inner", threads=0)


@pytest.mark.parametrize("bad", [pa.chunked_array([[1, 2]]), pa.array([1, 2])])
def test_arrow_arrays_are_type_errors_like_other_non_frames(bad):
    t = pa.table({"k": [1, 2]})
    for left, right in [(bad, t), (t, bad), (t.to_pandas(), bad)]:
        with pytest.raises(TypeError, match="Can only merge"):
            mergekit.merge(left, right, on="k")


# ---------------------------------------------------------------------------------------------------------
# The error map


def test_error_table_matches_the_exceptions_module():
    names = list(_native.error_class_names())
    assert len(names) == len(set(names))
    for name in names:
        assert name in exceptions.__all__, name
        cls = getattr(exceptions, name)
        assert issubclass(cls, MergekitError)
    for name in exceptions.__all__:
        assert issubclass(getattr(exceptions, name), MergekitError)
    # Arrow I/O errors map to an OSError subclass, invalid data to a ValueError subclass.
    assert issubclass(exceptions.InputIOError, OSError)
    assert issubclass(exceptions.ArrowEngineError, ValueError)
    assert issubclass(exceptions.InvalidArgumentError, ValueError)


def test_registering_a_wrong_table_is_refused():
    names = list(_native.error_class_names())
    with pytest.raises(ValueError):
        _native.register_error_classes([exceptions.InternalError])
    shuffled = [getattr(exceptions, n) for n in reversed(names)]
    with pytest.raises(TypeError):
        _native.register_error_classes(shuffled)
    # The real table is still in place: errors still raise their own class.
    t = pa.table({"k": [1]})
    with pytest.raises(exceptions.ColumnNotFoundError):
        mergekit.merge(t, t, on="missing")


def test_each_engine_class_is_raised(tmp_path):
    """A real error of each kind crosses the table into its class."""
    t = pa.table({"k": [1, 1]})
    with pytest.raises(exceptions.MergeValidationError):
        mergekit.merge(t, t, on="k", validate="1:1")
    with pytest.raises(exceptions.OutputTooLargeError):
        mergekit.merge(t, t, on="k", max_output_rows=1)
    with pytest.raises(exceptions.KeyTypeMismatchError):
        mergekit.merge(t, pa.table({"k": ["a"]}), on="k")
    with pytest.raises(exceptions.UnsupportedKeyTypeError):
        lt = pa.table({"k": pa.array([[1]])})
        mergekit.merge(lt, lt, on="k")
    with pytest.raises(exceptions.InputIOError):
        mergekit.read_csv(tmp_path / "missing.tsv")
    (tmp_path / "bad.tsv").write_bytes(b"a\tb\n1\n")
    with pytest.raises(exceptions.InputFormatError):
        mergekit.read_csv(tmp_path / "bad.tsv")


def test_an_unallocatable_output_is_a_memory_error_not_an_abort():
    """4e6 equal keys on each side ask for 1.6e13 pairs, 256 TB of row indices: more than any address
    space. The engine must refuse with a typed MemoryError naming the row count; before, the allocation
    failure aborted the whole Python process."""
    t = pa.table({"k": pa.array(np.zeros(4_000_000, dtype=np.int64))})
    refused = r"16000000000000 rows.*cannot be allocated"
    with pytest.raises(exceptions.OutputTooLargeError, match=refused) as info:
        mergekit.merge(t, t, on="k")
    assert isinstance(info.value, MemoryError)
    # The process is alive and the engine still works.
    assert mergekit.merge(t.slice(0, 3), t.slice(0, 2), on="k").num_rows == 6


@pytest.mark.parametrize("bad", [5, -2])
def test_take_refuses_row_indices_out_of_range_with_a_clear_error(bad):
    table = pa.table({"a": [1, 2]})
    with pytest.raises(InvalidArgumentError, match=f"row index {bad} out of range for 2 rows"):
        _native.take(table, pa.array(np.array([0, bad], dtype=np.int64)))
