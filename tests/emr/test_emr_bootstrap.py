"""The bootstrap action, run for real: the AWS CLI fetches the wheel from the loopback S3 server, pip installs
it into a fresh venv, and the import check runs in that venv."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys

import pytest
from emr_oracle import REPO

from mergekit.emr.cli import main

pytestmark = pytest.mark.emr

SCRIPT = REPO / "emr_bootstrap" / "install_mergekit.sh"
ARCH = platform.machine()


def test_scripts_are_shellcheck_clean():
    assert shutil.which("shellcheck"), "shellcheck is required (apt-get install -y shellcheck)"
    proc = subprocess.run(
        ["shellcheck", "--severity=style", str(SCRIPT), str(REPO / "scripts" / "build_wheels.sh")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def bootstrap(env, *args):
    # The AWS CLI of the test environment (awscli installed beside pytest), even when that venv is not
    # activated; else whatever `aws` is on PATH, as on an EMR node.
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    assert shutil.which("aws", path=path), "the AWS CLI is required (pip install awscli)"
    # PIP_NO_INDEX: the install must work offline, from the wheel and what the node already has
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        env={**os.environ, **env, "PATH": path, "PIP_NO_INDEX": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )


def _upload(bucket, wheels, tmp_path, extra=()):
    argv = ["upload", "--s3-prefix", f"s3://{bucket}/p", "--analysis", str(tmp_path / "a.py")]
    (tmp_path / "a.py").write_text("")
    for w in wheels:
        argv += ["--wheel", str(w)]
    assert main([*argv, *extra]) == 0


@pytest.mark.slow
def test_bootstrap_installs_the_wheel_and_is_idempotent(aws_env, bucket, wheel_path, fresh_venv, tmp_path):
    _upload(bucket, [wheel_path], tmp_path)
    args = ["--wheels", f"s3://{bucket}/p/wheels/", "--python", fresh_venv, "--workdir", str(tmp_path / "w")]

    first = bootstrap(aws_env, *args)
    assert first.returncode == 0, first.stderr
    assert f"arch {ARCH}" in first.stderr
    assert f"fetching s3://{bucket}/p/wheels/{os.path.basename(wheel_path)}" in first.stderr
    assert "installing mergekit-" in first.stderr
    assert "OK: mergekit 0.1.0, pyarrow " in first.stderr

    where = subprocess.run(
        [fresh_venv, "-c", "import mergekit; print(mergekit.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert where.stdout.startswith(str(tmp_path / "node-venv")), where.stdout + where.stderr

    again = bootstrap(aws_env, *args)
    assert again.returncode == 0, again.stderr
    assert "is already installed" in again.stderr and "nothing to do" in again.stderr
    assert "installing" not in again.stderr
    assert "OK: mergekit 0.1.0" in again.stderr


@pytest.mark.slow
def test_bootstrap_with_a_wheelhouse_installs_offline(aws_env, bucket, wheel_path, fresh_venv, tmp_path):
    house = tmp_path / "house"
    house.mkdir()
    shutil.copy(wheel_path, house)
    _upload(bucket, [wheel_path], tmp_path, extra=["--wheelhouse", str(house)])
    args = ["--wheels", f"s3://{bucket}/p/wheels", "--wheelhouse", f"s3://{bucket}/p/wheelhouse/"]
    proc = bootstrap(aws_env, *args, "--python", fresh_venv, "--workdir", str(tmp_path / "w"))
    assert proc.returncode == 0, proc.stderr
    assert f"syncing wheelhouse s3://{bucket}/p/wheelhouse/" in proc.stderr
    assert "OK: mergekit 0.1.0" in proc.stderr


def test_bootstrap_fails_clearly_without_a_wheel(aws_env, bucket, tmp_path):
    proc = bootstrap(aws_env, "--wheels", f"s3://{bucket}/empty/", "--python", sys.executable)
    assert proc.returncode != 0
    assert f"ERROR: no mergekit wheel for architecture {ARCH} in s3://{bucket}/empty/" in proc.stderr


def test_bootstrap_fails_clearly_on_the_wrong_architecture(aws_env, bucket, tmp_path, s3_client):
    other = "aarch64" if ARCH == "x86_64" else "x86_64"
    name = f"mergekit-0.1.0-cp39-abi3-manylinux2014_{other}.manylinux_2_17_{other}.whl"
    s3_client.put_object(Bucket=bucket, Key=f"p/wheels/{name}", Body=b"a wheel for another machine")
    proc = bootstrap(aws_env, "--wheels", f"s3://{bucket}/p/wheels/", "--python", sys.executable)
    assert proc.returncode != 0
    assert f"no mergekit wheel for architecture {ARCH}" in proc.stderr
    assert name in proc.stderr  # says what it did find


def test_bootstrap_fails_clearly_on_bad_arguments(aws_env):
    proc = bootstrap(aws_env)
    assert proc.returncode != 0 and "--wheels s3://BUCKET/PREFIX/wheels/ is required" in proc.stderr
    proc = bootstrap(aws_env, "--wheels", "s3://b/w/", "--python", "/no/such/python")
    assert proc.returncode != 0 and "interpreter not found: /no/such/python" in proc.stderr
    proc = bootstrap(aws_env, "--wheels", "/local/dir")
    assert proc.returncode != 0 and "--wheels must be an s3:// folder" in proc.stderr


def test_bootstrap_fails_when_the_bucket_is_not_there(aws_env):
    proc = bootstrap(aws_env, "--wheels", "s3://no-such-bucket-mk/w/", "--python", sys.executable)
    assert proc.returncode != 0
    assert "cannot list s3://no-such-bucket-mk/w/" in proc.stderr
