"""Helpers shared by the file reader and out-of-core join tests (a uniquely named module: every test
directory has a ``conftest``, so importing helpers from one would be ambiguous)."""

from __future__ import annotations

import collections
import random

import pyarrow as pa


def rows_of(table: pa.Table) -> collections.Counter:
    """A table's rows as a multiset of tuples (None for null), for order-free comparison."""
    cols = [c.to_pylist() for c in table.columns]
    return collections.Counter(zip(*cols))


def write_tsv(path, header, rows, sep="\t", eol="\n") -> None:
    """Write rows with minimal quoting (a value holding sep, quote or a line end is quoted)."""

    def field(v):
        if v is None:
            return ""
        if any(c in v for c in (sep, '"', "\n", "\r")):
            return '"' + v.replace('"', '""') + '"'
        return v

    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(sep.join(header) + eol)
        for r in rows:
            f.write(sep.join(field(v) for v in r) + eol)


def skewed_sides(n_left: int, n_right: int, seed: int = 7, heavy_share: float = 0.6):
    """Two sides keyed by ID: a heavy key "H" holds `heavy_share` of the left rows (and a few right
    rows), a few null keys, the rest spread over a few hundred keys; values hold tabs, quotes and unicode."""
    rnd = random.Random(seed)
    specials = ["plain", "tab\there", 'quo"te', "é ü 漢字", "two\nlines", "x"]

    def key(heavy):
        if rnd.random() < heavy:
            return "H"
        if rnd.random() < 0.01:
            return None
        return f"k{rnd.randrange(400)}"

    left = [(key(heavy_share), f"L{i}", rnd.choice(specials)) for i in range(n_left)]
    right = [(key(0.002), f"R{i}", rnd.choice(specials)) for i in range(n_right)]
    return left, right


def make_skewed_files(tmp_path):
    """left.tsv (20,000 rows) and right.tsv (12,000 rows) from `skewed_sides`, in `tmp_path`."""
    left, right = skewed_sides(20_000, 12_000)
    lp, rp = tmp_path / "left.tsv", tmp_path / "right.tsv"
    write_tsv(lp, ["ID", "a", "v"], left)
    write_tsv(rp, ["ID", "b", "v"], right)
    return lp, rp
