"""``mergekit.spark.merge``: the Rust join inside Spark executors.

Two strategies, like Spark's own planner:

* ``shuffle``: both sides get a hash of their keys (cast to one common Spark type first, because Spark's
  ``hash`` of an int and of a bigint differ), rows are shuffled into ``N`` buckets by it, and every bucket
  pair is joined by the Rust engine in a Python worker. Spark 4.x: ``groupBy(bucket).cogroup(...)
  .applyInArrow``. Spark 3.5 (Amazon EMR 7.x) has no Arrow cogroup; there the two sides are tagged, unioned,
  ``repartition``-ed by the hash and joined partition by partition in ``mapInArrow`` (measured faster than the
  other fallback, ``applyInPandas`` cogroup, which still exists: see ``SHUFFLE_IMPL_CONF``).
* ``broadcast``: the small side is collected once, sent to the executors as Arrow IPC bytes in a Spark
  broadcast, parsed once per Python worker process (Spark reuses workers across tasks), and the other side
  streams through ``mapInArrow`` in chunks.

Output columns (documented in docs/spark.md):

* ``inner``/``left``/``right``/``outer``/``cross``: left columns then right columns. A key with the same name
  on both sides appears once (like Spark's ``join(on=[names])``; for ``right``/``outer`` it holds the right
  value where the left side has no row). Any other name present on both sides gets ``suffixes``.
* ``left_semi``/``left_anti``: the left columns only, as in Spark. ``right_anti``: the right columns only
  (Spark has no right anti join; it is ``right.join(left, how="left_anti")``).
* Key columns are cast to their common Spark type (what Spark's own join compares them as); every output
  column is nullable.

Null keys follow SQL (a null key matches nothing) unless ``nulls_equal=True`` (pandas: nulls match nulls,
Spark's ``<=>``). With SQL semantics, rows with a null key never meet a partner, so they are dropped before
the shuffle where the join type cannot output them, and otherwise spread over all buckets by a hash of the
whole row instead of piling into the one bucket of ``hash(NULL)``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np
import pyarrow as pa

from mergekit import _arrow, _resolve, _vocab
from mergekit._arrow import OutputColumn
from mergekit.exceptions import InvalidMergeError, KeyTypeMismatchError

HOWS = _vocab.JOIN_KINDS
STRATEGIES = _vocab.SPARK_STRATEGIES

#: Spark conf that picks the shuffle implementation: ``arrow_cogroup`` (Spark 4.x only), ``tagged_union``
#: (union + repartition + mapInArrow) or ``pandas_cogroup`` (applyInPandas). Unset: ``arrow_cogroup`` where
#: it exists, else ``tagged_union``.
SHUFFLE_IMPL_CONF = "spark.mergekit.shuffleImpl"
SHUFFLE_IMPLS = ("arrow_cogroup", "tagged_union", "pandas_cogroup")
#: Spark conf: the fewest streamed rows a broadcast join hands the engine at once (default: at least
#: 262,144 and twice the small side, at most 4,194,304).
BROADCAST_CHUNK_CONF = "spark.mergekit.broadcastChunkRows"

#: Spark conf: the most bytes of shuffled input a Python worker holds in memory for one partition of the
#: streaming shuffle (``tagged_union``). A larger partition (a hot key, or too few buckets) is spilled to the
#: worker's local directories and joined in blocks (see ``_tagged_partition``). Default: half of
#: ``spark.executor.pyspark.memory`` where that is set, else ``BUCKET_MAX_BYTES``.
BUCKET_MEMORY_CONF = "spark.mergekit.bucketMemoryBytes"

#: Bytes of input per bucket that the automatic bucket count aims for, and the most it allows: a bucket is
#: materialised in one Python worker, so it must fit in that worker's memory.
BUCKET_TARGET_BYTES = 64 << 20
BUCKET_MAX_BYTES = 512 << 20

# Helper column names; unlikely to clash with user columns.
_HASH = "__mergekit_hash"
_BUCKET = "__mergekit_bucket"
_SIDE = "__mergekit_side"

# Which side may be broadcast for each join type: only a side whose unmatched rows are not part of the output,
# so that each streamed chunk can be joined on its own (Spark's rule for its broadcast hash join).
_BROADCASTABLE = {
    "inner": ("right", "left"),
    "cross": ("right", "left"),
    "left": ("right",),
    "left_semi": ("right",),
    "left_anti": ("right",),
    "right": ("left",),
    "right_anti": ("left",),
    "outer": (),
}
# With SQL null semantics a null-key row of this side can never appear in the output of that join type.
_DROP_NULL_KEYS = {
    "left": {"inner", "left_semi", "right", "right_anti"},
    "right": {"inner", "left", "left_semi", "left_anti"},
}


@dataclass(frozen=True)
class JoinSpec:
    """Everything an executor needs to join two Arrow tables; pickled into the Spark tasks."""

    how: str
    left_on: tuple[str, ...]
    right_on: tuple[str, ...]
    columns: tuple[OutputColumn, ...]
    left_schema: pa.Schema
    right_schema: pa.Schema
    out_schema: pa.Schema
    nulls_equal: bool
    threads: int
    memory_target: int = 512 << 20


# --------------------------------------------------------------------------------------------------------
# Executor side
# --------------------------------------------------------------------------------------------------------


def _task_threads(default: int) -> int:
    """The Rust pool size for this task: the cores Spark gave it (``spark.task.cpus``), so that concurrent
    tasks in one executor do not oversubscribe its cores."""
    try:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        if ctx is not None:
            return max(1, int(ctx.cpus()))
    except Exception:  # TaskContext.cpus() is missing on old Spark lines; the driver's value is fine
        pass
    return max(1, default)


def join_tables(left: pa.Table, right: pa.Table, spec: JoinSpec) -> pa.Table:
    """Join two Arrow tables (one bucket pair, or a streamed chunk and the broadcast side) with the engine
    and return exactly ``spec.out_schema``."""
    li, ri = _pairs(left, right, spec, spec.how)
    return _output(left, right, li, ri, spec)


def _pairs(left: pa.Table, right: pa.Table, spec: JoinSpec, how: str) -> tuple[np.ndarray, np.ndarray]:
    """The engine's row-index pairs for ``how`` (-1 where a side has no row)."""
    if how == "cross":
        # Pairs are trivial here, and the engine is not needed to enumerate them.
        li = np.repeat(np.arange(left.num_rows, dtype=np.int64), right.num_rows)
        ri = np.tile(np.arange(right.num_rows, dtype=np.int64), left.num_rows)
        return li, ri
    return _arrow.join_indices(
        left,
        right,
        spec.left_on,
        spec.right_on,
        how,
        nulls_equal=spec.nulls_equal,
        threads=_task_threads(spec.threads),
    )


def _output(left: pa.Table, right: pa.Table, li: np.ndarray, ri: np.ndarray, spec: JoinSpec) -> pa.Table:
    """The output rows of index pairs, exactly ``spec.out_schema``."""
    threads = _task_threads(spec.threads)
    arrays = []
    taken: dict[tuple[str, str], Any] = {}
    for side, table, idx in (("left", left, li), ("right", right, ri)):
        cols = [c.source for c in spec.columns if c.side == side and c.coalesce_from is None]
        if cols:
            t = _arrow._take(table.select(cols), idx, threads)
            taken.update({(side, n): t.column(n) for n in cols})
    for c in spec.columns:
        if c.coalesce_from is not None:
            taken[(c.side, c.source)] = _arrow._coalesced_key(left, right, c, li, ri, threads)
    for c, field in zip(spec.columns, spec.out_schema):
        col = taken[(c.side, c.source)]
        # Spark does not cast what an Arrow UDF returns: the engine's utf8_view or a wider int must become
        # exactly the declared type.
        if col.type != field.type:
            col = _cast(col, field.type)
        arrays.append(col)
    return pa.Table.from_arrays(arrays, schema=spec.out_schema)


def _cast(col: pa.ChunkedArray, to: pa.DataType) -> pa.ChunkedArray:
    try:
        return col.cast(to)
    except pa.ArrowNotImplementedError:
        # pyarrow before 18 (what Spark 3.5 pins) cannot cast string_view to utf8: go through Python objects.
        return pa.chunked_array([pa.array(c.to_pylist(), type=to) for c in col.chunks], type=to)


def _as_side(table: Optional[pa.Table], schema: pa.Schema) -> pa.Table:
    """One side as it arrives in a worker, without mergekit's helper columns. A bucket present on one side
    only arrives with a 0-row (sometimes 0-column) table for the other side."""
    if table is None or table.num_rows == 0:
        return schema.empty_table()
    return table.select(schema.names)


def _cogroup_arrow(spec: JoinSpec, left: pa.Table, right: pa.Table) -> pa.Table:
    return join_tables(_as_side(left, spec.left_schema), _as_side(right, spec.right_schema), spec)


def _pandas_to_arrow(pdf, schema: pa.Schema) -> pa.Table:
    if len(pdf) == 0:
        return schema.empty_table()
    return pa.Table.from_pandas(pdf[schema.names], schema=schema, preserve_index=False)


def _cogroup_pandas(spec: JoinSpec, left, right):
    import pandas as pd

    out = join_tables(
        _pandas_to_arrow(left, spec.left_schema), _pandas_to_arrow(right, spec.right_schema), spec
    )
    # Python ints (not float64) where an int column has nulls: float64 would round ids above 2**53, and
    # pandas' nullable Int64 arrays do not convert back on every Spark line.
    pdf = out.to_pandas(integer_object_nulls=True)
    # pandas 3 makes Arrow-backed ``str`` columns, which pyspark's pandas converter does not accept yet.
    for name in [n for n, t in pdf.dtypes.items() if isinstance(t, pd.StringDtype)]:
        pdf[name] = pdf[name].astype(object)
    return pdf


def _tagged_partition(spec: JoinSpec, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """One shuffle partition of the tagged union: every row of each bucket in it, from both sides. Held in
    memory up to ``spec.memory_target`` bytes; a larger partition is spilled and joined in blocks."""
    from mergekit import _spark_blocks

    held: list[pa.RecordBatch] = []
    size = 0
    spill = None
    for batch in batches:
        if batch.num_rows == 0:
            continue
        if spill is not None:
            spill.add(batch)
            continue
        held.append(batch)
        size += batch.nbytes
        if size > spec.memory_target:
            spill = _spark_blocks.SpilledPartition(spec)
            for b in held:
                spill.add(b)
            held = []
    if spill is not None:
        for table in spill.join():
            yield from table.to_batches(max_chunksize=1 << 16)
        return
    if not held:
        return
    lt, rt = _spark_blocks.split_sides(pa.Table.from_batches(held), spec)
    del held
    yield from join_tables(lt, rt, spec).to_batches(max_chunksize=1 << 16)


# Prepared broadcast sides, per Python worker process: Spark reuses a worker across tasks
# (spark.python.worker.reuse), so the IPC bytes are parsed once per process, not once per task.
_PREPARED: dict[int, pa.Table] = {}


def _prepared_side(bc_id: int, bc) -> pa.Table:
    table = _PREPARED.get(bc_id)
    if table is None:
        with pa.ipc.open_stream(pa.py_buffer(bc.value)) as reader:
            table = reader.read_all().combine_chunks()
        if len(_PREPARED) >= 2:  # keep memory bounded when a worker serves many joins
            _PREPARED.pop(next(iter(_PREPARED)))
        _PREPARED[bc_id] = table
    return table


def _broadcast_partition(
    spec: JoinSpec, bc_id: int, bc, small_is_left: bool, chunk_rows: int, batches: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    small = _prepared_side(bc_id, bc)
    big_schema = spec.right_schema if small_is_left else spec.left_schema
    # The engine builds its hash table per call, so streamed batches (spark.sql.execution.arrow.
    # maxRecordsPerBatch rows, 10,000 by default) are gathered into chunks at least as large as the small
    # side before each call; memory stays bounded by the chunk size.
    pending: list[pa.RecordBatch] = []
    rows = 0

    def flush() -> Iterator[pa.RecordBatch]:
        chunk = _as_side(pa.Table.from_batches(pending), big_schema)
        pending.clear()
        out = join_tables(small, chunk, spec) if small_is_left else join_tables(chunk, small, spec)
        yield from out.to_batches(max_chunksize=1 << 16)

    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        rows += batch.num_rows
        if rows >= chunk_rows:
            yield from flush()
            rows = 0
    if pending:
        yield from flush()


# --------------------------------------------------------------------------------------------------------
# Driver side
# --------------------------------------------------------------------------------------------------------


def _common_type(spark, lt, rt):
    """The type Spark would compare two key types as (its own coercion rules, asked of the analyzer)."""
    if lt == rt:
        return lt
    from pyspark.sql import functions as F

    try:
        probe = spark.range(0).select(F.coalesce(F.lit(None).cast(lt), F.lit(None).cast(rt)).alias("t"))
        return probe.schema["t"].dataType
    except Exception as e:
        raise KeyTypeMismatchError(
            f"key types {lt.simpleString()} and {rt.simpleString()} have no common type"
        ) from e


def _arrow_schema(struct, large_types: bool) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema

    try:
        return to_arrow_schema(struct, prefers_large_types=large_types)
    except TypeError:  # Spark 3.5: no large-type option, always plain utf8/binary
        return to_arrow_schema(struct)


def _conf(spark, key: str, default: Optional[str] = None) -> Optional[str]:
    try:
        return spark.conf.get(key, default)
    except Exception:
        return default


def _parse_bytes(text: Optional[str]) -> Optional[int]:
    """Spark byte-size strings: ``10485760``, ``10485760b``, ``10MB``, ``-1``."""
    if text is None:
        return None
    s = text.strip().lower()
    units = {"b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30}
    for suffix in sorted(units, key=len, reverse=True):
        if s.endswith(suffix) and s[: -len(suffix)].strip().lstrip("-").isdigit():
            return int(s[: -len(suffix)]) * units[suffix]
    return int(s) if s.lstrip("-").isdigit() else None


def estimated_size(df) -> Optional[int]:
    """Spark's own estimate of a DataFrame's size in bytes (the number its broadcast threshold is compared
    with), or None where it has none (Spark Connect, an unknown plan)."""
    try:
        size = int(str(df._jdf.queryExecution().optimizedPlan().stats().sizeInBytes()))
    except Exception:
        return None
    return size if 0 <= size < (1 << 62) else None


def _has_arrow_cogroup() -> bool:
    from pyspark.sql.pandas.group_ops import PandasCogroupedOps

    return hasattr(PandasCogroupedOps, "applyInArrow")


def shuffle_impl(spark) -> str:
    """The shuffle implementation this session uses (see ``SHUFFLE_IMPL_CONF``)."""
    impl = _conf(spark, SHUFFLE_IMPL_CONF)
    if impl in (None, ""):
        return "arrow_cogroup" if _has_arrow_cogroup() else "tagged_union"
    if impl not in SHUFFLE_IMPLS:
        raise ValueError(f"{SHUFFLE_IMPL_CONF} must be one of {SHUFFLE_IMPLS}, not {impl!r}")
    if impl == "arrow_cogroup" and not _has_arrow_cogroup():
        raise ValueError("arrow_cogroup needs Spark 4.0 or newer (cogroup().applyInArrow)")
    return impl


def bucket_count(spark, size_bytes: Optional[int]) -> int:
    """Buckets for a shuffle join of ``size_bytes`` of input: enough for every core of the cluster, up to
    ``spark.sql.shuffle.partitions`` while the data is small (each bucket pair costs one Python call and
    a small fixed overhead), and more whenever a bucket would exceed ``BUCKET_MAX_BYTES``."""
    partitions = int(_conf(spark, "spark.sql.shuffle.partitions", "200") or "200")
    parallelism = spark.sparkContext.defaultParallelism
    if size_bytes is None:
        return max(1, partitions)
    n = min(partitions, max(parallelism, math.ceil(size_bytes / BUCKET_TARGET_BYTES)))
    return max(1, n, math.ceil(size_bytes / BUCKET_MAX_BYTES))


def choose_strategy(spark, left, right, how: str, strategy: str) -> tuple[str, Optional[str]]:
    """(strategy, broadcast side or None). ``auto`` broadcasts a side Spark estimates below
    ``spark.sql.autoBroadcastJoinThreshold`` when the join type allows it; a cross join always broadcasts."""
    sides = _BROADCASTABLE[how]
    sizes = {"left": estimated_size(left), "right": estimated_size(right)}
    known_sizes = {s: size for s, size in sizes.items() if size is not None}

    def smallest() -> Optional[str]:
        known = [s for s in sides if s in known_sizes]
        return min(known, key=known_sizes.__getitem__) if known else (sides[0] if sides else None)

    if strategy == "broadcast" or how == "cross":
        if not sides:
            raise InvalidMergeError(
                f"how={how!r} keeps unmatched rows of both sides, so neither side can be broadcast; "
                "use strategy='shuffle'"
            )
        if strategy == "shuffle":
            raise InvalidMergeError("a cross join has no keys to shuffle on; use strategy='broadcast'")
        return "broadcast", smallest()
    if strategy == "shuffle":
        return "shuffle", None
    threshold = _parse_bytes(_conf(spark, "spark.sql.autoBroadcastJoinThreshold", "10485760"))
    side = smallest()
    size = known_sizes.get(side) if side is not None else None
    if side is not None and size is not None and threshold is not None and 0 <= size <= threshold:
        return "broadcast", side
    return "shuffle", None


def merge(
    left,
    right,
    on: Union[str, Sequence[str], None] = None,
    left_on: Union[str, Sequence[str], None] = None,
    right_on: Union[str, Sequence[str], None] = None,
    how: str = "inner",
    suffixes: tuple[Optional[str], Optional[str]] = ("_x", "_y"),
    strategy: str = "auto",
    buckets: Optional[int] = None,
    nulls_equal: bool = False,
):
    """Join two Spark DataFrames with mergekit's Rust engine running in the executors.

    ``how``: inner, left, right, outer, cross, left_semi, left_anti, right_anti. ``strategy``: auto, shuffle,
    broadcast. ``buckets``: the number of hash buckets of a shuffle join (default: from the data size and
    ``spark.sql.shuffle.partitions``, see ``bucket_count``). ``nulls_equal``: False is SQL (a null key matches
    nothing), True is pandas (null keys match each other, Spark's ``<=>``). Returns a Spark DataFrame whose
    columns are described in this module's docstring.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructField, StructType

    _resolve.join_kind(how, HOWS, "mergekit.spark.merge")
    if strategy not in STRATEGIES:
        raise InvalidMergeError(f"strategy must be one of {STRATEGIES}, not {strategy!r}")
    if buckets is not None and int(buckets) < 1:
        raise InvalidMergeError("buckets must be a positive integer")
    spark = left.sparkSession
    lo, ro = _resolve.key_columns(left.columns, right.columns, how, on, left_on, right_on)
    suffixes = _resolve.suffixes(suffixes)

    # One common type per key pair, cast in Spark, so that both sides hash (and compare) alike.
    for lk, rk in zip(lo, ro):
        lt, rt = left.schema[lk].dataType, right.schema[rk].dataType
        common = _common_type(spark, lt, rt)
        if lt != common:
            left = left.withColumn(lk, F.col(lk).cast(common))
        if rt != common:
            right = right.withColumn(rk, F.col(rk).cast(common))

    if how in _vocab.LEFT_ONLY:
        columns = tuple(OutputColumn(n, "left", n) for n in left.columns)
    elif how == "right_anti":
        columns = tuple(OutputColumn(n, "right", n) for n in right.columns)
    else:
        columns = tuple(_arrow.plan_columns(left.columns, right.columns, lo, ro, how, suffixes))
    types = {
        "left": {f.name: f.dataType for f in left.schema},
        "right": {f.name: f.dataType for f in right.schema},
    }
    out_struct = StructType([StructField(c.name, types[c.side][c.source], True) for c in columns])

    if not nulls_equal and how != "cross":
        for side_name in ("left", "right"):
            if how in _DROP_NULL_KEYS[side_name]:
                df, keys = (left, lo) if side_name == "left" else (right, ro)
                cond = functools.reduce(lambda a, b: a & b, [F.col(k).isNotNull() for k in keys])
                if side_name == "left":
                    left = df.filter(cond)
                else:
                    right = df.filter(cond)

    chosen, small_side = choose_strategy(spark, left, right, how, strategy)
    large = (_conf(spark, "spark.sql.execution.arrow.useLargeVarTypes", "false") or "").lower() == "true"
    cpus = int(spark.sparkContext.getConf().get("spark.task.cpus", "1"))
    memory_target = _parse_bytes(_conf(spark, BUCKET_MEMORY_CONF))
    if memory_target is None:
        python_memory = _parse_bytes(spark.sparkContext.getConf().get("spark.executor.pyspark.memory", None))
        memory_target = python_memory // 2 if python_memory else BUCKET_MAX_BYTES
    spec = JoinSpec(
        how=how,
        left_on=tuple(lo),
        right_on=tuple(ro),
        columns=columns,
        left_schema=_arrow_schema(left.schema, large),
        right_schema=_arrow_schema(right.schema, large),
        out_schema=_arrow_schema(out_struct, large),
        nulls_equal=bool(nulls_equal),
        threads=cpus,
        memory_target=max(1, memory_target),
    )
    if chosen == "broadcast":
        assert small_side is not None  # choose_strategy names a side whenever it broadcasts
        return _broadcast_join(spark, left, right, spec, small_side, out_struct)
    return _shuffle_join(spark, left, right, spec, out_struct, buckets)


def _broadcast_join(spark, left, right, spec: JoinSpec, small_side: str, out_struct):
    small_df, big_df = (left, right) if small_side == "left" else (right, left)
    schema = spec.left_schema if small_side == "left" else spec.right_schema
    batches = small_df._collect_as_arrow()
    table = pa.Table.from_batches(batches) if batches else schema.empty_table()
    if table.schema != schema:
        table = table.cast(schema)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_table(table)
    bc = spark.sparkContext.broadcast(sink.getvalue().to_pybytes())
    chunk_rows = int(_conf(spark, BROADCAST_CHUNK_CONF, "0") or 0) or min(
        max(1 << 18, 2 * table.num_rows), 1 << 22
    )
    # The id is read here because a Broadcast unpickled in a worker no longer knows it.
    bc_id = int(bc._jbroadcast.id())
    fn = functools.partial(_broadcast_partition, spec, bc_id, bc, small_side == "left", chunk_rows)
    return big_df.mapInArrow(fn, out_struct)


def _bucket_hash(df, keys: Sequence[str], spread_null_keys: bool):
    """The int hash of the keys; with SQL semantics a row with a null key matches nothing, so it may go
    to any bucket, and a hash of the whole row spreads such rows instead of sending them all to
    ``hash(NULL)``'s bucket."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import MapType

    key_hash = F.hash(*[F.col(k) for k in keys])
    if not spread_null_keys:
        return key_hash
    hashable = [F.col(f.name) for f in df.schema if not isinstance(f.dataType, MapType)]
    any_null = functools.reduce(lambda a, b: a | b, [F.col(k).isNull() for k in keys])
    return F.when(any_null, F.hash(*hashable)).otherwise(key_hash)


def _shuffle_join(spark, left, right, spec: JoinSpec, out_struct, buckets: Optional[int]):
    from pyspark.sql import functions as F

    if buckets is None:
        left_size, right_size = estimated_size(left), estimated_size(right)
        total = None if left_size is None or right_size is None else left_size + right_size
        buckets = bucket_count(spark, total)
    n = int(buckets)
    impl = shuffle_impl(spark)
    spread = not spec.nulls_equal
    lh = _bucket_hash(left, spec.left_on, spread)
    rh = _bucket_hash(right, spec.right_on, spread)
    if impl == "tagged_union":
        lw = left.select(
            lh.alias(_HASH),
            F.lit(0).cast("byte").alias(_SIDE),
            *[F.col(c).alias(f"l{i}") for i, c in enumerate(left.columns)],
            *[F.lit(None).cast(f.dataType).alias(f"r{j}") for j, f in enumerate(right.schema)],
        )
        rw = right.select(
            rh.alias(_HASH),
            F.lit(1).cast("byte").alias(_SIDE),
            *[F.lit(None).cast(f.dataType).alias(f"l{i}") for i, f in enumerate(left.schema)],
            *[F.col(c).alias(f"r{j}") for j, c in enumerate(right.columns)],
        )
        # repartition(n, hash) puts rows with equal keys in one partition: the partition is the bucket.
        union = lw.unionAll(rw).repartition(n, _HASH)
        return union.mapInArrow(functools.partial(_tagged_partition, spec), out_struct)
    lb = left.withColumn(_BUCKET, F.pmod(lh, F.lit(n)))
    rb = right.withColumn(_BUCKET, F.pmod(rh, F.lit(n)))
    grouped = lb.groupBy(_BUCKET).cogroup(rb.groupBy(_BUCKET))
    if impl == "arrow_cogroup":
        return grouped.applyInArrow(functools.partial(_cogroup_arrow, spec), out_struct)
    return grouped.applyInPandas(functools.partial(_cogroup_pandas, spec), out_struct)


__all__ = [
    "BROADCAST_CHUNK_CONF",
    "HOWS",
    "SHUFFLE_IMPL_CONF",
    "STRATEGIES",
    "JoinSpec",
    "join_tables",
    "merge",
]
