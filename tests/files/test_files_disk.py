"""The disk budget of join_files: a join whose spill files or output cannot fit is refused before anything is
written, and a disk that fills up anyway (ENOSPC mid-spill, mid-output) leaves no output and no spill files.

Every test here runs on a real, deliberately tiny file system: a tmpfs mounted for the test (root only, as
the device-node test in test_files_safety.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from files_helpers import skewed_sides, write_tsv

import mergekit
from mergekit.exceptions import InputIOError

pytestmark = [
    pytest.mark.files,
    pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root"),
]


@pytest.fixture
def tiny_fs(tmp_path):
    """mount(size) -> a directory on a fresh tmpfs of `size` bytes, unmounted after the test."""
    mounted = []

    def mount(size: int):
        d = tmp_path / f"tiny{len(mounted)}"
        d.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)], check=True)
        mounted.append(d)
        return d

    yield mount
    for d in mounted:
        subprocess.run(["umount", str(d)], check=True)


def files(tmp_path, n_left, n_right, heavy_share=0.6):
    left, right = skewed_sides(n_left, n_right, heavy_share=heavy_share)
    lp, rp = tmp_path / "left.tsv", tmp_path / "right.tsv"
    write_tsv(lp, ["ID", "a", "v"], left)
    write_tsv(rp, ["ID", "b", "v"], right)
    return lp, rp


def test_a_join_whose_spill_files_cannot_fit_is_refused_before_writing(tmp_path, tiny_fs):
    lp, rp = files(tmp_path, 60_000, 40_000, heavy_share=0.0)
    spill = tiny_fs(64 << 10)
    out = tmp_path / "out.tsv"
    with pytest.raises(InputIOError, match=r"not enough free disk space.*spill files.*--temp-dir") as e:
        mergekit.join_files(lp, rp, out, on="ID", memory_limit="1MB", temp_dir=spill)
    message = str(e.value)
    assert message.startswith(f"{spill}: ") and "\n" not in message
    assert os.listdir(spill) == []
    assert sorted(os.listdir(tmp_path)) == sorted(["left.tsv", "right.tsv", spill.name])
    # The CLI says it in one line and exits with the I/O code.
    cli = [sys.executable, "-m", "mergekit.cli", "join", lp, rp, "-o", out, "--on", "ID"]
    r = subprocess.run(
        [*cli, "--memory-limit", "1MB", "--temp-dir", spill],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 74, r.stderr
    assert "not enough free disk space" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not out.exists() and os.listdir(spill) == []
    # The same join with its spill files on a roomy file system runs.
    s = mergekit.join_files(lp, rp, out, on="ID", memory_limit="1MB", temp_dir=tmp_path)
    assert s.spilled and s.rows_written > 0


def test_an_output_that_cannot_fit_is_refused(tmp_path, tiny_fs):
    lp, rp = files(tmp_path, 60_000, 40_000, heavy_share=0.0)
    where = tiny_fs(256 << 10)
    with pytest.raises(InputIOError, match=r"not enough free disk space.*\(output\).*Parquet"):
        mergekit.join_files(lp, rp, where / "out.tsv", on="ID", memory_limit="4GB")
    assert os.listdir(where) == []


def test_enospc_mid_output_leaves_no_output_and_no_spill(tmp_path, tiny_fs):
    # A heavy key on both sides: the output is many times the inputs, so the estimate (at least the inputs'
    # size) passes and the disk fills up while the output is written.
    lp, rp = files(tmp_path, 6_000, 3_000, heavy_share=0.6)
    inputs = lp.stat().st_size + rp.stat().st_size
    where = tiny_fs(4 * inputs)
    spill = tmp_path / "spill"
    spill.mkdir()
    with pytest.raises(InputIOError, match=r"No space left on device"):
        mergekit.join_files(
            lp, rp, where / "out.tsv", on="ID", how="outer", memory_limit="1MB", temp_dir=spill
        )
    assert os.listdir(where) == [] and os.listdir(spill) == []


def test_enospc_mid_parquet_output_names_the_file_and_leaves_nothing(tmp_path, tiny_fs):
    # A Parquet output compresses, so the disk check has no floor to refuse on: the engine's Parquet writer
    # meets the full disk when it flushes a row group, and must clean up as the text writer does.
    lp, rp = files(tmp_path, 6_000, 3_000, heavy_share=0.6)
    where = tiny_fs(16 << 10)
    spill = tmp_path / "spill"
    spill.mkdir()
    with pytest.raises(InputIOError, match=r"out\.parquet.*: No space left on device") as e:
        mergekit.join_files(
            lp, rp, where / "out.parquet", on="ID", how="outer", memory_limit="1MB", temp_dir=spill
        )
    assert "\n" not in str(e.value)
    assert os.listdir(where) == [] and os.listdir(spill) == []


def test_enospc_mid_spill_leaves_no_output_and_no_spill(tmp_path, tiny_fs):
    lp, rp = files(tmp_path, 60_000, 40_000, heavy_share=0.0)
    inputs = lp.stat().st_size + rp.stat().st_size
    # Uncompressed spill files of short strings are bigger than the estimate's floor (1 byte per input
    # byte): a file system between the two passes the check and fills up while partitioning.
    roomy = tmp_path / "roomy"
    roomy.mkdir()
    s = mergekit.join_files(
        lp, rp, tmp_path / "o.tsv", on="ID", memory_limit="1MB", temp_dir=roomy, spill_compression="none"
    )
    floor = 1.0 * inputs
    assert s.spill_bytes > 1.15 * floor, (s.spill_bytes, floor)
    spill = tiny_fs(int((s.spill_bytes + floor) / 2))
    out = tmp_path / "out.tsv"
    with pytest.raises(InputIOError, match=r"mergekit-spill-.*\.arrow: No space left on device") as e:
        mergekit.join_files(
            lp, rp, out, on="ID", memory_limit="1MB", temp_dir=spill, spill_compression="none"
        )
    assert str(e.value).startswith(str(spill))  # names the spill file, under the directory given
    assert os.listdir(spill) == [] and not out.exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".out.tsv")]
