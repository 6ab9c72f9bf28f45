"""pandas-compatible ``merge`` (being built: see issue 2)."""

from __future__ import annotations


def merge(*args, **kwargs):
    raise NotImplementedError("mergekit.merge is under construction")
