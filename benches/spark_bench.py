"""analysis.py with mergekit's join against Spark's own join, on a local[2] Spark.

    nice python benches/spark_bench.py                     # 1e6 x 1e6, 3 runs each
    nice python benches/spark_bench.py --cases 1e6x1e6 1e7x1e6 1e7x1e7 --runs 3

For each case (left rows x right rows of generated TSV: a string key drawn uniformly from as many distinct
values as that file has rows, plus one string value column; an inner join then gives about as many rows as
the smaller side) it reports:

* ``end to end``: wall time of ``spark-submit --master local[2] analysis.py --engine E --no-preview``: JVM
  start, reading and parsing both files, the join, writing the CSV output, and the row counts analysis.py
  prints (three extra scans; the same for both engines).
* ``in-Spark join``: in one warm session, the join alone: both files read and joined, the result consumed
  by Spark's ``noop`` sink (nothing written), so JVM start and output writing are excluded.
* with ``--breakdown``, where the in-Spark time goes: reading/parsing the inputs, the shuffle alone (hash
  bucket column + exchange), the shuffle plus the Arrow round trip to Python with a UDF that returns no rows
  (transfer cost), the full mergekit join, and writing the result as CSV.

Every number is the median of ``--runs`` runs after one warm-up run (first touch of fresh memory is slow on
these machines), wall-clock time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse_case(text: str) -> tuple[int, int]:
    left, right = text.lower().split("x")
    return int(float(left)), int(float(right))


def generate(path: Path, rows: int, distinct: int, seed: int, value_name: str) -> Path:
    """A TSV file with a header: ID (string key) and one string value column."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".partial")
    with pacsv.CSVWriter(
        str(tmp),
        pa.schema([("ID", pa.string()), (value_name, pa.string())]),
        write_options=pacsv.WriteOptions(delimiter="\t", quoting_style="none"),
    ) as writer:
        step = 1_000_000
        for start in range(0, rows, step):
            n = min(step, rows - start)
            keys = rng.integers(0, distinct, n)
            ids = pa.array(np.char.add("k", keys.astype(str)))
            values = pa.array(np.char.add(value_name[0], rng.integers(0, 10**9, n).astype(str)))
            writer.write_table(pa.table({"ID": ids, value_name: values}))
    tmp.rename(path)
    return path


def spark_submit(args: list[str]) -> float:
    import pyspark

    submit = os.path.join(os.path.dirname(pyspark.__file__), "bin", "spark-submit")
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    env.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")
    cmd = [submit, "--master", "local[2]", "--driver-memory", "6g", "--conf", "spark.ui.enabled=false"]
    cmd += [str(ROOT / "analysis.py"), *args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return elapsed


def median_time(fn, runs: int) -> float:
    fn()  # warm-up
    return statistics.median(timed(fn) for _ in range(runs))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def end_to_end(left: Path, right: Path, engine: str, out: Path, runs: int) -> float:
    def run():
        shutil.rmtree(out, ignore_errors=True)
        args = ["--data_source_1", str(left), "--data_source_2", str(right), "--output_uri", str(out)]
        spark_submit([*args, "--engine", engine, "--no-preview"])

    try:
        return median_time(run, runs)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def in_spark(
    spark, left: Path, right: Path, runs: int, breakdown: bool, out: Path, impls: list[str]
) -> dict[str, float]:
    import functools

    import pyarrow as pa
    from pyspark.sql import functions as F

    sys.path.insert(0, str(ROOT))
    import analysis

    import mergekit.spark as mks

    def read():
        opts = {"header": True, "sep": "\t", "mode": "FAILFAST"}
        return spark.read.options(**opts).csv(str(left)), spark.read.options(**opts).csv(str(right))

    def noop(df):
        df.write.format("noop").mode("overwrite").save()

    results = {}
    x, y = read()
    results["spark join"] = median_time(
        lambda: noop(analysis.spark_join(x, y, ["ID"], ["ID"], "inner")), runs
    )
    results["mergekit join"] = median_time(lambda: noop(mks.merge(x, y, on="ID")), runs)
    for impl in impls:
        spark.conf.set(mks.SHUFFLE_IMPL_CONF, impl)
        try:
            results[f"mergekit join ({impl})"] = median_time(
                lambda: noop(mks.merge(x, y, on="ID", strategy="shuffle")), runs
            )
        finally:
            spark.conf.unset(mks.SHUFFLE_IMPL_CONF)
    if not breakdown:
        return results
    results["read + parse inputs"] = median_time(lambda: (noop(x), noop(y)), runs)
    n = mks.bucket_count(spark, sum(mks.estimated_size(d) or 0 for d in (x, y)))

    def bucketed(df):
        return df.withColumn("b", F.pmod(F.hash("ID"), F.lit(n)))

    results["shuffle only"] = median_time(
        lambda: (noop(bucketed(x).repartition(n, "b")), noop(bucketed(y).repartition(n, "b"))), runs
    )
    impl = mks.shuffle_impl(spark)
    if impl == "arrow_cogroup":
        empty = functools.partial(_empty_cogroup, pa.schema([("ID", pa.string())]))
        grouped = bucketed(x).groupBy("b").cogroup(bucketed(y).groupBy("b"))
        results["shuffle + Arrow round trip"] = median_time(
            lambda: noop(grouped.applyInArrow(empty, "ID string")), runs
        )
    res = mks.merge(x, y, on="ID")

    def write():
        shutil.rmtree(out, ignore_errors=True)
        res.write.option("header", "true").csv(str(out))

    results["mergekit join + CSV write"] = median_time(write, runs)
    shutil.rmtree(out, ignore_errors=True)
    return results


def _empty_cogroup(schema, left, right):
    # Touch both sides so that Spark really ships them, return nothing: the transfer cost alone.
    _ = left.num_rows + right.num_rows
    return schema.empty_table()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", nargs="+", default=["1e6x1e6"], help="LEFTxRIGHT row counts, e.g. 1e7x1e6")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--data-dir", default="/tmp/mergekit-spark-bench")
    p.add_argument("--skip-end-to-end", action="store_true")
    p.add_argument("--breakdown", action="store_true", help="also time the parts of the in-Spark join")
    p.add_argument(
        "--impls", nargs="*", default=[], help="also time these shuffle implementations (tagged_union, ...)"
    )
    args = p.parse_args()

    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.driver.memory", "6g")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    print(f"pyspark {spark.version}, local[2], median of {args.runs} runs after a warm-up, seconds")
    rows = []
    for case in args.cases:
        nl, nr = parse_case(case)
        left = generate(data / f"left_{nl}.tsv", nl, nl, 1, "lval")
        right = generate(data / f"right_{nr}.tsv", nr, nr, 2, "rval")
        row = {"case": f"{nl:.0e} x {nr:.0e}".replace("e+0", "e")}
        if not args.skip_end_to_end:
            for engine in ("mergekit", "spark"):
                row[f"analysis.py {engine}"] = end_to_end(left, right, engine, data / "out", args.runs)
        row.update(in_spark(spark, left, right, args.runs, args.breakdown, data / "out", args.impls))
        rows.append(row)
        print(row, flush=True)
    spark.stop()

    columns = list(dict.fromkeys(k for r in rows for k in r))
    print()
    print("| " + " | ".join(columns) + " |")
    print("|" + "|".join("---" for _ in columns) + "|")
    for r in rows:
        cells = [r["case"]] + [f"{r[c]:.1f}" if c in r else "" for c in columns[1:]]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
