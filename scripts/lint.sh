#!/usr/bin/env bash
# Every static check, in the order CI runs them (scripts/test.sh calls this):
#   rustfmt, clippy (-D warnings with the [lints.clippy] set in Cargo.toml), ruff check, ruff format, mypy.
#   scripts/lint.sh            with the python on PATH (needs ruff, mypy and pandas-stubs from requirements-test.txt)
#   PY=.venv-test/bin/python scripts/lint.sh
# The stub check (mypy.stubtest) needs the built module, so scripts/test.sh runs it after the wheel build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-python3}"
cargo fmt --check
PYO3_PYTHON="$PY" cargo clippy --quiet --all-targets --features python -- -D warnings
"$PY" -m ruff check .
"$PY" -m ruff format --check .
"$PY" -m mypy
