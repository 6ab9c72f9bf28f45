#!/usr/bin/env bash
# Build the extension (release) and install it into the current Python, for development.
# Several people (or agents) may run this at once: a lock serialises the builds.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
exec 9>/tmp/mergekit-build.lock
flock 9
rm -rf target/dev-wheels
"$PY" -m maturin build --release --interpreter "$PY" -o target/dev-wheels >/tmp/mergekit-dev-build.log 2>&1 \
  || { tail -40 /tmp/mergekit-dev-build.log; exit 1; }
"$PY" -m pip install --quiet --force-reinstall --no-deps target/dev-wheels/*.whl
echo "installed $(ls target/dev-wheels/*.whl)"
