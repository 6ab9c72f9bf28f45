"""The row gather of a pandas merge result, done by the engine (``_native.take_block``) where the data lives.

pandas builds a merge result by taking rows of every block of both frames (``BlockManager.reindex_indexer``
→ ``Block.take_nd``, single-threaded). This module does that step block by block: the numpy data of a block
go to the engine as zero-copy Arrow arrays, the engine gathers all its columns in parallel (GIL released)
into one buffer, and the block comes back as a zero-copy numpy view of it. The fill of a -1 row is pandas'
own: integers become float64 with NaN, floats get NaN, datetimes/timedeltas NaT, categoricals the missing
code -1 (same categories); Arrow-backed columns go through the engine's Arrow take (-1 rows null). Booleans
with missing rows (pandas makes them object), object, complex, float16 and other extension blocks (masked,
sparse, period, interval) stay on pandas' ``take_nd``; so the result is the one pandas gives, block for block.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import pandas as pd
import pyarrow as pa

from mergekit import _native

_NAT = np.iinfo(np.int64).min  # NaT's int64 value (pandas' iNaT)
_DATETIMELIKE = (pd.arrays.DatetimeArray, pd.arrays.TimedeltaArray)
_ARROW_BACKED = (pd.arrays.ArrowExtensionArray, pd.arrays.ArrowStringArray)


def _gather(values: np.ndarray, idx: pa.Array, fill: str, fill_value: int, threads) -> np.ndarray:
    """``values`` (1-D, or 2-D as columns x rows) at the rows ``idx``, as a new array of the same layout."""
    rows = values if values.ndim == 2 else values[None, :]
    rows = np.ascontiguousarray(rows)  # a view of C-ordered blocks: no copy
    table = pa.Table.from_arrays([pa.array(r) for r in rows], names=[str(i) for i in range(len(rows))])
    out = pa.array(_native.take_block(table, idx, fill, fill_value, threads=threads))
    flat = out.to_numpy(zero_copy_only=True)
    return flat.reshape(len(rows), len(idx)) if values.ndim == 2 else flat


def _take_values(values: Any, idx: pa.Array, missing: bool, threads) -> Optional[Any]:
    """A block's values at the rows ``idx`` with pandas' fill, or ``None`` where pandas' take should do it."""
    if isinstance(values, np.ndarray):
        kind, size = values.dtype.kind, values.dtype.itemsize
        if kind in "iu":
            return _gather(values, idx, "float64" if missing else "same", -1, threads)
        if kind == "f" and size in (4, 8):
            return _gather(values, idx, "same", 0, threads)
        if kind == "b" and not missing:
            return _gather(values.view(np.uint8), idx, "same", 0, threads).view(np.bool_)
        return None
    if isinstance(values, _DATETIMELIKE):
        backing = values._ndarray
        taken = _gather(backing.view(np.int64), idx, "same", _NAT, threads).view(backing.dtype)
        return values._from_backing_data(taken)
    if isinstance(values, pd.Categorical):
        codes = values._ndarray  # int8/16/32 codes; -1 is pandas' missing code
        return values._from_backing_data(_gather(codes, idx, "same", -1, threads))
    if isinstance(values, _ARROW_BACKED):
        # Arrow-backed columns (pandas 3's default str too): the engine's Arrow take, -1 rows null, which is
        # what pandas' take with allow_fill gives these arrays.
        taken = pa.table(_native.take(pa.table({"c": values._pa_array}), idx, threads=threads)).column("c")
        rebuild = getattr(values, "_from_pyarrow_array", None)  # pandas 3; 2.2 rebuilds by class
        return rebuild(taken) if rebuild is not None else type(values)(taken)
    return None


def take_rows(frame: pd.DataFrame, new_index: pd.Index, indexer: np.ndarray, threads) -> pd.DataFrame:
    """``frame``'s rows at ``indexer`` (-1: a missing row) with ``new_index``: what pandas'
    ``reindex_indexer(new_index, indexer, axis=1)`` gives, gathered by the engine."""
    mgr = frame._mgr
    indexer = np.asarray(indexer, dtype=np.int64)
    idx = pa.array(indexer)  # zero-copy
    missing = bool(len(indexer)) and bool(indexer.min() < 0)
    blocks = []
    for blk in mgr.blocks:
        taken = _take_values(blk.values, idx, missing, threads)
        if taken is None:
            blocks.append(blk.take_nd(indexer, axis=1, fill_value=blk.fill_value))
        elif taken.dtype == blk.dtype:
            blocks.append(blk.make_block_same_class(taken))
        else:
            blocks.append(blk.make_block(taken))
    axes = [mgr.axes[0].view(), new_index]
    out = type(mgr).from_blocks(blocks, axes)
    # Same blocks in the same places: the column → block maps carry over.
    out._blknos = mgr.blknos.copy()
    out._blklocs = mgr.blklocs.copy()
    return frame._constructor_from_mgr(out, axes=out.axes)
