"""pyarrow and polars inputs: results compared with pyarrow's and polars' own joins, and the input kind
round-trips (a polars frame in, a polars frame out, with the same column types)."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import Counter

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from parity_helpers import BASE

import mergekit

PANDAS_3 = int(pd.__version__.split(".")[0]) >= 3

KEY_TYPES = {
    "int64": (pa.int64(), lambda c: c),
    "int32": (pa.int32(), lambda c: c),
    "uint16": (pa.uint16(), lambda c: c),
    "string": (pa.string(), lambda c: f"s{c}"),
    "large_string": (pa.large_string(), lambda c: f"s{c}"),
    "float64": (pa.float64(), lambda c: c / 4),
    "date32": (pa.date32(), lambda c: dt.date(2020, 1, 1) + dt.timedelta(days=c)),
    "timestamp_tz": (
        pa.timestamp("us", tz="UTC"),
        lambda c: dt.datetime(2020, 1, 1, c, tzinfo=dt.timezone.utc),
    ),
    "dictionary": (pa.dictionary(pa.int32(), pa.string()), lambda c: f"s{c}"),
}


def column(type_name, codes):
    typ, make = KEY_TYPES[type_name]
    values = [None if c is None else make(c) for c in codes]
    if pa.types.is_dictionary(typ):
        return pa.array(values, pa.string()).dictionary_encode()
    return pa.array(values, typ)


@st.composite
def arrow_case(draw, types=tuple(KEY_TYPES), nulls=True, max_rows=12):
    n_keys = draw(st.integers(1, 2))
    fams = [draw(st.sampled_from(types)) for _ in range(n_keys)]
    elem = st.one_of(st.none(), st.integers(0, 4)) if nulls else st.integers(0, 4)

    def side(prefix):
        n = draw(st.integers(0, max_rows))
        cols = {f"k{i}": column(f, draw(st.lists(elem, min_size=n, max_size=n))) for i, f in enumerate(fams)}
        cols["v"] = pa.array(
            draw(st.lists(st.one_of(st.none(), st.integers(-5, 5)), min_size=n, max_size=n)), pa.int64()
        )
        cols[prefix] = pa.array([f"{prefix}{i}" for i in range(n)], pa.string())
        return pa.table(cols)

    return side("a"), side("b"), [f"k{i}" for i in range(n_keys)]


def rows(table: pa.Table, names) -> Counter:
    """The rows of ``table`` (columns ``names``) as a multiset; dictionary columns by value."""
    cols = []
    for n in names:
        c = table.column(n)
        if pa.types.is_dictionary(c.type):
            c = c.cast(c.type.value_type)
        cols.append(c.to_pylist())
    return Counter(zip(*cols))


PYARROW_HOW = {
    "inner": "inner",
    "left": "left outer",
    "right": "right outer",
    "outer": "full outer",
    "left_semi": "left semi",
    "left_anti": "left anti",
    "right_anti": "right anti",
}


@settings(BASE, max_examples=150)
@given(arrow_case(types=("int64", "int32", "string", "large_string", "float64", "date32", "timestamp_tz")),
       st.sampled_from(sorted(PYARROW_HOW)))  # fmt: skip
def test_frames_pyarrow_matches_pyarrow_join(case, how):
    left, right, keys = case
    # pyarrow's join has SQL null semantics; mergekit's nulls_equal=False is the same rule.
    got = mergekit.merge(left, right, on=keys, how=how, nulls_equal=False)
    assert isinstance(got, pa.Table)
    expected = left.join(right, keys, join_type=PYARROW_HOW[how], left_suffix="_x", right_suffix="_y")
    if how in ("left_semi", "left_anti", "right_anti"):
        # pyarrow returns one side's columns; mergekit (like pandas) both sides', the other one all null.
        side, other = (left, right) if how != "right_anti" else (right, left)
        suffix, other_suffix = ("_x", "_y") if how != "right_anti" else ("_y", "_x")
        names = [n if n in got.column_names else n + suffix for n in side.column_names]
        assert rows(got, names) == rows(expected, side.column_names)
        if how != "left_semi":
            for n in other.column_names:
                if n not in keys:
                    name = n if n in got.column_names else n + other_suffix
                    assert got.column(name).null_count == len(got)
        return
    names = expected.column_names
    assert sorted(got.column_names) == sorted(names)
    assert rows(got, names) == rows(expected, names)
    for n in names:
        assert got.schema.field(n).type == expected.schema.field(n).type, n


def polars_frame(table: pa.Table) -> pl.DataFrame:
    return pl.from_arrow(table)


POLARS_ORDER = {"inner": "left_right", "left": "left_right", "right": "right_left", "outer": None}


@settings(BASE, max_examples=150)
@given(arrow_case(types=("int64", "int32", "string", "float64", "date32", "timestamp_tz", "dictionary")),
       st.sampled_from(sorted(POLARS_ORDER)), st.booleans())  # fmt: skip
def test_frames_polars_matches_polars_join(case, how, nulls_equal):
    left, right, keys = case
    lp, rp = polars_frame(left), polars_frame(right)
    got = mergekit.merge(lp, rp, on=keys, how=how, suffixes=("", "_right"), nulls_equal=nulls_equal)
    assert isinstance(got, pl.DataFrame)
    order = POLARS_ORDER[how]
    expected = lp.join(
        rp,
        on=keys,
        how="full" if how == "outer" else how,
        coalesce=True,
        nulls_equal=nulls_equal,
        maintain_order=order or "none",
    )
    assert sorted(got.columns) == sorted(expected.columns)
    got = got.select(expected.columns)
    assert got.schema == expected.schema
    if order is not None:
        # pandas' order rules (left rows in order, each one's matches in right order; mirrored for right
        # joins) are polars' maintain_order="left_right"/"right_left".
        assert got.to_dicts() == expected.to_dicts()
    else:
        assert Counter(map(tuple, got.rows())) == Counter(map(tuple, expected.rows()))


@settings(BASE, max_examples=60)
@given(arrow_case(types=("int64", "string", "float64")), st.sampled_from(["inner", "left", "right", "outer"]))
def test_frames_arrow_result_equals_pandas_result(case, how):
    """The Arrow path follows pandas' rules too: same rows in the same order, same column names, when both
    are converted to plain Python values."""
    left, right, keys = case
    got = mergekit.merge(left, right, on=keys, how=how, indicator=True)
    expected = pd.merge(left.to_pandas(), right.to_pandas(), on=keys, how=how, indicator=True)
    assert got.column_names == list(expected.columns)
    got_rows = got.to_pandas().astype(object).where(got.to_pandas().notna(), None).values.tolist()
    exp_rows = expected.astype(object).where(expected.notna(), None).values.tolist()

    def norm(rs):  # pandas turns ints with missing values into floats: compare numbers as numbers
        num = lambda v: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v  # noqa: E731
        return [[num(v) for v in r] for r in rs]

    assert norm(got_rows) == norm(exp_rows)


@pytest.mark.parametrize(
    "how", ["inner", "left", "right", "outer", "cross", "left_anti", "right_anti", "left_semi"]
)
def test_frames_kinds_round_trip(how):
    left = pa.table(
        {"k": pa.array([1, 2, 2, None], pa.int32()), "s": pa.array(["a", "b", "c", "d"], pa.string_view())}
    )
    right = pa.table({"k": pa.array([2, 3, None], pa.int64()), "t": pa.array([1.5, 2.5, 3.5])})
    kw = {} if how == "cross" else {"on": "k"}
    as_table = mergekit.merge(left, right, how=how, **kw)
    assert isinstance(as_table, pa.Table)
    if how != "left_semi" and (PANDAS_3 or "anti" not in how):  # pandas has no semi join (2.2: no anti)
        assert as_table.num_rows == len(pd.merge(left.to_pandas(), right.to_pandas(), how=how, **kw))
    assert as_table.schema.field("s").type == pa.string_view()  # column types pass through untouched

    as_batch = mergekit.merge(left.to_batches()[0], right.to_batches()[0], how=how, **kw)
    assert isinstance(as_batch, pa.RecordBatch)
    assert pa.Table.from_batches([as_batch]).equals(as_table.combine_chunks())

    lp, rp = pl.from_arrow(left), pl.from_arrow(right)
    as_polars = mergekit.merge(lp, rp, how=how, **kw)
    assert isinstance(as_polars, pl.DataFrame)
    assert as_polars.schema["s"] == lp.schema["s"]
    assert as_polars.to_arrow().to_pylist() == as_table.to_pylist()

    class Stream:  # any producer of the Arrow PyCapsule stream interface
        def __init__(self, t):
            self.t = t

        def __arrow_c_stream__(self, requested_schema=None):
            return self.t.__arrow_c_stream__(requested_schema)

    as_stream = mergekit.merge(Stream(left), Stream(right), how=how, **kw)
    assert isinstance(as_stream, pa.Table) and as_stream.equals(as_table)

    # Mixed kinds: the result has the left input's kind.
    mixed = mergekit.merge(lp, right.to_pandas(), how=how, **kw)
    assert isinstance(mixed, pl.DataFrame) and mixed.columns == as_table.column_names


def test_frames_pandas_left_with_arrow_right_gives_pandas():
    left = pd.DataFrame({"k": [1, 2, 3], "x": [1.0, 2.0, 3.0]})
    right = pa.table({"k": [3, 1], "y": ["c", "a"]})
    got = mergekit.merge(left, right, on="k", how="left")
    expected = pd.merge(left, right.to_pandas(), on="k", how="left")
    pd.testing.assert_frame_equal(got, expected)


def test_frames_nulls_equal_switches_null_semantics():
    left = pa.table({"k": pa.array([1, None, None]), "a": [1, 2, 3]})
    right = pa.table({"k": pa.array([None, 1]), "b": [10, 20]})
    pandas_like = mergekit.merge(left, right, on="k")
    assert pandas_like.to_pydict() == {"k": [1, None, None], "a": [1, 2, 3], "b": [20, 10, 10]}
    sql_like = mergekit.merge(left, right, on="k", nulls_equal=False)
    assert sql_like.to_pydict() == {"k": [1], "a": [1], "b": [20]}


@pytest.mark.parametrize(
    ("ltype", "rtype", "out"),
    [
        (pa.int32(), pa.int64(), pa.int64()),
        (pa.int64(), pa.float64(), pa.float64()),
        (pa.dictionary(pa.int32(), pa.string()), pa.large_string(), pa.large_string()),
        (pa.string(), pa.large_string(), pa.large_string()),
    ],
)
def test_frames_outer_key_of_two_types_holds_both_sides(ltype, rtype, out):
    """A coalesced outer-join key takes a type both sides' values fit in, as pandas' common dtype does."""
    big = 3_000_000_000 if pa.types.is_integer(rtype) else None
    lvals = ["a", "b"] if pa.types.is_dictionary(ltype) or pa.types.is_string(ltype) else [1, 2]
    rvals = ["b", "c"] if lvals[0] == "a" else [2, big or 2.5]
    lcol = pa.array(lvals, ltype.value_type if pa.types.is_dictionary(ltype) else ltype)
    if pa.types.is_dictionary(ltype):
        lcol = lcol.dictionary_encode()
    left = pa.table({"k": lcol, "a": [1, 2]})
    right = pa.table({"k": pa.array(rvals, rtype), "b": [1, 2]})
    got = mergekit.merge(left, right, on="k", how="outer")
    assert got.schema.field("k").type == out
    int_vs_float = pa.types.is_integer(ltype) and pa.types.is_floating(rtype)
    # pandas (the oracle) warns that 2.5 has no int representation; that warning is pandas' own, not ours.
    expecting = pytest.warns(UserWarning, match="int and float") if int_vs_float else contextlib.nullcontext()
    with expecting:
        expected = pd.merge(left.to_pandas(), right.to_pandas(), on="k", how="outer")
    assert got.column("k").to_pylist() == expected["k"].tolist()


@pytest.mark.parametrize("sort", [False, True])
@pytest.mark.parametrize("how", ["inner", "left", "right", "outer", "left_semi", "left_anti"])
@pytest.mark.parametrize("dtype", ["categorical", "enum"])
def test_frames_polars_category_keys_match_polars_join(how, sort, dtype):
    """Categorical keys of one dtype join on polars' category ids where the order allows it. The right
    frame's values are registered first, so ids disagree with value order and with the left frame's
    first-seen order; the answer must still be polars' own join, and sorted output in value order."""
    import polars as pl

    values = ["q", "b", None, "z", "b", "a", "q", "m"]
    enum = pl.Enum(["z", "q", "m", "b", "a", "x"])
    typ = enum if dtype == "enum" else pl.Categorical
    rp = pl.DataFrame({"k": pl.Series(["x", "a", "q", None, "q"], dtype=typ), "r": [1, 2, 3, 4, 5]})
    lp = pl.DataFrame({"k": pl.Series(values, dtype=typ), "v": range(len(values))})
    got = mergekit.merge(lp, rp, on="k", how=how, sort=sort, suffixes=("", "_right"))
    assert got.schema["k"] == lp.schema["k"]
    polars_how = {"outer": "full", "left_semi": "semi", "left_anti": "anti"}.get(how, how)
    order = {"right": "right_left"}.get(how, "left_right")
    expected = lp.join(rp, on="k", how=polars_how, coalesce=True, nulls_equal=True, maintain_order=order)
    got = got.select(expected.columns)
    if sort or how == "outer":
        # pandas' key order: by value, missing keys last; each key's rows as the unsorted join has them.
        key = [(v is None, v or "") for v in got["k"].to_list()]
        assert key == sorted(key)
        assert Counter(map(tuple, got.rows())) == Counter(map(tuple, expected.rows()))
    else:
        assert got.to_dicts() == expected.to_dicts()


@pytest.mark.parametrize("kind", ["arrow", "polars"])
@pytest.mark.parametrize(
    "keys",
    [{"on": ("a", "b")}, {"left_on": ("a", "b"), "right_on": ["a", "b"]}, {"on": ["a", "b"]}],
    ids=["on-tuple", "left_on-tuple", "on-list"],
)
def test_frames_a_tuple_of_key_names_is_several_keys_as_in_pandas(kind, keys):
    frame = pd.DataFrame({"a": [1, 2, 2], "b": [3, 4, 4], "v": [5, 6, 7]})
    expected = pd.merge(frame, frame, **keys)
    data = pa.Table.from_pandas(frame, preserve_index=False)
    got = mergekit.merge(*(2 * [data if kind == "arrow" else pl.from_arrow(data)]), **keys)
    pd.testing.assert_frame_equal(got.to_pandas(), expected)
