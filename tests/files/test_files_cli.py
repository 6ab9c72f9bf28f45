"""`mergekit join`: help, exit codes, quiet in a pipe, and what SIGKILL / SIGINT leave behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from files_helpers import rows_of, write_tsv

import mergekit
from mergekit._arrow import merge_tables
from mergekit.files_cli import main

pytestmark = pytest.mark.files

PY = sys.executable


def run_cli(*args, **kw):
    return subprocess.run(
        [PY, "-m", "mergekit.cli", "join", *map(str, args)], capture_output=True, text=True, **kw
    )


def test_help_explains_every_option(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for opt in (
        "--output",
        "--on",
        "--left-on",
        "--right-on",
        "--how",
        "--memory-limit",
        "--sep",
        "--output-sep",
        "--no-header",
        "--quotechar",
        "--no-quoting",
        "--on-bad-lines",
        "--suffixes",
        "--threads",
        "--temp-dir",
        "--progress",
        "--quiet",
        "exit codes",
    ):
        assert opt in text


def test_success_is_quiet_in_a_pipe_and_matches_merge(tmp_path):
    lp, rp, out = tmp_path / "x_list.txt", tmp_path / "y_list.txt", tmp_path / "out.tsv"
    write_tsv(lp, ["ID", "a"], [(str(i % 40), f"a{i}") for i in range(500)])
    write_tsv(rp, ["ID", "b"], [(str(i % 55), f"b{i}") for i in range(300)])
    r = run_cli(lp, rp, "-o", out, "--on", "ID", "--how", "inner", "--memory-limit", "2GB")
    assert r.returncode == 0, r.stderr
    assert "\r" not in r.stderr  # no progress bar when stderr is not a terminal
    assert "rows" in r.stderr  # the one-line summary
    want = merge_tables(mergekit.read_csv(lp), mergekit.read_csv(rp), ["ID"], ["ID"], "inner")
    assert rows_of(mergekit.read_csv(out)) == rows_of(want)
    r = run_cli(lp, rp, "-o", out, "--on", "ID", "-q", "--progress", "always", "--memory-limit", "1MB")
    assert r.returncode == 0 and "rows written in" in r.stderr  # forced bar, no summary
    assert "left rows" not in r.stderr


def test_exit_codes_for_bad_input(tmp_path):
    lp, rp, out = tmp_path / "l.tsv", tmp_path / "r.tsv", tmp_path / "o.tsv"
    write_tsv(lp, ["ID", "a"], [("1", "x")])
    rp.write_bytes(b"ID\tb\n1\t2\t3\n")
    r = run_cli(lp, rp, "-o", out, "--on", "ID")
    assert r.returncode == 2 and "r.tsv:2: expected 2 fields, saw 3" in r.stderr
    r = run_cli(lp, lp, "-o", out, "--on", "nope")
    assert r.returncode == 2 and "nope" in r.stderr
    r = run_cli(lp, tmp_path / "missing.tsv", "-o", out, "--on", "ID")
    assert r.returncode == 2
    r = run_cli(lp, lp, "-o", out)  # no key
    assert r.returncode == 2
    r = run_cli(lp, lp, "-o", out, "--on", "ID", "--how", "sideways")
    assert r.returncode == 2
    assert not out.exists()


def _big_inputs(tmp_path):
    """Inputs whose join runs for a while: a heavy key gives a many-to-many output of ~1M rows."""
    lp, rp = tmp_path / "l.tsv", tmp_path / "r.tsv"
    write_tsv(lp, ["ID", "a"], [("H" if i % 2 else f"k{i}", "x" * 30) for i in range(200_000)])
    write_tsv(rp, ["ID", "b"], [("H" if i % 20_000 == 0 else f"k{i}", "y" * 30) for i in range(200_000)])
    return lp, rp


def _wait_for(pred, timeout=120.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_signal_mid_run_leaves_no_output(tmp_path, sig):
    lp, rp = _big_inputs(tmp_path)
    out = tmp_path / "out" / "o.tsv"
    out.parent.mkdir()
    spill = tmp_path / "spill"
    spill.mkdir()
    p = subprocess.Popen(
        [
            PY,
            "-m",
            "mergekit.cli",
            "join",
            str(lp),
            str(rp),
            "-o",
            str(out),
            "--on",
            "ID",
            "--memory-limit",
            "4MB",
            "--temp-dir",
            str(spill),
            "--threads",
            "1",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    # Signal once the run is writing its (temporary) output, i.e. mid-join with spill files on disk.
    started = _wait_for(
        lambda: any(n.endswith(".tmp") for n in os.listdir(out.parent)) or p.poll() is not None
    )
    assert started and p.poll() is None, "the join finished before it could be interrupted"
    assert os.listdir(spill)
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    assert not out.exists()
    if sig == signal.SIGINT:
        assert p.returncode == 130, err
        assert "interrupted" in err
        assert os.listdir(spill) == []  # spill files removed
        assert os.listdir(out.parent) == []  # and the temporary output too
    else:
        assert p.returncode == -signal.SIGKILL
        # The next run removes the spill directory the killed process left behind.
        small = tmp_path / "small.tsv"
        write_tsv(small, ["ID", "c"], [("1", "z")])
        r = run_cli(
            small,
            small,
            "-o",
            tmp_path / "ok.tsv",
            "--on",
            "ID",
            "--memory-limit",
            "1MB",
            "--temp-dir",
            spill,
        )
        assert r.returncode == 0, r.stderr
        assert os.listdir(spill) == []
