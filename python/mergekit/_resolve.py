"""Argument resolution for every face: the join kind, the key columns and the suffixes, with one message each.

``mergekit.merge`` on Arrow and polars data, ``mergekit.spark.merge`` and ``join_files`` (and through them
``mergekit join`` and ``analysis.py``) resolve ``how``, ``on``/``left_on``/``right_on`` and ``suffixes``
here, with pandas' wording and exception classes (``InvalidMergeError`` is a ``pandas.errors.MergeError``
and a ``ValueError``; a missing column is a ``KeyError``). mergekit.merge on pandas frames resolves them in
pandas' own ``_MergeOperation``, which says the same; the parity tests hold the two together. Which kinds a
face accepts is ``_vocab``'s; whether two key types compare is the engine's (``src/join/unify.rs``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

from pandas.api.types import is_list_like

from mergekit.exceptions import ColumnNotFoundError, InvalidMergeError, column_list

Suffixes = tuple[Optional[str], Optional[str]]


def join_kind(how: object, allowed: Sequence[str], face: Optional[str] = None) -> str:
    """``how`` if ``allowed`` has it. ``face`` names the caller in the message; without it the message is
    pandas 3's own (``mergekit.merge`` must say what ``pandas.merge`` says)."""
    if isinstance(how, str) and how in allowed:
        return how
    if face is None:
        raise InvalidMergeError(f"'{how}' is not a valid Merge type: {', '.join(allowed)}")
    raise InvalidMergeError(
        f"how={how!r} is not a valid Merge type for {face}; use one of: {', '.join(allowed)}"
    )


def _as_list(x: object) -> Optional[list]:
    """pandas' reading of a key argument: a list-like (a tuple too, as ``pandas.merge`` reads one) names
    several columns, anything else one."""
    if x is None:
        return None
    if is_list_like(x):
        return list(x)  # type: ignore[call-overload]
    return [x]


def key_arguments(
    how: str,
    on: object = None,
    left_on: object = None,
    right_on: object = None,
    *,
    infer: bool = True,
    face: str = "merge",
) -> tuple[Optional[list], Optional[list]]:
    """The key columns the arguments name, before any column is looked at: ``(None, None)`` when none are
    given and ``infer`` (join on the columns both sides share, pandas' rule), else refused naming ``face``.
    A cross join takes no keys."""
    on, left_on, right_on = _as_list(on), _as_list(left_on), _as_list(right_on)
    if how == "cross":
        if on is not None or left_on is not None or right_on is not None:
            raise InvalidMergeError(
                "Can not pass on, right_on, left_on or set right_index=True or left_index=True"
            )
        return [], []
    if on is not None:
        if left_on is not None or right_on is not None:
            raise InvalidMergeError(
                'Can only pass argument "on" OR "left_on" and "right_on", not a combination of both.'
            )
        left_on = right_on = on
    elif left_on is None and right_on is None:
        if infer:
            return None, None
        raise InvalidMergeError(f"{face} needs on= (or left_on= and right_on=): the key column(s)")
    elif left_on is None:
        raise InvalidMergeError('Must pass "left_on" OR "left_index".')
    elif right_on is None:
        raise InvalidMergeError('Must pass "right_on" OR "right_index".')
    if len(left_on) != len(right_on):
        raise InvalidMergeError("len(right_on) must equal len(left_on)")
    if not left_on:
        raise InvalidMergeError("at least one key column is needed (or use how='cross')")
    return left_on, right_on


def key_columns(
    left_names: Sequence[str],
    right_names: Sequence[str],
    how: str,
    on: object = None,
    left_on: object = None,
    right_on: object = None,
) -> tuple[list, list]:
    """The left and right key columns of a face that infers them (``key_arguments``), checked to exist."""
    lo, ro = key_arguments(how, on, left_on, right_on)
    if lo is None or ro is None:
        shared = set(right_names)
        lo = ro = [c for c in left_names if c in shared]
        if not lo:
            raise InvalidMergeError(
                "No common columns to perform merge on. Merge options: left_on=None, right_on=None, "
                "left_index=False, right_index=False"
            )
    check_columns(left_names, lo, "left")
    check_columns(right_names, ro, "right")
    return lo, ro


def check_columns(names: Sequence[str], wanted: Sequence[str], side: str) -> None:
    """Every ``wanted`` key column is one of ``names``, else a ``KeyError`` naming the missing ones."""
    missing = [w for w in wanted if w not in names]
    if missing:
        raise ColumnNotFoundError(
            f"{side} key column(s) {missing} not found; the {side} side has columns {column_list(names)}"
        )


def suffixes(value: object) -> Suffixes:
    """pandas' reading of ``suffixes``: a list-like of two (not a set or a dict)."""
    if not is_list_like(value, allow_sets=False) or isinstance(value, dict):
        raise TypeError(
            f"Passing 'suffixes' as a {type(value)}, is not supported. Provide 'suffixes' as a tuple instead."
        )
    pair: tuple = tuple(value)  # type: ignore[arg-type]
    if len(pair) != 2:
        raise ValueError(f"too many values to unpack (expected 2): suffixes={value!r}")
    return pair
