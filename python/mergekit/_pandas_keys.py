"""pandas join keys to the engine: each pair of key arrays (columns, index levels, arrays) crosses as Arrow
arrays, numpy integers and Arrow-backed columns without a copy, categoricals as dictionaries. Keys Arrow
cannot hold, or pairs the engine cannot compare, are numbered together with ``pandas.factorize`` and the
engine joins the numbers. ``engine_indexers`` returns pandas' row indexers for ``_EngineMixin``."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Optional

import numpy as np
import pandas as pd
import pyarrow as pa

from mergekit import _native
from mergekit.exceptions import KeyTypeMismatchError


def _unwrap(values: Any) -> Any:
    """The ndarray/ExtensionArray behind an Index/Series/NumpyExtensionArray."""
    if isinstance(values, (pd.Index, pd.Series)):
        values = values.array
    if isinstance(values, pd.arrays.NumpyExtensionArray):
        values = values.to_numpy()
    return values


def _to_arrow(values: Any) -> Optional[pa.Array]:
    """One key column as Arrow with every pandas missing value (NaN, None, NA, NaT) as null, or ``None`` when
    Arrow cannot hold it."""
    try:
        if isinstance(values, np.ndarray):
            if values.dtype.kind in "iu":
                return pa.array(values)  # zero-copy: no nulls to find
            if values.dtype.kind in "fbMmOUS":
                return pa.array(values, from_pandas=True)
            return None
        if isinstance(values.dtype, (pd.PeriodDtype, pd.IntervalDtype, pd.SparseDtype)):
            return None
        return pa.array(values, from_pandas=True)  # via __arrow_array__: masked, Arrow-backed, tz, str
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
        return None


def _codes_as_arrow(codes: np.ndarray) -> pa.Array:
    codes = np.asarray(codes, dtype=np.int64)
    return pa.array(codes, mask=codes < 0)


def _factorized_pair(lk: Any, rk: Any, sort: bool) -> tuple[pa.Array, pa.Array]:
    """Integer codes for a key pair Arrow cannot carry as values (equal keys get equal codes, NA is null;
    ``sort`` numbers the keys in pandas' sort order). The engine still does the matching."""
    lk, rk = _unwrap(lk), _unwrap(rk)
    both = np.concatenate([np.asarray(lk, dtype=object), np.asarray(rk, dtype=object)])
    try:
        codes, _ = pd.factorize(both, sort=sort)
    except TypeError:  # unorderable mix: pandas' own sort would fail the same way; keep first-seen order
        codes, _ = pd.factorize(both, sort=False)
    return _codes_as_arrow(codes[: len(lk)]), _codes_as_arrow(codes[len(lk) :])


_UNITS = ["s", "ms", "us", "ns"]


def _joins_on_i8(lk: Any, rk: Any) -> bool:
    """Whether pandas joins this key pair on int64 views (where NaT is the smallest value): two tz-aware or
    two naive numpy datetimes (any resolutions), or timedeltas of one dtype. Other pairs it factorizes as
    objects, NaT being missing."""
    lt, rt = lk.dtype, rk.dtype
    if isinstance(lt, pd.DatetimeTZDtype) and isinstance(rt, pd.DatetimeTZDtype):
        return True
    if isinstance(lt, np.dtype) and isinstance(rt, np.dtype):
        return (lt.kind == rt.kind == "M") or (lt == rt and lt.kind == "m")
    return False


def _key_pair(
    lk: Any, rk: Any, sort: bool, nulls_equal: bool, nat_first: bool
) -> tuple[Optional[pa.Array], Optional[pa.Array]]:
    """Both sides of one key as Arrow arrays the engine can compare. With ``nulls_equal``, missing categories
    (and datetimes, if ``nat_first``) go as the smallest value, where pandas sorts them, not as nulls."""
    lk, rk = _unwrap(lk), _unwrap(rk)
    lcat = isinstance(lk.dtype, pd.CategoricalDtype)
    rcat = isinstance(rk.dtype, pd.CategoricalDtype)
    if lcat and rcat and lk.dtype == rk.dtype:
        # Equal dtypes (for unordered categoricals: the same categories, in any order). pandas compares (and
        # sorts by) the left's codes, with the right's recoded into the left's categories, and its missing
        # code -1 sorts before every category. Keep -1 as a value so the order matches, unless SQL null
        # semantics are asked for. The codes go as they are (int8 for most factors: zero-copy).
        lcodes, rcodes = lk.codes, _codes_in(rk, lk.categories)
        if nulls_equal:
            return pa.array(lcodes), pa.array(rcodes)
        return _codes_as_arrow(lcodes), _codes_as_arrow(rcodes)
    if lcat and rcat:
        # Different categories: pandas compares the values. Send both as Arrow dictionaries: the engine ranks
        # the two category lists once instead of comparing a decoded value per row.
        ld, rd = _as_dictionary(lk), _as_dictionary(rk)
        if ld is not None and rd is not None:
            return ld, rd
    if nulls_equal and nat_first and _joins_on_i8(lk, rk):
        # pandas joins datetimes/timedeltas on their int64 values, where NaT is the smallest integer: it
        # matches NaT and sorts first. Same resolution first, as pandas does.
        la, ra = pd.array(lk), pd.array(rk)
        unit = max(la.unit, ra.unit, key=_UNITS.index)
        return pa.array(la.as_unit(unit).asi8), pa.array(ra.as_unit(unit).asi8)
    if lcat:
        lk = _category_values(lk)
    if rcat:
        rk = _category_values(rk)
    return _to_arrow(lk), _to_arrow(rk)


def _codes_in(cat: pd.Categorical, categories: pd.Index) -> np.ndarray:
    """``cat``'s codes in another list of the same categories (pandas' ``_encode_with_my_categories``)."""
    if cat.categories.equals(categories):
        return cat.codes
    mapping = categories.get_indexer(cat.categories).astype(cat.codes.dtype, copy=False)
    return np.where(cat.codes >= 0, mapping[cat.codes], -1).astype(cat.codes.dtype, copy=False)


def _as_dictionary(cat: pd.Categorical) -> Optional[pa.Array]:
    """A categorical as an Arrow dictionary array (codes zero-copy, missing as null), or ``None`` when Arrow
    cannot hold its categories."""
    categories = _to_arrow(_unwrap(cat.categories))
    if categories is None:
        return None
    codes = cat.codes
    return pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), categories)


def _category_values(cat: pd.Categorical) -> Any:
    """A categorical's values in its categories' own dtype, missing values as that dtype's NA."""
    return _unwrap(pd.api.extensions.take(_unwrap(cat.categories), cat.codes, allow_fill=True))


def _name(n: Any, i: int) -> str:
    """A key's name for engine error messages (array-like keys have none)."""
    return str(n) if isinstance(n, (str, int, float, tuple)) else f"key_{i}"


def engine_indexers(
    left_keys: Sequence[Any],
    right_keys: Sequence[Any],
    how: str,
    *,
    sort: bool,
    validate: Optional[str],
    left_names: Sequence[Hashable],
    right_names: Sequence[Hashable],
    engine: dict,
    nat_first: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Row-index pairs (numpy intp, -1 for "no row") of a join of pandas key arrays, from the engine."""
    n = len(left_keys)
    larrs, rarrs = [], []
    for lk, rk in zip(left_keys, right_keys):
        la, ra = _key_pair(lk, rk, sort, engine.get("nulls_equal", True), nat_first)
        # The engine says which Arrow types it compares by value; pandas coerces the other pairs it accepts
        # (bool vs int, numbers vs objects, tuples read as lists) to objects, which are numbered here.
        if la is None or ra is None or not _native.key_types_compare(la.type, ra.type):
            try:
                la, ra = _factorized_pair(lk, rk, sort)
            except TypeError:
                # Unhashable values (lists): pandas cannot number them either. Nested Arrow arrays go on, and
                # the engine refuses them naming the key and its type.
                if la is None or ra is None:
                    raise
        larrs.append(la)
        rarrs.append(ra)
    lnames = [_name(left_names[i] if i < len(left_names) else None, i) for i in range(n)]
    rnames = [_name(right_names[i] if i < len(right_names) else None, i) for i in range(n)]

    def run(la, ra):
        lt = pa.Table.from_arrays(la, names=lnames)
        rt = pa.Table.from_arrays(ra, names=rnames)
        li, ri = _native.join_indices(lt, rt, how, sort=sort, validate=validate, **engine)
        return (
            pa.array(li).to_numpy(zero_copy_only=True).astype(np.intp, copy=False),
            pa.array(ri).to_numpy(zero_copy_only=True).astype(np.intp, copy=False),
        )

    try:
        return run(larrs, rarrs)
    except KeyTypeMismatchError:
        # The types compare but a value does not fit their common type (a uint64 above int64's range
        # against int64 keys): pandas compares such values as objects, so number them instead.
        pairs = [_factorized_pair(lk, rk, sort) for lk, rk in zip(left_keys, right_keys)]
        return run([p[0] for p in pairs], [p[1] for p in pairs])
