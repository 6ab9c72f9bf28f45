#!/usr/bin/env bash
# Create .venv-spark35: the Spark 3.5 line that Amazon EMR 7.x ships (no Arrow cogroup there, so
# mergekit.spark takes its 3.5 fallback path), with pandas/pyarrow/numpy versions that pyspark 3.5 supports,
# plus pytest, and the mergekit wheel given as the only argument.
#   scripts/setup_spark35.sh dist/mergekit-*.whl     packages (if missing) and the wheel
#   scripts/setup_spark35.sh --deps-only             packages only (scripts/test.sh runs this during the build)
#   .venv-spark35/bin/python -m pytest tests/spark -m spark
set -euo pipefail
deps_only=0
if [ "${1:-}" = "--deps-only" ] && [ $# -eq 1 ]; then
  deps_only=1
elif [ $# -ne 1 ] || [ ! -f "$1" ]; then
  echo "usage: $0 MERGEKIT_WHEEL | --deps-only   (build a wheel with: scripts/build_wheels.sh)" >&2
  exit 2
else
  wheel="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
fi
cd "$(dirname "$0")/.."
venv=.venv-spark35
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
stamp="$venv/.deps-installed"
if [ ! -f "$stamp" ]; then
  "$venv/bin/python" -m pip install -q --upgrade pip
  # pyspark 3.5 predates numpy 2 and pandas 3; these pins are the newest that its Arrow/pandas UDF code accepts.
  "$venv/bin/python" -m pip install -q "pyspark>=3.5,<3.6" "pandas>=2.2,<2.3" "pyarrow>=15,<18" "numpy>=1.23,<2" \
    "pytest>=8" "hypothesis>=6.100" "polars>=1.0" "pytest-timeout>=2.3" "pytest-xdist>=3.5"
  touch "$stamp"
fi
[ "$deps_only" = 1 ] && exit 0
"$venv/bin/python" -m pip install -q --force-reinstall --no-deps "$wheel"
"$venv/bin/python" - <<'PY'
import pyspark, pandas, pyarrow, numpy, mergekit
print(f"pyspark {pyspark.__version__}, pandas {pandas.__version__}, pyarrow {pyarrow.__version__}, "
      f"numpy {numpy.__version__}, mergekit {mergekit.__version__} from {mergekit.__file__}")
PY
