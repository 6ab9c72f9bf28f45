"""Every suite carries its marker, given here by the suite's folder (so ``-m parity`` or ``-m "not spark"``
selects whole suites), and a test in a folder without a marker fails collection instead of escaping them."""

from __future__ import annotations

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        suite = Path(str(item.path)).resolve().relative_to(_TESTS).parts[0]
        marker = SUITE_MARKERS.get(suite)
        if marker is None:
            raise pytest.UsageError(f"{item.nodeid}: the suite {suite!r} has no marker in tests/conftest.py")
        item.add_marker(marker)
