"""The one elapsed-time format of every progress and status line (``mergekit join``, ``mergekit emr``)."""

from __future__ import annotations


def clock(seconds: float) -> str:
    """``H:MM:SS`` for a duration in seconds; hours are not capped at 24 (a long EMR job reads ``27:03:09``),
    and negative or NaN inputs (an ETA not known yet) read ``0:00:00``."""
    s = int(seconds) if seconds == seconds and seconds > 0 else 0
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}"
