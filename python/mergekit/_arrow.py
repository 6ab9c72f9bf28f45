"""The Arrow-level merge that every front end shares.

Key columns go to the engine, row-index pairs come back, and one parallel gather per side builds the
output. Output columns follow pandas' rules: left columns then right columns, a key with the same name on
both sides appears once (filled from the right side where the left has no row), and other overlapping
names get ``suffixes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pyarrow as pa
from pandas._libs.lib import is_range_indexer as _is_range_indexer  # type: ignore[attr-defined]  # one C pass

from mergekit import _native
from mergekit._resolve import check_columns
from mergekit.exceptions import InvalidMergeError

INDICATOR_CATEGORIES = ("left_only", "right_only", "both")


@dataclass(frozen=True)
class OutputColumn:
    """One output column: its name, the side it is read from, and for a shared key the right column that
    fills rows the left side does not have."""

    name: str
    side: str  # "left" or "right"
    source: str
    coalesce_from: Optional[str] = None


def plan_columns(
    left_names: Sequence[str],
    right_names: Sequence[str],
    left_on: Sequence[str],
    right_on: Sequence[str],
    how: str,
    suffixes: tuple[Optional[str], Optional[str]] = ("_x", "_y"),
) -> list[OutputColumn]:
    """The output columns of a merge, in order (pandas' naming rules)."""
    if how == "left_semi":
        return [OutputColumn(n, "left", n) for n in left_names]
    shared_keys = {lk for lk, rk in zip(left_on, right_on) if lk == rk}
    right_kept = [n for n in right_names if n not in shared_keys]
    overlap = (set(left_names) - shared_keys) & set(right_kept)
    lsuf, rsuf = suffixes
    if overlap and lsuf is None and rsuf is None:
        raise ValueError(f"columns overlap but no suffix specified: {sorted(overlap)}")

    def rename(name: str, suffix: Optional[str]) -> str:
        return f"{name}{suffix}" if name in overlap and suffix is not None else name

    out = []
    for n in left_names:
        coalesce = n if n in shared_keys and how != "inner" and how != "left" else None
        out.append(OutputColumn(n if n in shared_keys else rename(n, lsuf), "left", n, coalesce))
    out += [OutputColumn(rename(n, rsuf), "right", n) for n in right_kept]
    names = [c.name for c in out]
    renamed = {rename(n, s) for n in overlap for s in suffixes}
    dupes = sorted({n for n in names if names.count(n) > 1} & renamed)
    if dupes:
        raise InvalidMergeError(
            f"Passing 'suffixes' which cause duplicate columns {set(dupes)} is not allowed."
        )
    return out


def join_indices(
    left: pa.Table,
    right: pa.Table,
    left_on: Sequence[str],
    right_on: Sequence[str],
    how: str,
    *,
    narrow: bool = False,
    **engine_options,
) -> tuple[np.ndarray, np.ndarray]:
    """Row-index pairs of the join (numpy int64, -1 where a side has no row). With ``narrow``, int32 when
    both sides have fewer than 2^31 rows: half the memory, and what the Arrow and polars gathers read; only
    callers that gather through the engine or polars ask for it (pandas' takes want intp)."""
    check_columns(left.column_names, left_on, "left")
    check_columns(right.column_names, right_on, "right")
    if how == "cross":
        # A table without columns reaches the engine without its row count; a null column carries it.
        lkeys, rkeys = pa.table({"_": pa.nulls(left.num_rows)}), pa.table({"_": pa.nulls(right.num_rows)})
    else:
        lkeys, rkeys = left.select(list(left_on)), right.select(list(right_on))
    lk, rk = _native.join_indices(lkeys, rkeys, how, narrow=narrow, **engine_options)
    return (pa.array(lk).to_numpy(zero_copy_only=True), pa.array(rk).to_numpy(zero_copy_only=True))


def _take(table: pa.Table, idx: np.ndarray, threads: Optional[int]) -> pa.Table:
    return pa.table(_native.take(table, pa.array(idx), threads=threads))


def is_identity(idx: np.ndarray, n_rows: int) -> bool:
    """Whether ``idx`` is 0, 1, ..., n_rows - 1: every row once, in order (a left join on a unique right key,
    say), so that side's columns are the output's as they are and need no gather. pandas and polars skip
    that take too. pandas' own check (int32 or int64): one pass that stops at the first row out of place."""
    if idx.dtype != np.int32:
        idx = np.asarray(idx, dtype=np.int64)
    return _is_range_indexer(idx, n_rows)


def take_columns(table: pa.Table, names: Sequence[str], idx: np.ndarray, threads: Optional[int]) -> pa.Table:
    """``table``'s columns ``names`` at the rows ``idx`` (-1: a null row); no copy when ``idx`` is the
    identity."""
    selected = table.select(list(names))
    return selected if is_identity(idx, table.num_rows) else _take(selected, idx, threads)


def merge_tables(
    left: pa.Table,
    right: pa.Table,
    left_on: Sequence[str],
    right_on: Sequence[str],
    how: str = "inner",
    suffixes: tuple[Optional[str], Optional[str]] = ("_x", "_y"),
    *,
    indicator: bool | str = False,
    threads: Optional[int] = None,
    **engine_options,
) -> pa.Table:
    """Join two Arrow tables with pandas' column rules. ``engine_options``: nulls_equal, sort, validate,
    max_output_rows."""
    columns = plan_columns(left.column_names, right.column_names, left_on, right_on, how, suffixes)
    li, ri = join_indices(left, right, left_on, right_on, how, narrow=True, threads=threads, **engine_options)
    left_cols = [c.source for c in columns if c.side == "left" and c.coalesce_from is None]
    right_cols = [c.source for c in columns if c.side == "right"]
    taken = {}
    if left_cols:
        t = take_columns(left, left_cols, li, threads)
        taken.update({("left", n): t.column(n) for n in left_cols})
    if right_cols:
        t = take_columns(right, right_cols, ri, threads)
        taken.update({("right", n): t.column(n) for n in right_cols})
    for c in columns:
        if c.coalesce_from is not None:
            taken[("left", c.source)] = _coalesced_key(left, right, c, li, ri, threads)
    arrays = [taken[(c.side, c.source)] for c in columns]
    names = [c.name for c in columns]
    if indicator:
        arrays.append(indicator_array(li, ri))
        names.append(indicator if isinstance(indicator, str) else "_merge")
    if not arrays:
        return pa.table({}).append_column("_", pa.nulls(len(li))).drop_columns(["_"])
    return pa.Table.from_arrays(arrays, names=names)


def _coalesced_key(left, right, col: OutputColumn, li, ri, threads) -> pa.ChunkedArray:
    """A shared key: the left value where the left side has a row, else the right one."""
    lcol = left.column(col.source)
    rcol = right.column(col.coalesce_from)
    target = coalesced_type(lcol.type, rcol.type)
    lcol, rcol = lcol.cast(target), rcol.cast(target)
    both = pa.chunked_array(lcol.chunks + rcol.chunks, type=target)
    idx = np.where(li >= 0, li, ri.astype(np.int64) + len(left))  # int64: int32 pairs may not hold the sum
    return _take(pa.table({"k": both}), idx, threads).column("k")


def coalesced_type(lt: pa.DataType, rt: pa.DataType) -> pa.DataType:
    """The type of a key column filled from both sides: one both sides' values fit in (int32 and int64 give
    int64, int and float give float64, a dictionary and a string give the string type)."""
    if lt == rt:
        return lt

    def base(t: pa.DataType) -> pa.DataType:
        return t.value_type if pa.types.is_dictionary(t) else t

    try:
        schemas = [pa.schema([("k", base(lt))]), pa.schema([("k", base(rt))])]
        return pa.unify_schemas(schemas, promote_options="permissive").field("k").type
    except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if {base(lt), base(rt)} <= {pa.string(), pa.large_string(), pa.string_view()}:
            return pa.large_string()
        return base(lt)


def indicator_array(li: np.ndarray, ri: np.ndarray) -> pa.DictionaryArray:
    """pandas' ``_merge`` column: left_only / right_only / both."""
    codes = np.where(li < 0, 1, np.where(ri < 0, 0, 2)).astype(np.int8)
    return pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(INDICATOR_CATEGORIES))
