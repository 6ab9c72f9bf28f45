"""The driver program of the cluster tests, run by ``spark-submit --master local-cluster[2,1,1024]`` (two
executor JVMs, separate from the driver's, each with its own Python workers).

    spark-submit --master local-cluster[2,1,1024] tests/spark/cluster_job.py RESULT.json

For every case it joins the same inputs with ``mergekit.spark.merge`` and with Spark's own join and writes
both results (as lists of rows) to RESULT.json, with the working directories of the Python workers that ran
mergekit's join (one per executor), so that the test can compare them and check that both executors took part.
With ``MERGEKIT_TEST_KILL_DIR`` set (see cluster_hook/sitecustomize.py), the cases run after ``armed`` is
created have the first attempt of their tasks killed in the middle.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import analysis  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402

import mergekit.spark as mks  # noqa: E402

STREAMING = {mks.SHUFFLE_IMPL_CONF: "tagged_union"}


def sides(spark, n_left: int, n_right: int, nkeys: int, hot_fraction: float, seed: int):
    rng = random.Random(seed)

    def key():
        if rng.random() < 0.05:
            return None
        return 7 if rng.random() < hot_fraction else rng.randrange(nkeys)

    left = [(key(), f"l{i}", rng.random()) for i in range(n_left)]
    right = [(key(), rng.randrange(1000), f"r{i}") for i in range(n_right)]
    # 6 partitions each, so that every executor reads some of both sides.
    lx = spark.createDataFrame(left, "k int, v string, lx double").repartition(6)
    ry = spark.createDataFrame(right, "k bigint, v bigint, ry string").repartition(6)
    return lx, ry


def rows(df) -> list:
    return [list(r) for r in df.collect()]


def worker_dirs(spark) -> list[str]:
    """The working directory of the Python workers of every executor (each executor has its own)."""
    rdd = spark.sparkContext.parallelize(range(64), 16)
    return sorted(set(rdd.map(lambda _: os.getcwd()).collect()))


def executors(spark, wanted: int, seconds: float = 180.0) -> int:
    """The executors registered with the driver, after waiting (up to ``seconds``) for ``wanted`` of them:
    the session starts before its executor JVMs have registered."""
    deadline = time.monotonic() + seconds
    while True:
        # The driver's own block manager is in this map too.
        n = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1
        if n >= wanted or time.monotonic() > deadline:
            return n
        time.sleep(0.5)


def main() -> int:
    out_path = Path(sys.argv[1])
    spark = SparkSession.builder.appName("mergekit-cluster-tests").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    result: dict = {
        "master": spark.sparkContext.master,
        "executors": executors(spark, 2),
        "worker_dirs": worker_dirs(spark),
        "cases": {},
    }
    kill_dir = os.environ.get("MERGEKIT_TEST_KILL_DIR")
    x, y = sides(spark, 3000, 2000, 400, 0.0, seed=1)
    hx, hy = sides(spark, 4000, 300, 50, 0.6, seed=2)  # one key holds 60% of the left rows
    cases = [
        ("shuffle-left", x, y, "left", "shuffle", {}),
        ("shuffle-outer", x, y, "outer", "shuffle", {}),
        ("shuffle-right_anti", x, y, "right_anti", "shuffle", {}),
        ("broadcast-inner", x, y, "inner", "broadcast", {}),
        # The streaming shuffle with a 64 KiB memory target: the hot key's partition is joined in blocks.
        ("skew-shuffle-left", hx, hy, "left", "shuffle", {mks.BUCKET_MEMORY_CONF: "64k", **STREAMING}),
        # From here on the first attempt of each task is killed in its second join call.
        ("retry-shuffle-inner", x, y, "inner", "shuffle", {"arm": True}),
        ("retry-broadcast-left", x, y, "left", "broadcast", {"arm": True, mks.BROADCAST_CHUNK_CONF: "200"}),
    ]
    for name, left, right, how, strategy, confs in cases:
        if confs.pop("arm", False):
            if not kill_dir:
                continue
            Path(kill_dir, "armed").touch()
        for k, v in confs.items():
            spark.conf.set(k, v)
        try:
            got = mks.merge(left, right, on="k", how=how, strategy=strategy, buckets=8)
            want = analysis.spark_join(left, right, ["k"], ["k"], how)
            result["cases"][name] = {"mergekit": rows(got), "spark": rows(want), "columns": got.columns}
        finally:
            for k in confs:
                spark.conf.unset(k)
    out_path.write_text(json.dumps(result))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
