"""Signals at many moments of `mergekit join` (issue 9): SIGINT and SIGTERM from start-up to the very end
must leave the exit status truthful (0 exactly when the output exists), no temporary output, no spill
files, and never a traceback; after SIGKILL the next run removes what the killed one left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from files_helpers import write_tsv

pytestmark = [pytest.mark.files, pytest.mark.slow]

PY = sys.executable


def _inputs(tmp_path):
    lp, rp = tmp_path / "l.tsv", tmp_path / "r.tsv"
    write_tsv(lp, ["ID", "a"], [("H" if i % 2 else f"k{i}", "x" * 20) for i in range(60_000)])
    write_tsv(rp, ["ID", "b"], [("H" if i % 6_000 == 0 else f"k{i}", "y" * 20) for i in range(60_000)])
    return lp, rp


def _cmd(lp, rp, out, spill):
    return [
        PY, "-m", "mergekit.cli", "join", str(lp), str(rp), "-o", str(out), "--on", "ID",
        "--memory-limit", "4MB", "--temp-dir", str(spill), "--threads", "1",
    ]  # fmt: skip


def _started(p: subprocess.Popen, marker: str = "numpy") -> None:
    """Wait until the child runs mergekit's code: it has begun loading numpy (pandas/pyarrow's first
    native library), which mergekit imports only inside its command-line main. A signal before that
    lands in the interpreter's own start-up (site.py), which no Python program can handle."""
    end = time.monotonic() + 120
    while time.monotonic() < end and p.poll() is None:
        try:
            with open(f"/proc/{p.pid}/maps") as f:
                if marker in f.read():
                    return
        except OSError:
            pass
        time.sleep(0.001)


def _leftovers(out, spill) -> list[str]:
    hidden = [n for n in os.listdir(out.parent) if n.startswith(".")]
    return hidden + os.listdir(spill)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_at_every_moment_reports_truthfully(tmp_path, sig):
    lp, rp = _inputs(tmp_path)
    spill = tmp_path / "spill"
    spill.mkdir()
    # How long one run takes here: the moments below spread from start-up to past the end.
    out = tmp_path / "o0" / "out.tsv"
    out.parent.mkdir()
    t0 = time.monotonic()
    r = subprocess.run(_cmd(lp, rp, out, spill), capture_output=True, text=True)
    duration = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    outcomes = set()
    for i, frac in enumerate([0.0, 0.02, 0.1, 0.3, 0.5, 0.7, 0.85, 0.92, 0.96, 0.98, 1.0, 1.02, 1.1]):
        out = tmp_path / f"o{i + 1}" / "out.tsv"
        out.parent.mkdir()
        p = subprocess.Popen(_cmd(lp, rp, out, spill), stderr=subprocess.PIPE, text=True)
        _started(p)
        time.sleep(duration * frac)
        if p.poll() is None:
            p.send_signal(sig)
        _, err = p.communicate(timeout=300)
        assert "Traceback" not in err, err
        exists = out.exists()
        outcomes.add((p.returncode, exists))
        # The exit status says the output exists exactly when it does.
        assert (p.returncode == 0) == exists, (frac, p.returncode, err)
        if not exists:
            assert p.returncode in (130, 143, -sig), (frac, p.returncode, err)
            if p.returncode > 0:
                assert "no output was written" in err or "interrupted" in err
        assert _leftovers(out, spill) == [], (frac, _leftovers(out, spill))
    # Both outcomes were seen: some signals came before the commit, some after.
    assert {rc == 0 for rc, _ in outcomes} == {True, False}, outcomes


def test_sigkill_leftovers_are_removed_by_the_next_run(tmp_path):
    lp, rp = _inputs(tmp_path)
    spill = tmp_path / "spill"
    spill.mkdir()
    out = tmp_path / "out" / "o.tsv"
    out.parent.mkdir()
    p = subprocess.Popen(_cmd(lp, rp, out, spill), stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + 120
    while time.monotonic() < end and p.poll() is None:
        if any(n.endswith(".tmp") for n in os.listdir(out.parent)):
            break
        time.sleep(0.01)
    assert p.poll() is None, "the join finished before it could be killed"
    p.kill()
    p.communicate(timeout=60)
    assert not out.exists()
    assert [n for n in os.listdir(out.parent) if n.endswith(".tmp")]  # the killed run's temporary output
    r = subprocess.run(_cmd(lp, rp, out, spill), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert os.listdir(out.parent) == ["o.tsv"]
    assert os.listdir(spill) == []


def test_sigint_during_startup_is_not_a_traceback(tmp_path):
    lp, rp = _inputs(tmp_path)
    spill = tmp_path / "spill"
    spill.mkdir()
    for delay in (0.0, 0.01, 0.05, 0.15, 0.3):
        out = tmp_path / f"s{delay}" / "o.tsv"
        out.parent.mkdir()
        p = subprocess.Popen(_cmd(lp, rp, out, spill), stderr=subprocess.PIPE, text=True)
        _started(p)
        time.sleep(delay)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=120)
        assert "Traceback" not in err, (delay, err)
        assert (p.returncode == 0) == out.exists()
