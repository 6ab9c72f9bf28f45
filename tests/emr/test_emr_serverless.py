"""`mergekit emr serverless run`: every request checked against botocore's emr-serverless and s3 models, the
live flow against botocore's Stubber (which validates each request before answering) and the loopback S3
server, and the environment archive built for real and run."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest
from emr_oracle import REGION, json_lines, model_errors

from mergekit.emr import env_archive
from mergekit.emr._aws import Api
from mergekit.emr.cli import main

pytestmark = pytest.mark.emr

ROLE = "arn:aws:iam::111122223333:role/mergekit-job"
USER_ARGS = [
    "--data_source_1",
    "s3://in/x.txt",
    "--data_source_2",
    "s3://in/y.txt",
    "--output_uri",
    "s3://o/",
]
APP_ARN = f"arn:aws:emr-serverless:{REGION}:111122223333:/applications/"
X86_WHEEL = "mergekit-0.1.0-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"


@pytest.fixture
def inputs(tmp_path):
    """A stand-in wheel (the dry run and the stubbed flows never install it), analysis.py, and a small
    prebuilt archive for the live flows."""
    wheel = tmp_path / X86_WHEEL
    wheel.write_bytes(b"wheel bytes")
    analysis = tmp_path / "analysis.py"
    analysis.write_text("print('hi')\n")
    archive = tmp_path / "env.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"home = /usr/bin\n"
        info = tarfile.TarInfo("pyvenv.cfg")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return {"wheel": str(wheel), "analysis": str(analysis), "archive": str(archive), "tmp": tmp_path}


def _argv(inputs, prefix, *extra):
    return [
        "serverless", "run", "--s3-prefix", prefix, "--execution-role-arn", ROLE,
        "--wheel", inputs["wheel"], "--analysis", inputs["analysis"],
        "--cache-dir", str(inputs["tmp"] / "cache"), *extra,
    ]  # fmt: skip


def test_dry_run_requests_are_valid_and_complete(inputs, capsys, assert_valid):
    rc = main([*_argv(inputs, "s3://data-bkt/mk", "--dry-run", "--conf", "spark.sql.shuffle.partitions=64"),
               "--", *USER_ARGS])  # fmt: skip
    out = capsys.readouterr()
    assert rc == 0, out.err
    records = json_lines(out.out)
    for rec in records:
        assert_valid(rec)
    ops = [(r["service"], r["operation"]) for r in records]
    assert ops == [
        ("s3", "PutObject"),
        ("s3", "PutObject"),
        ("emr-serverless", "ListApplications"),
        ("emr-serverless", "CreateApplication"),
        ("emr-serverless", "StartApplication"),
        ("emr-serverless", "StartJobRun"),
        ("emr-serverless", "StopApplication"),
    ]
    archive_put, script_put = records[0]["params"], records[1]["params"]
    assert archive_put["Key"].startswith("mk/serverless/mergekit-env-py3.11-x86_64-")
    assert script_put["Key"] == "mk/serverless/analysis.py"

    create = records[3]["params"]
    assert (create["releaseLabel"], create["type"], create["architecture"]) == (
        "emr-spark-8.0.0",
        "SPARK",
        "X86_64",
    )
    assert create["autoStopConfiguration"] == {"enabled": True, "idleTimeoutMinutes": 15}
    job = records[5]["params"]
    assert job["executionRoleArn"] == ROLE
    submit = job["jobDriver"]["sparkSubmit"]
    assert submit["entryPoint"] == "s3://data-bkt/mk/serverless/analysis.py"
    assert submit["entryPointArguments"] == USER_ARGS  # verbatim
    tokens = submit["sparkSubmitParameters"].split()
    assert set(tokens[::2]) == {"--conf"}
    conf = dict(t.split("=", 1) for t in tokens[1::2])
    assert conf["spark.archives"] == f"s3://data-bkt/{archive_put['Key']}#environment"
    for key in (
        "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON",
        "spark.emr-serverless.driverEnv.PYSPARK_PYTHON",
        "spark.executorEnv.PYSPARK_PYTHON",
    ):
        assert conf[key] == "./environment/bin/python"
    assert conf["spark.sql.shuffle.partitions"] == "64"
    logs = job["configurationOverrides"]["monitoringConfiguration"]["s3MonitoringConfiguration"]
    assert logs == {"logUri": "s3://data-bkt/mk/serverless/logs/"}
    assert job["tags"] == {"created-by": "mergekit"}
    assert not os.path.exists(inputs["tmp"] / "cache")  # a dry run builds nothing


def test_dry_run_on_a_given_application_creates_nothing(inputs, capsys, assert_valid):
    missing = inputs["wheel"].replace("x86_64", "aarch64")
    rc = main([*_argv(inputs, "s3://b/p", "--dry-run", "--application-id", "00abc123", "--architecture",
                      "ARM64", "--wheel", missing), "--", "-x"])  # fmt: skip
    out = capsys.readouterr()
    assert rc == 2 and "no such wheel" in out.err  # the aarch64 wheel does not exist
    arm = inputs["tmp"] / X86_WHEEL.replace("x86_64", "aarch64")
    arm.write_bytes(b"arm wheel")
    rc = main([*_argv(inputs, "s3://b/p", "--dry-run", "--application-id", "00abc123", "--architecture",
                      "ARM64", "--wheel", str(arm)), "--", "-x"])  # fmt: skip
    out = capsys.readouterr()
    assert rc == 0, out.err
    records = json_lines(out.out)
    for rec in records:
        assert_valid(rec)
    ops = [r["operation"] for r in records if r["service"] == "emr-serverless"]
    assert ops == ["StartApplication", "StartJobRun", "StopApplication"]
    assert all(r["params"]["applicationId"] == "00abc123" for r in records if r["service"] != "s3")
    assert "-aarch64-" in records[0]["params"]["Key"]


def test_the_oracle_rejects_what_emr_serverless_would_reject(inputs, capsys):
    assert main([*_argv(inputs, "s3://b/p", "--dry-run"), "--", "-x"]) == 0
    records = json_lines(capsys.readouterr().out)
    create = next(r for r in records if r["operation"] == "CreateApplication")["params"]
    bad = {**create, "architecture": "X86", "releaseLabels": "typo"}
    del bad["clientToken"]
    errors = "\n".join(model_errors("emr-serverless", "CreateApplication", bad))
    assert "X86" in errors and "releaseLabels" in errors and "clientToken" in errors


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "ANALYSIS_ARGS are required"),
        (["--timeout-minutes", "0", "--", "-x"], "argument --timeout-minutes: must be at least 1"),
        (["--tail", "-3", "--", "-x"], "argument --tail: must be at least 1"),
        (["--poll", "nan", "--", "-x"], "argument --poll: must be a finite number"),
        (["--release", "emr-6.15.0", "--", "-x"], "argument --release: invalid choice"),
    ],
)
def test_usage_errors_name_the_argument(inputs, capsys, extra, message):
    with pytest.raises(SystemExit) as exc:
        main([*_argv(inputs, "s3://b/p", "--dry-run"), *extra])
    out = capsys.readouterr()
    assert exc.value.code == 2 and message in out.err and out.out == ""


def test_bad_values_are_refused_before_any_request(inputs, capsys):
    rc = main([*_argv(inputs, "s3://b/p", "--dry-run", "--python-version", "3.9"), "--", "-x"])
    out = capsys.readouterr()
    assert rc == 2 and "emr-spark-8.0.0 ships Python 3.11, 3.12, 3.13" in out.err and out.out == ""
    rc = main([*_argv(inputs, "s3://b/p", "--dry-run", "--conf", "spark.x=a b"), "--", "-x"])
    out = capsys.readouterr()
    assert rc == 2 and "cannot contain spaces" in out.err
    assert "CreateApplication" not in out.out


# ------------------------------------------------------------------- live flows: stubbed API, real S3


def _serverless_stubbed(aws_env):
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("emr-serverless", region_name=REGION)
    return client, Stubber(client)


def _app(state, app_id="00app1"):
    return {
        "application": {
            "applicationId": app_id,
            "name": "mergekit",
            "arn": f"arn:aws:emr-serverless:{REGION}:111122223333:/applications/{app_id}",
            "releaseLabel": "emr-spark-8.0.0",
            "type": "SPARK",
            "state": state,
            "createdAt": "2026-12-01T00:00:00Z",
            "updatedAt": "2026-12-01T00:00:00Z",
        }
    }


def _job(state, details=None):
    run = {
        "applicationId": "00app1",
        "jobRunId": "00run1",
        "arn": "arn:aws:emr-serverless:us-east-1:111122223333:/applications/00app1/jobruns/00run1",
        "createdBy": "arn:aws:iam::111122223333:user/me",
        "createdAt": "2026-12-01T00:00:00Z",
        "updatedAt": "2026-12-01T00:00:00Z",
        "executionRole": ROLE,
        "state": state,
        "releaseLabel": "emr-spark-8.0.0",
        "jobDriver": {"sparkSubmit": {"entryPoint": "s3://b/analysis.py"}},
    }
    run["stateDetails"] = details or f"Job run {state.lower()}"  # required, at least 1 character
    return {"jobRun": run}


def _live(stub, api, argv, capsys):
    api.sent.clear()
    with stub:
        rc = main(argv, api=api)
        stub.assert_no_pending_responses()
    return rc, capsys.readouterr().err


def test_live_run_creates_starts_runs_and_stops(aws_env, bucket, s3_client, inputs, capsys, assert_valid):
    client, stub = _serverless_stubbed(aws_env)
    app_id = {"applicationId": "00app1"}
    stub.add_response("list_applications", {"applications": []})
    stub.add_response(
        "create_application", {"applicationId": "00app1", "name": "mergekit", "arn": APP_ARN + "00app1"}
    )
    stub.add_response("get_application", _app("CREATING"), app_id)
    stub.add_response("get_application", _app("CREATED"), app_id)
    stub.add_response("start_application", {}, app_id)
    stub.add_response("get_application", _app("STARTED"), app_id)
    stub.add_response(
        "start_job_run",
        {"applicationId": "00app1", "jobRunId": "00run1", "arn": APP_ARN + "00app1/jobruns/00run1"},
    )
    run_id = {"applicationId": "00app1", "jobRunId": "00run1"}
    stub.add_response("get_job_run", _job("SCHEDULED"), run_id)
    stub.add_response("get_job_run", _job("RUNNING"), run_id)
    stub.add_response("get_job_run", _job("SUCCESS"), run_id)
    stub.add_response("stop_application", {}, app_id)
    api = Api()
    api._clients["emr-serverless"] = client
    argv = [*_argv(inputs, f"s3://{bucket}/p", "--archive", inputs["archive"], "--poll", "0"), "--", "-x"]
    rc, err = _live(stub, api, argv, capsys)
    assert rc == 0, err
    assert "00app1/00run1 RUNNING" in err and "job run 00run1 succeeded" in err
    assert "stopping application 00app1, which this run started" in err
    for rec in api.sent:
        assert_valid(rec)
    keys = {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket, Prefix="p/")["Contents"]}
    assert keys == {"p/serverless/env.tar.gz", "p/serverless/analysis.py"}


def test_live_failure_prints_the_driver_stderr_and_stops(
    aws_env, bucket, s3_client, inputs, capsys, assert_valid
):
    trace = "\n".join(f"line {i}" for i in range(100)) + "\nKeyError: 'ID'\n"
    s3_client.put_object(
        Bucket=bucket,
        Key="p/serverless/logs/applications/00app1/jobs/00run1/SPARK_DRIVER/stderr.gz",
        Body=gzip.compress(trace.encode()),
    )
    client, stub = _serverless_stubbed(aws_env)
    app_id = {"applicationId": "00app1"}
    stub.add_response("get_application", _app("STOPPED"), app_id)
    stub.add_response("start_application", {}, app_id)
    stub.add_response("get_application", _app("STARTED"), app_id)
    stub.add_response(
        "start_job_run",
        {"applicationId": "00app1", "jobRunId": "00run1", "arn": APP_ARN + "00app1/jobruns/00run1"},
    )
    run_id = {"applicationId": "00app1", "jobRunId": "00run1"}
    stub.add_response("get_job_run", _job("FAILED", "Job failed, please check complete logs"), run_id)
    stub.add_response("stop_application", {}, app_id)
    api = Api()
    api._clients["emr-serverless"] = client
    argv = [*_argv(inputs, f"s3://{bucket}/p", "--archive", inputs["archive"], "--poll", "0",
                   "--application-id", "00app1", "--tail", "2", "--log-wait", "0"), "--", "-x"]  # fmt: skip
    rc, err = _live(stub, api, argv, capsys)
    assert rc == 1
    assert "job run 00run1 FAILED: Job failed, please check complete logs" in err
    assert "line 99\nKeyError: 'ID'" in err and "line 98" not in err
    assert "stopping application 00app1" in err
    for rec in api.sent:
        assert_valid(rec)


def test_live_reuses_a_started_application_and_leaves_it_started(
    aws_env, bucket, s3_client, inputs, capsys, assert_valid
):
    client, stub = _serverless_stubbed(aws_env)
    summary = {
        "id": "00app9",
        "name": "mergekit",
        "arn": APP_ARN + "00app9",
        "releaseLabel": "emr-spark-8.0.0",
        "type": "SPARK",
        "state": "STARTED",
        "createdAt": "2026-12-01T00:00:00Z",
        "updatedAt": "2026-12-01T00:00:00Z",
        "architecture": "X86_64",
    }
    other = {**summary, "id": "00app8", "releaseLabel": "emr-7.13.0"}  # same name, other release: not it
    stub.add_response("list_applications", {"applications": [other], "nextToken": "t1"})
    stub.add_response("list_applications", {"applications": [summary]})
    stub.add_response(
        "start_job_run",
        {"applicationId": "00app9", "jobRunId": "00run1", "arn": APP_ARN + "00app1/jobruns/00run1"},
    )
    run = _job("SUCCESS")
    run["jobRun"]["applicationId"] = "00app9"
    stub.add_response("get_job_run", run, {"applicationId": "00app9", "jobRunId": "00run1"})
    api = Api()
    api._clients["emr-serverless"] = client
    argv = [*_argv(inputs, f"s3://{bucket}/p", "--archive", inputs["archive"], "--poll", "0"), "--", "-x"]
    rc, err = _live(stub, api, argv, capsys)  # no CreateApplication, StartApplication or StopApplication
    assert rc == 0, err
    assert "stopping" not in err
    for rec in api.sent:
        assert_valid(rec)


# ------------------------------------------------------------------------------ the archive, for real


def _local_cpython(version: str) -> str:
    """A CPython of the image's version on this machine, to stand in for the image's /usr/bin one."""
    for cand in (f"/usr/bin/python{version}", shutil.which(f"python{version}") or ""):
        if cand and os.access(cand, os.X_OK):
            return os.path.realpath(cand)
    raise AssertionError(f"no python{version} on this machine (Debian 12: apt-get install python3)")


@pytest.mark.slow
def test_the_archive_runs_mergekit_in_its_own_interpreter(wheel_path, tmp_path):
    """Built exactly as `serverless run` builds it (pip for CPython 3.11 manylinux x86_64, from PyPI or
    PIP_FIND_LINKS), unpacked as spark.archives unpacks it, and run as PYSPARK_PYTHON runs it: its interpreter
    imports mergekit from the archive and joins, checked against pandas.merge in the same interpreter."""
    interpreter = _local_cpython("3.11")
    spec = env_archive.EnvSpec(wheel=wheel_path, python_version="3.11", interpreter=interpreter)
    archive = env_archive.build(spec, str(tmp_path / "cache"))
    assert os.path.basename(archive) == spec.key()
    again = env_archive.build(spec, str(tmp_path / "cache2"))
    with open(archive, "rb") as a, open(again, "rb") as b:
        assert a.read() == b.read()  # reproducible: an unchanged archive is not uploaded again

    work = tmp_path / "container"
    (work / "environment").mkdir(parents=True)
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        assert not [n for n in names if n.endswith(".pyc")]
        # our own archive, holding an absolute symlink (bin/python3.11) that the "data" filter refuses
        tar.extractall(work / "environment", filter="fully_trusted")
    assert os.readlink(work / "environment" / "bin" / "python3.11") == interpreter

    smoke = """
import sys, mergekit, numpy as np, pandas as pd
rng = np.random.default_rng(3)
left = pd.DataFrame({"k": rng.integers(0, 300, 5000), "a": rng.random(5000)})
right = pd.DataFrame({"k": rng.integers(0, 300, 4000), "b": rng.integers(0, 9, 4000)})
for how in ("inner", "left"):
    got, want = mergekit.merge(left, right, on="k", how=how), pd.merge(left, right, on="k", how=how)
    pd.testing.assert_frame_equal(got, want)
print(sys.prefix, mergekit.__file__, pd.__version__)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    proc = subprocess.run(
        ["./environment/bin/python", "-c", smoke], cwd=work, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    prefix, module, _ = proc.stdout.split()
    assert os.path.realpath(prefix) == os.path.realpath(work / "environment")
    assert module.startswith(str(work / "environment" / "lib" / "python3.11" / "site-packages"))


def test_missing_boto3_is_one_line_on_a_real_run(tmp_path):
    code = (
        "import sys; sys.modules['boto3'] = None; sys.modules['botocore'] = None\n"
        "from mergekit.emr.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    for argv in (["run", "--s3-prefix", "s3://b/p", "--", "-x"], ["status"]):
        proc = subprocess.run(
            [sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=tmp_path
        )
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert lines == [
            "mergekit emr: boto3 is not installed, and a real run needs it: "
            "pip install 'mergekit[emr]' (or boto3)"
        ]
        assert json.dumps(proc.stdout) == '""'
