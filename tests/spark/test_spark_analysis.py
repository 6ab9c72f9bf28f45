"""analysis.py end to end: through spark-submit and in-process on the test session, checked against pandas
(and mergekit.merge) on the same inputs; bad input gives a clear error and no output."""

from __future__ import annotations

import glob
import importlib.util
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SEED_TABLE = """\
+---+-----+-----+
| ID| Word| droW|
+---+-----+-----+
|  A|Hello|olleH|
|  B|World|dlroW|
|  C|  How|  woH|
|  D|   Do|   oD|
|  E|  You|  uoY|
|  F|   Do|   oD|
|  G|    ?|    ?|
+---+-----+-----+
"""


def load_analysis():
    spec = importlib.util.spec_from_file_location("analysis", ROOT / "analysis.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def analysis():
    return load_analysis()


def spark_submit(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    import pyspark

    submit = os.path.join(os.path.dirname(pyspark.__file__), "bin", "spark-submit")
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    env.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")
    cmd = [submit, "--conf", "spark.ui.enabled=false", "--conf", "spark.sql.shuffle.partitions=4"]
    cmd += [str(ROOT / "analysis.py"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


def read_output(path: Path) -> pd.DataFrame:
    parts = sorted(glob.glob(str(path / "part-*")))
    assert parts, f"no output files in {path}"
    frames = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in parts]
    return pd.concat(frames, ignore_index=True)


def as_rows(df: pd.DataFrame) -> Counter:
    return Counter(tuple("" if pd.isna(v) else str(v) for v in row) for row in df.itertuples(index=False))


def read_input(path: Path, sep="\t", header=True) -> pd.DataFrame:
    return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, header=0 if header else None)


def no_leftovers(output: Path) -> bool:
    """Nothing at the output path, and no hidden temporary directory beside it."""
    return not output.exists() and not list(output.parent.glob(f".{output.name}.mergekit-tmp-*"))


def write_tsv(path: Path, header: list[str], rows: list[tuple]) -> Path:
    path.write_text("\n".join(["\t".join(header)] + ["\t".join(map(str, r)) for r in rows]) + "\n")
    return path


def generated_pair(tmp: Path, n_left=3000, n_right=2000, seed=11) -> tuple[Path, Path]:
    rng = random.Random(seed)
    left = [(f"id{rng.randrange(2500)}", rng.choice("abcdef") * 3, rng.randrange(999)) for _ in range(n_left)]
    right = [(f"id{rng.randrange(2500)}", f"r{rng.randrange(10**9)}") for _ in range(n_right)]
    return (
        write_tsv(tmp / "left.tsv", ["ID", "word", "num"], left),
        write_tsv(tmp / "right.tsv", ["ID", "other"], right),
    )


# ---------------------------------------------------------------------------------------------------------
# Through spark-submit
# ---------------------------------------------------------------------------------------------------------


def test_seed_example_through_spark_submit(tmp_path):
    out = tmp_path / "merged"
    proc = spark_submit(
        "--data_source_1", str(EXAMPLES / "x_list.txt"),
        "--data_source_2", str(EXAMPLES / "y_list.txt"),
        "--output_uri", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The seed's table, without the header line read as a data row.
    assert SEED_TABLE in proc.stdout
    assert "read 7 rows from" in proc.stdout and "wrote 7 rows" in proc.stdout
    got = read_output(out)
    x, y = read_input(EXAMPLES / "x_list.txt"), read_input(EXAMPLES / "y_list.txt")
    assert list(got.columns) == ["ID", "Word", "droW"]
    assert as_rows(got) == as_rows(pd.merge(x, y, on="ID"))
    import mergekit

    assert as_rows(got) == as_rows(mergekit.merge(x, y, on="ID"))


@pytest.mark.slow
@pytest.mark.parametrize("how", ["left", "outer"])
def test_generated_pair_through_spark_submit(tmp_path, how):
    left, right = generated_pair(tmp_path)
    out = tmp_path / "merged"
    proc = spark_submit(
        "--data_source_1", str(left), "--data_source_2", str(right), "--output_uri", str(out), "--how", how,
        "--strategy", "shuffle",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    want = pd.merge(read_input(left), read_input(right), on="ID", how=how)
    got = read_output(out)
    assert list(got.columns) == list(want.columns)
    assert as_rows(got) == as_rows(want)
    assert f"wrote {len(want)} rows" in proc.stdout


@pytest.mark.slow
def test_ragged_input_through_spark_submit_fails_cleanly(tmp_path):
    bad = write_tsv(tmp_path / "bad.tsv", ["ID", "v"], [("a", 1), ("b",), ("c", 3)])
    out = tmp_path / "merged"
    proc = spark_submit(
        "--data_source_1", str(bad), "--data_source_2", str(EXAMPLES / "y_list.txt"), "--output_uri", str(out)
    )
    assert proc.returncode == 1
    # spark-submit merges the Python driver's stderr into its stdout.
    output = proc.stdout + proc.stderr
    # Spark 4 names the record ("Malformed CSV record: b"), 3.5 the parsed row; both name the file.
    assert "analysis.py: error: Malformed" in output and "bad.tsv" in output
    assert no_leftovers(out)


# ---------------------------------------------------------------------------------------------------------
# In-process, on the test session (no JVM start per case)
# ---------------------------------------------------------------------------------------------------------


def run_main(analysis, spark, capsys, *args):
    rc = analysis.main([*map(str, args)])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


@pytest.mark.parametrize(
    ("how", "engine", "strategy"),
    [
        ("inner", "mergekit", "broadcast"),
        ("right", "mergekit", "auto"),
        ("left_anti", "mergekit", "shuffle"),
        ("outer", "spark", "auto"),
        ("left_semi", "spark", "auto"),
    ],
)
def test_generated_pair_in_process(analysis, spark, capsys, tmp_path, how, engine, strategy):
    left, right = generated_pair(tmp_path, n_left=600, n_right=400)
    out = tmp_path / "merged"
    rc, stdout, err = run_main(
        analysis, spark, capsys,
        "--data_source_1", left, "--data_source_2", right, "--output_uri", out, "--how", how,
        "--engine", engine, "--strategy", strategy, "--no-preview",
    )  # fmt: skip
    assert rc == 0, err
    x, y = read_input(left), read_input(right)
    if how == "left_semi":
        want = x[x["ID"].isin(set(y["ID"]))]
    elif how == "left_anti":
        want = x[~x["ID"].isin(set(y["ID"]))]
    else:
        want = pd.merge(x, y, on="ID", how=how)
    got = read_output(out)
    assert list(got.columns) == list(want.columns)
    assert as_rows(got) == as_rows(want)
    assert f"wrote {len(want)} rows" in stdout


def test_no_header_custom_key_and_csv_format(analysis, spark, capsys, tmp_path):
    # Comma-separated, no header line, joined on the second column.
    (tmp_path / "a.csv").write_text("1,x,foo\n2,y,bar\n3,z,baz\n")
    (tmp_path / "b.csv").write_text("9,x\n8,x\n7,q\n")
    out = tmp_path / "merged"
    rc, _, err = run_main(
        analysis, spark, capsys,
        "--data_source_1", tmp_path / "a.csv", "--data_source_2", tmp_path / "b.csv", "--output_uri", out,
        "--format", "csv", "--no-header", "--on", "_c1", "--no-preview",
    )  # fmt: skip
    assert rc == 0, err
    got = read_output(out)
    assert list(got.columns) == ["_c0_x", "_c1", "_c2", "_c0_y"]
    assert as_rows(got) == Counter({("1", "x", "foo", "9"): 1, ("1", "x", "foo", "8"): 1})


def test_parquet_inputs(analysis, spark, capsys, tmp_path):
    x = read_input(EXAMPLES / "x_list.txt")
    y = read_input(EXAMPLES / "y_list.txt")
    x.to_parquet(tmp_path / "x.parquet")
    y.iloc[:4].to_parquet(tmp_path / "y.parquet")
    out = tmp_path / "merged"
    rc, stdout, err = run_main(
        analysis, spark, capsys,
        "--data_source_1", tmp_path / "x.parquet", "--data_source_2", tmp_path / "y.parquet",
        "--output_uri", out, "--how", "left",
    )  # fmt: skip
    assert rc == 0, err
    assert as_rows(read_output(out)) == as_rows(pd.merge(x, y.iloc[:4], on="ID", how="left"))
    assert "|  g|    ?| null|" in stdout.lower()  # the preview, ordered by key (Spark 4 prints NULL)


def test_missing_on_column(analysis, spark, capsys, tmp_path):
    out = tmp_path / "merged"
    rc, _, err = run_main(
        analysis, spark, capsys,
        "--data_source_1", EXAMPLES / "x_list.txt", "--data_source_2", EXAMPLES / "y_list.txt",
        "--output_uri", out, "--on", "Word",
    )  # fmt: skip
    assert rc == 1
    assert "analysis.py: error:" in err and "'Word'" in err and "right input" in err
    assert no_leftovers(out)


@pytest.mark.parametrize("row", [("b",), ("b", 2, "extra")], ids=["short-row", "long-row"])
@pytest.mark.parametrize("strategy", ["shuffle", "broadcast"])
def test_ragged_rows(analysis, spark, capsys, tmp_path, row, strategy):
    bad = write_tsv(tmp_path / "bad.tsv", ["ID", "v"], [("A", 1), row, ("C", 3)])
    out = tmp_path / "merged"
    rc, _, err = run_main(
        analysis, spark, capsys,
        "--data_source_1", EXAMPLES / "x_list.txt", "--data_source_2", bad, "--output_uri", out,
        "--strategy", strategy,
    )  # fmt: skip
    assert rc == 1
    assert "analysis.py: error:" in err and "Malformed" in err
    assert no_leftovers(out)


def test_unreadable_path(analysis, spark, capsys, tmp_path):
    out = tmp_path / "merged"
    missing = tmp_path / "does-not-exist.tsv"
    rc, _, err = run_main(
        analysis, spark, capsys,
        "--data_source_1", missing, "--data_source_2", EXAMPLES / "y_list.txt", "--output_uri", out,
    )  # fmt: skip
    assert rc == 1
    assert f"cannot read {missing}" in err
    assert no_leftovers(out)


def test_failed_run_keeps_previous_output(analysis, spark, capsys, tmp_path):
    out = tmp_path / "merged"
    args = ("--data_source_2", EXAMPLES / "y_list.txt", "--output_uri", out, "--no-preview")
    rc, _, err = run_main(analysis, spark, capsys, "--data_source_1", EXAMPLES / "x_list.txt", *args)
    assert rc == 0, err
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "_SUCCESS" in before and "_MERGEKIT" in before
    bad = write_tsv(tmp_path / "bad.tsv", ["ID", "v"], [("A", 1), ("B",)])
    rc, _, _ = run_main(analysis, spark, capsys, "--data_source_1", bad, *args)
    assert rc == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not list(tmp_path.glob(".merged.mergekit-tmp-*"))
    # A successful run replaces mergekit's own earlier output.
    rc, _, err = run_main(
        analysis, spark, capsys, "--data_source_1", EXAMPLES / "x_list.txt", "--how", "left", *args
    )
    assert rc == 0, err
    assert len(read_output(out)) == 7


def test_existing_directory_that_is_not_an_output_is_kept(tmp_path):
    """Issue 9's data loss, end to end through spark-submit: the output directory holds the inputs and a
    subfolder; main's run succeeded and deleted them all. Now it is refused and every file is kept."""
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    x = data / "x_list.txt"
    y = data / "y_list.txt"
    x.write_bytes((EXAMPLES / "x_list.txt").read_bytes())
    y.write_bytes((EXAMPLES / "y_list.txt").read_bytes())
    (data / "sub" / "notes.txt").write_text("keep me")
    before = sorted(str(p.relative_to(data)) for p in data.rglob("*"))
    r = spark_submit("--data_source_1", str(x), "--data_source_2", str(y), "--output_uri", str(data))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "is an input or holds one" in r.stdout + r.stderr
    assert sorted(str(p.relative_to(data)) for p in data.rglob("*")) == before
    # Not holding the inputs, still not a mergekit output: refused too.
    other = tmp_path / "other"
    other.mkdir()
    (other / "mine.csv").write_text("a\n")
    r = spark_submit(
        "--data_source_1", str(x), "--data_source_2", str(y), "--output_uri", str(other), "--no-preview"
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert "not a mergekit output" in r.stdout + r.stderr
    assert (other / "mine.csv").read_text() == "a\n"
    assert not list(tmp_path.glob(".*mergekit-tmp-*"))


def test_output_equal_to_an_input_file_is_refused(analysis, spark, capsys, tmp_path):
    x = tmp_path / "x.txt"
    x.write_bytes((EXAMPLES / "x_list.txt").read_bytes())
    before = x.read_bytes()
    rc, _, err = run_main(
        analysis, spark, capsys,
        "--data_source_1", x, "--data_source_2", EXAMPLES / "y_list.txt", "--output_uri", x,
    )  # fmt: skip
    assert rc == 1
    assert "is an input" in err
    assert x.read_bytes() == before


def test_output_with_foreign_files_added_is_refused(analysis, spark, capsys, tmp_path):
    out = tmp_path / "merged"
    args = ("--data_source_1", EXAMPLES / "x_list.txt", "--data_source_2", EXAMPLES / "y_list.txt")
    rc, _, err = run_main(analysis, spark, capsys, *args, "--output_uri", out, "--no-preview")
    assert rc == 0, err
    (out / "my-notes.txt").write_text("added later")
    rc, _, err = run_main(analysis, spark, capsys, *args, "--output_uri", out, "--no-preview")
    assert rc == 1
    assert "did not write" in err and "my-notes.txt" in err
    assert (out / "my-notes.txt").read_text() == "added later"
