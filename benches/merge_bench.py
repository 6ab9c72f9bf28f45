"""Benchmark mergekit.merge against pandas, polars, DuckDB and pyarrow on the same in-memory data.

Every engine gets the same thread count (``--threads``, default: all cores). Each case runs ``--repeat``
times after one warm-up; the table shows the median seconds and the peak resident memory the run added
(Linux VmHWM, reset before each run through /proc/self/clear_refs). Ratios compare mergekit with the peer
on the same input kind: pandas vs mergekit-on-pandas, polars vs mergekit-on-polars, and Arrow (pyarrow's
Table.join and DuckDB) vs mergekit-on-Arrow.

    python benches/merge_bench.py --rows 1e6 1e7 --repeat 3
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time

from _proc import rss_kib


def _parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", nargs="+", type=float, default=[1e6, 1e7], help="left-side row counts")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per case (after one warm-up)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for every engine")
    p.add_argument("--keys", nargs="+", default=["int", "str"], choices=["int", "str", "cat"])
    p.add_argument("--hows", nargs="+", default=["inner", "left", "outer"])
    p.add_argument(
        "--shapes", nargs="+", default=["unique", "dup", "small"], choices=["unique", "dup", "small", "wide"]
    )
    p.add_argument("--engines", nargs="+", default=None, help="subset of engine names to run")
    return p.parse_args()


ARGS = _parse_args()
# Thread caps must be set before the libraries start their pools.
os.environ["POLARS_MAX_THREADS"] = str(ARGS.threads)
os.environ["MERGEKIT_THREADS"] = str(ARGS.threads)

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402
import pyarrow as pa  # noqa: E402

import mergekit  # noqa: E402

pa.set_cpu_count(ARGS.threads)
pa.set_io_thread_count(ARGS.threads)


def measure(fn) -> tuple[float, float, int]:
    """(seconds, peak MiB added, output rows) of one run."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM (peak RSS) to the current RSS
    base = rss_kib("VmRSS:")
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    peak = (rss_kib("VmHWM:") - base) / 1024
    n = out.num_rows if hasattr(out, "num_rows") else len(out)
    del out
    return dt, peak, n


def _with_key_kind(left: pd.DataFrame, right: pd.DataFrame, key: str):
    """The integer ``key`` columns as strings (``str``) or as categoricals of one shared category list
    (``cat``); pandas 3's default string dtype (Arrow-backed), what read_csv gives a user today."""
    if key in ("str", "cat"):
        left["key"] = ("id_" + left["key"].astype(str)).astype("str")
        right["key"] = ("id_" + right["key"].astype(str)).astype("str")
        if key == "cat":
            cats = pd.Index(pd.concat([left["key"], right["key"]]).unique())
            left["key"] = pd.Categorical(left["key"], categories=cats)
            right["key"] = pd.Categorical(right["key"], categories=cats)
    return left, right


def make_wide(n: int, key: str, rng: np.random.Generator):
    """A user's table: ten columns on the left (ints, floats, a bool, a timestamp, strings, two categoricals)
    and five on the right, n/10 right rows with unique keys; 90% of left rows find one."""
    n_right = max(n // 10, 1)
    rk = rng.permutation(n_right)
    lk = rng.integers(0, n_right + n_right // 9, n)  # one left key in ten is past the right's range
    cities = np.array(["Berlin", "Lagos", "Lima", "Osaka", "Oslo", "Pune", "Quito", "Seoul", "Tunis", "Bern"])
    left = pd.DataFrame(
        {
            "key": lk,
            "qty": rng.integers(0, 1000, n, dtype=np.int32),
            "price": rng.random(n) * 100,
            "flag": rng.random(n) < 0.5,
            "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 86400 * 365, n), unit="s"),
            "city": pd.Categorical.from_codes(rng.integers(0, len(cities), n), categories=cities),
            "grade": pd.Categorical.from_codes(rng.integers(0, 5, n), categories=list("ABCDE")),
            "note": ("n" + pd.Series(rng.integers(0, 100_000, n)).astype(str)).astype("str"),
            "score": rng.standard_normal(n),
            "units": rng.integers(0, 1 << 40, n),
        }
    )
    right = pd.DataFrame(
        {
            "key": rk,
            "region": pd.Categorical.from_codes(rng.integers(0, 4, n_right), categories=["N", "E", "S", "W"]),
            "label": ("l" + pd.Series(rk).astype(str)).astype("str"),
            "weight": rng.random(n_right),
            "since": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, n_right), unit="D"),
        }
    )
    return _with_key_kind(left, right, key)


def make_data(n: int, key: str, shape: str, seed: int = 0):
    """Left has n rows; right has n rows (unique/dup) or n/100 rows (small). Half the keys match.
    ``wide`` is make_wide's user-shaped pair."""
    rng = np.random.default_rng(seed)
    if shape == "wide":
        return make_wide(n, key, rng)
    n_right = n // 100 if shape == "small" else n
    if shape == "dup":
        # Every key appears about 4 times on each side, so inner joins grow the output 4x.
        lk = rng.integers(0, n // 4, n)
        rk = rng.integers(n // 8, n // 8 + n // 4, n_right)
    else:
        lk = rng.permutation(n)
        rk = rng.permutation(n_right) * 2 + (n_right % 2)  # about half of them are in the left's range
    left = pd.DataFrame({"key": lk, "a": rng.random(n), "b": rng.integers(0, 1000, n)})
    right = pd.DataFrame({"key": rk, "c": rng.random(n_right)})
    return _with_key_kind(left, right, key)


def _duckdb_arrow(con, sql: str):
    # con.sql(...) is DuckDB's relation API: its Arrow result is not copied again, unlike execute()'s.
    rel = con.sql(sql)
    fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
    return fetch()


def engines(left: pd.DataFrame, right: pd.DataFrame, how: str):
    lpa, rpa = (
        pa.Table.from_pandas(left, preserve_index=False),
        pa.Table.from_pandas(right, preserve_index=False),
    )
    lpl, rpl = pl.from_arrow(lpa), pl.from_arrow(rpa)
    pl_how = {"outer": "full"}.get(how, how)
    pa_how = {"inner": "inner", "left": "left outer", "outer": "full outer"}[how]
    con = duckdb.connect()
    con.execute(f"SET threads={ARGS.threads}")
    con.register("l", lpa)
    con.register("r", rpa)
    sql_how = {"inner": "INNER", "left": "LEFT", "outer": "FULL OUTER"}[how]
    sql = f"SELECT * FROM l {sql_how} JOIN r USING (key)"
    return {
        "pandas": ("pandas", lambda: pd.merge(left, right, on="key", how=how)),
        "mergekit[pandas]": ("pandas", lambda: mergekit.merge(left, right, on="key", how=how)),
        "polars": ("polars", lambda: lpl.join(rpl, on="key", how=pl_how, coalesce=True)),
        "mergekit[polars]": ("polars", lambda: mergekit.merge(lpl, rpl, on="key", how=how)),
        "pyarrow": ("arrow", lambda: lpa.join(rpa, keys="key", join_type=pa_how)),
        "duckdb": ("arrow", lambda: _duckdb_arrow(con, sql)),
        "mergekit[arrow]": ("arrow", lambda: mergekit.merge(lpa, rpa, on="key", how=how)),
    }


def main() -> None:
    print(
        f"# mergekit {mergekit.__version__}, pandas {pd.__version__}, polars {pl.__version__}, "
        f"pyarrow {pa.__version__}, duckdb {duckdb.__version__}; threads={ARGS.threads}; "
        f"median of {ARGS.repeat} after 1 warm-up; python {sys.version.split()[0]}"
    )
    header = "| rows | key | shape | how | engine | median s | peak MiB | out rows | mergekit speed-up |"
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for rows in ARGS.rows:
        n = int(rows)
        for key in ARGS.keys:
            for shape in ARGS.shapes:
                left, right = make_data(n, key, shape)
                for how in ARGS.hows:
                    results = {}
                    for name, (kind, fn) in engines(left, right, how).items():
                        if ARGS.engines and name not in ARGS.engines:
                            continue
                        measure(fn)  # warm-up: first-touch of fresh memory is slow here
                        runs = [measure(fn) for _ in range(ARGS.repeat)]
                        results[name] = (
                            kind,
                            statistics.median(r[0] for r in runs),
                            max(r[1] for r in runs),
                            runs[0][2],
                        )
                    for name, (kind, secs, peak, out) in results.items():
                        mk = results.get(f"mergekit[{kind}]")
                        ratio = "" if name.startswith("mergekit") or mk is None else f"{secs / mk[1]:.1f}x"
                        cells = [f"{n:.0e}", key, shape, how, name, f"{secs:.3f}", f"{peak:.0f}", out, ratio]
                        print("| " + " | ".join(map(str, cells)) + " |", flush=True)


if __name__ == "__main__":
    main()
