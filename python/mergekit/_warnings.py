"""pandas' warnings raised under mergekit name the caller's line, as they do under ``pandas.merge``.

pandas picks a warning's ``stacklevel`` with ``find_stack_level()``: the first frame outside the pandas
package. Reached through ``mergekit.merge`` that frame is mergekit's own, so a user saw
``mergekit/merge.py`` where ``pandas.merge`` shows their line. pandas modules bind the function by name at
import (``from pandas.util._exceptions import find_stack_level``), so ``install()`` rebinds that name, in
``pandas.util._exceptions`` (for modules imported later) and in every pandas module already holding it, to
a version that also steps over mergekit's frames.

The level is still computed at the moment pandas warns, so everything else is pandas' own behaviour: the
caller's filters and registry apply, an ``"error"`` filter raises where ``pandas.merge`` raises (an earlier
attempt that recorded warnings and issued them again afterwards let a merge run on to a later error), and no
process-wide state is swapped, so threads are safe. A warning pandas raises outside mergekit's frames is
attributed exactly as before: the walk stops at the first frame that is neither pandas' nor mergekit's.
"""

from __future__ import annotations

import os
import sys
from types import FrameType
from typing import Optional

import pandas as pd
from pandas.util import _exceptions  # type: ignore[attr-defined]

_PANDAS_DIR = os.path.dirname(pd.__file__) + os.sep
_PANDAS_TESTS = os.path.join(_PANDAS_DIR, "tests") + os.sep
_SKIPPED = (_PANDAS_DIR, os.path.dirname(os.path.abspath(__file__)) + os.sep)


def find_stack_level() -> int:
    """pandas' ``find_stack_level``, stepping over mergekit's frames as well as pandas'."""
    # This frame is counted, as pandas' own function counts its frame: the caller's ``warnings.warn``
    # adds its own level on top.
    frame: Optional[FrameType] = sys._getframe()
    level = 0
    while frame is not None:
        name = frame.f_code.co_filename
        if not name.startswith(_SKIPPED) or name.startswith(_PANDAS_TESTS):
            break
        frame = frame.f_back
        level += 1
    return level


def install() -> None:
    """Rebind pandas' ``find_stack_level`` to ours wherever pandas holds it (idempotent)."""
    original = _exceptions.find_stack_level
    if original is find_stack_level:
        return
    for name, module in list(sys.modules.items()):
        if name.partition(".")[0] == "pandas" and getattr(module, "find_stack_level", None) is original:
            module.find_stack_level = find_stack_level  # type: ignore[attr-defined]
