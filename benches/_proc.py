"""What the benchmark scripts read about their own process (Linux ``/proc``)."""

from __future__ import annotations


def rss_kib(field: str) -> int:
    """A memory figure of this process in KiB: ``"VmRSS:"`` (now) or ``"VmHWM:"`` (the peak so far); 0 where
    ``/proc`` does not have it."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
