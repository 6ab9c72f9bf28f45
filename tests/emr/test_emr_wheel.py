"""The portable wheel: its tags, the glibc it needs (EMR 6 has 2.26), and a clean install that works."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from emr_oracle import REPO

pytestmark = pytest.mark.emr

# The manylinux2014 (PEP 599) whitelist: the only shared libraries such a wheel may link to.
MANYLINUX2014_LIBS = {
    "libgcc_s.so.1", "libstdc++.so.6", "libm.so.6", "libdl.so.2", "librt.so.1", "libc.so.6", "libnsl.so.1",
    "libutil.so.1", "libpthread.so.0", "libresolv.so.2", "libX11.so.6", "libXext.so.6", "libXrender.so.1",
    "libICE.so.6", "libSM.so.6", "libGL.so.1", "libgobject-2.0.so.0", "libgthread-2.0.so.0",
    "libglib-2.0.so.0", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1",
}  # fmt: skip
EMR6_GLIBC = (2, 26)


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def test_wheel_tags(wheel_path):
    name = os.path.basename(wheel_path)
    dist, version, py_tag, abi_tag, platforms = name[: -len(".whl")].split("-")
    assert (dist, py_tag, abi_tag) == ("mergekit", "cp39", "abi3")  # one wheel for Python 3.9 .. 3.13+
    assert set(platforms.split(".")) == {"manylinux2014_x86_64", "manylinux_2_17_x86_64"}
    with zipfile.ZipFile(wheel_path) as zf:
        wheel_meta = Parser().parsestr(zf.read(f"mergekit-{version}.dist-info/WHEEL").decode())
        meta = Parser().parsestr(zf.read(f"mergekit-{version}.dist-info/METADATA").decode())
        names = zf.namelist()
    assert set(wheel_meta.get_all("Tag")) == {
        "cp39-abi3-manylinux2014_x86_64",
        "cp39-abi3-manylinux_2_17_x86_64",
    }
    assert wheel_meta["Root-Is-Purelib"] == "false"
    assert meta["Requires-Python"] == ">=3.9"
    requires = meta.get_all("Requires-Dist")
    assert any(r.startswith("pyarrow") for r in requires) and any(r.startswith("pandas") for r in requires)
    assert any(r.startswith("boto3") and "extra == 'emr'" in r for r in requires)
    assert "mergekit/_native.abi3.so" in names
    assert "mergekit/emr/cli.py" in names
    # the build packs the one bootstrap script (pyproject's maturin `include`), so `mergekit emr upload`
    # works from a pip install; no second copy lives in the package sources
    assert not (REPO / "python" / "mergekit" / "emr" / "install_mergekit.sh").exists()
    with zipfile.ZipFile(wheel_path) as zf:
        packaged = zf.read("emr_bootstrap/install_mergekit.sh")
    assert packaged == (REPO / "emr_bootstrap" / "install_mergekit.sh").read_bytes()


def test_wheel_links_only_against_old_glibc(wheel_path, tmp_path):
    """What auditwheel decides, checked from the ELF itself: no glibc symbol newer than manylinux2014's 2.17
    (so it loads on EMR 6's 2.26 and EMR 7's 2.34), and only whitelisted libraries."""
    assert shutil.which("readelf"), "readelf (binutils) is required"
    with zipfile.ZipFile(wheel_path) as zf:
        zf.extract("mergekit/_native.abi3.so", tmp_path)
    so = tmp_path / "mergekit" / "_native.abi3.so"
    versions = subprocess.run(["readelf", "-V", str(so)], capture_output=True, text=True, check=True).stdout
    glibc = {_version(v) for v in re.findall(r"GLIBC_([0-9.]+)", versions)}
    assert glibc, "no versioned glibc symbols found: not a glibc-linked extension?"
    assert max(glibc) <= (2, 17) <= EMR6_GLIBC
    dynamic = subprocess.run(["readelf", "-d", str(so)], capture_output=True, text=True, check=True).stdout
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic))
    assert needed and needed <= MANYLINUX2014_LIBS, needed - MANYLINUX2014_LIBS


def _auditwheel() -> str:
    for cand in (
        os.environ.get("WHEEL_TOOLS_VENV", str(REPO / ".venv-wheel")) + "/bin/auditwheel",
        shutil.which("auditwheel") or "",
    ):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise AssertionError("auditwheel not found: scripts/build_wheels.sh installs it into .venv-wheel")


def test_auditwheel_agrees(wheel_path):
    proc = subprocess.run([_auditwheel(), "show", wheel_path], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    report = " ".join(proc.stdout.split())
    assert 'is consistent with the following platform tag: "manylinux_2_17_x86_64"' in report


@pytest.mark.slow
def test_wheel_installs_and_works_in_a_clean_venv(wheel_path, tmp_path, fresh_venv):
    py = fresh_venv
    env_dir = Path(py).parent.parent
    pip = subprocess.run(
        [py, "-m", "pip", "install", "--no-index", "--disable-pip-version-check", wheel_path],
        capture_output=True,
        text=True,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    smoke = """
import mergekit, pandas as pd
left = pd.DataFrame({"ID": list("ABCDEFG"), "Word": ["Hello", "World", "How", "Do", "You", "Do", "?"]})
right = pd.DataFrame({"ID": list("GFEDCBA"), "droW": ["?", "oD", "uoY", "oD", "woH", "dlroW", "olleH"]})
out = mergekit.merge(left, right, on="ID")
assert out.equals(pd.merge(left, right, on="ID")), out
print(mergekit.__file__)
"""
    proc = subprocess.run([py, "-c", smoke], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).is_relative_to(env_dir)  # the wheel's copy, not the checkout's
    # the launcher ships in the wheel too: its dry run works from the installed console script
    cli = subprocess.run(
        [str(env_dir / "bin" / "mergekit"), "emr", "run", "--s3-prefix", "s3://b/p", "--dry-run", "--", "-x"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert cli.returncode == 0, cli.stderr
    assert '"operation": "RunJobFlow"' in cli.stdout
    # and `upload` finds the bootstrap script that came with the wheel
    up = subprocess.run(
        [str(env_dir / "bin" / "mergekit"), "emr", "upload", "--s3-prefix", "s3://b/p", "--wheel", wheel_path,
         "--dry-run"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )  # fmt: skip
    assert up.returncode == 0, up.stderr
    bodies = {r["params"]["Key"]: r["params"]["Body"] for r in map(json.loads, up.stdout.splitlines())}
    assert Path(bodies["p/bootstrap/install_mergekit.sh"]).is_relative_to(env_dir)
