"""The db-benchmark join task (h2oai/db-benchmark, continued as duckdblabs/db-benchmark) for mergekit and its
peers, plus a two-column integer key case and a sorted-key case.

Data follow the published join data spec (our own seeded generator, not the R script): a table ``x`` of N
rows with id1..id3 integers, id4..id6 factors ("id%d" of id1..id3) and a float v1; right sides ``small``
(N/1e6 rows: id1, id4, v2), ``medium`` (N/1e3 rows: id1, id2, id4, id5, v2) and ``big`` (N rows: id1..id6,
v2). Each right side holds 90% of the keys x has and 10% that x lacks; x has 10% that the right side lacks.

    q1  x inner small  on id1         q4  x inner medium on id5 (factor)
    q2  x inner medium on id2         q5  x inner big    on id3
    q3  x left  medium on id2
    k2  lineitem inner partsupp on (partkey, suppkey)   (0.6 N x 0.08 N rows, like TPC-H's 6M x 800k)
    s5  q5 with both sides sorted by id3

Every tool runs on its own native format: pandas (id4..id6 categorical), polars (Categorical), pyarrow and
DuckDB on Arrow tables (strings); mergekit runs on each of the three input kinds. All use ``--threads``
threads. Each (tool, question) runs in its own subprocess: it loads the cached data, converts it to its
format, runs one warm-up and ``--runs`` timed runs, and reports the median seconds, the peak RSS of the
process and the peak the join added over the loaded data. Answers are checked: row count and a checksum
(sums of v1, v2 and the integer key) must match DuckDB's.

Data are cached (Arrow IPC) under ``$MERGEKIT_BENCH_CACHE`` (default: the temp dir), never in the repository.

    python benches/dbbench.py --n 1e7 --runs 3
    python benches/dbbench.py --n 1e6 --questions q2 q4 --tools pandas mergekit[pandas]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from _proc import rss_kib

QUESTIONS = {
    # name: (left table, right table, how, left keys, right keys)
    "q1": ("x", "small", "inner", ["id1"], ["id1"]),
    "q2": ("x", "medium", "inner", ["id2"], ["id2"]),
    "q3": ("x", "medium", "left", ["id2"], ["id2"]),
    "q4": ("x", "medium", "inner", ["id5"], ["id5"]),
    "q5": ("x", "big", "inner", ["id3"], ["id3"]),
    "k2": ("lineitem", "partsupp", "inner", ["partkey", "suppkey"], ["partkey", "suppkey"]),
    "s5": ("x_sorted", "big_sorted", "inner", ["id3"], ["id3"]),
}
TOOLS = ["pandas", "mergekit[pandas]", "polars", "mergekit[polars]", "pyarrow", "duckdb", "mergekit[arrow]"]
FACTORS = ("id4", "id5", "id6")
CHECK_COLUMNS = ("v1", "v2", "quantity", "supplycost")


# ---------------------------------------------------------------------------------------------------------
# data


def _cache_dir(n: int) -> str:
    root = os.environ.get("MERGEKIT_BENCH_CACHE", os.path.join(tempfile.gettempdir(), "mergekit-dbbench"))
    return os.path.join(root, f"n{n}-seed0")


def _split_keys(rng, n: int):
    """db-benchmark's split_xlr: 1.1 n distinct keys drawn from 1..2.5 n; x-only 90%, both-sides-in-x 10%
    (the "l" part), right-only 10% (the "r" part)."""
    n = max(int(n), 1)
    total = max(round(n * 1.1), n + 1)
    keys = rng.permutation(int(n * 2.5) + 2)[:total] + 1
    nx = max(int(n * 0.9), 1)
    return keys[:nx], keys[nx:n], keys[n:total]


def _sample_all(rng, pool, size: int):
    """Every value of ``pool`` at least once (if it fits), the rest drawn with replacement, shuffled."""
    import numpy as np

    pool = np.asarray(pool)
    if len(pool) >= size:
        return rng.permutation(pool)[:size]
    extra = rng.choice(pool, size - len(pool), replace=True)
    return rng.permutation(np.concatenate([pool, extra]))


def _ids(values):
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(pa.scalar("id"), pc.cast(pa.array(values), pa.string()), "")


def generate(n: int, path: str) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(0)
    k1, k2, k3 = _split_keys(rng, n / 1e6), _split_keys(rng, n / 1e3), _split_keys(rng, n)
    tables = {}
    x = {
        "id1": _sample_all(rng, np.concatenate([k1[0], k1[1]]), n),
        "id2": _sample_all(rng, np.concatenate([k2[0], k2[1]]), n),
        "id3": _sample_all(rng, np.concatenate([k3[0], k3[1]]), n),
    }
    x["v1"] = np.round(rng.uniform(0, 100, n), 6)
    tables["x"] = x

    def right(n_rows, ks):
        cols = {}
        for i, k in enumerate(ks, start=1):
            pool = np.concatenate([k[0], k[2]])
            last = i == len(ks)  # the right side's own key is unique
            cols[f"id{i}"] = rng.permutation(pool)[:n_rows] if last else _sample_all(rng, pool, n_rows)
        cols["v2"] = np.round(rng.uniform(0, 100, n_rows), 6)
        return cols

    n_small, n_medium = max(int(n / 1e6), 1), max(int(n / 1e3), 1)
    tables["small"] = right(n_small, [k1])
    tables["medium"] = right(n_medium, [k1, k2])
    tables["big"] = right(n, [k1, k2, k3])

    os.makedirs(path, exist_ok=True)
    for name, cols in tables.items():
        arrays, names = [], []
        n_ids = sum(1 for c in cols if c.startswith("id"))
        for c in [f"id{i}" for i in range(1, n_ids + 1)]:
            arrays.append(pa.array(cols[c].astype(np.int64)))
            names.append(c)
        for i in range(1, n_ids + 1):
            arrays.append(_ids(cols[f"id{i}"]))
            names.append(f"id{i + 3}")
        vname = "v1" if name == "x" else "v2"
        arrays.append(pa.array(cols[vname]))
        names.append(vname)
        t = pa.Table.from_arrays(arrays, names=names)
        _write(t, os.path.join(path, f"{name}.arrow"))
        if name in ("x", "big"):
            _write(t.take(pc.sort_indices(t.column("id3"))), os.path.join(path, f"{name}_sorted.arrow"))

    # Two-column key: partsupp has 4 suppliers per part (unique pairs); lineitem draws 90% of its pairs from
    # partsupp and 10% that partsupp lacks.
    n_part = max(int(n / 50), 1)
    n_supp = max(int(n / 1000), 4)
    part = np.repeat(np.arange(1, n_part + 1), 4)
    supp = (part * 7 + np.tile(np.arange(4), n_part) * (n_supp // 4 + 1)) % n_supp + 1
    ps = pa.table(
        {
            "partkey": pa.array(part, pa.int64()),
            "suppkey": pa.array(supp, pa.int64()),
            "availqty": pa.array(rng.integers(1, 10000, len(part)), pa.int64()),
            "supplycost": pa.array(np.round(rng.uniform(1, 1000, len(part)), 2)),
        }
    )
    n_li = int(n * 0.6)
    pick = rng.integers(0, len(part), n_li)
    lpart, lsupp = part[pick].copy(), supp[pick].copy()
    miss = rng.random(n_li) < 0.1
    lsupp[miss] = n_supp + 1 + rng.integers(0, 100, int(miss.sum()))  # suppliers partsupp does not have
    li = pa.table(
        {
            "orderkey": pa.array(np.arange(n_li) // 4 + 1, pa.int64()),
            "partkey": pa.array(lpart, pa.int64()),
            "suppkey": pa.array(lsupp, pa.int64()),
            "quantity": pa.array(rng.integers(1, 51, n_li).astype(np.float64)),
            "extendedprice": pa.array(np.round(rng.uniform(900, 100000, n_li), 2)),
        }
    )
    _write(ps, os.path.join(path, "partsupp.arrow"))
    _write(li, os.path.join(path, "lineitem.arrow"))
    with open(os.path.join(path, "done"), "w") as f:
        f.write("ok\n")


def _write(table, path: str) -> None:
    import pyarrow as pa

    tmp = path + ".tmp"
    with pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table, max_chunksize=1 << 30)
    os.replace(tmp, path)


def ensure_data(n: int) -> str:
    path = _cache_dir(n)
    if not os.path.exists(os.path.join(path, "done")):
        t0 = time.perf_counter()
        generate(n, path)
        print(f"# generated N={n:.0e} data in {time.perf_counter() - t0:.1f} s under {path}", flush=True)
    return path


def _read(path: str, name: str):
    import pyarrow as pa

    # Read into process memory (not a memory map), so every tool starts from the same private buffers.
    with pa.OSFile(os.path.join(path, f"{name}.arrow")) as src:
        return pa.ipc.open_file(src).read_all()


# ---------------------------------------------------------------------------------------------------------
# one (tool, question) in a child process


def _native(tool: str, table):
    """``table`` in the tool's own format."""
    import pyarrow as pa

    factors = [c for c in FACTORS if c in table.column_names]
    if tool in ("pandas", "mergekit[pandas]"):
        return table.to_pandas(categories=factors) if factors else table.to_pandas()
    if tool in ("polars", "mergekit[polars]"):
        import polars as pl

        df = pl.from_arrow(table, rechunk=True)
        return df.with_columns(pl.col(factors).cast(pl.Categorical)) if factors else df
    # Arrow: factors as plain strings (pyarrow's hash join does not take dictionary key columns).
    return pa.Table.from_arrays([c.combine_chunks() for c in table.columns], names=table.column_names)


def _runner(tool: str, how: str, lon, ron, threads: int):
    if tool.startswith("mergekit"):
        import mergekit

        if lon == ron:
            return lambda x, y: mergekit.merge(x, y, how=how, on=lon)
        return lambda x, y: mergekit.merge(x, y, how=how, left_on=lon, right_on=ron)
    if tool == "pandas":
        return lambda x, y: x.merge(y, how=how, on=lon)
    if tool == "polars":
        return lambda x, y: x.join(y, how=how, on=lon, maintain_order="left")
    if tool == "pyarrow":
        jt = {"inner": "inner", "left": "left outer"}[how]
        return lambda x, y: x.join(y, keys=lon, join_type=jt, left_suffix="_x", right_suffix="_y")
    if tool == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.execute(f"SET threads={threads}")
        jt = {"inner": "INNER", "left": "LEFT"}[how]
        cond = " AND ".join(f'x."{a}" = y."{b}"' for a, b in zip(lon, ron))

        def run(x, y):
            con.register("x", x)
            con.register("y", y)
            # pandas' columns: a shared key once, other overlapping names suffixed _x/_y.
            shared = {a for a, b in zip(lon, ron) if a == b}
            ykeep = [c for c in y.column_names if c not in shared]
            xs = [f'x."{c}" AS "{c}_x"' if c in ykeep else f'x."{c}"' for c in x.column_names]
            ys = [f'y."{c}" AS "{c}_y"' if c in x.column_names else f'y."{c}"' for c in ykeep]
            # con.sql(...) (the relation API): execute()'s Arrow result makes an extra copy of the rows.
            rel = con.sql(f"SELECT {', '.join(xs + ys)} FROM x {jt} JOIN y ON {cond}")
            return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()

        return run
    raise ValueError(tool)


def _checksum(out, keycol: str) -> dict:
    """Row count and sums that do not depend on row order or column naming."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if hasattr(out, "to_arrow") and not isinstance(out, pa.Table):
        out = out.to_arrow()  # polars (outside the timing)
    elif not isinstance(out, pa.Table):
        out = pa.Table.from_pandas(out, preserve_index=False)
    sums = {"rows": out.num_rows}
    for name in out.column_names:
        base = name[:-2] if name.endswith(("_x", "_y")) else name
        col = out.column(name)
        numeric_key = name == keycol and pa.types.is_integer(col.type)
        if base in CHECK_COLUMNS or numeric_key:
            s = pc.sum(col.cast(pa.float64())).as_py()
            sums[base if base in CHECK_COLUMNS else "key"] = s or 0.0
    return sums


def child(tool: str, question: str, n: int, runs: int, threads: int) -> dict:
    import pyarrow as pa

    pa.set_cpu_count(threads)
    pa.set_io_thread_count(threads)
    lname, rname, how, lon, ron = QUESTIONS[question]
    path = ensure_data(n)
    x = _native(tool, _read(path, lname))
    y = _native(tool, _read(path, rname))
    run = _runner(tool, how, lon, ron, threads)
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM back to the current RSS: the peak below is this join's
    base = rss_kib("VmRSS:")
    times, out = [], None
    for i in range(runs + 1):
        del out
        gc.collect()
        t0 = time.perf_counter()
        out = run(x, y)
        dt = time.perf_counter() - t0
        if i:
            times.append(dt)
    peak = rss_kib("VmHWM:")
    check = _checksum(out, lon[0] if len(lon) == 1 else "")
    return {
        "tool": tool,
        "question": question,
        "median": statistics.median(times),
        "times": times,
        "peak_mib": peak / 1024,
        "added_mib": (peak - base) / 1024,
        "check": check,
    }


# ---------------------------------------------------------------------------------------------------------
# driver


def _versions() -> str:
    import duckdb
    import numpy
    import pandas
    import polars
    import pyarrow

    try:
        import mergekit

        mk = getattr(mergekit, "__version__", "?")
    except ImportError:
        mk = "not importable"
    return (
        f"mergekit {mk}, pandas {pandas.__version__}, polars {polars.__version__}, "
        f"pyarrow {pyarrow.__version__}, duckdb {duckdb.__version__}, numpy {numpy.__version__}, "
        f"python {platform.python_version()}"
    )


def _agree(a: dict, b: dict) -> bool:
    if a.keys() != b.keys() or a["rows"] != b["rows"]:
        return False
    return all(math.isclose(a[k], b[k], rel_tol=1e-9, abs_tol=1e-6) for k in a)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=float, default=1e7, help="rows of x")
    p.add_argument("--runs", type=int, default=3, help="timed runs (after one warm-up); the median is shown")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--questions", nargs="+", default=list(QUESTIONS), choices=list(QUESTIONS))
    p.add_argument("--tools", nargs="+", default=TOOLS, choices=TOOLS)
    p.add_argument("--child", nargs=2, metavar=("TOOL", "QUESTION"), help=argparse.SUPPRESS)
    a = p.parse_args()
    n = int(a.n)
    if a.child:
        print(json.dumps(child(a.child[0], a.child[1], n, a.runs, a.threads)))
        return

    ensure_data(n)
    env = dict(os.environ)
    for var in ("POLARS_MAX_THREADS", "MERGEKIT_THREADS", "OMP_NUM_THREADS", "RAYON_NUM_THREADS"):
        env[var] = str(a.threads)
    print(f"# db-benchmark join, N={n:.0e}, threads={a.threads}, median of {a.runs} after 1 warm-up")
    print(f"# {_versions()}")
    print(f"# load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    results: dict = {}
    print("| question | tool | median s | runs s | peak RSS MiB | join added MiB | rows |")
    print("|---|---|---:|---|---:|---:|---:|")
    for q in a.questions:
        for tool in a.tools:
            cmd = [sys.executable, __file__, "--child", tool, q, "--n", str(n), "--runs", str(a.runs)]
            cmd += ["--threads", str(a.threads)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                err = (proc.stderr.strip().splitlines() or ["?"])[-1][:120]
                print(f"| {q} | {tool} | failed | {err} | | | |", flush=True)
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            results[(q, tool)] = r
            print(
                f"| {q} | {tool} | {r['median']:.3f} | {' '.join(f'{t:.2f}' for t in r['times'])} | "
                f"{r['peak_mib']:.0f} | {r['added_mib']:.0f} | {r['check']['rows']} |",
                flush=True,
            )
        oracle = results.get((q, "duckdb")) or results.get((q, "pandas"))
        for tool in a.tools:
            r = results.get((q, tool))
            if r is not None and oracle is not None:
                r["ok"] = _agree(r["check"], oracle["check"])
        bad = [t for t in a.tools if (q, t) in results and results[(q, t)].get("ok") is False]
        verdict = "all agree" if not bad else "DIFFER: " + ", ".join(bad)
        against = "duckdb" if (q, "duckdb") in results else "pandas"
        print(f"| {q} | answers vs {against} | {verdict} | | | | |")
    print(f"# load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print()
    _summary(results, a.questions, a.tools)


def _summary(results: dict, questions, tools) -> None:
    """Medians as a question x tool grid, and mergekit against its input kind's own library."""
    print("| question | " + " | ".join(tools) + " |")
    print("|---|" + "---:|" * len(tools))
    for q in questions:
        cells = [f"{results[(q, t)]['median']:.3f}" if (q, t) in results else "-" for t in tools]
        print(f"| {q} | " + " | ".join(cells) + " |")
    peers = {
        "mergekit[pandas]": ["pandas"],
        "mergekit[polars]": ["polars"],
        "mergekit[arrow]": ["pyarrow", "duckdb"],
    }
    print()
    print("| question | " + " | ".join(f"{mk} / its peer" for mk in peers) + " | fastest of all |")
    print("|---|" + "---:|" * (len(peers) + 1))
    for q in questions:
        cells = []
        for mk, ps in peers.items():
            have = [results[(q, p)]["median"] for p in ps if (q, p) in results]
            ratio = results[(q, mk)]["median"] / min(have) if (q, mk) in results and have else None
            cells.append("-" if ratio is None else f"{ratio:.2f}x")
        allt = {t: results[(q, t)]["median"] for t in tools if (q, t) in results}
        best = min(allt, key=allt.get) if allt else "-"
        cells.append(f"{best} {allt[best]:.3f}" if allt else "-")
        print(f"| {q} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
