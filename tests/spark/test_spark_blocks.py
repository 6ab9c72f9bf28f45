"""The block join of a shuffle partition larger than its memory target (mergekit._spark_blocks), without
Spark: a tagged-union partition is fed as a stream of batches, the result is compared with the in-memory join
of the whole partition (and pandas), and no engine call may see the hot key's side whole."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter

import pandas as pd
import pyarrow as pa
import pytest

import mergekit._arrow as marrow
import mergekit.spark as mks
from mergekit import _spark_blocks

pytestmark = pytest.mark.spark

LEFT = pa.schema([("k", pa.int64()), ("a", pa.string())])
RIGHT = pa.schema([("k", pa.int64()), ("b", pa.float64())])


def spec_for(how: str, memory_target: int) -> mks.JoinSpec:
    if how in ("left_semi", "left_anti"):
        columns = tuple(marrow.OutputColumn(n, "left", n) for n in LEFT.names)
    elif how == "right_anti":
        columns = tuple(marrow.OutputColumn(n, "right", n) for n in RIGHT.names)
    else:
        columns = tuple(marrow.plan_columns(LEFT.names, RIGHT.names, ["k"], ["k"], how))
    types = {"left": dict(zip(LEFT.names, LEFT.types)), "right": dict(zip(RIGHT.names, RIGHT.types))}
    out = pa.schema([(c.name, types[c.side][c.source]) for c in columns])
    return mks.JoinSpec(
        how=how, left_on=("k",), right_on=("k",), columns=columns, left_schema=LEFT, right_schema=RIGHT,
        out_schema=out, nulls_equal=False, threads=1, memory_target=memory_target,
    )  # fmt: skip


def tagged_batches(left: pa.Table, right: pa.Table, rows_per_batch: int, seed: int) -> list[pa.RecordBatch]:
    """The two sides as the tagged union delivers them: hash, side, left columns, right columns, shuffled."""
    rng = random.Random(seed)
    rows = [(0, r) for r in left.to_pylist()] + [(1, r) for r in right.to_pylist()]
    rng.shuffle(rows)
    cols: dict[str, list] = {"h": [], "side": [], "l0": [], "l1": [], "r0": [], "r1": []}
    for side, r in rows:
        cols["h"].append(hash(r["k"]) % 1000 - 500 if r["k"] is not None else rng.randrange(-500, 500))
        cols["side"].append(side)
        cols["l0"].append(r["k"] if side == 0 else None)
        cols["l1"].append(r.get("a") if side == 0 else None)
        cols["r0"].append(r["k"] if side == 1 else None)
        cols["r1"].append(r.get("b") if side == 1 else None)
    schema = pa.schema([("h", pa.int32()), ("side", pa.int8()), ("l0", pa.int64()), ("l1", pa.string()),
                        ("r0", pa.int64()), ("r1", pa.float64())])  # fmt: skip
    return pa.table(cols, schema=schema).to_batches(max_chunksize=rows_per_batch)


def sides(seed: int, hot_side: str):
    rng = random.Random(seed)

    def key(hot: bool):
        if rng.random() < 0.05:
            return None
        return 7 if hot and rng.random() < 0.8 else rng.randrange(60)

    left = pa.table({"k": [key(hot_side == "left") for _ in range(3000)],
                     "a": [f"a{i}" for i in range(3000)]}, schema=LEFT)  # fmt: skip
    right = pa.table({"k": [key(hot_side == "right") for _ in range(1000)],
                      "b": [float(i) for i in range(1000)]}, schema=RIGHT)  # fmt: skip
    return left, right


def as_rows(table: pa.Table) -> Counter:
    return Counter(tuple(r.values()) for r in table.to_pylist())


@pytest.mark.parametrize("hot_side", ["left", "right"])
# (A cross join is never shuffled: mergekit.spark.merge broadcasts it.)
@pytest.mark.parametrize("how", [h for h in mks.HOWS if h != "cross"])
def test_block_join_equals_the_in_memory_join(monkeypatch, how, hot_side):
    left, right = sides(1, hot_side)
    target = 8 << 10  # 8 KiB: the partition (about 60 KiB) must spill
    spec = spec_for(how, target)
    want = mks.join_tables(left, right, dataclasses.replace(spec, memory_target=1 << 30))
    hot = left if hot_side == "left" else right

    largest = []
    real = marrow.join_indices

    def probe(lt, rt, *args, **kwargs):
        largest.append(max(lt.num_rows, rt.num_rows))
        return real(lt, rt, *args, **kwargs)

    monkeypatch.setattr(marrow, "join_indices", probe)
    out = list(mks._tagged_partition(spec, iter(tagged_batches(left, right, 64, seed=2))))
    got = pa.Table.from_batches(out, schema=spec.out_schema) if out else spec.out_schema.empty_table()
    assert got.schema == spec.out_schema
    assert as_rows(got) == as_rows(want)
    # The engine never got the hot side whole: the partition was split into sub-buckets and blocks.
    assert largest and max(largest) < hot.num_rows // 2


def test_in_memory_partition_is_joined_whole(monkeypatch):
    left, right = sides(3, "left")
    spec = spec_for("inner", 1 << 30)
    monkeypatch.setattr(_spark_blocks, "SpilledPartition", None)  # spilling would fail loudly
    out = list(mks._tagged_partition(spec, iter(tagged_batches(left, right, 500, seed=4))))
    got = pa.Table.from_batches(out)
    want = pd.merge(left.to_pandas().dropna(subset=["k"]), right.to_pandas().dropna(subset=["k"]), on="k")
    assert got.num_rows == len(want)
