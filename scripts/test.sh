#!/usr/bin/env bash
# All set-up on a fresh machine, then every test suite: the README's second command, and what CI runs.
#   scripts/test.sh            everything (CI runs exactly this)
#   PYTEST_ARGS="-m 'not slow'" scripts/test.sh   a quicker local pass
# It builds the wheel once (portable manylinux2014, the one EMR nodes install), installs it into
# .venv-test (pyspark 4 line) and .venv-spark35 (pyspark 3.5, the Amazon EMR 7.x line), and tests that wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n== %s  [%ds]\n' "$*" "$SECONDS"; }

step "system packages (Java for Spark, shellcheck for the bootstrap script, qemu + mmdebstrap for aarch64)"
need=()
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
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

step "lint: rustfmt, clippy, ruff, mypy"
PY="$PY" scripts/lint.sh

step "rust tests"
cargo test --quiet

# The Spark 3.5 venv only downloads and installs packages: it overlaps the (CPU-bound) wheel build.
step "build the wheel once (and, alongside, the Spark 3.5 venv's packages)"
scripts/setup_spark35.sh --deps-only >"${TMPDIR:-/tmp}/mergekit-spark35-setup.$$.log" 2>&1 &
spark35_setup=$!
rm -rf dist
scripts/build_wheels.sh --out dist
WHEEL=$(ls dist/mergekit-*-cp39-abi3-*x86_64*.whl)
export MERGEKIT_WHEEL="$PWD/$WHEEL"
"$PY" -m pip install -q --force-reinstall --no-deps "$WHEEL"
if ! wait "$spark35_setup"; then
  cat "${TMPDIR:-/tmp}/mergekit-spark35-setup.$$.log" >&2
  exit 1
fi
scripts/setup_spark35.sh "$WHEEL"
PY35="$PWD/.venv-spark35/bin/python"

step "stub check: mergekit._native against its .pyi (mypy.stubtest)"
# Import it first: stubtest reports success for a module it cannot import.
(cd / && "$PY" -c "import mergekit._native")
(cd / && "$PY" -m mypy.stubtest mergekit._native --mypy-config-file "$OLDPWD/pyproject.toml" \
  --allowlist "$OLDPWD/scripts/stubtest-allowlist.txt")

# The two lines are independent (separate venvs, separate Spark JVMs): run them side by side on the two
# cores and print each log whole when both are done. The aarch64 check (a Graviton wheel cross-built with the
# quick `smoke` profile, then joins checked against pandas under qemu in an arm64 Debian root) runs beside
# them at a lower priority: it is mostly downloads and a compile that fills the cores the suites leave idle
# while Spark waits on its JVMs.
step "python tests: every suite on pandas 3 / pyspark 4, and the Spark 3.5 line (pandas 2.2), in parallel; aarch64 beside them"
logs=$(mktemp -d)
(
  rc=0
  { rm -rf target/aarch64-smoke \
    && WHEEL_PROFILE=smoke nice -n 10 scripts/build_wheels.sh --aarch64 --no-x86_64 --out target/aarch64-smoke \
    && nice -n 10 scripts/test_aarch64.sh --wheel "$(ls target/aarch64-smoke/mergekit-*aarch64*.whl)"; } || rc=$?
  echo "aarch64 check finished at ${SECONDS}s (exit $rc)"
  exit "$rc"
) >"$logs/aarch64.log" 2>&1 &
aarch64_job=$!
# shellcheck disable=SC2086
(PYSPARK_PYTHON="$PY" PYSPARK_DRIVER_PYTHON="$PY" \
  "$PY" -m pytest tests -p no:cacheprovider ${PYTEST_ARGS:-} >"$logs/main.log" 2>&1) &
main_tests=$!
# shellcheck disable=SC2086
(PYSPARK_PYTHON="$PY35" PYSPARK_DRIVER_PYTHON="$PY35" \
  "$PY35" -m pytest tests/spark tests/pandas_parity -p no:cacheprovider ${PYTEST_ARGS:-} >"$logs/spark35.log" 2>&1) &
spark35_tests=$!
main_rc=0 spark35_rc=0 aarch64_rc=0
wait "$main_tests" || main_rc=$?
wait "$spark35_tests" || spark35_rc=$?
step "suites done; waiting for the aarch64 check"
wait "$aarch64_job" || aarch64_rc=$?
step "pandas 3 / pyspark 4 suite (exit $main_rc)"
cat "$logs/main.log"
step "Spark 3.5 / pandas 2.2 suite (exit $spark35_rc)"
cat "$logs/spark35.log"
step "aarch64 wheel under qemu (exit $aarch64_rc)"
cat "$logs/aarch64.log"
rm -rf "$logs"
if [ "$main_rc" != 0 ] || [ "$spark35_rc" != 0 ] || [ "$aarch64_rc" != 0 ]; then
  echo "tests failed: pandas 3 line exit $main_rc, Spark 3.5 line exit $spark35_rc, aarch64 exit $aarch64_rc" >&2
  exit 1
fi

step "all green"
