"""``mergekit.merge``: ``pandas.merge``'s signature and behaviour; mergekit's engine does the matching.

For pandas inputs the result is built exactly as pandas builds it: pandas' own ``_MergeOperation`` resolves
``on``/``left_on``/``right_on``/index arguments, checks and coerces key dtypes, names and suffixes columns,
coalesces keys, adds the indicator and assembles the result. The steps it does not do are the join itself
(every row-index pair comes from the Rust engine, ``_native.join_indices``, which also enforces ``validate=``
and ``max_output_rows``) and the row take of the result's blocks (``_pandas_take``: the engine gathers numpy,
datetime and categorical blocks in parallel with pandas' fill rules; other blocks use pandas' take). Keys
cross to the engine as Arrow arrays (numpy integers and Arrow-backed columns without a copy); NaN/None/NA/NaT
keys become Arrow nulls, which match each other as pandas' keys do (``nulls_equal=True``).

This leans on pandas' private ``pandas.core.reshape.merge._MergeOperation`` (pandas 2.2 and 3.x): a new pandas
release that reshapes it needs ``_EngineMixin`` checked against it; the differential tests will say so.

For pyarrow and Arrow-stream inputs the merge runs on Arrow (``_arrow.merge_tables``) with pandas' column
rules; polars frames stay polars (``_polars.merge_frames``: only key columns are exported, polars gathers the
rest). The result has the left input's kind.

pandas behaviour not matched (the testable ones are pinned in ``tests/pandas_parity``):

- Outer or sorted index-on-index joins of MultiIndexes with missing values in a level: pandas orders such
  rows by comparing tuples containing NaN (not a total order); mergekit orders level by level, missing last.
- Index-on-index joins of object indexes mixing ``None`` and ``NaN``: pandas' ``Index.join`` treats them as
  different keys (its column merges do not); mergekit treats every missing key alike.
- List keys (and other unhashable nested values) raise ``UnsupportedKeyTypeError`` (a ``TypeError``); pandas
  joins them on some of its code paths and raises "unhashable type" on others. Tuple keys (hashable) are
  joined as pandas joins them.
- Keys Arrow cannot hold (object columns mixing types, Period, Interval) are numbered with
  ``pandas.factorize`` at the boundary and the engine joins the numbers; where pandas cannot order a mix of
  types either, ``sort=True`` may order it differently.
- ``nulls_equal=False`` (not a pandas option) sorts missing keys last, also datetimes and categoricals,
  which pandas sorts first.
- pandas 2.2: no anti joins (``how="left_anti"`` raises pandas 2.2's ``ValueError``); mergekit keeps
  pandas 3's row order where pandas 2.2 reorders an inner join whose output has exactly as many rows as the
  left frame (a libjoin shortcut, fixed in 3.0); and index-on-index joins with duplicate keys may name the
  result index differently (pandas 2.2's naming depends on which of its internal join paths runs).
- Non-pandas inputs have no index: ``left_index``/``right_index`` raise ``InvalidMergeError`` for them, and an
  object that only exports ``__arrow_c_stream__`` comes back as a ``pyarrow.Table``.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd
import pyarrow as pa

from mergekit import _args, _arrow, _frames, _native, _pandas_take, _polars, _resolve, _vocab, _warnings
from mergekit._pandas_keys import engine_indexers
from mergekit.exceptions import (
    DuplicateColumnError,
    InvalidMergeError,
    MergeValidationError,
)

try:  # pandas' merge machinery: private, but the only way to be pandas.merge everywhere except the join
    from pandas._libs.lib import is_range_indexer as _is_range_indexer
    from pandas.core.reshape import merge as _pdmerge
except ImportError as e:  # pragma: no cover - pandas too old
    raise ImportError(f"mergekit.merge needs pandas >= 2.2 ({e})") from e

# pandas' warnings raised inside a merge name the caller's line, as under pandas.merge.
_warnings.install()

_MergeOperation = _pdmerge._MergeOperation
_CrossMergeOperation = getattr(_pdmerge, "_CrossMergeOperation", None)
_HAS_ANTI = hasattr(_MergeOperation, "_validate_how")  # pandas >= 3: left_anti/right_anti

VALIDATE_OPTIONS = _vocab.VALIDATE_OPTIONS
_FLIP_VALIDATE = {"one_to_many": "many_to_one", "1:m": "m:1", "many_to_one": "one_to_many", "m:1": "1:m"}
HOW_OPTIONS = _vocab.PANDAS_HOWS


# ---------------------------------------------------------------------------------------------------------
# pandas' merge operation with the engine's indexers


def _range_join(left_ax: pd.Index, right_ax: pd.Index) -> bool:
    """Whether pandas takes its RangeIndex path for this index join: an increasing RangeIndex on the left
    and, on the right, an integer index whose values are themselves an increasing range."""
    if not isinstance(left_ax, pd.RangeIndex) or left_ax.step < 0:
        return False
    if right_ax.dtype.kind != "i" or isinstance(right_ax, pd.MultiIndex):
        return False
    values = np.asarray(right_ax)
    if len(values) <= 1:
        return True
    steps = np.diff(values)
    return bool(steps[0] > 0 and (steps == steps[0]).all())


def _pandas22_shared_name(left_ax: pd.Index, right_ax: pd.Index, how: str) -> bool:
    """Whether pandas 2.2 names an index join's result by the name both indexes share (else no name), where
    pandas 3 keeps the driving index's name."""
    if _HAS_ANTI or isinstance(left_ax, pd.MultiIndex) or isinstance(right_ax, pd.MultiIndex):
        return False
    if not len(left_ax) or not len(right_ax):
        return False
    lu, ru = left_ax.is_unique, right_ax.is_unique
    monotonic = left_ax.is_monotonic_increasing and right_ax.is_monotonic_increasing
    if monotonic and (lu or ru) and left_ax.equals(right_ax):
        return False  # the monotonic path returns the left index itself
    if lu and ru:
        return how in ("inner", "outer")  # intersection/union, or the monotonic path's _wrap_joined_index
    # duplicates: only the monotonic path (one side unique) renames; the general one keeps a side's name
    return (lu or ru) and monotonic


def _empty_index_join(left_ax, right_ax, how, sort, li, ri):
    """pandas' ``Index._join_empty``: the non-empty side's index for the joins that keep it (ordered by the
    engine when sorting), else the empty side's own index."""
    if len(right_ax):
        flipped = {"left": "right", "right": "left"}.get(how, how)
        out = _empty_index_join(right_ax, left_ax, flipped, sort, ri, li)
        return None if out is None else (out[0], out[2], out[1])
    if how in ("left", "outer"):
        if sort and not left_ax.is_monotonic_increasing:
            # Nothing to match: pandas just sorts this index (missing values last, unlike its joins), and
            # when the values do not sort it joins the general way.
            try:
                order = left_ax.argsort()
            except TypeError:
                return None
            return left_ax.take(order), order, ri
        return left_ax._view(), None, np.broadcast_to(np.intp(-1), len(left_ax))
    return right_ax._view(), np.array([], dtype=np.intp), None


class _EngineMixin:
    """Overrides the two places pandas computes a join (key indexers and index joins)."""

    _engine: dict
    _engine_validate: Optional[str]

    def _run(self, lkeys, rkeys, how, sort, lnames, rnames, flip=False, nat_first=True):
        validate = self._engine_validate
        if flip and validate is not None:
            validate = _FLIP_VALIDATE.get(validate, validate)
        try:
            return engine_indexers(
                lkeys,
                rkeys,
                how,
                sort=sort,
                validate=validate,
                left_names=lnames,
                right_names=rnames,
                engine=self._engine,
                nat_first=nat_first,
            )
        except MergeValidationError as e:
            # pandas' message lists the duplicates; let pandas word it now that the engine found them.
            try:
                self._validate_validate_kwd(self._engine_validate)
            except pd.errors.MergeError as pe:
                raise MergeValidationError(str(pe)) from None
            raise e

    def _get_join_indexers(self):
        lkeys, rkeys = self.left_join_keys, self.right_join_keys
        li, ri = self._run(lkeys, rkeys, self.how, self.sort, self.left_on, self.right_on)
        n_left, n_right = len(lkeys[0]), len(rkeys[0])
        if self.sort and len(lkeys) == 1 and (n_left == 0) != (n_right == 0):
            # Against an empty side pandas keeps a key column that is already monotonic as it is (by its
            # Index's notion: a categorical's missing code -1 counts as smallest) instead of sorting it.
            full, n = (lkeys[0], n_left) if n_right == 0 else (rkeys[0], n_right)
            keeps = (n_right == 0 and self.how in ("left", "outer")) or (
                n_left == 0 and self.how in ("right", "outer")
            )
            if keeps and pd.Index(full, copy=False).is_monotonic_increasing:
                ident, none = np.arange(n, dtype=np.intp), np.full(n, -1, dtype=np.intp)
                li, ri = (ident, none) if n_right == 0 else (none, ident)
        # pandas returns None for an identity indexer, except on its empty-input fast paths; the difference
        # shows in the result index (a copy of the original vs a take), so follow it exactly.
        if n_left == 0 and (self.how in ("left", "inner") or not self.sort):
            return li, ri
        if n_right == 0 and (self.how in ("right", "inner") or not self.sort):
            return li, ri
        return (
            None if _is_range_indexer(li, n_left) else li,
            None if _is_range_indexer(ri, n_right) else ri,
        )

    def _index_keys(self, ax: pd.Index) -> list:
        if isinstance(ax, pd.MultiIndex):
            return [ax.get_level_values(i)._values for i in range(ax.nlevels)]
        return [ax._values]

    def _left_join_on_index(self, left_ax, right_ax, join_keys, names, flip):
        """pandas' ``_left_join_on_index``: a left join of columns (or the other index) on an index."""
        rkeys = self._index_keys(right_ax)
        if len(rkeys) != len(join_keys):
            raise ValueError(
                "len(left_on) must equal the number of levels in the index of "
                + ('"left"' if flip else '"right"')
            )
        li, ri = self._run(join_keys, rkeys, "left", self.sort, names, list(right_ax.names), flip=flip)
        if self.sort or len(left_ax) != len(li):
            return left_ax.take(li), li, ri
        return left_ax, None, ri

    def _index_join(self, left_ax: pd.Index, right_ax: pd.Index, how: str, sort: Optional[bool] = None):
        """``left_ax.join(right_ax, how=..., return_indexers=True)`` with the engine's pairs."""
        sort = (self.sort if sort is None else sort) or how == "outer"
        lmulti, rmulti = isinstance(left_ax, pd.MultiIndex), isinstance(right_ax, pd.MultiIndex)
        lnames, rnames = list(left_ax.names), list(right_ax.names)
        if (lmulti or rmulti) and lnames != rnames:
            return self._partial_level_join(left_ax, right_ax, how)
        if left_ax.nlevels != right_ax.nlevels:
            raise InvalidMergeError("left_index=True and right_index=True need indexes with equal levels")
        # Two unique indexes join through union/intersection/sort_values, which put NaT last; otherwise
        # pandas factorizes, where NaT sorts first. (Missing categories sort first either way.)
        both_unique = left_ax.is_unique and right_ax.is_unique
        li, ri = self._run(
            self._index_keys(left_ax),
            self._index_keys(right_ax),
            how,
            sort,
            list(left_ax.names),
            list(right_ax.names),
            nat_first=not both_unique,
        )
        nl, nr = len(left_ax), len(right_ax)
        lnone = None if _is_range_indexer(li, nl) else li
        rnone = None if _is_range_indexer(ri, nr) else ri
        if nr == 0 or nl == 0:
            out = _empty_index_join(left_ax, right_ax, how, sort, li, ri)
            if out is not None:
                return out
        if how == "left":
            return (left_ax if lnone is None else left_ax.take(li)), lnone, rnone
        if how == "right":
            join_index = right_ax if rnone is None else right_ax.take(ri)
            if _range_join(left_ax, right_ax):
                join_index = left_ax._shallow_copy(np.asarray(join_index), name=right_ax.name)
            return join_index, lnone, rnone
        lax, rax = left_ax, right_ax
        if lax.dtype != rax.dtype and not lmulti:
            dtype = lax._find_common_type_compat(rax)
            lax, rax = lax.astype(dtype, copy=False), rax.astype(dtype, copy=False)
        if lnone is None:
            join_index = lax
        elif how == "outer":
            join_index = lax.take(np.where(li >= 0, li, 0)) if nl else rax.take(ri)
            missing = li < 0
            if missing.any():
                join_index = join_index.putmask(missing, rax.take(np.where(missing, ri, 0)))
        else:
            join_index = lax.take(li)
        if how == "inner" and isinstance(left_ax, pd.RangeIndex) and left_ax.step < 0 and right_ax.is_unique:
            # pandas intersects the indexes here, and a RangeIndex intersection is increasing.
            li, ri, join_index = li[::-1], ri[::-1], join_index[::-1]
            lnone = None if _is_range_indexer(li, nl) else li
            rnone = None if _is_range_indexer(ri, nr) else ri
        names: list = list(left_ax.names)
        if _range_join(left_ax, right_ax):
            # pandas' RangeIndex join: the other index becomes a RangeIndex too, and inner/outer results
            # come from intersection/union, named only when both names agree.
            if how in ("inner", "outer") and not left_ax.equals(right_ax):
                names = [left_ax.name if left_ax.name == right_ax.name else None]
            join_index = left_ax._shallow_copy(np.asarray(join_index), name=join_index.name)
        if list(join_index.names) != list(names):
            join_index = join_index.set_names(names)
        return join_index, lnone, rnone

    def _partial_level_join(self, left_ax: pd.Index, right_ax: pd.Index, how: str):
        """pandas' ``Index._join_multi``: indexes with different level names join on the names they share.

        Two MultiIndexes: each drops the levels the other lacks, the engine joins what is left (``sort=`` is
        ignored there, as pandas ignores it), and the dropped levels come back after the shared ones, in the
        order of the side that drives the join. A MultiIndex against a flat index joins that index to one
        of its levels (``Index._join_level``): pandas' own code does that, since it aligns level codes, not
        rows, and has no pairs for the engine to compute."""
        lnames, rnames = list(left_ax.names), list(right_ax.names)
        shared = set(lnames) & set(rnames)
        if not shared:
            raise ValueError("cannot join with no overlapping index names")
        if not (isinstance(left_ax, pd.MultiIndex) and isinstance(right_ax, pd.MultiIndex)):
            # ``how`` is one of pandas' four here; mypy only sees a str.
            return left_ax.join(right_ax, how=how, return_indexers=True)  # type: ignore[call-overload]
        ldrop = [n for n in lnames if n not in shared]
        rdrop = [n for n in rnames if n not in shared]
        if not ldrop and not rdrop:
            # The same levels in another order: joined level by level after reordering the right index.
            join_index, li, ri = self._index_join(left_ax, right_ax.reorder_levels(lnames), how, sort=False)
            join_index = join_index.remove_unused_levels()
            return (join_index.reorder_levels(rnames) if how == "right" else join_index), li, ri
        ljoin = left_ax.droplevel(ldrop) if ldrop else left_ax
        rjoin = right_ax.droplevel(rdrop) if rdrop else right_ax
        join_index, li, ri = self._index_join(ljoin, rjoin, how, sort=False)
        levels, codes, names = _pdmerge.restore_dropped_levels_multijoin(
            left_ax, right_ax, ldrop + rdrop, join_index, li, ri
        )
        out = pd.MultiIndex(levels=levels, codes=codes, names=names, verify_integrity=False)
        out = out.remove_unused_levels()
        return out.reorder_levels(rnames + ldrop if how == "right" else lnames + rdrop), li, ri

    def _maybe_coerce_merge_keys(self) -> None:
        """pandas' key coercion, with its slow case done fast first. A categorical key whose categories
        differ from the other side's becomes a column of its categories' dtype, by ``astype``; for string
        categories that builds the column through numpy objects (0.9 s per 1e7 rows, db-benchmark q4).
        When both keys are categorical with one string categories dtype, the same column is taken from the
        categories by code (pyarrow's take); pandas' own pass then finds it already of that dtype."""
        for lk, rk, name in zip(self.left_join_keys, self.right_join_keys, self.join_names):
            if not (isinstance(lk, pd.Categorical) and isinstance(rk, pd.Categorical)):
                continue
            categories = lk.categories.dtype
            if not isinstance(categories, pd.StringDtype) or rk.categories.dtype != categories:
                continue
            if bool(len(lk)) != bool(len(rk)) or lk._categories_match_up_to_permutation(rk):
                continue  # pandas leaves these keys as they are
            for side, key in (("left", lk), ("right", rk)):
                frame = getattr(self, side)
                if name in frame.columns and frame[name].dtype == key.dtype:
                    frame = frame.copy(deep=False)
                    frame[name] = key.categories.array.take(key.codes, allow_fill=True)
                    setattr(self, side, frame)
        super()._maybe_coerce_merge_keys()

    def _reindex_and_concat(self, join_index, left_indexer, right_indexer, **concat_kwargs):
        """pandas' own assembly of the result (views of both frames, suffixed labels, concat along columns)
        with its one expensive step, the row take, done by the engine (``_pandas_take``). pandas 2.2
        passes ``copy=`` for its concat."""
        left, right = self.left[:], self.right[:]  # views: the inputs are never altered
        llabels, rlabels = _pdmerge._items_overlap_with_suffix(
            self.left._info_axis, self.right._info_axis, self.suffixes
        )
        threads = self._engine.get("threads")
        if left_indexer is not None and not _is_range_indexer(left_indexer, len(left)):
            left = _pandas_take.take_rows(left, join_index, left_indexer, threads)
        left.index = join_index
        if right_indexer is not None and not _is_range_indexer(right_indexer, len(right)):
            right = _pandas_take.take_rows(right, join_index, right_indexer, threads)
        right.index = join_index
        left.columns = llabels
        right.columns = rlabels
        return pd.concat([left, right], axis=1, **concat_kwargs)

    def _get_join_info(self):
        left_ax, right_ax = self.left.index, self.right.index
        if self.left_index and self.right_index:
            join_index, li, ri = self._index_join(left_ax, right_ax, self.how)
            if _pandas22_shared_name(left_ax, right_ax, self.how):
                join_index = join_index.set_names(left_ax.name if left_ax.name == right_ax.name else None)
        elif self.right_index and self.how == "left":
            join_index, li, ri = self._left_join_on_index(
                left_ax, right_ax, self.left_join_keys, self.left_on, flip=False
            )
        elif self.left_index and self.how == "right":
            join_index, ri, li = self._left_join_on_index(
                right_ax, left_ax, self.right_join_keys, self.right_on, flip=True
            )
        else:
            li, ri = self._get_join_indexers()
            if self.right_index:
                if len(self.left) > 0:
                    join_index = self._create_join_index(left_ax, right_ax, li, how="right")
                elif ri is None:
                    join_index = right_ax.copy()
                else:
                    join_index = right_ax.take(ri)
            elif self.left_index:
                if len(self.right) > 0:
                    join_index = self._create_join_index(right_ax, left_ax, ri, how="left")
                elif li is None:
                    join_index = left_ax.copy()
                else:
                    join_index = left_ax.take(li)
            else:
                n = len(left_ax) if li is None else len(li)
                join_index = pd.RangeIndex(n)
        if getattr(self, "anti_join", False):
            join_index, li, ri = self._handle_anti_join(join_index, li, ri)
        return join_index, li, ri


class _EngineMerge(_EngineMixin, _MergeOperation):
    def __init__(self, left, right, *, validate, engine, **kwargs):
        self._engine = engine
        self._engine_validate = validate
        # pandas would check uniqueness itself here; the engine does it during the join instead.
        super().__init__(left, right, validate=None, **kwargs)
        if validate is not None and validate not in VALIDATE_OPTIONS:
            self._validate_validate_kwd(validate)  # raises pandas' ValueError listing the options


if _CrossMergeOperation is not None:

    class _EngineCross(_EngineMixin, _CrossMergeOperation):
        def __init__(self, left, right, *, engine, **kwargs):
            self._engine = engine
            self._engine_validate = None
            super().__init__(left, right, **kwargs)

        def _get_join_indexers(self):
            # The engine's cross join needs the row counts only; a null column carries them.
            lt = pa.table({"_": pa.nulls(len(self.left))})
            rt = pa.table({"_": pa.nulls(len(self.right))})
            li, ri = _native.join_indices(lt, rt, "cross", **self._engine)
            return (
                pa.array(li).to_numpy(zero_copy_only=True).astype(np.intp, copy=False),
                pa.array(ri).to_numpy(zero_copy_only=True).astype(np.intp, copy=False),
            )


def _merge_pandas(
    left,
    right,
    how,
    on,
    left_on,
    right_on,
    left_index,
    right_index,
    sort,
    suffixes,
    copy,
    indicator,
    validate,
    engine,
):
    left_df = _pdmerge._validate_operand(left)
    if copy is not None and hasattr(left, "_check_copy_deprecation"):
        left._check_copy_deprecation(copy)
    if not isinstance(right, (pd.DataFrame, pd.Series)):
        right = _frames.to_arrow(right).to_pandas()
    right_df = _pdmerge._validate_operand(right)
    if not _HAS_ANTI and how not in ("left", "right", "inner", "outer", "cross"):
        raise ValueError(f"do not recognize join method {how}")  # pandas 2.2's words (it has no anti joins)
    if how == "cross":
        if left_index or right_index or right_on is not None or left_on is not None or on is not None:
            raise InvalidMergeError(
                "Can not pass on, right_on, left_on or set right_index=True or left_index=True"
            )
        if _CrossMergeOperation is not None:
            return _EngineCross(
                left_df, right_df, suffixes=suffixes, indicator=indicator, engine=engine
            ).get_result()
        # pandas 2.2 merges on a constant column and drops it; so does this.
        key = "_mergekit_cross_key"
        lk, rk = left_df.assign(**{key: 1}), right_df.assign(**{key: 1})
        out = _merge_pandas(
            lk, rk, "inner", key, None, None, False, False, sort, suffixes, copy, indicator, validate, engine
        )
        return out.drop(columns=key)
    op = _EngineMerge(
        left_df,
        right_df,
        how=how,
        on=on,
        left_on=left_on,
        right_on=right_on,
        left_index=left_index,
        right_index=right_index,
        sort=sort,
        suffixes=suffixes,
        indicator=indicator,
        validate=validate,
        engine=engine,
    )
    return op.get_result()


# ---------------------------------------------------------------------------------------------------------
# Arrow / polars inputs


def _check_unique_names(table: pa.Table, side: str) -> None:
    names = table.column_names
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise DuplicateColumnError(
            f"the {side} input has duplicate column names {dupes}; rename them before merging"
        )


def _merge_arrow(
    left,
    lkind,
    right,
    how,
    on,
    left_on,
    right_on,
    left_index,
    right_index,
    sort,
    suffixes,
    indicator,
    validate,
    engine,
):
    if left_index or right_index:
        raise InvalidMergeError(
            "left_index/right_index need pandas inputs: pyarrow and polars data have no index. "
            "Merge on columns (left_on=/right_on=) instead."
        )
    if not isinstance(left_index, bool) or not isinstance(right_index, bool):
        raise ValueError("left_index and right_index must be of type bool")
    _resolve.join_kind(how, _vocab.MERGE_HOWS)
    if lkind == _frames.POLARS:
        # polars frames stay polars: only their key columns are exported (see _polars).
        lt = left
        rt = right if _frames.kind_of(right) == _frames.POLARS else _polars_frame(right)
        lnames, rnames = list(lt.columns), list(rt.columns)
    else:
        lt = _frames.to_arrow(left, lkind)
        rt = _frames.to_arrow(right)
        _check_unique_names(lt, "left")
        _check_unique_names(rt, "right")
        lnames, rnames = lt.column_names, rt.column_names
    lon, ron = _resolve.key_columns(lnames, rnames, how, on, left_on, right_on)
    suffixes = _resolve.suffixes(suffixes)
    if indicator is not False and not isinstance(indicator, (bool, str)):
        raise ValueError("indicator option can only accept boolean or string arguments")
    if indicator:
        name = indicator if isinstance(indicator, str) else "_merge"
        columns = set(lnames) | set(rnames)
        if name in columns:
            raise ValueError("Cannot use name of an existing column for indicator column")
    if validate is not None and validate not in VALIDATE_OPTIONS:
        raise ValueError(
            f'"{validate}" is not a valid argument. Valid arguments are:\n- "1:1"\n- "1:m"\n- "m:1"\n'
            '- "m:m"\n- "one_to_one"\n- "one_to_many"\n- "many_to_one"\n- "many_to_many"'
        )
    merge_frames = _polars.merge_frames if lkind == _frames.POLARS else _arrow.merge_tables
    out = merge_frames(
        lt,
        rt,
        lon,
        ron,
        how,
        suffixes,
        indicator=indicator,
        sort=sort,
        validate=validate if how != "cross" else None,
        **engine,
    )
    return out if lkind == _frames.POLARS else _frames.from_arrow(out, lkind)


def _polars_frame(obj):
    """A non-polars right side as a polars frame (a mixed-kind merge has a polars result)."""
    import polars as pl

    table = _frames.to_arrow(obj)
    _check_unique_names(table, "right")
    return pl.from_arrow(table, rechunk=False)


# ---------------------------------------------------------------------------------------------------------


def merge(
    left,
    right,
    how: str = "inner",
    on=None,
    left_on=None,
    right_on=None,
    left_index: bool = False,
    right_index: bool = False,
    sort: bool = False,
    suffixes=("_x", "_y"),
    copy: Optional[bool] = None,
    indicator: bool | str = False,
    validate: Optional[str] = None,
    *,
    nulls_equal: bool = True,
    max_output_rows: Optional[int] = None,
    threads: Optional[int] = None,
):
    """Merge two frames with a database-style join: ``pandas.merge``'s arguments and result, computed by
    mergekit's parallel Rust hash join.

    ``left``/``right``: pandas DataFrames (or named Series), pyarrow Tables or RecordBatches, polars
    DataFrames, or any object with ``__arrow_c_stream__``. The result has the left input's kind.

    Beyond pandas' arguments:

    - ``nulls_equal``: ``True`` (pandas) matches missing keys with each other; ``False`` gives SQL semantics.
    - ``max_output_rows``: raise ``OutputTooLargeError`` (a ``MemoryError``) instead of building a larger
      result; the engine counts the output before allocating it.
    - ``threads``: engine threads (default: all cores, or ``MERGEKIT_THREADS``).

    Errors are the ones pandas raises: ``pandas.errors.MergeError`` (``InvalidMergeError``,
    ``MergeValidationError``), ``KeyError`` for a missing column, ``ValueError``/``TypeError`` for bad
    arguments and incompatible key dtypes. See the module docstring for the pandas behaviours not matched.
    """
    engine = {
        "nulls_equal": nulls_equal,
        "max_output_rows": _args.optional_count(max_output_rows, "max_output_rows"),
        "threads": _args.threads(threads),
    }
    lkind = _frames.kind_of(left)
    if lkind == _frames.PANDAS:
        return _merge_pandas(
            left,
            right,
            how,
            on,
            left_on,
            right_on,
            left_index,
            right_index,
            sort,
            suffixes,
            copy,
            indicator,
            validate,
            engine,
        )
    if isinstance(right, (pd.DataFrame, pd.Series)):
        _pdmerge._validate_operand(right)
    else:
        _frames.kind_of(right)
    return _merge_arrow(
        left,
        lkind,
        right,
        how,
        on,
        left_on,
        right_on,
        left_index,
        right_index,
        sort,
        suffixes,
        indicator,
        validate,
        engine,
    )


__all__ = ["merge"]
