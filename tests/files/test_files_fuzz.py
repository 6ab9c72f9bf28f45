"""Property test (issue 9): random delimited files (quoting, separators, line ends, garbage bytes) either read
as the table pyarrow's CSV reader gives, or raise a typed mergekit error naming the file and a line; never a
crash or an untyped exception."""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import mergekit
from mergekit.exceptions import InputFormatError, MergekitError

pytestmark = pytest.mark.files

FIELD_CHARS = st.sampled_from([*"ab1 é", '"', ",", "\t", ";", "\n", "\r"])
GARBAGE = st.sampled_from([b"\xff", b"\x00", b"\xc3", b'"', b"\r", b"\n", b"\r\n"])


@st.composite
def delimited(draw):
    sep = draw(st.sampled_from([",", "\t", ";", "|"]))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    ncols = draw(st.integers(1, 4))
    header = [f"c{i}" for i in range(ncols)]
    rows = draw(
        st.lists(st.lists(st.text(FIELD_CHARS, max_size=5), min_size=ncols, max_size=ncols), max_size=8)
    )

    def field(v: str) -> str:
        quote = draw(st.booleans()) or any(c in v for c in (sep, '"', "\n", "\r"))
        return '"' + v.replace('"', '""') + '"' if quote else v

    text = sep.join(header) + eol + "".join(sep.join(field(v) for v in r) + eol for r in rows)
    data = text.encode()
    corrupt = draw(st.booleans())
    if corrupt:
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(data)))
            data = data[:at] + draw(GARBAGE) + data[at:]
    return sep, data, corrupt


def _oracle(path, sep, data):
    # Every column read as a string: with inferred types pyarrow trims "1\t" to the integer 1.
    names = data.split(b"\n", 1)[0].rstrip(b"\r").decode().split(sep)
    return pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
        read_options=pacsv.ReadOptions(autogenerate_column_names=False),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=delimited())
@example(case=(",", b"c0\n1\t\n", False))  # a tab inside a comma-separated field is data
def test_random_delimited_files(tmp_path, case):
    sep, data, corrupt = case
    path = tmp_path / "in.txt"
    path.write_bytes(data)
    try:
        ours = mergekit.read_csv(path, sep=sep)
    except InputFormatError as e:
        assert re.search(r"in\.txt:\d+: ", str(e)), str(e)
        assert len(str(e)) < 2100
        assert corrupt or "\r" in data.decode(errors="replace"), (data, e)
        return
    except MergekitError as e:
        raise AssertionError(f"unexpected error class {type(e).__name__}: {e}") from e
    if corrupt:
        return  # garbage that still parses: no oracle for what the text "meant"
    want = _oracle(path, sep, data)
    assert ours.column_names == want.column_names
    # pyarrow reads an unquoted empty field as null, as mergekit does; compare as lists.
    assert ours.to_pylist() == want.to_pylist()
