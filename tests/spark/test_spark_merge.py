"""mergekit.spark.merge against Spark's own join, compared as multisets of rows."""

from __future__ import annotations

import math
import random
from collections import Counter
from functools import reduce

import pyarrow as pa
import pytest

import mergekit
import mergekit.spark as mks
from mergekit.exceptions import ColumnNotFoundError, InvalidMergeError

pytestmark = pytest.mark.spark

HOWS = ["inner", "left", "right", "outer", "left_semi", "left_anti", "right_anti"]
SUFFIXES = ("_x", "_y")


# ---------------------------------------------------------------------------------------------------------
# Data and the oracle
# ---------------------------------------------------------------------------------------------------------


def make_sides(spark, kind="int", n_left=240, n_right=160, nkeys=40, null_frac=0.1, skew=0.0, seed=0):
    """Two DataFrames with many-to-many keys, null keys, and an overlapping non-key column ``v``.

    kind ``int``: key ``k`` is int on the left and bigint on the right (Spark hashes those differently, so
    this also checks the cast to a common type). ``string``: string ``k``. ``multi``: keys (a1 int, a2 string)
    on the left and (b1 int, b2 string) on the right, different names on each side.
    Returns (left, right, left_on, right_on)."""
    rng = random.Random(seed)

    def key():
        if rng.random() < null_frac:
            return None
        if rng.random() < skew:
            return 7
        return rng.randrange(nkeys)

    def word():
        return rng.choice(["alpha", "beta", "gamma", "", "δέλτα", None])

    if kind == "multi":

        def mk():
            k = key()
            return (None, None) if k is None else (k % 5, f"s{k // 5}" if rng.random() > 0.05 else None)

        left = [(*mk(), word(), rng.random()) for _ in range(n_left)]
        right = [(*mk(), rng.randrange(1000), word()) for _ in range(n_right)]
        return (
            spark.createDataFrame(left, "a1 int, a2 string, v string, lx double"),
            spark.createDataFrame(right, "b1 int, b2 string, v bigint, ry string"),
            ["a1", "a2"],
            ["b1", "b2"],
        )
    if kind == "string":

        def conv(k):
            return None if k is None else f"key-{k}"

        ltype, rtype = "string", "string"
    else:

        def conv(k):
            return k

        ltype, rtype = "int", "bigint"
    left = [(conv(key()), word(), rng.random()) for _ in range(n_left)]
    right = [(conv(key()), rng.randrange(1000), word()) for _ in range(n_right)]
    return (
        spark.createDataFrame(left, f"k {ltype}, v string, lx double"),
        spark.createDataFrame(right, f"k {rtype}, v bigint, ry string"),
        ["k"],
        ["k"],
    )


def spark_oracle(left, right, lo, ro, how, nulls_equal=False, suffixes=SUFFIXES):
    """Spark's own join, with columns named and ordered like mergekit.spark documents."""
    from pyspark.sql import functions as F

    shared = {a for a, b in zip(lo, ro) if a == b}
    L = left.select([F.col(c).alias(f"L{i}") for i, c in enumerate(left.columns)])
    R = right.select([F.col(c).alias(f"R{i}") for i, c in enumerate(right.columns)])
    ln = {c: f"L{i}" for i, c in enumerate(left.columns)}
    rn = {c: f"R{i}" for i, c in enumerate(right.columns)}
    if how == "cross":
        joined = L.crossJoin(R)
    else:
        eq = (lambda a, b: a.eqNullSafe(b)) if nulls_equal else (lambda a, b: a == b)
        cond = reduce(lambda a, b: a & b, [eq(F.col(ln[a]), F.col(rn[b])) for a, b in zip(lo, ro)])
        if how in ("left_semi", "left_anti"):
            return L.join(R, cond, how).select([F.col(ln[c]).alias(c) for c in left.columns])
        if how == "right_anti":
            return R.join(L, cond, "left_anti").select([F.col(rn[c]).alias(c) for c in right.columns])
        joined = L.join(R, cond, {"outer": "full"}.get(how, how))
    right_kept = [c for c in right.columns if c not in shared]
    overlap = (set(left.columns) - shared) & set(right_kept)
    cols = []
    for c in left.columns:
        if c in shared:
            both = how in ("right", "outer")
            cols.append((F.coalesce(F.col(ln[c]), F.col(rn[c])) if both else F.col(ln[c])).alias(c))
        else:
            cols.append(F.col(ln[c]).alias(c + suffixes[0] if c in overlap else c))
    cols += [F.col(rn[c]).alias(c + suffixes[1] if c in overlap else c) for c in right_kept]
    return joined.select(cols)


def normalise(value):
    return "NaN" if isinstance(value, float) and math.isnan(value) else value


def rows(df) -> Counter:
    return Counter(tuple(normalise(v) for v in r) for r in df.collect())


def assert_same(got, want):
    assert got.columns == want.columns
    got_rows, want_rows = rows(got), rows(want)
    assert sum(got_rows.values()) == sum(want_rows.values())
    assert got_rows == want_rows


def check(spark, left, right, lo, ro, how, strategy, nulls_equal=False, **kw):
    kwargs = {"on": lo} if lo == ro else {"left_on": lo, "right_on": ro}
    got = mks.merge(left, right, how=how, strategy=strategy, nulls_equal=nulls_equal, **kwargs, **kw)
    want = spark_oracle(left, right, lo, ro, how, nulls_equal)
    assert_same(got, want)
    return got


@pytest.fixture(scope="module")
def sides(spark):
    cache = {}

    def get(kind="int", **kw):
        key = (kind, tuple(sorted(kw.items())))
        if key not in cache:
            cache[key] = make_sides(spark, kind, **kw)
        return cache[key]

    return get


# ---------------------------------------------------------------------------------------------------------
# Every join type, both strategies, three key kinds; SQL null semantics (the data has null keys)
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("how", "strategy"),
    # An outer join cannot broadcast either side (test_errors checks that it says so).
    [(h, s) for h in HOWS for s in ("shuffle", "broadcast") if (h, s) != ("outer", "broadcast")],
)
def test_every_how_int_keys(spark, sides, how, strategy):
    left, right, lo, ro = sides("int")
    got = check(spark, left, right, lo, ro, how, strategy, buckets=5)
    if how not in ("left_semi", "left_anti", "right_anti"):
        # The shared key has the common type of int and bigint; the other columns keep their own types.
        types = {f.name: f.dataType.simpleString() for f in got.schema}
        assert types == {"k": "bigint", "v_x": "string", "lx": "double", "v_y": "bigint", "ry": "string"}


@pytest.mark.parametrize("kind", ["string", "multi"])
@pytest.mark.parametrize("how", HOWS)
def test_every_how_string_and_multi_keys(spark, sides, how, kind):
    left, right, lo, ro = sides(kind)
    check(spark, left, right, lo, ro, how, "shuffle", buckets=3)


@pytest.mark.parametrize("kind", ["string", "multi"])
@pytest.mark.parametrize("how", ["inner", "left", "right_anti"])
def test_broadcast_string_and_multi_keys(spark, sides, how, kind):
    left, right, lo, ro = sides(kind)
    check(spark, left, right, lo, ro, how, "broadcast")


def test_cross(spark, sides):
    left, right, _, _ = sides("int", n_left=30, n_right=20)
    got = mks.merge(left, right, how="cross")
    assert_same(got, spark_oracle(left, right, [], [], "cross"))
    assert got.columns == ["k_x", "v_x", "lx", "k_y", "v_y", "ry"]


# ---------------------------------------------------------------------------------------------------------
# Null keys with pandas semantics (nulls match nulls, Spark's <=>)
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", HOWS)
def test_nulls_equal_shuffle(spark, sides, how):
    left, right, lo, ro = sides("multi", null_frac=0.2, seed=3)
    check(spark, left, right, lo, ro, how, "shuffle", nulls_equal=True, buckets=4)


@pytest.mark.parametrize("how", ["inner", "left", "left_anti", "right"])
def test_nulls_equal_broadcast(spark, sides, how):
    left, right, lo, ro = sides("int", null_frac=0.2, seed=3)
    check(spark, left, right, lo, ro, how, "broadcast", nulls_equal=True)


# ---------------------------------------------------------------------------------------------------------
# Skew, empty sides, one-sided buckets, batch sizes, shuffle implementations
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["inner", "outer", "left_anti"])
def test_heavily_skewed_key(spark, sides, how):
    # 70% of the rows share key 7: one bucket holds most of the data.
    left, right, lo, ro = sides("int", n_left=600, n_right=300, skew=0.7, seed=5)
    check(spark, left, right, lo, ro, how, "shuffle", buckets=4)


@pytest.mark.parametrize("how", ["left", "outer", "left_anti"])
def test_skewed_partition_over_its_memory_target_is_joined_in_blocks(spark, sides, spark_conf, how):
    # 70% of the rows share one key and the worker's memory target is 16 KiB: the partition holding the hot
    # key is spilled and joined in blocks, with the hot side streamed and (swapped) held in memory. Every
    # join type is covered without Spark in test_spark_blocks.py.
    left, right, lo, ro = sides("int", n_left=900, n_right=300, skew=0.7, seed=6)
    confs = {mks.SHUFFLE_IMPL_CONF: "tagged_union", mks.BUCKET_MEMORY_CONF: "16k"}
    with spark_conf({**confs, "spark.sql.execution.arrow.maxRecordsPerBatch": 100}):
        check(spark, left, right, lo, ro, how, "shuffle", buckets=2)
        check(spark, right, left, ro, lo, how, "shuffle", buckets=2)


@pytest.mark.parametrize("how", ["outer", "left"])
def test_many_null_keys_are_spread(spark, sides, how):
    # Half the keys are null: with SQL semantics these rows match nothing and must all survive the spreading.
    left, right, lo, ro = sides("string", null_frac=0.5, seed=8)
    check(spark, left, right, lo, ro, how, "shuffle", buckets=4)


@pytest.mark.parametrize("empty", ["left", "right", "both"])
@pytest.mark.parametrize("how", ["inner", "left", "right", "outer", "left_anti", "right_anti"])
def test_empty_side_shuffle(spark, sides, how, empty):
    left, right, lo, ro = sides("int")
    if empty in ("left", "both"):
        left = left.limit(0)
    if empty in ("right", "both"):
        right = right.limit(0)
    check(spark, left, right, lo, ro, how, "shuffle", buckets=3)


@pytest.mark.parametrize("how", ["inner", "left", "left_anti", "right"])
def test_empty_side_broadcast(spark, sides, how):
    left, right, lo, ro = sides("int")
    if how == "right":
        left = left.filter("k < 0")  # the broadcast (left) side is empty
    else:
        right = right.filter("k < 0")
    check(spark, left, right, lo, ro, how, "broadcast")


def available_impls():
    return (
        ["arrow_cogroup", "tagged_union", "pandas_cogroup"]
        if mks._has_arrow_cogroup()
        else [
            "tagged_union",
            "pandas_cogroup",
        ]
    )


@pytest.mark.parametrize("impl", available_impls())
def test_one_sided_buckets(spark, spark_conf, impl):
    # 12 distinct keys (2 in common) in 12 buckets: most non-empty buckets exist on one side only and arrive
    # with a 0-row table (or no table) for the other side.
    left = spark.createDataFrame([(i % 6, f"l{i}") for i in range(30)], "k int, a string")
    right = spark.createDataFrame([(4 + i % 8, float(i)) for i in range(40)], "k int, b double")
    from pyspark.sql import functions as F

    def used(df):
        return {r[0] for r in df.select(F.pmod(F.hash("k"), F.lit(12))).distinct().collect()}

    assert used(left) - used(right) and used(right) - used(left)  # one-sided buckets on both sides
    with spark_conf({mks.SHUFFLE_IMPL_CONF: impl}):
        for how in ("outer", "left_anti", "right_anti"):
            check(spark, left, right, ["k"], ["k"], how, "shuffle", buckets=12)


@pytest.mark.parametrize("impl", available_impls())
@pytest.mark.parametrize("how", ["inner", "outer", "left_semi", "right_anti"])
def test_shuffle_implementations(spark, sides, spark_conf, impl, how):
    left, right, lo, ro = sides("multi")
    with spark_conf({mks.SHUFFLE_IMPL_CONF: impl}):
        check(spark, left, right, lo, ro, how, "shuffle", buckets=3)


def test_default_shuffle_implementation(spark):
    # Spark 4.x has the Arrow cogroup; Spark 3.5 (EMR 7.x) must take its fallback.
    assert mks.shuffle_impl(spark) == ("arrow_cogroup" if mks._has_arrow_cogroup() else "tagged_union")


@pytest.mark.parametrize("batch", [1, 7, 10000])
@pytest.mark.parametrize("strategy", ["shuffle", "broadcast"])
def test_batch_sizes(spark, sides, spark_conf, batch, strategy):
    left, right, lo, ro = sides("string")
    # A small broadcast chunk makes the streamed side reach the engine in many chunks too.
    confs = {"spark.sql.execution.arrow.maxRecordsPerBatch": batch, mks.BROADCAST_CHUNK_CONF: 50}
    with spark_conf(confs):
        check(spark, left, right, lo, ro, "left", strategy, buckets=3)
        check(spark, left, right, lo, ro, "inner", strategy, buckets=3)


# ---------------------------------------------------------------------------------------------------------
# Types, names, strategy choice, errors, threads
# ---------------------------------------------------------------------------------------------------------


def test_declared_types_are_kept(spark):
    # Narrow ints and strings: the engine's output (int64 indices, utf8_view strings) must be cast back to
    # exactly these Arrow types, or Spark rejects the batch.
    left = spark.createDataFrame([(1, 2, "a"), (2, 3, "b")], "k tinyint, s smallint, t string")
    right = spark.createDataFrame([(1, 5, "c"), (3, 7, "d")], "k tinyint, i int, u string")
    for strategy in ("shuffle", "broadcast"):
        got = check(spark, left, right, ["k"], ["k"], "left", strategy, buckets=2)
        assert [f.dataType.simpleString() for f in got.schema] == [
            "tinyint",
            "smallint",
            "string",
            "int",
            "string",
        ]
        assert got.toPandas().shape == (2, 5)


def test_join_tables_casts_to_the_declared_schema():
    spec = mks.JoinSpec(
        how="inner",
        left_on=("k",),
        right_on=("k",),
        columns=(mks.OutputColumn("k", "left", "k"), mks.OutputColumn("s", "right", "s")),
        left_schema=pa.schema([("k", pa.int32())]),
        right_schema=pa.schema([("k", pa.int32()), ("s", pa.string())]),
        out_schema=pa.schema([("k", pa.int32()), ("s", pa.string())]),
        nulls_equal=False,
        threads=1,
    )
    left = pa.table({"k": pa.array([1, 2, 2], pa.int32())})
    right = pa.table({"k": pa.array([2, 3], pa.int32()), "s": pa.array(["x", "y"], pa.string_view())})
    out = mks.join_tables(left, right, spec)
    assert out.schema == spec.out_schema
    assert out.to_pylist() == [{"k": 2, "s": "x"}, {"k": 2, "s": "x"}]


def test_custom_suffixes(spark, sides):
    left, right, lo, ro = sides("int")
    got = mks.merge(left, right, on="k", suffixes=("_left", "_right"), strategy="shuffle", buckets=2)
    assert got.columns == ["k", "v_left", "lx", "v_right", "ry"]
    assert_same(got, spark_oracle(left, right, lo, ro, "inner", suffixes=("_left", "_right")))


def test_auto_strategy(spark, sides, spark_conf, tmp_path):
    # Sizes come from Spark's plan statistics, which a file scan has (its file size) and a DataFrame made
    # from a Python list has not (Spark's own join would not broadcast that either).
    left, right, _, _ = sides("int")
    assert mks.choose_strategy(spark, left, right, "inner", "auto") == ("shuffle", None)
    left.write.parquet(str(tmp_path / "l"))
    right.write.parquet(str(tmp_path / "r"))
    left, right = spark.read.parquet(str(tmp_path / "l")), spark.read.parquet(str(tmp_path / "r"))
    assert mks.choose_strategy(spark, left, right, "inner", "auto")[0] == "broadcast"
    assert mks.choose_strategy(spark, left, right, "left", "auto") == ("broadcast", "right")
    assert mks.choose_strategy(spark, left, right, "right", "auto") == ("broadcast", "left")
    assert mks.choose_strategy(spark, left, right, "outer", "auto") == ("shuffle", None)
    with spark_conf({"spark.sql.autoBroadcastJoinThreshold": "-1"}):
        assert mks.choose_strategy(spark, left, right, "inner", "auto") == ("shuffle", None)
        check(spark, left, right, ["k"], ["k"], "left", "auto")
    with spark_conf({"spark.sql.autoBroadcastJoinThreshold": "1"}):  # one byte: nothing is that small
        assert mks.choose_strategy(spark, left, right, "inner", "auto") == ("shuffle", None)


def test_bucket_count(spark):
    assert mks.bucket_count(spark, None) == 4  # spark.sql.shuffle.partitions
    assert mks.bucket_count(spark, 1000) == 2  # small data: one bucket per core
    assert mks.bucket_count(spark, 100 << 30) == math.ceil((100 << 30) / mks.BUCKET_MAX_BYTES)


def test_errors(spark, sides):
    left, right, _, _ = sides("int")
    with pytest.raises(ColumnNotFoundError, match="nope"):
        mks.merge(left, right, on="nope")
    with pytest.raises(KeyError):
        mks.merge(left, right, left_on="k", right_on="nope")
    with pytest.raises(InvalidMergeError, match="how"):
        mks.merge(left, right, on="k", how="sideways")
    with pytest.raises(InvalidMergeError, match="broadcast"):
        mks.merge(left, right, on="k", how="outer", strategy="broadcast")
    with pytest.raises(InvalidMergeError, match="cross"):
        mks.merge(left, right, how="cross", strategy="shuffle")
    with pytest.raises(InvalidMergeError):
        mks.merge(left, right, on="k", left_on="k", right_on="k")
    bad = spark.createDataFrame([(b"x",)], "k binary")
    with pytest.raises(ValueError):
        mks.merge(bad, right, on="k")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"on": "k", "left_on": "k"},
        {"left_on": "k"},
        {"left_on": ["k", "lx"], "right_on": ["k"]},
        {"on": "nope"},
        {"how": "cross", "on": "k"},
        {"on": "k", "suffixes": {"_a", "_b"}},
    ],
)
def test_a_bad_specification_says_what_mergekit_merge_says(spark, sides, kwargs):
    # One resolution layer for every face: the same mistake, the same class and message as on Arrow tables.
    left, right, _, _ = sides("int")
    lt, rt = (pa.table({c: pa.array([], pa.int64()) for c in df.columns}) for df in (left, right))
    with pytest.raises(Exception) as from_merge:
        mergekit.merge(lt, rt, **kwargs)
    with pytest.raises(type(from_merge.value)) as from_spark:
        mks.merge(left, right, **kwargs)
    assert str(from_spark.value) == str(from_merge.value)


def test_rust_threads_follow_task_cpus(spark):
    """Inside a task the engine's pool size is the task's cores (spark.task.cpus, 1 here), whatever the
    driver passed."""

    def probe(batches):
        for b in batches:
            yield pa.record_batch({"threads": pa.array([mks._task_threads(99)] * b.num_rows, pa.int64())})

    got = {r.threads for r in spark.range(4).mapInArrow(probe, "threads long").collect()}
    assert got == {1}
