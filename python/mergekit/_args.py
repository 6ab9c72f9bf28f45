"""Numeric arguments, checked where they enter mergekit (every face calls these before the engine).

Each check raises :class:`~mergekit.exceptions.InvalidArgumentError` (a ``ValueError``) naming the argument,
so ``threads=-1`` or ``memory_limit=2**70`` is a clear usage error instead of a bare ``OverflowError`` from
the native layer. The CLI turns these into exit status 2.
"""

from __future__ import annotations

import numbers
import os
from typing import Optional

from mergekit.exceptions import InvalidArgumentError

# The engine's cap (src/pool.rs: MAX_THREADS_PER_CORE, MIN_THREADS_CAP): more threads than this only add
# overhead, and thousands would spend their time starting threads.
MAX_THREADS_PER_CORE = 8
MIN_THREADS_CAP = 64

# Rows and bytes cross into the engine as unsigned 64-bit integers.
_U64_MAX = 2**64 - 1


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def max_threads() -> int:
    return max(_cores() * MAX_THREADS_PER_CORE, MIN_THREADS_CAP)


def integer(value: object, name: str, *, minimum: int, maximum: int = _U64_MAX) -> int:
    """``value`` as an int in ``[minimum, maximum]``; bools and non-integers are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidArgumentError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    v = int(value)
    if v < minimum:
        raise InvalidArgumentError(f"{name} must be at least {minimum}, got {v}")
    if v > maximum:
        raise InvalidArgumentError(f"{name} must be at most {maximum}, got {v}")
    return v


def threads(value: Optional[object], name: str = "threads") -> Optional[int]:
    """``None`` (the default: all cores or ``$MERGEKIT_THREADS``) or 1 to 8 per core (at least 64)."""
    if value is None:
        return None
    cap = max_threads()
    v = integer(value, name, minimum=1, maximum=_U64_MAX)
    if v > cap:
        raise InvalidArgumentError(
            f"{name}={v} is more than {cap} ({MAX_THREADS_PER_CORE} per core on this machine's {_cores()} "
            "cores); more threads only add overhead"
        )
    return v


def optional_count(value: Optional[object], name: str, *, minimum: int = 0) -> Optional[int]:
    """``None`` or a non-negative row count that fits the engine's 64-bit counters."""
    if value is None:
        return None
    return integer(value, name, minimum=minimum)
