"""mergekit.join_files (out of core) against the in-memory merge (mergekit._arrow.merge_tables)."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from files_helpers import make_skewed_files, rows_of, skewed_sides, write_tsv

import mergekit
from mergekit._arrow import merge_tables
from mergekit.exceptions import (
    ColumnNotFoundError,
    InputFormatError,
    InputIOError,
    InvalidArgumentError,
    InvalidMergeError,
)

pytestmark = pytest.mark.files

HOWS = ["inner", "left", "right", "outer", "left_semi", "left_anti", "right_anti"]


def oracle(lp, rp, on, how, sep="\t"):
    left = mergekit.read_csv(lp, sep=sep)
    right = mergekit.read_csv(rp, sep=sep)
    on = [on] if isinstance(on, str) else on
    return merge_tables(left, right, on, on, how)


def read_output(path, sep="\t"):
    if str(path).endswith(".parquet"):
        return pq.read_table(path)
    return mergekit.read_csv(path, sep=sep)


@pytest.mark.parametrize("how", HOWS)
def test_spilled_join_with_skewed_key_equals_in_memory_merge(tmp_path, how):
    lp, rp = make_skewed_files(tmp_path)
    out = tmp_path / "out.tsv"
    spill = tmp_path / "spill"
    spill.mkdir()
    s = mergekit.join_files(lp, rp, out, on="ID", how=how, memory_limit="1MB", temp_dir=spill, threads=2)
    want = oracle(lp, rp, "ID", how)
    got = read_output(out)
    assert got.column_names == want.column_names
    assert rows_of(got) == rows_of(want)
    assert s.rows_written == want.num_rows
    assert (s.rows_left, s.rows_right) == (20_000, 12_000)
    # The budget forced spilling, a second partition level, and a block join for the heavy key.
    assert s.spilled and s.spill_bytes > 0
    assert s.max_depth >= 2
    assert s.block_joins >= 1
    assert os.listdir(spill) == []
    assert sorted(os.listdir(tmp_path)) == ["left.tsv", "out.tsv", "right.tsv", "spill"]


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("small", ["right", "left"])
def test_streamed_through_the_smaller_side_equals_in_memory_merge(tmp_path, how, small):
    # 60,000 rows (a heavy key) against 600 under a 1 MB budget: the small file is small enough to hold
    # (under a 40th of the budget), the two together do not fit, so the big one is streamed through it.
    big, little = skewed_sides(60_000, 600)
    lp, rp = tmp_path / "left.tsv", tmp_path / "right.tsv"
    write_tsv(lp, ["ID", "a", "v"], big if small == "right" else little)
    write_tsv(rp, ["ID", "b", "v"], little if small == "right" else big)
    out, spill = tmp_path / "out.tsv", tmp_path / "spill"
    spill.mkdir()
    s = mergekit.join_files(lp, rp, out, on="ID", how=how, memory_limit="1MB", temp_dir=spill, threads=2)
    want = oracle(lp, rp, "ID", how)
    got = read_output(out)
    assert got.column_names == want.column_names
    assert rows_of(got) == rows_of(want)
    assert (rp if small == "right" else lp).stat().st_size < 25_000
    assert s.streamed and not s.spilled and s.spill_bytes == 0
    assert (s.rows_left, s.rows_right, s.rows_written) == (
        len(big if small == "right" else little),
        len(little if small == "right" else big),
        want.num_rows,
    )
    assert "streamed" in str(s)
    assert os.listdir(spill) == []


def test_spill_files_are_compressed_and_both_sizes_reported(tmp_path):
    lp, rp = make_skewed_files(tmp_path)
    sizes = {}
    for compression in ["none", "lz4", "zstd"]:
        out = tmp_path / f"out_{compression}.tsv"
        s = mergekit.join_files(lp, rp, out, on="ID", memory_limit="1MB", spill_compression=compression)
        assert s.spilled
        assert rows_of(read_output(out)) == rows_of(oracle(lp, rp, "ID", "inner"))
        sizes[compression] = (s.spill_bytes, s.spill_raw_bytes)
    assert sizes["lz4"][0] < sizes["none"][0] and sizes["zstd"][0] < sizes["none"][0], sizes
    assert all(raw > 0 for _, raw in sizes.values()), sizes
    with pytest.raises(InvalidArgumentError, match=r'spill_compression.*"gzip"'):
        mergekit.join_files(lp, rp, tmp_path / "o.tsv", on="ID", spill_compression="gzip")
    assert not (tmp_path / "o.tsv").exists()


@pytest.mark.parametrize("how", ["inner", "outer", "left_anti"])
def test_in_memory_path_equals_merge(tmp_path, how):
    lp, rp = make_skewed_files(tmp_path)
    out = tmp_path / "out.tsv"
    s = mergekit.join_files(lp, rp, out, on="ID", how=how, memory_limit="4GB")
    assert not s.spilled
    assert rows_of(read_output(out)) == rows_of(oracle(lp, rp, "ID", how))


def test_many_to_many_on_one_key_both_sides(tmp_path):
    # One key with 1500 x 400 matches: 600k output rows from tiny inputs, through output-bounded blocks.
    left = [("K" if i % 3 else f"a{i % 50}", str(i)) for i in range(2250)]
    right = [("K" if i % 2 else f"a{i % 70}", str(i)) for i in range(800)]
    lp, rp, out = tmp_path / "l.tsv", tmp_path / "r.tsv", tmp_path / "o.tsv"
    write_tsv(lp, ["ID", "x"], left)
    write_tsv(rp, ["ID", "y"], right)
    for how in ("inner", "outer"):
        s = mergekit.join_files(lp, rp, out, on="ID", how=how, memory_limit="1MB")
        assert rows_of(read_output(out)) == rows_of(oracle(lp, rp, "ID", how))
        assert s.block_joins >= 1


def test_multi_key_csv_output_and_suffixes(tmp_path):
    left = [(str(i % 13), str(i % 5), f"l{i}") for i in range(3000)]
    right = [(str(i % 11), str(i % 5), f"r{i}") for i in range(2000)]
    lp, rp, out = tmp_path / "l.csv", tmp_path / "r.csv", tmp_path / "o.csv"
    write_tsv(lp, ["a", "b", "v"], left, sep=",")
    write_tsv(rp, ["a", "b", "v"], right, sep=",")
    mergekit.join_files(lp, rp, out, on=["a", "b"], how="left", sep=",", memory_limit="1MB")
    got = read_output(out, sep=",")
    want = oracle(lp, rp, ["a", "b"], "left", sep=",")
    assert got.column_names == ["a", "b", "v_x", "v_y"] == want.column_names
    assert rows_of(got) == rows_of(want)


def test_parquet_inputs_and_output(tmp_path):
    left, right = skewed_sides(5000, 3000, seed=3)
    lt = pa.table({"ID": [r[0] for r in left], "a": [r[1] for r in left], "n": list(range(len(left)))})
    rt = pa.table({"ID": [r[0] for r in right], "b": [r[1] for r in right]})
    lp, rp, out = tmp_path / "l.parquet", tmp_path / "r.parquet", tmp_path / "o.parquet"
    pq.write_table(lt, lp, row_group_size=700)
    pq.write_table(rt, rp, row_group_size=500)
    for limit in ("1MB", "1GB"):
        mergekit.join_files(lp, rp, out, on="ID", how="outer", memory_limit=limit)
        got = pq.read_table(out)
        want = merge_tables(lt, rt, ["ID"], ["ID"], "outer")
        assert got.schema.field("n").type == pa.int64()
        assert rows_of(got) == rows_of(want)
    assert sorted(os.listdir(tmp_path)) == ["l.parquet", "o.parquet", "r.parquet"]


# ---- bad input: the documented error, and no output afterwards ----


@pytest.mark.parametrize(
    ("content", "error", "match"),
    [
        (b"ID\tb\nk1\t1\nk2\n", InputFormatError, r"right\.tsv:3: expected 2 fields, saw 1"),
        (b"ID\tb\nk1\t\xff\n", InputFormatError, r"right\.tsv:2: invalid UTF-8"),
        (b'ID\tb\nk1\t"open\n', InputFormatError, r"right\.tsv:2: unterminated quoted field"),
        (b"X\tb\nk1\t1\n", ColumnNotFoundError, r"ID"),
    ],
)
@pytest.mark.parametrize("limit", ["1MB", "1GB"])
def test_bad_input_leaves_no_output(tmp_path, content, error, match, limit):
    lp, rp, out = tmp_path / "left.tsv", tmp_path / "right.tsv", tmp_path / "out.tsv"
    # A big enough left side that the 1MB run is partitioning when the right side fails.
    write_tsv(lp, ["ID", "a"], [(f"k{i % 50}", "x" * 20) for i in range(40_000)])
    rp.write_bytes(content)
    spill = tmp_path / "spill"
    spill.mkdir()
    with pytest.raises(error, match=match):
        mergekit.join_files(lp, rp, out, on="ID", memory_limit=limit, temp_dir=spill)
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["left.tsv", "right.tsv", "spill"]
    assert os.listdir(spill) == []


def test_bad_arguments(tmp_path):
    lp = tmp_path / "l.tsv"
    write_tsv(lp, ["ID"], [("1",)])
    with pytest.raises(InputIOError):
        mergekit.join_files(lp, tmp_path / "missing.tsv", tmp_path / "o.tsv", on="ID")
    with pytest.raises(InvalidMergeError, match="memory_limit"):
        mergekit.join_files(lp, lp, tmp_path / "o.tsv", on="ID", memory_limit="lots")
    with pytest.raises(InvalidMergeError, match="how"):
        mergekit.join_files(lp, lp, tmp_path / "o.tsv", on="ID", how="sideways")
    with pytest.raises(InputIOError, match="directory"):
        mergekit.join_files(lp, lp, tmp_path / "no" / "o.tsv", on="ID")
    assert sorted(os.listdir(tmp_path)) == ["l.tsv"]


def test_parse_memory():
    from mergekit.files import parse_memory

    assert parse_memory("2GB") == 2 * 10**9
    assert parse_memory("512MiB") == 512 << 20
    assert parse_memory("1.5g") == 1_500_000_000
    assert parse_memory(10**7) == 10**7


def _rss_now() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


@pytest.mark.slow
def test_peak_memory_stays_near_the_budget(tmp_path):
    # ~50 MB of input joined with a 12 MB budget: the join's own memory (peak RSS above what the process
    # held before) must stay within a small multiple of the budget, far below the input size.
    lp, rp, out = tmp_path / "l.tsv", tmp_path / "r.tsv", tmp_path / "o.tsv"
    pad = "p" * 40
    write_tsv(lp, ["ID", "a"], [(f"k{(i * 7919) % 400_000}", pad) for i in range(500_000)])
    write_tsv(rp, ["ID", "b"], [(f"k{(i * 104_729) % 600_000}", pad) for i in range(500_000)])
    inputs = lp.stat().st_size + rp.stat().st_size
    budget = 12 << 20
    before = _rss_now()
    s = mergekit.join_files(lp, rp, out, on="ID", how="inner", memory_limit=budget, temp_dir=tmp_path)
    extra = s.peak_rss_bytes - before
    assert s.spilled
    assert inputs > 3 * budget
    print(f"peak above baseline: {extra / 2**20:.1f} MiB, budget {budget / 2**20:.0f} MiB")
    assert extra < 3 * budget, f"join used {extra / 2**20:.0f} MiB over {before / 2**20:.0f} MiB"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"on": "ID", "left_on": "ID"},
        {"left_on": "ID"},
        {"right_on": "ID"},
        {"left_on": ["ID", "v"], "right_on": ["ID"]},
        {"on": "nope"},
        {"left_on": "ID", "right_on": "nope"},
        {"on": "ID", "suffixes": {"_a", "_b"}},
        {"on": "ID", "suffixes": ("_a", "_b", "_c")},
    ],
)
def test_a_bad_key_specification_gets_pandas_error_on_every_face(tmp_path, kwargs):
    # One resolution layer (_resolve) for every face: join_files says what mergekit.merge on Arrow tables
    # says, and both raise what pandas.merge raises (the oracle: its class, and its message's words, which
    # mergekit may follow with the offending value).
    lp, rp = tmp_path / "l.tsv", tmp_path / "r.tsv"
    write_tsv(lp, ["ID", "v"], [("1", "a")])
    write_tsv(rp, ["ID", "v"], [("1", "b")])
    frame = pa.table({"ID": ["1"], "v": ["a"]})
    with pytest.raises(Exception) as from_pandas:
        frame.to_pandas().merge(frame.to_pandas(), **kwargs)
    with pytest.raises(type(from_pandas.value)) as from_merge:
        mergekit.merge(frame, frame, **kwargs)
    with pytest.raises(type(from_merge.value)) as from_files:
        mergekit.join_files(lp, rp, tmp_path / "o.tsv", **kwargs)
    assert str(from_files.value) == str(from_merge.value)
    if not isinstance(from_pandas.value, KeyError):  # pandas' KeyError names only the column
        assert str(from_merge.value).startswith(str(from_pandas.value))
    assert sorted(os.listdir(tmp_path)) == ["l.tsv", "r.tsv"]


def test_join_files_needs_its_keys_named_and_has_no_cross_join(tmp_path):
    lp = tmp_path / "l.tsv"
    write_tsv(lp, ["ID"], [("1",)])
    with pytest.raises(InvalidMergeError, match=r"join_files needs on="):
        mergekit.join_files(lp, lp, tmp_path / "o.tsv")
    with pytest.raises(InvalidMergeError, match=r"how='cross' is not a valid Merge type for join_files"):
        mergekit.join_files(lp, lp, tmp_path / "o.tsv", how="cross")
