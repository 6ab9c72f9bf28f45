"""Benchmark: `mergekit join` against DuckDB on the user's shape, out of core (issue: a billion rows).

Run: nice python benches/ooc_bench.py --left-rows 100000000 [--memory-limit 2GB,4GB] [--output tsv,parquet]

Generates two TSV files the user's way: a string `ID` key and a string value per side. The left file has
`--left-rows` rows, the right `--right-share` of that (default a tenth): the right holds each of its keys
once except a few duplicated ones, and the left draws 90% of its keys from the right's (so most left rows
match one right row), 5% from keys the right does not have, and 5% from one hot key. Each tool runs in a
fresh process with the same memory limit, thread count and temporary directory, from a warm page cache (one
untimed read of both inputs first): `mergekit.join_files` (once per `--spill-compression`) and DuckDB
(`COPY (SELECT ... JOIN ...) TO ...` with `memory_limit`, `threads`, `temp_directory` and
`preserve_insertion_order=false`). Reported per run: wall seconds, the process's peak RSS (`VmHWM`,
interpreter included), the disk the run used at its peak (free space of the data directory's file system
sampled 10 times a second, against the free space before the run, so spill files and the output both
count), mergekit's spill bytes on disk, and whether rows read and written agree with DuckDB's.
Every run's output row count must equal DuckDB's count-only answer (`SELECT count(*) ... JOIN ...`).

`--mergekit-path LABEL=DIR` (repeatable) adds runs of another build of mergekit (its `python/` directory
with a built `_native` module) under that label, for before/after tables.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import polars as pl
from _proc import PEAK_SNIPPET

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--left-rows", type=float, default=1e8)
    p.add_argument("--right-share", type=float, default=0.1, help="right rows as a share of left rows")
    p.add_argument("--memory-limit", default="2GB", help="comma-separated limits, e.g. 2GB,4GB")
    p.add_argument("--output", default="tsv", help="comma-separated output formats: tsv, parquet")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dir", default=None, help="where data, spills and outputs go (default: a new temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the generated inputs in --dir for another run")
    p.add_argument("--skip-duckdb", action="store_true")
    p.add_argument("--mergekit-path", action="append", default=[], metavar="LABEL=DIR")
    p.add_argument(
        "--spill-compression", default="lz4", help="comma-separated spill compressions for this build's runs"
    )
    return p.parse_args()


def generate(d: str, left_rows: int, right_share: float) -> tuple[str, str]:
    """left.tsv and right.tsv (see the module docstring), written in 4M-row chunks by polars; kept files of
    the same shape are reused."""
    right_keys = max(1, int(left_rows * right_share))
    tag = f"{left_rows}x{right_keys}"
    lp, rp = os.path.join(d, f"left_{tag}.tsv"), os.path.join(d, f"right_{tag}.tsv")
    if os.path.exists(lp) and os.path.exists(rp):
        return lp, rp
    rng = np.random.default_rng(42)
    step = 1 << 22

    def write(path, header, n, keys_fn, tag):
        with open(path + ".part", "w") as f:
            f.write(header)
        for start in range(0, n, step):
            m = min(step, n - start)
            keys = keys_fn(start, m)
            df = pl.DataFrame({"ID": keys}).with_columns(
                pl.concat_str([pl.lit(tag), pl.int_range(start, start + m).cast(pl.Utf8)]).alias("value")
            )
            with open(path + ".part", "a") as f:
                df.write_csv(f, separator="\t", include_header=False, quote_style="never")
        os.replace(path + ".part", path)

    def key_text(ids):
        return (
            pl.DataFrame({"i": ids})
            .select(pl.concat_str([pl.lit("ID"), pl.col("i").cast(pl.Utf8)]))
            .to_series()
        )

    def right_keys_fn(start, m):
        ids = np.arange(start, start + m) % right_keys
        # A few duplicated keys: every 1000th row repeats the key of the row before it.
        dup = (np.arange(start, start + m) % 1000) == 999
        ids[dup] = np.maximum(ids[dup] - 1, 0)
        return key_text(ids)

    def left_keys_fn(start, m):
        u = rng.random(m)
        ids = rng.integers(0, right_keys, m)
        ids = np.where(u < 0.05, right_keys + rng.integers(0, right_keys, m), ids)  # no partner
        ids = np.where(u > 0.95, 7, ids)  # the hot key
        return key_text(ids)

    write(rp, "ID\tright_value\n", right_keys, right_keys_fn, "r")
    write(lp, "ID\tleft_value\n", left_rows, left_keys_fn, "l")
    return lp, rp


MERGEKIT = (
    PEAK_SNIPPET
    + """
import sys, mergekit
lp, rp, out, limit, threads, spill = sys.argv[1:7]
extra = {"spill_compression": sys.argv[7]} if len(sys.argv) > 7 else {}
s = mergekit.join_files(lp, rp, out, on="ID", how="inner", memory_limit=limit, threads=int(threads),
                        temp_dir=spill, **extra)
print(s, file=sys.stderr)
print(s.rows_left, s.rows_right, s.rows_written, peak(), s.spill_bytes)
"""
)

DUCK = (
    PEAK_SNIPPET
    + """
import sys, duckdb
lp, rp, out, limit, threads, spill = sys.argv[1:7]
con = duckdb.connect()
con.execute(f"SET memory_limit='{limit}'")
con.execute(f"SET threads={threads}")
con.execute(f"SET temp_directory='{spill}'")
con.execute("SET preserve_insertion_order=false")
con.execute("SET enable_progress_bar=false")
src = "read_csv('{}', delim='\\t', header=true, all_varchar=true)"
fmt = "(FORMAT parquet)" if out.endswith(".parquet") else "(DELIMITER '\\t', HEADER)"
n = con.execute(f"COPY (SELECT * FROM {src.format(lp)} l JOIN {src.format(rp)} r USING (ID)) TO '{out}' {fmt}"
                ).fetchone()[0]
print(-1, -1, n, peak(), -1)
"""
)

COUNT = """
import sys, duckdb
lp, rp, threads = sys.argv[1:4]
con = duckdb.connect()
con.execute(f"SET threads={threads}")
con.execute("SET enable_progress_bar=false")
src = "read_csv('{}', delim='\\t', header=true, all_varchar=true)"
print(*(con.execute(q).fetchone()[0] for q in (
    f"SELECT count(*) FROM {src.format(lp)}",
    f"SELECT count(*) FROM {src.format(rp)}",
    f"SELECT count(*) FROM {src.format(lp)} l JOIN {src.format(rp)} r USING (ID)",
)))
"""


def run(script, args, env, d):
    """One run in a fresh process: seconds, its printed numbers, and the peak disk use under `d`."""
    # A file deleted just before (the previous run's output) frees its blocks lazily: settle first.
    os.sync()
    time.sleep(1)
    base = shutil.disk_usage(d).free
    worst = [0]
    stop = threading.Event()

    def sample():
        while not stop.wait(0.1):
            worst[0] = max(worst[0], base - shutil.disk_usage(d).free)

    poller = threading.Thread(target=sample, daemon=True)
    poller.start()
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env)
    t = time.perf_counter() - t0
    stop.set()
    poller.join()
    if r.returncode != 0:
        return t, None, worst[0], r.stderr.strip().splitlines()[-1][:200] if r.stderr.strip() else "failed"
    note = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
    return t, [int(x) for x in r.stdout.split()], worst[0], note


def main() -> None:
    args = parse_args()
    d = args.dir or tempfile.mkdtemp(prefix="mergekit-ooc-bench-")
    os.makedirs(d, exist_ok=True)
    builds = [("mergekit", os.path.join(HERE, "..", "python"))]
    builds += [tuple(s.split("=", 1)) for s in args.mergekit_path]
    lp = rp = None
    try:
        t0 = time.perf_counter()
        lp, rp = generate(d, int(args.left_rows), args.right_share)
        gen = time.perf_counter() - t0
        sizes = (os.path.getsize(lp), os.path.getsize(rp))
        for p in (lp, rp):
            with open(p, "rb") as f:
                while f.read(1 << 24):
                    pass
        counted = subprocess.run(
            [sys.executable, "-c", COUNT, lp, rp, str(args.threads)],
            capture_output=True,
            text=True,
            check=True,
        )
        want = [int(x) for x in counted.stdout.split()]
        print(
            f"# inputs: left {want[0]:,} rows ({sizes[0] / 1e9:.2f} GB), right {want[1]:,} rows "
            f"({sizes[1] / 1e9:.2f} GB), inner join {want[2]:,} rows (DuckDB count-only); generated in "
            f"{gen:.0f} s; threads={args.threads}; load average before: {os.getloadavg()[0]:.2f}"
        )
        print("| tool | limit | output | seconds | peak RSS GB | disk peak GB | spill GB | rows agree |")
        print("|---|---|---|---:|---:|---:|---:|---|")
        spill = os.path.join(d, "spill")
        os.makedirs(spill, exist_ok=True)
        for limit in args.memory_limit.split(","):
            for fmt in args.output.split(","):
                out = os.path.join(d, f"out.{fmt}")
                mine = {**os.environ, "PYTHONPATH": builds[0][1]}
                compressions = args.spill_compression.split(",")
                tools = [(f"mergekit ({c})", MERGEKIT, mine, [c]) for c in compressions]
                # Other builds run with their own defaults (older ones have no spill_compression).
                tools += [
                    (label, MERGEKIT, {**os.environ, "PYTHONPATH": path}, []) for label, path in builds[1:]
                ]
                if not args.skip_duckdb:
                    tools.append(("duckdb", DUCK, os.environ.copy(), []))
                for label, script, env, extra in tools:
                    if os.path.exists(out):
                        os.unlink(out)
                    argv = [lp, rp, out, limit, str(args.threads), spill, *extra]
                    t, nums, disk, note = run(script, argv, env, d)
                    if nums is None:
                        print(f"| {label} | {limit} | {fmt} | failed after {t:.0f} s: {note} | | | | |")
                        continue
                    rl, rr, ro, rss, sp = nums
                    ok = ro == want[2] and rl in (-1, want[0]) and rr in (-1, want[1])
                    assert ok, f"{label}: rows {nums[:3]} differ from DuckDB's count {want}"
                    spilled = f"{sp / 1e9:.2f}" if sp >= 0 else ""
                    cells = [label, limit, fmt, f"{t:.1f}", f"{rss / 1e9:.2f}", f"{disk / 1e9:.2f}", spilled]
                    print("| " + " | ".join(cells) + f" | {'yes' if ok else 'NO'} |", flush=True)
                    if note and label.startswith(("mergekit", *(b[0] for b in builds))):
                        print(f"#   {label}: {note}", flush=True)
        print(f"# load average after: {os.getloadavg()[0]:.2f}")
    finally:
        if not args.keep:
            for p in (lp, rp, *(os.path.join(d, f"out.{f}") for f in ("tsv", "parquet"))):
                if p is not None and os.path.exists(p):
                    os.unlink(p)
            if args.dir is None:
                shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
