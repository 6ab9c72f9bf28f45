"""Fixtures for the EMR launcher tests: a real S3 API server on loopback, an oracle built from botocore's own
service models, and the portable wheel."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import uuid

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
