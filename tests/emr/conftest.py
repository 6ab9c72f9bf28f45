"""Fixtures for the EMR launcher tests: a real S3 API server on loopback, an oracle built from botocore's own
service models, and the portable wheel."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from emr_oracle import REGION, REPO, model_errors


@pytest.fixture
def assert_valid():
    def check(record: dict) -> None:
        assert set(record) == {"service", "operation", "params"}, record
        errors = model_errors(record["service"], record["operation"], record["params"])
        assert not errors, "\n".join(errors)

    return check


# -------------------------------------------------------------------------------------------- AWS and S3


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's standalone S3 API server on 127.0.0.1 (a real HTTP server; requests are really sent)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(s3_endpoint, monkeypatch, tmp_path):
    """Throwaway credentials and the loopback endpoint, through the standard AWS environment variables only
    (so the code under test and the AWS CLI find them the way they would find real ones). Any real
    ~/.aws configuration is hidden."""
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(k, raising=False)
    return env


@pytest.fixture
def s3_client(aws_env):
    import boto3

    return boto3.client("s3", region_name=REGION)


@pytest.fixture
def bucket(s3_client):
    name = f"mk-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


# -------------------------------------------------------------------------------------------- the wheel


@pytest.fixture(scope="session")
def wheel_path() -> str:
    """The x86_64 manylinux2014 wheel: $MERGEKIT_WHEEL (CI builds it once), else built here by the same script
    CI uses. Never skipped: without a wheel there is nothing to ship."""
    given = os.environ.get("MERGEKIT_WHEEL")
    if given:
        assert os.path.isfile(given), f"MERGEKIT_WHEEL={given} does not exist"
        return given
    out = REPO / "dist"
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "build_wheels.sh"), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, (
        f"scripts/build_wheels.sh failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    found = sorted(glob.glob(str(out / "mergekit-*-cp39-abi3-*manylinux_2_17_x86_64*.whl")))
    assert found, f"scripts/build_wheels.sh built no x86_64 wheel into {out}"
    return found[-1]


@pytest.fixture(scope="session")
def base_python() -> str:
    """The interpreter this venv was made from: fresh venvs are created from it."""
    return getattr(sys, "_base_executable", None) or sys.executable


def _not_a_dependency(entry: str) -> bool:
    # mergekit itself (installed, or editable through a .pth) must not leak into the fresh venv; nor may the
    # test venv's own pip/setuptools, which the fresh venv brings in its own versions.
    low = entry.lower()
    return (
        low.endswith(".pth")
        or low.startswith(("mergekit", "__editable__", "_mergekit", "pip-", "setuptools-"))
        or low in ("pip", "setuptools", "_distutils_hack", "pkg_resources", "__pycache__")
    )


@pytest.fixture(scope="session")
def dependencies_dir(tmp_path_factory) -> Path:
    """The test interpreter's installed packages (numpy, pandas, pyarrow, ...) without mergekit, as symlinks.

    A fresh venv that adds this directory to its path has what an EMR node's python3 has before the bootstrap
    (the libraries, not mergekit), so pip resolves the wheel's dependencies offline, wherever the test
    interpreter keeps them (its own venv, or the system's)."""
    deps = tmp_path_factory.mktemp("deps")
    for site_dir in [p for p in sys.path if p.endswith("site-packages") and os.path.isdir(p)]:
        for entry in sorted(os.listdir(site_dir)):
            link = deps / entry
            if not _not_a_dependency(entry) and not os.path.lexists(link):
                link.symlink_to(os.path.join(site_dir, entry))
    return deps


@pytest.fixture
def fresh_venv(tmp_path, base_python, dependencies_dir) -> str:
    """A new venv with the dependencies on its path and no mergekit; returns its python."""
    path = tmp_path / "node-venv"
    subprocess.run([base_python, "-m", "venv", str(path)], check=True)
    py = str(path / "bin" / "python")
    purelib = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "_node_packages.pth").write_text(f"{dependencies_dir}\n")
    probe = subprocess.run([py, "-c", "import mergekit"], capture_output=True, text=True, cwd=tmp_path)
    assert probe.returncode != 0, "mergekit must not be importable before the install"
    deps = subprocess.run([py, "-c", "import numpy, pandas, pyarrow"], capture_output=True, text=True)
    assert deps.returncode == 0, f"numpy, pandas and pyarrow must be importable: {deps.stderr}"
    return py
