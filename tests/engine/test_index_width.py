"""Four-byte row indices (``join_indices(..., narrow=True)``): the same pairs as eight-byte ones, as int32
with -1 for "no row", and ``take`` reads them as it reads int64."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from mergekit import _native
from mergekit.exceptions import InvalidArgumentError


def _keys(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    k = rng.integers(0, n // 2, n)
    return pa.table({"k": pa.array(k, mask=rng.random(n) < 0.05)})


CASES = [(how, sort) for how in ("inner", "left", "right", "outer", "cross") for sort in (False, True)]
CASES += [("left_semi", False), ("left_anti", False)]


@pytest.mark.parametrize(("how", "sort"), CASES)
def test_narrow_pairs_equal_wide_pairs(how, sort):
    left, right = _keys(3000, 1), _keys(900, 2)
    if how == "cross":
        left, right = left.slice(0, 40), right.slice(0, 30)
    wide = _native.join_indices(left, right, how, sort=sort, threads=2)
    narrow = _native.join_indices(left, right, how, sort=sort, threads=2, narrow=True)
    for w, n in zip(wide, narrow):
        w, n = pa.array(w), pa.array(n)
        assert (w.type, n.type) == (pa.int64(), pa.int32())
        np.testing.assert_array_equal(n.to_numpy().astype(np.int64), w.to_numpy())
    assert len(pa.array(wide[0])) > 0


def test_take_reads_int32_indices_as_int64_ones():
    table = pa.table({"s": ["a", "b", None, "d"], "x": [1.5, 2.5, 3.5, 4.5]})
    idx = [3, -1, 0, 2, 3]
    wide = pa.table(_native.take(table, pa.array(idx, pa.int64())))
    narrow = pa.table(_native.take(table, pa.array(idx, pa.int32())))
    assert narrow.equals(wide)
    assert narrow.column("s").to_pylist() == ["d", None, "a", None, "d"]


@pytest.mark.parametrize("bad", [-2, 4, np.iinfo(np.int32).min])
def test_take_refuses_int32_indices_out_of_range(bad):
    table = pa.table({"x": [1, 2, 3, 4]})
    with pytest.raises(InvalidArgumentError, match="out of range for 4 rows"):
        _native.take(table, pa.array([0, bad], pa.int32()))
