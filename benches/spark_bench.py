"""analysis.py with mergekit's join against the seed's own PySpark script and against analysis.py with Spark's
own join, through spark-submit, on local[2] and on local-cluster (separate executor JVMs).

    nice python benches/spark_bench.py                                   # 1e6 x 1e6, 3 runs, local[2]
    nice python benches/spark_bench.py --cases 1e7x1e7 --runs 3 \
        --masters 'local[2]' 'local-cluster[2,1,3072]' --in-spark-masters 'local-cluster[2,1,3072]'

For each case (left rows x right rows of generated TSV: a string key drawn uniformly from as many distinct
values as that file has rows, plus one string value column) and each master it reports:

* ``end to end``: wall time of ``spark-submit --master M PROGRAM``, where PROGRAM is
  ``benches/seed_pyspark.py`` (the seed's script: read, left join, ``show()``, write CSV),
  ``analysis.py --engine spark --how left`` and ``analysis.py --how left`` (mergekit), each with its preview
  (``show()`` / the 20-row preview) unless ``--no-preview``: JVM start, reading and parsing both files, the
  join, writing the CSV output, the preview and (analysis.py) the row counts. One warm-up run per master,
  then ``--runs`` rounds of the three programs, interleaved so that load changes hit all three alike.
* ``in-Spark join`` (for the masters in ``--in-spark-masters``, default local[2]): in one warm session, the
  join alone: both files read and joined, the result consumed by Spark's ``noop`` sink (nothing written), so
  JVM start and output writing are excluded.
* with ``--breakdown``, where the in-Spark time goes: reading/parsing the inputs, the shuffle alone (hash
  bucket column + exchange), the shuffle plus the Arrow round trip to Python with a UDF that returns no rows
  (transfer cost), the full mergekit join, and writing the result as CSV.

Every number is the median of ``--runs`` runs after a warm-up (first touch of fresh memory is slow on these
machines), wall-clock seconds; the load average is printed before and after each block.
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


def spark_submit(master: str, program: Path, args: list[str]) -> float:
    import pyspark

    submit = os.path.join(os.path.dirname(pyspark.__file__), "bin", "spark-submit")
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    env.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")
    cmd = [submit, "--master", master, "--conf", "spark.ui.enabled=false"]
    cmd += master_conf(master)
    cmd += [str(program), *args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return elapsed


def master_conf(master: str) -> list[str]:
    """local[2]: one JVM, 6 GB heap for both cores. local-cluster[W,C,MB]: a small driver, and each executor
    JVM gets most of its worker's memory."""
    if master.startswith("local-cluster"):
        mb = int(master.rstrip("]").split(",")[-1])
        conf = ["--driver-memory", "2g", "--conf", f"spark.executor.memory={max(512, mb - 512)}m"]
        if os.environ.get("PYTHONPATH"):  # the executors' Python workers import mergekit from there too
            conf += ["--conf", f"spark.executorEnv.PYTHONPATH={os.environ['PYTHONPATH']}"]
        return conf
    return ["--driver-memory", "6g"]


def load() -> str:
    return "load average " + ", ".join(f"{v:.1f}" for v in os.getloadavg())


def median_time(fn, runs: int) -> float:
    fn()  # warm-up
    return statistics.median(timed(fn) for _ in range(runs))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


PROGRAMS = {
    "seed script": (ROOT / "benches" / "seed_pyspark.py", []),
    "analysis.py --engine spark": (ROOT / "analysis.py", ["--engine", "spark", "--how", "left"]),
    "analysis.py (mergekit)": (ROOT / "analysis.py", ["--how", "left"]),
}


def end_to_end(master: str, left: Path, right: Path, out: Path, runs: int, preview: bool) -> dict[str, float]:
    """Median wall time of each program on ``master``: one warm-up run, then ``runs`` interleaved rounds."""

    def run(name: str) -> float:
        program, extra = PROGRAMS[name]
        shutil.rmtree(out, ignore_errors=True)
        args = ["--data_source_1", str(left), "--data_source_2", str(right), "--output_uri", str(out)]
        if program.name == "analysis.py" and not preview:
            extra = [*extra, "--no-preview"]
        try:
            return spark_submit(master, program, [*args, *extra])
        finally:
            shutil.rmtree(out, ignore_errors=True)

    run("seed script")  # warm-up: page cache, first touch of memory
    times: dict[str, list[float]] = {name: [] for name in PROGRAMS}
    for _ in range(runs):
        for name in PROGRAMS:
            times[name].append(run(name))
            print(f"  {master} {name}: {times[name][-1]:.1f} s ({load()})", flush=True)
    return {f"{name} [{master}]": statistics.median(t) for name, t in times.items()}


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


def session(master: str):
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).config("spark.ui.enabled", "false")
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    conf = master_conf(master)
    builder = builder.config("spark.driver.memory", conf[1])
    for key, value in (c.split("=", 1) for c in conf[3::2]):
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", nargs="+", default=["1e6x1e6"], help="LEFTxRIGHT row counts, e.g. 1e7x1e6")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--data-dir", default="/tmp/mergekit-spark-bench")
    p.add_argument("--masters", nargs="+", default=["local[2]"], help="Spark masters for the end-to-end runs")
    p.add_argument(
        "--in-spark-masters", nargs="*", default=["local[2]"], help="masters for the in-Spark join"
    )
    p.add_argument("--skip-end-to-end", action="store_true")
    p.add_argument("--no-preview", action="store_true", help="run analysis.py with --no-preview")
    p.add_argument("--breakdown", action="store_true", help="also time the parts of the in-Spark join")
    p.add_argument(
        "--impls", nargs="*", default=[], help="also time these shuffle implementations (tagged_union, ...)"
    )
    args = p.parse_args()

    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    import pyspark

    print(f"pyspark {pyspark.__version__}, median of {args.runs} runs after a warm-up, seconds; {load()}")
    rows = []
    for case in args.cases:
        nl, nr = parse_case(case)
        left = generate(data / f"left_{nl}.tsv", nl, nl, 1, "lval")
        right = generate(data / f"right_{nr}.tsv", nr, nr, 2, "rval")
        row: dict = {"case": f"{nl:.0e} x {nr:.0e}".replace("e+0", "e")}
        if not args.skip_end_to_end:
            for master in args.masters:
                row.update(end_to_end(master, left, right, data / "out", args.runs, not args.no_preview))
                print(row, flush=True)
        for master in args.in_spark_masters:
            spark = session(master)
            try:
                timings = in_spark(spark, left, right, args.runs, args.breakdown, data / "out", args.impls)
            finally:
                spark.stop()
            row.update({f"{k} [{master}]": v for k, v in timings.items()})
            print(row, flush=True)
        rows.append(row)
    print(f"\n{load()}")
    for r in rows:
        print(
            f"\n{r['case']}: seconds, and rows per second per core (input rows of both sides / time / cores)"
        )
        print("| what | seconds | rows/s per core |")
        print("|---|---|---|")
        for name, value in r.items():
            if name == "case":
                continue
            cores = cores_of(name)
            rate = sum(parse_case(r["case"].replace(" ", "")))
            print(f"| {name} | {value:.1f} | {rate / value / cores:,.0f} |")
        for master in args.masters:
            seed, spark_engine = (
                r.get(f"seed script [{master}]"),
                r.get(f"analysis.py --engine spark [{master}]"),
            )
            mine = r.get(f"analysis.py (mergekit) [{master}]")
            if seed and spark_engine and mine:
                print(f"{master}: mergekit / seed script = {mine / seed:.2f}, "
                      f"mergekit / --engine spark = {mine / spark_engine:.2f}")  # fmt: skip
    return 0


def cores_of(name: str) -> int:
    """Cores of the master named in a result's label: local[N] or local-cluster[W,C,MB]."""
    master = name[name.rfind(" [") + 2 : -1] if " [" in name else ""
    if master.startswith("local-cluster["):
        workers, cores, _ = master[len("local-cluster[") :].rstrip("]").split(",")
        return int(workers) * int(cores)
    if master.startswith("local["):
        inner = master[len("local[") :].rstrip("]")
        return (os.cpu_count() or 1) if inner == "*" else int(inner)
    return 1


if __name__ == "__main__":
    sys.exit(main())
