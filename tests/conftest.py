"""Every suite carries its marker, given here by the suite's folder (so ``-m parity`` or ``-m "not spark"``
selects whole suites), and a test in a folder without a marker fails collection instead of escaping them."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

SUITE_MARKERS = {
    "engine": "engine",
    "pandas_parity": "parity",
    "files": "files",
    "spark": "spark",
    "emr": "emr",
}
_TESTS = Path(__file__).resolve().parent

# A suite started as a background job of a non-interactive shell inherits SIGINT as *ignored*, and so would
# every child the signal tests start: a Python started that way installs no KeyboardInterrupt handler and
# the tests' Ctrl-C does nothing. Python's own handler here means children start with the default
# disposition (exec resets handled signals), however the suite was launched.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        suite = Path(str(item.path)).resolve().relative_to(_TESTS).parts[0]
        marker = SUITE_MARKERS.get(suite)
        if marker is None:
            raise pytest.UsageError(f"{item.nodeid}: the suite {suite!r} has no marker in tests/conftest.py")
        item.add_marker(marker)
