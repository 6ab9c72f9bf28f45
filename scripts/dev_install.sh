#!/usr/bin/env bash
# Development install: build the extension (release) into python/mergekit/ and link the package into
# .venv (created with access to the system's packages), so Python edits are live without a rebuild.
# Several people (or agents) may run this at once: a lock serialises the builds.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv --system-site-packages .venv
exec 9>/tmp/mergekit-build.lock
flock 9
VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH" maturin develop --release >/tmp/mergekit-dev-build.log 2>&1 \
  || { tail -40 /tmp/mergekit-dev-build.log; exit 1; }
echo "built $(ls python/mergekit/_native*.so)"
