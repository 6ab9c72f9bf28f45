"""Benchmark: mergekit's delimited reader and out-of-core join against pyarrow, polars and DuckDB.

Run: nice python benches/files_bench.py [--rows 10000000] [--join-left-rows 12000000] [--memory-limit 200MB]
Data is generated under a temporary directory (removed at the end). Every tool gets the same thread count
(--threads, default 2) and, for the join, the same memory limit. Each measurement is wall-clock time of one
complete call (file to Arrow table for reads, file to file for joins), after one untimed warm-up read of the
input so every tool starts from a warm page cache; the table shows the median of --repeat runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

THREADS_DEFAULT = 2


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=10_000_000, help="rows of the TSV for the read benchmark")
    p.add_argument("--join-left-rows", type=int, default=12_000_000, help="rows of the join's left file")
    p.add_argument("--join-right-rows", type=int, default=6_000_000, help="rows of the join's right file")
    p.add_argument(
        "--memory-limit", default="128MB,256MB", help="memory limit(s) for both joins, comma-separated"
    )
    p.add_argument("--threads", type=int, default=THREADS_DEFAULT)
    p.add_argument("--repeat", type=int, default=3, help="timed runs per read measurement")
    p.add_argument("--join-repeat", type=int, default=1, help="timed runs per join measurement")
    p.add_argument("--skip-read", action="store_true")
    p.add_argument("--skip-join", action="store_true")
    p.add_argument("--dir", default=None, help="where to put generated data (default: a new temp dir)")
    return p.parse_args()


ARGS = parse_args()
# Thread counts must be fixed before the libraries start their pools.
os.environ["POLARS_MAX_THREADS"] = str(ARGS.threads)
os.environ["MERGEKIT_THREADS"] = str(ARGS.threads)

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
from _proc import PEAK_SNIPPET  # noqa: E402

import mergekit  # noqa: E402
from mergekit.files import parse_memory  # noqa: E402

pa.set_cpu_count(ARGS.threads)
pa.set_io_thread_count(ARGS.threads)


def generate(path: str, rows: int, key_space: int, seed: int, payload: str) -> None:
    """A TSV of `rows` rows: ID (a decimal key string), a name, an amount and a flag."""
    rng = np.random.default_rng(seed)
    step = 2_000_000
    with open(path, "w") as f:
        f.write(f"ID\t{payload}_name\t{payload}_amount\t{payload}_flag\n")
    for start in range(0, rows, step):
        n = min(step, rows - start)
        ids = rng.integers(0, key_space, n)
        df = pl.DataFrame(
            {
                "ID": ids.astype(str),
                "name": np.char.add("n", (ids % 100_003).astype(str)),
                "amount": np.round(rng.random(n) * 1000, 2).astype(str),
                "flag": np.where(rng.random(n) < 0.5, "Y", "N"),
            }
        )
        with open(path, "a") as f:
            df.write_csv(f, separator="\t", include_header=False, quote_style="never")


def timed(fn, repeat: int) -> tuple[float, object]:
    times = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def warm(path: str) -> None:
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def read_bench(d: str) -> list[tuple]:
    path = os.path.join(d, "read.tsv")
    generate(path, ARGS.rows, ARGS.rows, 1, "x")
    size = os.path.getsize(path)
    warm(path)
    names = ["ID", "x_name", "x_amount", "x_flag"]
    tools = {
        "mergekit.read_csv": lambda: mergekit.read_csv(path),
        "pyarrow.csv.read_csv": lambda: pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(delimiter="\t"),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}),
        ),
        "polars.read_csv": lambda: pl.read_csv(path, separator="\t", infer_schema=False),
    }
    rows = []
    for name, fn in tools.items():
        fn()  # warm-up (allocator, thread pools)
        t, res = timed(fn, ARGS.repeat)
        n = res.num_rows if hasattr(res, "num_rows") else res.height
        assert n == ARGS.rows, (name, n)
        rows.append((name, f"{ARGS.rows:,} rows, {size / 1e6:.0f} MB", t, size / t / 1e6))
    os.unlink(path)
    return rows


# Each tool runs in a fresh process; its peak memory comes from _proc.PEAK_SNIPPET.

OURS = (
    PEAK_SNIPPET
    + """
import sys, mergekit
lp, rp, out, limit, threads, spill = sys.argv[1:7]
s = mergekit.join_files(lp, rp, out, on="ID", how="inner", memory_limit=int(limit), threads=int(threads),
                        temp_dir=spill)
print(s.rows_written, peak(), s.spill_bytes)
print(s, file=sys.stderr)
"""
)

DUCK = (
    PEAK_SNIPPET
    + """
import sys, duckdb
lp, rp, out, limit, threads, spill = sys.argv[1:7]
con = duckdb.connect()
con.execute(f"SET memory_limit='{int(limit) // (1 << 20)}MB'")
con.execute(f"SET threads={threads}")
con.execute(f"SET temp_directory='{spill}'")
con.execute("SET preserve_insertion_order=false")
con.execute("SET enable_progress_bar=false")
src = "read_csv('{}', delim='\\t', header=true, all_varchar=true)"
con.execute(f"COPY (SELECT * FROM {src.format(lp)} l JOIN {src.format(rp)} r USING (ID)) "
            f"TO '{out}' (DELIMITER '\\t', HEADER)")
n = con.execute(f"SELECT count(*) FROM {src.format(out)}").fetchone()[0]
print(n, peak(), -1)
"""
)


def run_tool(script: str, lp: str, rp: str, out: str, limit: int, spill: str) -> tuple[float, int, int, int]:
    """One join in a fresh process: seconds, output rows, peak RSS, spill bytes."""
    cmd = [sys.executable, "-c", script, lp, rp, out, str(limit), str(ARGS.threads), spill]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    t = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    if r.stderr.strip():
        print(f"# {r.stderr.strip()}", file=sys.stderr)
    rows, rss, spilled = (int(x) for x in r.stdout.strip().splitlines()[-1].split())
    return t, rows, rss, spilled


def join_bench(d: str) -> tuple[list[tuple], int]:
    lp, rp = os.path.join(d, "left.tsv"), os.path.join(d, "right.tsv")
    keys = ARGS.join_left_rows  # right keys overlap the left ones about half of the time
    generate(lp, ARGS.join_left_rows, keys, 2, "l")
    generate(rp, ARGS.join_right_rows, keys * 2, 3, "r")
    total = os.path.getsize(lp) + os.path.getsize(rp)
    out = os.path.join(d, "out.tsv")
    spill = os.path.join(d, "spill")
    os.makedirs(spill, exist_ok=True)
    warm(lp)
    warm(rp)
    results = []
    rows_seen = set()
    for limit_text in ARGS.memory_limit.split(","):
        limit = parse_memory(limit_text)
        desc = f"{total / 1e6:.0f} MB, limit {limit_text} ({total / limit:.1f}x)"
        for name, script in (("mergekit.join_files", OURS), (f"duckdb {duckdb.__version__}", DUCK)):
            try:
                runs = [run_tool(script, lp, rp, out, limit, spill) for _ in range(ARGS.join_repeat)]
            except RuntimeError as e:
                reason = "out of memory" if "Out of Memory" in str(e) else str(e).strip().splitlines()[-1]
                results.append((name, desc, None, None, None, reason))
                continue
            t = statistics.median(r[0] for r in runs)
            rss = max(r[2] for r in runs)
            rows_seen.update(r[1] for r in runs)
            results.append((name, desc, t, total / t / 1e6, rss, ""))
    assert len(rows_seen) == 1, f"the tools disagree on the output row count: {rows_seen}"
    for p in (lp, rp, out):
        os.unlink(p)
    return results, rows_seen.pop()


def main() -> None:
    d = ARGS.dir or tempfile.mkdtemp(prefix="mergekit-bench-")
    os.makedirs(d, exist_ok=True)
    try:
        print(
            f"threads={ARGS.threads}, cpus={os.cpu_count()}, median of {ARGS.repeat} (reads) / "
            f"{ARGS.join_repeat} (joins) runs after a warm-up; wall-clock seconds"
        )
        print(f"| {'task':<26} | {'tool':<22} | {'input':<38} | {'seconds':>8} | {'MB/s':>7} |")
        print(f"|{'-' * 28}|{'-' * 24}|{'-' * 40}|{'-' * 10}|{'-' * 9}|")
        if not ARGS.skip_read:
            for tool, desc, t, rate in read_bench(d):
                print(
                    f"| {'read TSV (all strings)':<26} | {tool:<22} | {desc:<38} | {t:8.2f} | {rate:7.0f} |"
                )
        if not ARGS.skip_join:
            rows, out_rows = join_bench(d)
            print()
            print(
                f"inner join, file to file, --memory-limit {ARGS.memory_limit}, threads={ARGS.threads}; "
                "each run in a fresh process; peak RSS = its VmHWM (interpreter and imports included)"
            )
            print(f"| {'tool':<22} | {'input':<34} | {'seconds':>8} | {'MB/s':>7} | {'peak RSS MB':>11} |")
            print(f"|{'-' * 24}|{'-' * 36}|{'-' * 10}|{'-' * 9}|{'-' * 13}|")
            for tool, desc, t, rate, rss, failed in rows:
                if failed:
                    print(f"| {tool:<22} | {desc:<34} | {'failed: ' + failed:<33} |")
                else:
                    print(f"| {tool:<22} | {desc:<34} | {t:8.2f} | {rate:7.0f} | {rss / 1e6:11.0f} |")
            print(f"join output: {out_rows:,} rows")
    finally:
        if ARGS.dir is None:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
