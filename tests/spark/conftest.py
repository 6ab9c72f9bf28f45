"""One local Spark for every Spark test: ``local[2]`` (CI has two cores), few shuffle partitions, no UI."""

from __future__ import annotations

import contextlib
import os
import sys

import pytest

# Python workers must run this interpreter, the one with mergekit installed; pyspark's warnings about
# untested pandas versions would only clutter the output.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")


@pytest.fixture(scope="session")
def spark():
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("mergekit-tests")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def spark_conf(spark):
    """Set Spark SQL confs for one test, then restore them: ``with spark_conf({key: value}): ...``."""

    @contextlib.contextmanager
    def setter(confs: dict):
        old = {k: spark.conf.get(k, None) for k in confs}
        for k, v in confs.items():
            spark.conf.set(k, str(v))
        try:
            yield
        finally:
            for k, v in old.items():
                if v is None:
                    spark.conf.unset(k)
                else:
                    spark.conf.set(k, v)

    return setter
