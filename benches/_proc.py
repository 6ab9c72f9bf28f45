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


# The preamble of a benchmark child that runs in a fresh process: its peak memory is the kernel's VmHWM
# after a reset at start (ru_maxrss would carry the parent's peak across fork+exec), interpreter and
# imports included. ``peak()`` returns bytes.
PEAK_SNIPPET = """
def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
def peak():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM:"))
reset_peak()
"""
