"""Warnings raised while mergekit runs pandas' merge machinery, attributed to the caller's line.

pandas points its warnings at the first frame outside the pandas package (``find_stack_level``); called
through ``mergekit.merge`` that frame is mergekit's own, so a user saw ``mergekit/merge.py:304`` where
``pandas.merge`` shows their line. Warnings raised inside are caught, then issued again from the first frame
outside mergekit and pandas, through the caller's own filters and registry (so ``"once"``, ``"error"`` and
module filters behave as they do for ``pandas.merge``).

The warnings are issued when the body is done, so under an ``"error"`` filter a merge that also fails
later (a ``validate=`` violation, say) raises that error, where ``pandas.merge`` would stop at the warning.
``warnings.catch_warnings`` swaps process-wide state, so it is used only on the main thread; a merge on
another thread leaves pandas' attribution as it is rather than race with the main thread's filters.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Optional

import pandas as pd

# mergekit's package directory, pandas' and contextlib (this helper's own frames): not the caller's.
_OWN_DIRS = (*(os.path.dirname(path) + os.sep for path in (__file__, pd.__file__ or "")), contextlib.__file__)


def _caller_frame() -> Optional[FrameType]:
    frame: Optional[FrameType] = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_OWN_DIRS):
        frame = frame.f_back
    return frame


@contextmanager
def attributed_to_caller() -> Iterator[None]:
    """Run the body; warnings it raises are issued again from the caller's line, once the body is done."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    except BaseException:
        # While the body's own exception propagates, a warning turned into an error must not replace it.
        _reissue(caught, quiet=True)
        raise
    _reissue(caught, quiet=False)


def _reissue(caught: list[warnings.WarningMessage], *, quiet: bool) -> None:
    frame = _caller_frame()
    for w in caught:
        try:
            if frame is None:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
                continue
            warnings.warn_explicit(
                w.message,
                w.category,
                frame.f_code.co_filename,
                frame.f_lineno,
                module=frame.f_globals.get("__name__"),
                registry=frame.f_globals.setdefault("__warningregistry__", {}),
                module_globals=frame.f_globals,
                source=w.source,
            )
        except Warning:
            if not quiet:
                raise
