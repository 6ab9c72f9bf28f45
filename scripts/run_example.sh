#!/usr/bin/env bash
# The seed's job, end to end, on a fresh machine: a venv with mergekit (built from this repository by
# maturin), pyspark and pyarrow; Java if missing; then
#   spark-submit analysis.py --data_source_1 examples/x_list.txt --data_source_2 examples/y_list.txt ...
# on an embedded local Spark. Prints the merged table and the row counts.
#   VENV=path   the venv to create or reuse (default .venv)
#   OUTPUT=uri  where the output goes (default a fresh temporary directory)
# Spark's own log goes to a temporary file (its tail is shown if the job fails).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"

if ! command -v java >/dev/null 2>&1; then
  echo "installing Java (openjdk-17-jre-headless)" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PY="$VENV/bin/python"
if ! "$PY" -c "import mergekit._native, pyspark, pyarrow" >/dev/null 2>&1; then
  echo "installing mergekit (builds the Rust extension, a few minutes), pyspark and pyarrow into $VENV" >&2
  "$PY" -m pip install -q --upgrade pip
  "$PY" -m pip install -q ".[spark]" pyarrow
fi

SPARK_SUBMIT="$("$PY" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "bin", "spark-submit"))')"
OUTPUT="${OUTPUT:-$(mktemp -d)/merged}"
case "$OUTPUT" in *://*) ;; *) mkdir -p "$(dirname "$OUTPUT")" ;; esac
LOG="$(mktemp -t mergekit-example.XXXXXX.log)"
# Driver and workers run the venv's Python, the one with mergekit in it.
export PYSPARK_PYTHON="$PWD/$VENV/bin/python" PYSPARK_DRIVER_PYTHON="$PWD/$VENV/bin/python"
# pyspark warns about versions newer than it has been tested with; the job does not depend on them.
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore::FutureWarning}"
[ "${VENV#/}" != "$VENV" ] && export PYSPARK_PYTHON="$VENV/bin/python" PYSPARK_DRIVER_PYTHON="$VENV/bin/python"

if ! "$SPARK_SUBMIT" --master "local[*]" --conf spark.ui.enabled=false analysis.py \
    --data_source_1 examples/x_list.txt --data_source_2 examples/y_list.txt --output_uri "$OUTPUT" \
    2>"$LOG"; then
  tail -30 "$LOG" >&2
  exit 1
fi
echo "output: $OUTPUT"
