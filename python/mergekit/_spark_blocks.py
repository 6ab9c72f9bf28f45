"""A shuffle partition larger than a Python worker's memory target, joined in blocks.

The streaming shuffle (``tagged_union``) hands a worker its partition as a stream of record batches, each row
tagged with its side and carrying Spark's hash of its key. While the partition stays under the memory target
it is joined in memory. Past the target, every batch is split by side and by sub-bucket (the key hash modulo
``SUB_BUCKETS``) and appended to Arrow IPC files in the worker's local directory; each sub-bucket is then
joined with its smaller side in memory and the larger side streamed through the engine in blocks of at most
half the target. A hot key stays in one sub-bucket, but only its smaller side has to fit: the side that holds
most of its rows is never loaded whole. Where the join type outputs the unmatched rows of the side held in
memory (an outer join, or a left join whose left side is the smaller), a mask of its matched rows is carried
across the blocks and its unmatched rows are output at the end.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING, Optional

import numpy as np
import pyarrow as pa

from mergekit import _arrow

if TYPE_CHECKING:
    from mergekit.spark import JoinSpec

#: Sub-buckets a spilled partition is split into (by the key hash), so that a partition too large because it
#: holds many keys (too few buckets) has sub-buckets whose smaller side fits.
SUB_BUCKETS = 16

# Which sides' unmatched rows each join type outputs.
_KEEPS_UNMATCHED = {
    "inner": (),
    "cross": (),
    "left": ("left",),
    "right": ("right",),
    "outer": ("left", "right"),
    "left_semi": (),
    "left_anti": (),
    "right_anti": (),
}
# Join types whose output is one side's columns only.
_ONE_SIDE = {"left_semi": "left", "left_anti": "left", "right_anti": "right"}

# A tagged-union row: the key hash, the side tag (0 left, 1 right), the left columns, the right ones.
HASH_COLUMN = 0
SIDE_COLUMN = 1


def split_sides(batch, spec: JoinSpec) -> tuple[pa.Table, pa.Table]:
    """A tagged-union table or batch as its left rows and its right rows, each with that side's schema."""
    import pyarrow.compute as pc

    t = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    side = t.column(SIDE_COLUMN)
    nl, nr = len(spec.left_schema), len(spec.right_schema)
    lt = t.filter(pc.equal(side, 0)).select(list(range(2, 2 + nl))).rename_columns(spec.left_schema.names)
    rt = t.filter(pc.equal(side, 1)).select(list(range(2 + nl, 2 + nl + nr)))
    return lt, rt.rename_columns(spec.right_schema.names)


def _local_dir() -> Optional[str]:
    # Spark gives its Python workers the executor's local directories (the disks meant for spills).
    dirs = [d for d in os.environ.get("SPARK_LOCAL_DIRS", "").split(",") if d and os.path.isdir(d)]
    return dirs[0] if dirs else None


class SpilledPartition:
    """Arrow IPC files, one per side and sub-bucket, that a partition's batches are appended to."""

    def __init__(self, spec: JoinSpec):
        self.spec = spec
        self._dir = tempfile.TemporaryDirectory(prefix="mergekit-spill-", dir=_local_dir())
        self._writers: dict[tuple[int, int], pa.ipc.RecordBatchFileWriter] = {}
        self.bytes: dict[tuple[int, int], int] = {}

    def path(self, side: int, sub: int) -> str:
        return os.path.join(self._dir.name, f"side{side}-sub{sub}.arrow")

    def add(self, batch: pa.RecordBatch) -> None:
        h = batch.column(HASH_COLUMN).to_numpy(zero_copy_only=False).astype(np.int64)
        side = batch.column(SIDE_COLUMN).to_numpy(zero_copy_only=False).astype(np.int64)
        code = (h % SUB_BUCKETS) * 2 + side
        order = np.argsort(code, kind="stable")
        counts = np.bincount(code, minlength=2 * SUB_BUCKETS)
        lt, rt = split_sides(batch.take(pa.array(order)), self.spec)
        # After the sort each side's rows are grouped by sub-bucket, in sub-bucket order.
        offsets = {0: 0, 1: 0}
        for sub in range(SUB_BUCKETS):
            for s, table in ((0, lt), (1, rt)):
                n = int(counts[2 * sub + s])
                if n:
                    self._write(s, sub, table.slice(offsets[s], n))
                    offsets[s] += n

    def _write(self, side: int, sub: int, table: pa.Table) -> None:
        writer = self._writers.get((side, sub))
        if writer is None:
            schema = self.spec.left_schema if side == 0 else self.spec.right_schema
            writer = pa.ipc.new_file(self.path(side, sub), schema)
            self._writers[(side, sub)] = writer
        writer.write_table(table)
        self.bytes[(side, sub)] = self.bytes.get((side, sub), 0) + table.nbytes

    def join(self) -> Iterator[pa.Table]:
        """Close the files and join sub-bucket by sub-bucket; the files are removed at the end."""
        try:
            for writer in self._writers.values():
                writer.close()
            for sub in range(SUB_BUCKETS):
                lbytes, rbytes = self.bytes.get((0, sub), 0), self.bytes.get((1, sub), 0)
                if lbytes == 0 and rbytes == 0:
                    continue
                build_is_left = lbytes <= rbytes
                build_side, probe_side = (0, 1) if build_is_left else (1, 0)
                build = self._read_all(build_side, sub)
                yield from block_join(self.spec, build, build_is_left, self._blocks(probe_side, sub))
        finally:
            self._dir.cleanup()

    def _schema(self, side: int) -> pa.Schema:
        return self.spec.left_schema if side == 0 else self.spec.right_schema

    def _read_all(self, side: int, sub: int) -> pa.Table:
        if (side, sub) not in self.bytes:
            return self._schema(side).empty_table()
        with pa.memory_map(self.path(side, sub)) as source:
            return pa.ipc.open_file(source).read_all()

    def _blocks(self, side: int, sub: int) -> Iterator[pa.Table]:
        """The side's rows in blocks of at most about half the memory target."""
        if (side, sub) not in self.bytes:
            return
        limit = max(1, self.spec.memory_target // 2)
        with pa.memory_map(self.path(side, sub)) as source:
            reader = pa.ipc.open_file(source)
            pending: list[pa.RecordBatch] = []
            size = 0
            for i in range(reader.num_record_batches):
                batch = reader.get_batch(i)
                pending.append(batch)
                size += batch.nbytes
                if size >= limit:
                    yield pa.Table.from_batches(pending, schema=self._schema(side))
                    pending, size = [], 0
            if pending:
                yield pa.Table.from_batches(pending, schema=self._schema(side))


def block_join(spec: JoinSpec, build: pa.Table, build_is_left: bool, blocks: Iterator[pa.Table]):
    """Join ``build`` (held in memory) with the other side arriving in ``blocks``; yields output tables."""
    from mergekit.spark import _output, _pairs

    how = spec.how
    build_side = "left" if build_is_left else "right"
    probe_side = "right" if build_is_left else "left"
    probe_schema = spec.right_schema if build_is_left else spec.left_schema

    def sides(block: pa.Table) -> tuple[pa.Table, pa.Table]:
        return (build, block) if build_is_left else (block, build)

    only = _ONE_SIDE.get(how)
    if only is None and build_side not in _KEEPS_UNMATCHED[how]:
        # Every output row depends on one block only: join block by block.
        for block in blocks:
            left, right = sides(block)
            yield _output(left, right, *_pairs(left, right, spec, how), spec)
        return

    matched = np.zeros(build.num_rows, dtype=bool)
    if only == probe_side:
        # A semi or anti join that outputs the streamed side: each block on its own again.
        for block in blocks:
            left, right = sides(block)
            yield _output(left, right, *_pairs(left, right, spec, how), spec)
        return
    if only == build_side:
        # The output is the build side's rows that do (semi) or do not (anti) match any block.
        build_on, probe_on = (spec.left_on, spec.right_on) if build_is_left else (spec.right_on, spec.left_on)
        for block in blocks:
            hit, _ = _arrow.join_indices(
                build, block, build_on, probe_on, "left_semi", nulls_equal=spec.nulls_equal
            )
            matched[hit[hit >= 0]] = True
        rows = np.flatnonzero(matched if how == "left_semi" else ~matched)
    else:
        # An outer-type join that outputs the build side's unmatched rows: per block the pairs (and the
        # block's own unmatched rows where the join keeps them), the build side's unmatched rows at the end.
        per_block = probe_side if probe_side in _KEEPS_UNMATCHED[how] else "inner"
        for block in blocks:
            left, right = sides(block)
            li, ri = _pairs(left, right, spec, per_block)
            b = li if build_is_left else ri
            matched[b[b >= 0]] = True
            yield _output(left, right, li, ri, spec)
        rows = np.flatnonzero(~matched)
    none = np.full(len(rows), -1, dtype=np.int64)
    left, right = sides(probe_schema.empty_table())
    li, ri = (rows, none) if build_is_left else (none, rows)
    yield _output(left, right, li.astype(np.int64), ri, spec)
