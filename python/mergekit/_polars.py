"""The merge of polars frames: only the key columns cross to Arrow and the engine; every other output column
is gathered by polars itself on its native columns (``DataFrame.gather``), so Categorical, Enum, nested and
string columns never leave polars.

Why polars' gather and not the engine's over exported buffers: exporting a polars column to Arrow is itself
a conversion (seconds for Categorical columns at 1e7 rows), and polars' gather is already parallel over
columns. Measured on db-benchmark's x at 1e6 rows (7 columns, 3 Categorical), 9e5 random indices, 2 threads,
load average 13: ``DataFrame.gather`` 0.09 s against 3.1 s for ``to_arrow`` + engine take + ``from_arrow``.

The output follows the Arrow path's rules (``_arrow.plan_columns``): column order, suffixes, and shared keys
of outer/right joins coalesced from both sides (computed on the key columns in Arrow, then handed to polars).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np
import pyarrow as pa

from mergekit import _arrow


def _key_tables(
    left: Any, right: Any, left_on: Sequence[str], right_on: Sequence[str], *, by_category_id: bool
) -> tuple[pa.Table, pa.Table]:
    """The key columns as Arrow tables for the engine.

    With ``by_category_id``, a pair of Categorical (or Enum) keys of one dtype crosses as polars' physical
    category ids (UInt32, zero-copy): both sides share one category mapping, so ids are equal exactly when
    values are. ``to_arrow()`` instead remaps every row to a local dictionary (0.25 s per 1e7 rows, measured
    on db-benchmark's id5). Id order is not value order, so the caller asks for ids only when the output
    order does not follow the keys and no key column is built from the key values (outer and right joins
    coalesce them)."""
    import polars as pl

    def categorical(dtype: Any) -> bool:
        return isinstance(dtype, (pl.Categorical, pl.Enum))

    lexprs, rexprs = [], []
    for ln, rn in zip(left_on, right_on):
        lt, rt = left.schema[ln], right.schema[rn]
        as_ids = by_category_id and categorical(lt) and lt == rt
        lexprs.append(pl.col(ln).to_physical() if as_ids else pl.col(ln))
        rexprs.append(pl.col(rn).to_physical() if as_ids else pl.col(rn))
    return left.select(lexprs).to_arrow(), right.select(rexprs).to_arrow()


def _polars_indices(idx: np.ndarray) -> Any:
    """Row indices as a polars Series; -1 ("no row") becomes null, which polars' gather turns into a null
    row (a negative index would count from the end). The engine's int32 pairs cross as UInt32, polars' own
    index type, over the same buffer: a gather with any other integer type casts them first (measured on
    db-benchmark q1 at 1e7 rows: 0.03 to 0.05 s of a 7-column gather)."""
    import polars as pl

    missing = idx < 0
    values = idx.view(np.uint32) if idx.dtype == np.int32 else idx
    return pl.from_arrow(pa.array(values, mask=missing if missing.any() else None))


def merge_frames(
    left: Any,
    right: Any,
    left_on: Sequence[str],
    right_on: Sequence[str],
    how: str,
    suffixes: tuple[Optional[str], Optional[str]],
    *,
    indicator: bool | str = False,
    threads: Optional[int] = None,
    **engine_options: Any,
) -> Any:
    """Join two polars DataFrames with pandas' column rules; the result is a polars DataFrame."""
    import polars as pl

    columns = _arrow.plan_columns(left.columns, right.columns, left_on, right_on, how, suffixes)
    if how == "cross":
        lkeys, rkeys = pa.table({"_": pa.nulls(left.height)}), pa.table({"_": pa.nulls(right.height)})
        klon, kron = [], []
    else:
        key_ordered = bool(engine_options.get("sort")) or how == "outer"
        coalesced = any(c.coalesce_from is not None for c in columns)
        by_id = not key_ordered and not coalesced
        lkeys, rkeys = _key_tables(left, right, left_on, right_on, by_category_id=by_id)
        klon, kron = list(left_on), list(right_on)
    li, ri = _arrow.join_indices(
        lkeys, rkeys, klon, kron, how, narrow=True, threads=threads, **engine_options
    )
    left_cols = [c.source for c in columns if c.side == "left" and c.coalesce_from is None]
    right_cols = [c.source for c in columns if c.side == "right"]
    taken: dict[tuple[str, str], Any] = {}  # polars Series by (side, source column)
    for side, frame, cols, idx in (("left", left, left_cols, li), ("right", right, right_cols, ri)):
        if cols:
            t = frame.select(cols)
            if not _arrow.is_identity(idx, frame.height):  # the identity: the columns as they are
                t = t.gather(_polars_indices(idx))
            taken.update({(side, n): t.get_column(n) for n in cols})
    for c in columns:
        if c.coalesce_from is not None:
            key = _arrow._coalesced_key(lkeys, rkeys, c, li, ri, threads)
            coalesced_key = pl.Series(c.source, key)
            dtype = left.schema[c.source]
            if dtype == right.schema[c.coalesce_from] and coalesced_key.dtype != dtype:
                # Both sides' key has one polars dtype (an Enum, say) that the trip through Arrow lost.
                coalesced_key = coalesced_key.cast(dtype)
            taken[("left", c.source)] = coalesced_key
    series = [taken[(c.side, c.source)].alias(c.name) for c in columns]
    if indicator:
        name = indicator if isinstance(indicator, str) else "_merge"
        series.append(pl.Series(name, _arrow.indicator_array(li, ri)))
    return pl.DataFrame(series)
