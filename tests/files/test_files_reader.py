"""mergekit.read_csv against pyarrow.csv and pandas on the same files, and its errors."""

from __future__ import annotations

import csv
import io
import warnings

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import mergekit
from mergekit.exceptions import InputFormatError, InputIOError

pytestmark = pytest.mark.files


def pyarrow_strings(path, names, sep):
    """pyarrow's reading of the same file with the same conventions: every column a string, empty = null."""
    return pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            null_values=[""],
        ),
    )


def pandas_strings(path, sep):
    return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""])


def as_lists(table: pa.Table) -> dict:
    return {n: table.column(n).to_pylist() for n in table.column_names}


def pandas_lists(df: pd.DataFrame) -> dict:
    return {c: [None if pd.isna(v) else v for v in df[c]] for c in df.columns}


CASES = {
    "quoting": b'id,text,n\n1,"a, b",x\n2,"say ""hi""",y\n3,"multi\nline",z\n',
    "crlf": b"id\ttext\r\n1\thello\r\n2\tworld\r\n",
    "bom": b"\xef\xbb\xbfid\ttext\n1\tx\n",
    "empty_fields": b"id\ta\tb\n1\t\tx\n\t\t\n3\ty\t\n",
    "unicode": "id\tname\n1\tZoë\n2\t漢字 テスト\n3\t🙂\n".encode(),
    "no_trailing_newline": b"id\tv\n1\ta\n2\tb",
    "blank_lines": b"id\tv\n1\ta\n\n2\tb\n\n",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_reader_matches_pyarrow_and_pandas(tmp_path, name):
    data = CASES[name]
    sep = "," if name == "quoting" else "\t"
    path = tmp_path / f"{name}.txt"
    path.write_bytes(data)
    ours = mergekit.read_csv(path, sep=sep)
    assert all(t == pa.string() for t in ours.schema.types)
    theirs = pyarrow_strings(path, ours.column_names, sep)
    assert ours.column_names == theirs.column_names
    assert as_lists(ours) == as_lists(theirs)
    assert as_lists(ours) == pandas_lists(pandas_strings(path, sep))


def test_infer_types_matches_pandas(tmp_path):
    path = tmp_path / "typed.tsv"
    path.write_text("i\tf\tb\ts\n1\t1.5\tTrue\tx\n2\t\tFalse\ty\n-7\t3e2\ttrue\t1\n")
    ours = mergekit.read_csv(path, infer_types=True)
    assert ours.schema.types == [pa.int64(), pa.float64(), pa.bool_(), pa.string()]
    theirs = pd.read_csv(path, sep="\t")
    assert ours.column("i").to_pylist() == theirs["i"].tolist()
    assert ours.column("f").to_pylist()[0::2] == theirs["f"].tolist()[0::2]
    assert ours.column("f").to_pylist()[1] is None
    assert ours.column("b").to_pylist() == [True, False, True]


def test_header_false_and_names(tmp_path):
    path = tmp_path / "nohead.tsv"
    path.write_text("1\ta\n2\tb\n")
    t = mergekit.read_csv(path, header=False)
    assert t.column_names == ["0", "1"]
    assert t.num_rows == 2
    t = mergekit.read_csv(path, header=False, names=["k", "v"])
    assert t.column("v").to_pylist() == ["a", "b"]


def test_large_file_parallel_chunks_match_pyarrow(tmp_path):
    # Several MB so the file is cut into many parallel chunks, with quoted newlines across chunk edges.
    path = tmp_path / "big.csv"
    rows = [
        (str(i), f"v{i}" if i % 7 else f'"line\n{i}, ""q"""', "" if i % 11 == 0 else "é")
        for i in range(200_000)
    ]
    path.write_text("a,b,c\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows), encoding="utf-8")
    ours = mergekit.read_csv(path, sep=",", threads=2)
    theirs = pyarrow_strings(path, ours.column_names, ",")
    assert ours.num_rows == 200_000
    assert ours.equals(theirs.cast(ours.schema)) or as_lists(ours) == as_lists(theirs)


field_text = st.text(alphabet=st.sampled_from(list('ab ,\t"\n\ré漢')), max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.lists(field_text, min_size=3, max_size=3), min_size=1, max_size=30),
    sep=st.sampled_from([",", "\t", ";"]),
    eol=st.sampled_from(["\n", "\r\n"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
)
def test_property_reads_what_csv_module_writes(tmp_path, rows, sep, eol, quoting):
    # With "\n" line ends the csv module leaves a "\r" unquoted, and an unquoted "\r" before the line end
    # is a CRLF to every reader (pandas and pyarrow too): not a case a writer can produce on purpose.
    assume(not (quoting == csv.QUOTE_MINIMAL and eol == "\n" and any(r[-1].endswith("\r") for r in rows)))
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=sep, lineterminator=eol, quoting=quoting)
    w.writerow(["x", "y", "z"])
    w.writerows(rows)
    path = tmp_path / "gen.txt"
    path.write_bytes(buf.getvalue().encode())
    ours = mergekit.read_csv(path, sep=sep)
    expected = {n: [r[i] or None for r in rows] for i, n in enumerate(["x", "y", "z"])}
    assert as_lists(ours) == expected


# ---- bad input: each documented error names the file and line ----


def test_wrong_field_count_error_warn_skip(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("a\tb\n1\t2\n3\n4\t5\t6\n7\t8\n")
    with pytest.raises(InputFormatError, match=r"bad\.tsv:3: expected 2 fields, saw 1"):
        mergekit.read_csv(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = mergekit.read_csv(path, on_bad_lines="warn")
    assert [w.category for w in caught] == [pd.errors.ParserWarning] * 2
    assert str(caught[0].message).endswith("bad.tsv:3: expected 2 fields, saw 1")
    assert str(caught[1].message).endswith("bad.tsv:4: expected 2 fields, saw 3")
    assert t.column("a").to_pylist() == ["1", "7"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = mergekit.read_csv(path, on_bad_lines="skip")
    assert t.num_rows == 2
    # The same rows pandas keeps when it skips bad lines (pandas pads short rows; both skip long ones).
    pdf = pd.read_csv(path, sep="\t", dtype=str, on_bad_lines="skip")
    assert set(t.column("a").to_pylist()) <= set(pdf["a"])


def test_invalid_utf8_names_line_and_column(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes(b"a\tb\nok\tfine\nx\tcaf\xe9\n")
    with pytest.raises(InputFormatError, match=r"latin1\.tsv:3: invalid UTF-8 in column \"b\""):
        mergekit.read_csv(path)


def test_unterminated_quote(tmp_path):
    path = tmp_path / "open.csv"
    path.write_text('a,b\n1,2\n3,"never closed\n4,5\n')
    with pytest.raises(InputFormatError, match=r"open\.csv:3: unterminated quoted field"):
        mergekit.read_csv(path, sep=",")


def test_missing_file_and_bad_options(tmp_path):
    with pytest.raises(InputIOError):
        mergekit.read_csv(tmp_path / "nope.tsv")
    path = tmp_path / "x.tsv"
    path.write_text("a\n1\n")
    with pytest.raises(ValueError, match="sep"):
        mergekit.read_csv(path, sep="ab")
    with pytest.raises(ValueError, match="on_bad_lines"):
        mergekit.read_csv(path, on_bad_lines="explode")
