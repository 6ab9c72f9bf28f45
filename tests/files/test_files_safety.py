"""Data safety and hostile input for ``join_files``/``read_csv``/``mergekit join`` (issue 9): the output rule,
pipes, CR-only files, directories and non-Parquet inputs, capped messages, a file truncated while mapped,
numeric arguments, ``--version``. Each case was wrong on the main branch before this suite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from files_helpers import rows_of, write_tsv

import mergekit
from mergekit import _output
from mergekit.exceptions import (
    InputFormatError,
    InputIOError,
    InvalidArgumentError,
    MergekitError,
    OutputRefusedError,
)

pytestmark = pytest.mark.files

PY = sys.executable


def run_cli(*args, **kw):
    return subprocess.run([PY, "-m", "mergekit.cli", *map(str, args)], capture_output=True, text=True, **kw)


@pytest.fixture
def pair(tmp_path):
    lp, rp = tmp_path / "l.tsv", tmp_path / "r.tsv"
    write_tsv(lp, ["ID", "a"], [("1", "x"), ("2", "y"), ("3", "z")])
    write_tsv(rp, ["ID", "b"], [("1", "p"), ("3", "q"), ("4", "r")])
    return lp, rp


def expected_inner(lp, rp):
    left = pd.read_csv(lp, sep="\t", dtype=str)
    right = pd.read_csv(rp, sep="\t", dtype=str)
    return rows_of(pa.Table.from_pandas(left.merge(right, on="ID"), preserve_index=False))


# ---------------------------------------------------------------------------------------------------------
# The output rule


def test_output_equal_to_an_input_is_refused_and_the_input_kept(pair):
    lp, rp = pair
    before = lp.read_bytes()
    with pytest.raises(OutputRefusedError, match="is also an input"):
        mergekit.join_files(lp, rp, lp, on="ID")
    # Also through another name for the same file (a hard link).
    os.link(lp, lp.parent / "alias.tsv")
    with pytest.raises(OutputRefusedError, match="is also an input"):
        mergekit.join_files(lp, rp, lp.parent / "alias.tsv", on="ID", overwrite=True)
    r = run_cli("join", lp, rp, "-o", rp, "--on", "ID", "--overwrite")
    assert r.returncode == 2, r.stderr
    assert "is also an input" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert lp.read_bytes() == before


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a character device needs root")
def test_output_onto_a_device_node_is_refused_and_the_node_kept(pair, tmp_path):
    lp, rp = pair
    node = tmp_path / "null-like"
    os.mknod(node, 0o666 | 0o020000, os.makedev(1, 3))  # a character device, like /dev/null
    r = run_cli("join", lp, rp, "-o", node, "--on", "ID", "--overwrite")
    assert r.returncode == 2, r.stderr
    assert "character device" in r.stderr
    import stat

    assert stat.S_ISCHR(os.stat(node).st_mode)  # still a device, not a regular file renamed over it
    assert sorted(os.listdir(tmp_path)) == ["l.tsv", "null-like", "r.tsv"]


def test_output_onto_a_fifo_or_directory_is_refused(pair, tmp_path):
    lp, rp = pair
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OutputRefusedError, match="named pipe"):
        mergekit.join_files(lp, rp, fifo, on="ID", overwrite=True)
    d = tmp_path / "d"
    d.mkdir()
    (d / "keep").write_text("mine")
    with pytest.raises(OutputRefusedError, match="existing directory"):
        mergekit.join_files(lp, rp, d, on="ID", overwrite=True)
    assert (d / "keep").read_text() == "mine"


def test_existing_file_replaced_only_if_mergekit_wrote_it_or_with_overwrite(pair, tmp_path):
    lp, rp = pair
    theirs = tmp_path / "theirs.tsv"
    theirs.write_text("precious\n")
    with pytest.raises(OutputRefusedError, match="mergekit did not write it"):
        mergekit.join_files(lp, rp, theirs, on="ID")
    assert theirs.read_text() == "precious\n"
    r = run_cli("join", lp, rp, "-o", theirs, "--on", "ID")
    assert r.returncode == 2 and "--overwrite" in r.stderr
    assert theirs.read_text() == "precious\n"
    # An explicit overwrite replaces it; then mergekit can show it wrote it, and replaces it again freely.
    mergekit.join_files(lp, rp, theirs, on="ID", overwrite=True)
    assert _output.wrote(str(theirs))
    mergekit.join_files(lp, rp, theirs, on="ID", how="left")
    assert len(pacsv.read_csv(theirs, parse_options=pacsv.ParseOptions(delimiter="\t"))) == 3
    # The Parquet path follows the same rule.
    pq_out = tmp_path / "o.parquet"
    pq_out.write_bytes(b"not mine")
    with pytest.raises(OutputRefusedError):
        mergekit.join_files(lp, rp, pq_out, on="ID")
    assert pq_out.read_bytes() == b"not mine"
    mergekit.join_files(lp, rp, pq_out, on="ID", overwrite=True)
    mergekit.join_files(lp, rp, pq_out, on="ID")
    assert _output.wrote(str(pq_out))


@pytest.mark.parametrize("target", ["-", "/dev/stdout"])
def test_stdout_targets_stream(pair, target):
    lp, rp = pair
    r = run_cli("join", lp, rp, "-o", target, "--on", "ID", "-q")
    assert r.returncode == 0, r.stderr
    got = pacsv.read_csv(pa.py_buffer(r.stdout.encode()), parse_options=pacsv.ParseOptions(delimiter="\t"))
    got = got.cast(pa.schema([pa.field(n, pa.string()) for n in got.column_names]))
    assert rows_of(got) == expected_inner(lp, rp)
    assert sorted(os.listdir(lp.parent)) == ["l.tsv", "r.tsv"]


def test_stdout_redirected_to_a_file_is_appended_not_truncated(pair, tmp_path):
    """`> file` then `-o /dev/stdout`: the stream goes to the shell's descriptor, not a reopened path."""
    lp, rp = pair
    out = tmp_path / "redirected.tsv"
    with open(out, "w") as f:
        f.write("# header line\n")
        f.flush()
        r = subprocess.run(
            [PY, "-m", "mergekit.cli", "join", lp, rp, "-o", "/dev/stdout", "--on", "ID", "-q"],
            stdout=f,
            stderr=subprocess.PIPE,
            text=True,
        )
    assert r.returncode == 0, r.stderr
    assert out.read_text().startswith("# header line\nID\ta\tb\n")


def test_stale_temporary_outputs_of_dead_processes_are_removed(pair, tmp_path):
    lp, rp = pair
    dead = subprocess.run([PY, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale = tmp_path / f".o.tsv.mergekit-{pid}.tmp"
    stale.write_text("partial")
    live = tmp_path / f".o.tsv.mergekit-{os.getppid()}.tmp"  # a live process's: kept
    live.write_text("in progress")
    unrelated = tmp_path / ".o.tsv.mergekit-notapid.tmp"
    unrelated.write_text("not ours by name")
    mergekit.join_files(lp, rp, tmp_path / "o.tsv", on="ID")
    assert not stale.exists()
    assert live.exists() and unrelated.exists()


def test_dir_rule_pure_function():
    ok = dict(exists=True, is_dir=True, entries=["_SUCCESS", "_MERGEKIT", "part-0.csv", ".part-0.csv.crc"])
    marker = _output.dir_marker(["_SUCCESS", "part-0.csv", ".part-0.csv.crc"])
    _output.check_dir_output("out", marker=marker, **ok)
    _output.check_dir_output("out", exists=False, is_dir=False)
    with pytest.raises(OutputRefusedError, match="not a mergekit output"):
        _output.check_dir_output("out", marker=None, **ok)
    with pytest.raises(OutputRefusedError, match="did not write"):
        _output.check_dir_output(
            "out", exists=True, is_dir=True, entries=[*ok["entries"], "notes.txt"], marker=marker
        )
    with pytest.raises(OutputRefusedError, match="existing file"):
        _output.check_dir_output("out", exists=True, is_dir=False)
    with pytest.raises(OutputRefusedError, match="is an input"):
        _output.check_dir_output("out", exists=False, is_dir=False, inputs_inside=["out/x.tsv"])
    with pytest.raises(OutputRefusedError, match="not a mergekit output"):
        _output.check_dir_output("out", marker='{"written_by": "someone"}', **ok)


# ---------------------------------------------------------------------------------------------------------
# Inputs


def _feed_fifo(path, data: bytes):
    def run():
        with open(path, "wb") as f:
            f.write(data)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_fifo_inputs_are_streamed(tmp_path, pair):
    lp, rp = pair
    fifo = tmp_path / "left.fifo"
    os.mkfifo(fifo)
    t = _feed_fifo(fifo, lp.read_bytes())
    s = mergekit.join_files(fifo, rp, tmp_path / "o.tsv", on="ID", temp_dir=tmp_path)
    t.join()
    assert s.rows_written == 2
    got = pacsv.read_csv(tmp_path / "o.tsv", parse_options=pacsv.ParseOptions(delimiter="\t"))
    got = got.cast(pa.schema([pa.field(n, pa.string()) for n in got.column_names]))
    assert rows_of(got) == expected_inner(lp, rp)
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".mergekit-input-")]
    # read_csv of a pipe, and the CLI with /dev/stdin fed by a pipe.
    t = _feed_fifo(fifo, lp.read_bytes())
    table = mergekit.read_csv(fifo)
    t.join()
    assert table.num_rows == 3
    r = subprocess.run(
        [PY, "-m", "mergekit.cli", "join", "/dev/stdin", rp, "-o", tmp_path / "o2.tsv", "--on", "ID"],
        input=lp.read_text(),
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "1 rows" not in r.stderr and "-> 2 rows" in r.stderr


def test_cr_only_line_ends_are_refused_clearly(tmp_path, pair):
    _, rp = pair
    cr = tmp_path / "cr.tsv"
    cr.write_bytes(b"ID\ta\r1\tx\r2\ty\r")
    with pytest.raises(InputFormatError, match=r"cr\.tsv:1: .*carriage return"):
        mergekit.read_csv(cr)
    with pytest.raises(InputFormatError, match="carriage return"):
        mergekit.join_files(cr, rp, tmp_path / "o.tsv", on="ID")
    # pandas reads such a file as 2 rows: mergekit refuses it instead of reading 0 rows.
    assert len(pd.read_csv(cr, sep="\t")) == 2
    # A CR inside a quoted field, and CRLF line ends, are still fine.
    ok = tmp_path / "ok.tsv"
    ok.write_bytes(b'ID\ta\r\n1\t"x\ry"\r\n')
    assert mergekit.read_csv(ok).column("a").to_pylist() == ["x\ry"]


def test_directory_device_and_non_parquet_inputs_are_named(tmp_path, pair):
    _, rp = pair
    d = tmp_path / "adir"
    d.mkdir()
    with pytest.raises(InputIOError, match=r"adir: is a directory"):
        mergekit.join_files(d, rp, tmp_path / "o.tsv", on="ID")
    with pytest.raises(InputIOError, match=r"adir: is a directory"):
        mergekit.read_csv(d)
    with pytest.raises(InputIOError, match="character device"):
        mergekit.read_csv("/dev/zero")
    fake = tmp_path / "fake.parquet"
    fake.write_text("ID\tv\n1\tx\n")
    with pytest.raises(InputFormatError, match=r"fake\.parquet: not a Parquet file"):
        mergekit.join_files(fake, rp, tmp_path / "o.tsv", on="ID")
    r = run_cli("join", d, rp, "-o", tmp_path / "o.tsv", "--on", "ID")
    assert r.returncode == 2 and "is a directory" in r.stderr


def test_wide_header_messages_are_capped(tmp_path, pair):
    _, rp = pair
    wide = tmp_path / "wide.tsv"
    names = [f"column_{i}_" + "x" * 100 for i in range(20_000)]
    wide.write_text("\t".join(names) + "\n" + "\t".join("v" for _ in names) + "\n")
    assert wide.stat().st_size > 2_000_000
    with pytest.raises(MergekitError) as e:
        mergekit.join_files(wide, rp, tmp_path / "o.tsv", on="ID")
    assert len(str(e.value)) < 5000
    assert "20000 columns" in str(e.value)
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(b"ID\ta\n1\t" + b"\xff" * 1_000_000 + b"\n")
    with pytest.raises(InputFormatError) as e:
        mergekit.read_csv(bad)
    assert len(str(e.value)) < 2100 and "bad.tsv:2" in str(e.value)


def test_input_truncated_during_a_join_is_an_error_not_sigbus(tmp_path):
    """A child process joins a large file while this one truncates it: the child must exit with a clear
    error (or, if it finished first, success), never die of SIGBUS."""
    big = tmp_path / "big.tsv"
    write_tsv(big, ["ID", "a"], [(f"k{i}", "v" * 40) for i in range(1_500_000)])
    small = tmp_path / "small.tsv"
    write_tsv(small, ["ID", "b"], [("k1", "x")])
    code = (
        "import sys, mergekit\n"
        "try:\n"
        "    t = mergekit.read_csv(sys.argv[1], threads=1)\n"
        "    print('rows', t.num_rows)\n"
        "except mergekit.exceptions.InputIOError as e:\n"
        "    print('error', e); sys.exit(3)\n"
    )
    p = subprocess.Popen(
        [PY, "-c", code, str(big)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # Truncate as soon as the child has the file open (mapped).
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and p.poll() is None:
        fds = f"/proc/{p.pid}/maps"
        try:
            with open(fds) as f:
                if str(big) in f.read():
                    break
        except OSError:
            pass
        time.sleep(0.002)
    os.truncate(big, 4096)
    out, err = p.communicate(timeout=120)
    assert p.returncode != -signal.SIGBUS, err
    if p.returncode == 3:
        assert "big.tsv" in out and "shrank" in out
    else:
        assert p.returncode == 0, err


# ---------------------------------------------------------------------------------------------------------
# Numeric arguments and the command line


@pytest.mark.parametrize(
    "kw",
    [
        {"threads": 0},
        {"threads": -1},
        {"threads": 10**6},
        {"threads": 2.0},
        {"threads": True},
        {"memory_limit": -1},
        {"memory_limit": 2**70},
        {"memory_limit": "2**70"},
        {"memory_limit": 1.5},
    ],
)
def test_join_files_numeric_arguments_out_of_range(pair, tmp_path, kw):
    lp, rp = pair
    name = next(iter(kw))
    with pytest.raises(InvalidArgumentError, match=name):
        mergekit.join_files(lp, rp, tmp_path / "o.tsv", on="ID", **kw)
    assert not (tmp_path / "o.tsv").exists()


@pytest.mark.parametrize("threads", [0, -1, 10**6, 2**70])
def test_read_csv_threads_out_of_range(pair, threads):
    with pytest.raises(InvalidArgumentError, match="threads"):
        mergekit.read_csv(pair[0], threads=threads)


@pytest.mark.parametrize(
    "args",
    [
        ["--threads", "-1"],
        ["--threads", "0"],
        ["--threads", "100000"],
        ["--threads", "x"],
        ["--memory-limit", "2000000000000000000000000"],
        ["--memory-limit", "-5MB"],
    ],
)
def test_cli_numeric_arguments_are_usage_errors(pair, tmp_path, args):
    lp, rp = pair
    r = run_cli("join", lp, rp, "-o", tmp_path / "o.tsv", "--on", "ID", *args)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "OverflowError" not in r.stderr
    assert args[0].lstrip("-").split("-")[0] in r.stderr
    assert not (tmp_path / "o.tsv").exists()


def test_version():
    r = run_cli("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"mergekit {mergekit.__version__}"
