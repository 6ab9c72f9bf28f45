#!/usr/bin/env bash
# All set-up on a fresh machine, then every test suite: the README's second command, and what CI runs.
#   scripts/test.sh            everything (CI runs exactly this)
#   PYTEST_ARGS="-m 'not slow'" scripts/test.sh   a quicker local pass
# It builds the wheel once (portable manylinux2014, the one EMR nodes install), installs it into
# .venv-test (pyspark 4 line) and .venv-spark35 (pyspark 3.5, the Amazon EMR 7.x line), and tests that wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n== %s  [%ds]\n' "$*" "$SECONDS"; }

step "system packages (Java for Spark, shellcheck for the bootstrap script)"
need=()
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v cargo >/dev/null 2>&1 || { echo "cargo (Rust) is required: https://rustup.rs" >&2; exit 1; }
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

step "python test environment (.venv-test)"
VENV=.venv-test
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PY="$PWD/$VENV/bin/python"
"$PY" -m pip install -q --upgrade pip
"$PY" -m pip install -q -r requirements-test.txt

step "lint: rustfmt, clippy, ruff"
cargo fmt --check
PYO3_PYTHON="$PY" cargo clippy --quiet --all-targets --features python -- -D warnings
"$PY" -m ruff check .
"$PY" -m ruff format --check .

step "rust tests"
cargo test --quiet

step "build the wheel once"
rm -rf dist
scripts/build_wheels.sh --out dist
WHEEL=$(ls dist/mergekit-*-cp39-abi3-*x86_64*.whl)
export MERGEKIT_WHEEL="$PWD/$WHEEL"
"$PY" -m pip install -q --force-reinstall --no-deps "$WHEEL"

step "python tests (pandas 3, pyspark 4): every suite, slow ones included"
export PYSPARK_PYTHON="$PY" PYSPARK_DRIVER_PYTHON="$PY"
# shellcheck disable=SC2086
"$PY" -m pytest tests -p no:cacheprovider ${PYTEST_ARGS:-}

step "spark 3.5 line (.venv-spark35: pyspark 3.5, pandas 2.2): its fallback path"
scripts/setup_spark35.sh "$WHEEL"
PY35="$PWD/.venv-spark35/bin/python"
PYSPARK_PYTHON="$PY35" PYSPARK_DRIVER_PYTHON="$PY35" \
  "$PY35" -m pytest tests/spark tests/pandas_parity -p no:cacheprovider ${PYTEST_ARGS:-}

step "all green"
