"""Input kinds in, the same kind out.

``mergekit.merge`` accepts pandas DataFrames/Series, pyarrow Tables and RecordBatches, polars DataFrames and
any object that exports an Arrow stream (``__arrow_c_stream__``). This module names the kind of an input,
turns non-pandas inputs into a ``pyarrow.Table`` (zero-copy: polars and the PyCapsule interface hand over
their buffers) and turns a result table back into the left input's kind.

polars is never imported here unless the caller already passed a polars object (so it stays optional).
"""

from __future__ import annotations

import sys
from typing import Any

import pyarrow as pa

PANDAS = "pandas"
ARROW_TABLE = "pyarrow.Table"
ARROW_BATCH = "pyarrow.RecordBatch"
POLARS = "polars"
STREAM = "arrow-stream"


def _is_polars_frame(obj: Any) -> bool:
    pl = sys.modules.get("polars")
    return pl is not None and isinstance(obj, pl.DataFrame)


def _is_polars_lazy(obj: Any) -> bool:
    pl = sys.modules.get("polars")
    return pl is not None and isinstance(obj, pl.LazyFrame)


def kind_of(obj: Any) -> str:
    """The input kind of ``obj``; ``TypeError`` (pandas' message style) for anything mergekit cannot read."""
    import pandas as pd

    if isinstance(obj, (pd.DataFrame, pd.Series)):
        return PANDAS
    if isinstance(obj, pa.Table):
        return ARROW_TABLE
    if isinstance(obj, pa.RecordBatch):
        return ARROW_BATCH
    if _is_polars_frame(obj):
        return POLARS
    if _is_polars_lazy(obj):
        raise TypeError(
            "Can only merge eager frames; a polars LazyFrame was passed. Call .collect() on it first."
        )
    if isinstance(obj, (pa.ChunkedArray, pa.Array)):
        # These export an Arrow stream too, but of one column, not of a table.
        raise TypeError(
            f"Can only merge Series or DataFrame objects (pandas or polars), pyarrow Tables/RecordBatches or "
            f"objects with __arrow_c_stream__, a {type(obj)} was passed (wrap it in a table: "
            "pyarrow.table({'name': array}))"
        )
    if hasattr(obj, "__arrow_c_stream__"):
        return STREAM
    raise TypeError(
        f"Can only merge Series or DataFrame objects (pandas or polars), pyarrow Tables/RecordBatches or "
        f"objects with __arrow_c_stream__, a {type(obj)} was passed"
    )


def to_arrow(obj: Any, kind: str | None = None) -> pa.Table:
    """A ``pyarrow.Table`` view of a non-pandas input (pandas frames go through ``from_pandas``, no index)."""
    kind = kind or kind_of(obj)
    if kind == ARROW_TABLE:
        return obj
    if kind == ARROW_BATCH:
        return pa.Table.from_batches([obj])
    if kind == POLARS:
        # polars exports its chunks as Arrow without copying.
        return obj.to_arrow()
    if kind == PANDAS:
        import pandas as pd

        frame = obj.to_frame() if isinstance(obj, pd.Series) else obj
        return pa.Table.from_pandas(frame, preserve_index=False)
    return pa.table(obj)


def from_arrow(table: pa.Table, kind: str) -> Any:
    """``table`` as the given input kind. Objects that only export a stream come back as a ``pyarrow.Table``
    (mergekit cannot construct an arbitrary producer's class; a Table exports the same stream)."""
    if kind == ARROW_BATCH:
        combined = table.combine_chunks()
        batches = combined.to_batches()
        if len(batches) == 1:
            return batches[0]
        return pa.RecordBatch.from_arrays(
            [pa.concat_arrays(c.chunks) if c.num_chunks else pa.array([], c.type) for c in combined.columns],
            schema=combined.schema,
        )
    if kind == POLARS:
        import polars as pl

        return pl.from_arrow(table, rechunk=False)
    if kind == PANDAS:
        return table.to_pandas()
    return table
