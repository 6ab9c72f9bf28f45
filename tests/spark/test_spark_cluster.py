"""mergekit on separate executor JVMs: Spark's ``local-cluster[2,1,1024]`` master (two executors, one core and
1 GB each, in processes of their own, as on a real cluster), through ``spark-submit``.

* the shuffle and broadcast strategies (and a skewed bucket larger than its memory target) against Spark's
  own join, and both executors' Python workers took part;
* ``analysis.py`` end to end against pandas;
* task retries: the first attempt of each task is killed in the middle (``os._exit(1)`` in the worker,
  after a first join of the task has sent rows back, see cluster_hook/sitecustomize.py); Spark retries it
  and no row is lost or doubled (row counts and an order-independent checksum of the output).

Each test starts its own small cluster (about half a minute on two cores), so there are only two.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.spark, pytest.mark.cluster]

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
MASTER = "local-cluster[2,1,1024]"


def spark_submit(
    script: Path, *args: str, kill_dir: Path, kill_at_call: int = 2, timeout: int = 900
) -> subprocess.CompletedProcess:
    import pyspark

    submit = os.path.join(os.path.dirname(pyspark.__file__), "bin", "spark-submit")
    pythonpath = os.pathsep.join([str(HERE / "cluster_hook"), *filter(None, [os.environ.get("PYTHONPATH")])])
    # The executors are launched by the in-driver workers with the driver's environment: PYTHONPATH (mergekit
    # and the hook) and the kill directory reach their Python workers from here.
    env = dict(
        os.environ,
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        PYTHONPATH=pythonpath,
        MERGEKIT_TEST_KILL_DIR=str(kill_dir),
        MERGEKIT_TEST_KILL_AT_CALL=str(kill_at_call),
    )
    env.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")
    cmd = [
        submit, "--master", MASTER,
        "--conf", "spark.ui.enabled=false",
        "--conf", "spark.sql.shuffle.partitions=4",
        "--conf", "spark.task.maxFailures=4",
        "--conf", f"spark.executorEnv.PYTHONPATH={pythonpath}",
        "--conf", f"spark.executorEnv.MERGEKIT_TEST_KILL_DIR={kill_dir}",
        "--conf", f"spark.executorEnv.MERGEKIT_TEST_KILL_AT_CALL={kill_at_call}",
        "--driver-memory", "1g",
        str(script), *args,
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


def kill_at_call() -> int:
    """Which engine call of a task's first attempt the hook kills: the second where a shuffle task makes
    several (the Arrow cogroup of Spark 4.x, one call per bucket), else the first (Spark 3.5's streaming
    shuffle joins a task's whole partition in one call)."""
    import mergekit.spark as mks

    return 2 if mks._has_arrow_cogroup() else 1


def killed(kill_dir: Path) -> list[str]:
    return sorted(p.name for p in kill_dir.glob("killed-*"))


def as_counter(rows) -> Counter:
    return Counter(tuple(None if v is None else str(v) for v in r) for r in rows)


def test_strategies_on_separate_executors(tmp_path):
    kill_dir = tmp_path / "kill"
    kill_dir.mkdir()
    result_file = tmp_path / "result.json"
    proc = spark_submit(
        HERE / "cluster_job.py", str(result_file), kill_dir=kill_dir, kill_at_call=kill_at_call()
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(result_file.read_text())
    assert result["master"] == MASTER
    assert result["executors"] == 2
    # Every executor runs its Python workers in its own directory: two executors, two directories.
    assert len(result["worker_dirs"]) == 2, result["worker_dirs"]
    cases = result["cases"]
    assert set(cases) >= {"shuffle-outer", "broadcast-inner", "skew-shuffle-left", "retry-broadcast-left"}
    for name, case in cases.items():
        assert case["mergekit"], name  # every case has rows: an empty result would compare equal trivially
        assert as_counter(case["mergekit"]) == as_counter(case["spark"]), name
    # The retry cases really lost a worker in the middle of a first attempt, and in both strategies.
    stages = killed(kill_dir)
    assert stages, "no task attempt was killed"
    # Each killed worker wrote its directory: the kills happened on the executors, not in the driver.
    assert {(kill_dir / s).read_text() for s in stages} <= set(result["worker_dirs"])


# ---------------------------------------------------------------------------------------------------------
# analysis.py end to end, with a killed first attempt
# ---------------------------------------------------------------------------------------------------------


def write_pair(tmp: Path, seed=5) -> tuple[Path, Path]:
    rng = random.Random(seed)
    left = ["ID\tword\tnum"] + [f"id{rng.randrange(3000)}\tw{i}\t{rng.randrange(999)}" for i in range(4000)]
    right = ["ID\tother"] + [f"id{rng.randrange(3000)}\tr{i}" for i in range(3000)]
    (tmp / "left.tsv").write_text("\n".join(left) + "\n")
    (tmp / "right.tsv").write_text("\n".join(right) + "\n")
    return tmp / "left.tsv", tmp / "right.tsv"


def checksum(df: pd.DataFrame) -> tuple[int, int]:
    """(rows, sum of a hash of every row modulo 2**64): equal for equal multisets of rows, in any order."""
    total = 0
    for row in df.itertuples(index=False):
        digest = hashlib.blake2b("\x1f".join(map(str, row)).encode(), digest_size=8).digest()
        total = (total + int.from_bytes(digest, "little")) % (1 << 64)
    return len(df), total


def test_analysis_end_to_end_with_a_killed_attempt(tmp_path):
    left, right = write_pair(tmp_path)
    kill_dir = tmp_path / "kill"
    kill_dir.mkdir()
    (kill_dir / "armed").touch()
    out = tmp_path / "merged"
    proc = spark_submit(
        ROOT / "analysis.py",
        "--data_source_1", str(left), "--data_source_2", str(right), "--output_uri", str(out),
        "--how", "left", "--strategy", "shuffle", "--buckets", "16", "--no-preview",
        kill_dir=kill_dir, kill_at_call=kill_at_call(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    stages = killed(kill_dir)
    assert stages, "no task attempt was killed"
    # The killed workers ran in executors' own directories, not in the driver's: analysis.py kept
    # spark-submit's master (on pyspark 3.5 it once replaced it with local[*], where a task is not retried).
    assert all((kill_dir / s).read_text() != str(ROOT) for s in stages)
    x = pd.read_csv(left, sep="\t", dtype=str, keep_default_na=False)
    y = pd.read_csv(right, sep="\t", dtype=str, keep_default_na=False)
    want = pd.merge(x, y, on="ID", how="left").fillna("")
    parts = sorted(glob.glob(str(out / "part-*")))
    got = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in parts], ignore_index=True)
    assert list(got.columns) == list(want.columns)
    assert checksum(got) == checksum(want)
    assert (
        f"read {len(x)} rows from {left} and {len(y)} rows from {right}; wrote {len(want)} rows"
        in proc.stdout
    )
