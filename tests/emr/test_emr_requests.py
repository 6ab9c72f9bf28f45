"""Every request the launcher builds, checked against botocore's EMR and S3 service models.

Dry runs are parsed from stdout and validated; live flows run with botocore's Stubber on the EMR client (which
validates each request against the model before answering) and against the loopback S3 server."""

from __future__ import annotations

import gzip
import json

import pytest
from emr_oracle import REGION, REPO, json_lines, model_errors

from mergekit.emr._aws import Api
from mergekit.emr.cli import main

pytestmark = pytest.mark.emr

PREFIX = "s3://data-bkt/team/mergekit"
USER_ARGS = [
    "--data_source_1",
    f"{PREFIX}/input/x_list.txt",
    "--data_source_2",
    f"{PREFIX}/input/y_list.txt",
    "--output_uri",
    f"{PREFIX}/output/run1/",
]


def dry(capsys, argv):
    rc = main(argv)
    out = capsys.readouterr()
    assert rc == 0, out.err
    return json_lines(out.out)


# ----------------------------------------------------------------------------------------------- run


def test_run_dry_run_is_one_valid_run_job_flow(capsys, assert_valid):
    argv = [
        "run", "--s3-prefix", PREFIX, "--dry-run",
        "--task-count", "4", "--subnet", "subnet-aaa", "--subnet", "subnet-bbb", "--key-name", "ops-key",
        "--security-configuration", "mergekit-secure", "--tag", "team=data", "--tag", "cost-center=42",
        "--wheelhouse", "--conf", "spark.sql.shuffle.partitions=64",
        "--", *USER_ARGS,
    ]  # fmt: skip
    records = dry(capsys, argv)
    assert len(records) == 1
    rec = records[0]
    assert (rec["service"], rec["operation"]) == ("emr", "RunJobFlow")
    assert_valid(rec)
    p = rec["params"]

    # never an idle cluster: it ends with its steps, and an idle timeout backs that up
    assert p["Instances"]["KeepJobFlowAliveWhenNoSteps"] is False
    assert p["Instances"]["TerminationProtected"] is False
    assert p["AutoTerminationPolicy"] == {"IdleTimeout": 3600}
    assert p["LogUri"] == f"{PREFIX}/logs/"

    fleets = {f["InstanceFleetType"]: f for f in p["Instances"]["InstanceFleets"]}
    assert set(fleets) == {"MASTER", "CORE", "TASK"}
    assert fleets["MASTER"]["TargetOnDemandCapacity"] == 1 and "TargetSpotCapacity" not in fleets["MASTER"]
    assert fleets["CORE"]["TargetOnDemandCapacity"] == 2 and "TargetSpotCapacity" not in fleets["CORE"]
    task = fleets["TASK"]
    assert task["TargetSpotCapacity"] == 4 and task["TargetOnDemandCapacity"] == 0
    assert len(task["InstanceTypeConfigs"]) >= 2  # several spot pools
    spot = task["LaunchSpecifications"]["SpotSpecification"]
    assert spot["TimeoutAction"] == "SWITCH_TO_ON_DEMAND" and spot["TimeoutDurationMinutes"] == 10

    assert p["BootstrapActions"] == [
        {
            "Name": "install mergekit",
            "ScriptBootstrapAction": {
                "Path": f"{PREFIX}/bootstrap/install_mergekit.sh",
                "Args": [
                    "--wheels", f"{PREFIX}/wheels/", "--python", "python3",
                    "--wheelhouse", f"{PREFIX}/wheelhouse/",
                ],
            },
        }
    ]  # fmt: skip
    (step,) = p["Steps"]
    assert step["ActionOnFailure"] == "TERMINATE_CLUSTER"
    assert step["HadoopJarStep"]["Jar"] == "command-runner.jar"
    args = step["HadoopJarStep"]["Args"]
    assert args[0] == "spark-submit"
    assert args[args.index("--conf") + 1] == "spark.sql.shuffle.partitions=64"
    script_at = args.index(f"{PREFIX}/analysis.py")
    assert args[script_at + 1 :] == USER_ARGS  # the user's arguments, verbatim and last

    assert p["SecurityConfiguration"] == "mergekit-secure"
    assert p["Instances"]["Ec2SubnetIds"] == ["subnet-aaa", "subnet-bbb"]
    assert p["Instances"]["Ec2KeyName"] == "ops-key"
    tags = {t["Key"]: t["Value"] for t in p["Tags"]}
    assert tags == {"created-by": "mergekit", "team": "data", "cost-center": "42"}
    assert p["Configurations"][0]["Configurations"][0]["Properties"]["PYSPARK_PYTHON"] == "python3"


def test_run_options_reach_the_request(capsys, assert_valid):
    (rec,) = dry(
        capsys,
        [
            "run", "--s3-prefix", PREFIX, "--dry-run", "--release-label", "emr-6.15.0",
            "--master-type", "m6g.xlarge", "--core-types", "m6g.2xlarge,m7g.2xlarge", "--core-count", "3",
            "--log-uri", "s3://log-bkt/emr/", "--idle-timeout", "900", "--python", "/usr/bin/python3.11",
            "--service-role", "MyEmrRole", "--instance-profile", "MyEc2Profile", "--ebs-data-gb", "200",
            "--deploy-mode", "cluster", "--executor-memory", "6g", "--", "-x",
        ],
    )  # fmt: skip
    assert_valid(rec)
    p = rec["params"]
    assert p["ReleaseLabel"] == "emr-6.15.0"
    assert p["LogUri"] == "s3://log-bkt/emr/"
    assert p["AutoTerminationPolicy"] == {"IdleTimeout": 900}
    assert (p["ServiceRole"], p["JobFlowRole"]) == ("MyEmrRole", "MyEc2Profile")
    fleets = {f["InstanceFleetType"]: f for f in p["Instances"]["InstanceFleets"]}
    assert set(fleets) == {"MASTER", "CORE"}  # --task-count 0: no task fleet at all
    assert [c["InstanceType"] for c in fleets["CORE"]["InstanceTypeConfigs"]] == [
        "m6g.2xlarge",
        "m7g.2xlarge",
    ]
    ebs = fleets["CORE"]["InstanceTypeConfigs"][0]["EbsConfiguration"]["EbsBlockDeviceConfigs"][0]
    assert ebs["VolumeSpecification"] == {"VolumeType": "gp3", "SizeInGB": 200}
    assert fleets["CORE"]["TargetOnDemandCapacity"] == 3
    assert "--python" in p["BootstrapActions"][0]["ScriptBootstrapAction"]["Args"]
    assert "/usr/bin/python3.11" in p["BootstrapActions"][0]["ScriptBootstrapAction"]["Args"]
    args = p["Steps"][0]["HadoopJarStep"]["Args"]
    assert args[:3] == ["spark-submit", "--deploy-mode", "cluster"]
    assert args[args.index("--executor-memory") + 1] == "6g"


def test_run_on_existing_cluster_adds_a_step(capsys, assert_valid):
    (rec,) = dry(
        capsys, ["run", "--s3-prefix", PREFIX, "--cluster-id", "j-EXISTING1", "--dry-run", "--", "-x"]
    )
    assert_valid(rec)
    assert (rec["service"], rec["operation"]) == ("emr", "AddJobFlowSteps")
    assert rec["params"]["JobFlowId"] == "j-EXISTING1"
    (step,) = rec["params"]["Steps"]
    # someone else's cluster: a failed step must not take it down
    assert step["ActionOnFailure"] == "CONTINUE"
    assert step["HadoopJarStep"]["Args"][-2:] == [f"{PREFIX}/analysis.py", "-x"]


def test_the_oracle_rejects_what_emr_would_reject(capsys):
    (rec,) = dry(capsys, ["run", "--s3-prefix", PREFIX, "--dry-run", "--task-count", "2", "--", "-x"])
    p = json.loads(json.dumps(rec["params"]))
    task = p["Instances"]["InstanceFleets"][2]
    task["LaunchSpecifications"]["SpotSpecification"]["TimeoutAction"] = "WAIT_FOREVER"
    p["Instances"]["KeepJobFlowAlive"] = False  # a misspelt member
    del p["Name"]  # a required member
    errors = "\n".join(model_errors("emr", "RunJobFlow", p))
    assert "WAIT_FOREVER" in errors
    assert "KeepJobFlowAlive" in errors
    assert "Name" in errors


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--idle-timeout", "30"], "--idle-timeout must be between 60 and 604800"),
        (["--task-count", "2", "--spot-timeout", "2"], "--spot-timeout must be between 5 and 1440"),
    ],
)
def test_run_refuses_values_emr_would_refuse(capsys, argv, message):
    rc = main(["run", "--s3-prefix", PREFIX, "--dry-run", *argv, "--", "-x"])
    out = capsys.readouterr()
    assert rc == 2
    assert message in out.err
    assert out.out == ""  # nothing printed as a request


# ------------------------------------------------------------------------------------------ pipeline

SEED_STEPS = {
    "steps": [
        {
            "executor_memory": "18G",
            "executor_cores": "4",
            "description": "Reading from dataset data and filtering",
            "name": "step_0",
            "ActionOnFailure": "CANCEL_AND_WAIT",
            "script_uri": "pyspark/preprocess.py",
            "script_args": {
                "auto_generate_output": "1",
                "output_uri": "None",
                "format_output": ".parquet",
                "external_input": "1",
                "input_dependency_from_output_step": "0",
                "from_step": "None",
                "input_data": "s3://public-data/parquet/product_category=Books",
                "local_input": "",
            },
        },
        {
            "name": "step_1",
            "ActionOnFailure": "CANCEL_AND_WAIT",
            "script_uri": "pyspark/group.py",
            "script_args": {
                "auto_generate_output": "1",
                "output_uri": "None",
                "format_output": ".parquet",
                "input_dependency_from_output_step": "1",
                "from_step": "step_0",
                "input_data": "None",
            },
        },
    ]
}


def test_pipeline_seed_format_chains_outputs(tmp_path, capsys, assert_valid):
    path = tmp_path / "steps.json"
    path.write_text(json.dumps(SEED_STEPS))
    (rec,) = dry(capsys, ["pipeline", str(path), "--s3-prefix", PREFIX, "--run-id", "r1", "--dry-run"])
    assert_valid(rec)
    s0, s1 = rec["params"]["Steps"]
    out0 = f"{PREFIX}/output/r1/step_0.parquet/"
    a0, a1 = s0["HadoopJarStep"]["Args"], s1["HadoopJarStep"]["Args"]
    assert a0[a0.index("--executor-memory") + 1] == "18G"
    assert a0[a0.index(f"{PREFIX}/pyspark/preprocess.py") + 1 :] == [
        "--input", "s3://public-data/parquet/product_category=Books", "--output", out0,
    ]  # fmt: skip
    # step_1 reads what step_0 wrote
    assert a1[a1.index(f"{PREFIX}/pyspark/group.py") + 1 :] == [
        "--input", out0, "--output", f"{PREFIX}/output/r1/step_1.parquet/",
    ]  # fmt: skip
    assert [s["ActionOnFailure"] for s in (s0, s1)] == ["CANCEL_AND_WAIT"] * 2


def test_pipeline_placeholders_on_existing_cluster(tmp_path, capsys, assert_valid):
    doc = {
        "steps": [
            {
                "name": "join",
                "args": ["--data_source_1", "{prefix}/input/x.txt", "--data_source_2", "{prefix}/input/y.txt",
                         "--output_uri", "{output}"],
                "output": "auto",
            },
            {
                "name": "rejoin",
                "input_from": "join",
                "args": ["--data_source_1", "{input}", "--data_source_2", "{steps.join.output}",
                         "--output_uri", "s3://elsewhere/final/"],
                "conf": {"spark.executor.instances": "4"},
            },
        ]
    }  # fmt: skip
    path = tmp_path / "steps.json"
    path.write_text(json.dumps(doc))
    argv = [
        "pipeline",
        str(path),
        "--s3-prefix",
        PREFIX,
        "--run-id",
        "r2",
        "--cluster-id",
        "j-1",
        "--dry-run",
    ]
    (rec,) = dry(capsys, argv)
    assert_valid(rec)
    assert rec["operation"] == "AddJobFlowSteps"
    join, rejoin = rec["params"]["Steps"]
    out = f"{PREFIX}/output/r2/join/"
    assert join["HadoopJarStep"]["Args"][-6:] == [
        "--data_source_1", f"{PREFIX}/input/x.txt", "--data_source_2", f"{PREFIX}/input/y.txt",
        "--output_uri", out,
    ]  # fmt: skip
    assert rejoin["HadoopJarStep"]["Args"][-6:] == [
        "--data_source_1", out, "--data_source_2", out, "--output_uri", "s3://elsewhere/final/",
    ]  # fmt: skip
    assert "spark.executor.instances=4" in rejoin["HadoopJarStep"]["Args"]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"name": "a", "input_from": "b"}], "input_from 'b' is not an earlier step"),
        ([{"name": "a"}, {"name": "a"}], "two steps are named 'a'"),
        ([{"name": "a", "args": ["{output}"]}], "{output} is used but the step has no output"),
        ([{"name": "a", "args": ["{nope}"]}], "unknown placeholder {nope}"),
        ([], 'expected {"steps": [ ... ]}'),
    ],
)
def test_pipeline_errors_are_clear(tmp_path, capsys, steps, message):
    path = tmp_path / "steps.json"
    path.write_text(json.dumps({"steps": steps}))
    rc = main(["pipeline", str(path), "--s3-prefix", PREFIX, "--dry-run"])
    out = capsys.readouterr()
    assert rc == 2 and message in out.err and out.out == ""


# ------------------------------------------------------------------------------- upload, security, misc


def test_upload_dry_run_sends_nothing(tmp_path, capsys, assert_valid):
    wheel = tmp_path / "mergekit-0.1.0-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    wheel.write_bytes(b"not really a wheel")
    analysis = tmp_path / "analysis.py"
    analysis.write_text("print('hi')\n")
    data = tmp_path / "x_list.txt"
    data.write_text("ID\tWord\nA\tHello\n")
    api = Api()
    rc = main(
        ["upload", "--s3-prefix", PREFIX, "--wheel", str(wheel), "--analysis", str(analysis),
         "--input", str(data), "--dry-run"],
        api=api,
    )  # fmt: skip
    records = json_lines(capsys.readouterr().out)
    assert rc == 0
    assert api._clients == {} and api._session is None  # no client, so no request, was ever made
    for rec in records:
        assert (rec["service"], rec["operation"]) == ("s3", "PutObject")
        assert_valid(rec)
        assert rec["params"]["ServerSideEncryption"] == "AES256"
        assert len(rec["params"]["Metadata"]["mergekit-sha256"]) == 64
    keys = [r["params"]["Key"] for r in records]
    assert keys == [
        f"team/mergekit/wheels/{wheel.name}",
        "team/mergekit/bootstrap/install_mergekit.sh",
        "team/mergekit/analysis.py",
        "team/mergekit/input/x_list.txt",
    ]
    assert {r["params"]["Bucket"] for r in records} == {"data-bkt"}


def test_security_config_dry_run(capsys, assert_valid):
    key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    argv = ["security-config", "--name", "mk-secure", "--kms-key", key,
            "--certificates", "s3://sec-bkt/certs/emr-certs.zip", "--dry-run"]  # fmt: skip
    (rec,) = dry(capsys, argv)
    assert_valid(rec)
    assert rec["operation"] == "CreateSecurityConfiguration"
    enc = json.loads(rec["params"]["SecurityConfiguration"])["EncryptionConfiguration"]
    assert enc["EnableAtRestEncryption"] is True and enc["EnableInTransitEncryption"] is True
    at_rest = enc["AtRestEncryptionConfiguration"]
    assert at_rest["S3EncryptionConfiguration"] == {"EncryptionMode": "SSE-KMS", "AwsKmsKey": key}
    assert at_rest["LocalDiskEncryptionConfiguration"] == {
        "EncryptionKeyProviderType": "AwsKms",
        "AwsKmsKey": key,
        "EnableEbsEncryption": True,
    }
    assert enc["InTransitEncryptionConfiguration"]["TLSCertificateConfiguration"] == {
        "CertificateProviderType": "PEM",
        "S3Object": "s3://sec-bkt/certs/emr-certs.zip",
    }


def test_security_config_needs_a_key_for_local_disks(capsys):
    rc = main(["security-config", "--name", "x", "--certificates", "s3://b/c.zip", "--dry-run"])
    assert rc == 2 and "local-disk encryption needs --kms-key" in capsys.readouterr().err
    rc = main(["security-config", "--name", "x", "--no-local-disk-encryption", "--dry-run"])
    assert rc == 2 and "in-transit encryption needs --certificates" in capsys.readouterr().err


def test_missing_boto3_is_a_clear_error(monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "boto3", None)  # what `import boto3` sees when it is not installed
    rc = main(["status"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "pip install 'mergekit[emr]'" in err


# ----------------------------------------------------------------------- live flows: stubbed EMR, real S3


def _emr_stubbed(aws_env):
    import boto3
    from botocore.stub import Stubber

    emr = boto3.client("emr", region_name=REGION)
    return emr, Stubber(emr)


def _cluster(state, log_uri, reason=None):
    status = {"State": state}
    if reason:
        status["StateChangeReason"] = {"Code": "STEP_FAILURE", "Message": reason}
    return {"Cluster": {"Id": "j-TEST", "Name": "mergekit", "Status": status, "LogUri": log_uri}}


def _step(state):
    return {
        "Step": {
            "Id": "s-1",
            "Name": "mergekit analysis.py",
            "Status": {"State": state},
            "Config": {"Jar": "command-runner.jar", "Args": []},
        }
    }


def _uploaded(tmp_path, bucket, s3_client):
    wheel = tmp_path / "mergekit-0.1.0-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    wheel.write_bytes(b"wheel bytes")
    analysis = tmp_path / "analysis.py"
    analysis.write_text("print('hi')\n")
    assert (
        main(
            ["upload", "--s3-prefix", f"s3://{bucket}/p", "--wheel", str(wheel), "--analysis", str(analysis)]
        )
        == 0
    )


def test_run_failure_prints_the_step_stderr_from_s3(
    aws_env, bucket, s3_client, tmp_path, capsys, assert_valid
):
    _uploaded(tmp_path, bucket, s3_client)
    # what EMR would have pushed to the log URI for the failed step
    trace = "\n".join(f"line {i}" for i in range(100)) + "\nValueError: column 'ID' not found\n"
    s3_client.put_object(
        Bucket=bucket, Key="p/logs/j-TEST/steps/s-1/stderr.gz", Body=gzip.compress(trace.encode())
    )
    capsys.readouterr()

    emr, stub = _emr_stubbed(aws_env)
    log_uri = f"s3n://{bucket}/p/logs/"
    stub.add_response("run_job_flow", {"JobFlowId": "j-TEST"})
    stub.add_response(
        "list_steps", {"Steps": [{"Id": "s-1", "Name": "mergekit analysis.py"}]}, {"ClusterId": "j-TEST"}
    )
    stub.add_response("describe_cluster", _cluster("BOOTSTRAPPING", log_uri), {"ClusterId": "j-TEST"})
    stub.add_response("describe_step", _step("PENDING"), {"ClusterId": "j-TEST", "StepId": "s-1"})
    stub.add_response("describe_cluster", _cluster("RUNNING", log_uri), {"ClusterId": "j-TEST"})
    stub.add_response("describe_step", _step("RUNNING"), {"ClusterId": "j-TEST", "StepId": "s-1"})
    stub.add_response(
        "describe_cluster",
        _cluster("TERMINATING", log_uri, "Shut down as step failed"),
        {"ClusterId": "j-TEST"},
    )
    stub.add_response("describe_step", _step("FAILED"), {"ClusterId": "j-TEST", "StepId": "s-1"})

    api = Api()
    api._clients["emr"] = emr
    with stub:
        rc = main(
            ["run", "--s3-prefix", f"s3://{bucket}/p", "--poll", "0", "--tail", "3", "--", "--how", "inner"],
            api=api,
        )
        stub.assert_no_pending_responses()
    err = capsys.readouterr().err
    assert rc == 1
    assert "j-TEST RUNNING · step 1/1 mergekit analysis.py RUNNING" in err
    assert "step s-1 FAILED; cluster TERMINATING" in err
    assert "Shut down as step failed" in err
    assert err.rstrip().endswith("line 98\nline 99\nValueError: column 'ID' not found")
    assert "line 97" not in err  # only the tail
    for rec in api.sent:
        assert_valid(rec)
    (run,) = [r for r in api.sent if r["operation"] == "RunJobFlow"]
    assert run["params"]["Steps"][0]["HadoopJarStep"]["Args"][-2:] == ["--how", "inner"]


def test_run_success_and_preflight(aws_env, bucket, s3_client, tmp_path, capsys, assert_valid):
    emr, stub = _emr_stubbed(aws_env)
    api = Api()
    api._clients["emr"] = emr
    # nothing uploaded yet: refused before any EMR request (the stub has no answers, so one would raise)
    with stub:
        rc = main(["run", "--s3-prefix", f"s3://{bucket}/p", "--poll", "0", "--", "-x"], api=api)
    err = capsys.readouterr().err
    assert rc == 2 and "run `mergekit emr upload` first" in err and f"s3://{bucket}/p/bootstrap/" in err

    _uploaded(tmp_path, bucket, s3_client)
    log_uri = f"s3n://{bucket}/p/logs/"
    stub.add_response("run_job_flow", {"JobFlowId": "j-TEST"})
    stub.add_response("list_steps", {"Steps": [{"Id": "s-1"}]}, {"ClusterId": "j-TEST"})
    stub.add_response("describe_cluster", _cluster("RUNNING", log_uri), {"ClusterId": "j-TEST"})
    stub.add_response("describe_step", _step("COMPLETED"), {"ClusterId": "j-TEST", "StepId": "s-1"})
    with stub:
        rc = main(["run", "--s3-prefix", f"s3://{bucket}/p", "--poll", "0", "--", "-x"], api=api)
        stub.assert_no_pending_responses()
    assert rc == 0
    assert "all 1 step(s) completed on j-TEST" in capsys.readouterr().err
    for rec in api.sent:
        assert_valid(rec)


def test_logs_status_terminate(aws_env, bucket, s3_client, capsys, assert_valid):
    s3_client.put_object(
        Bucket=bucket, Key="logs/j-TEST/steps/s-2/stdout.gz", Body=gzip.compress(b"a\nb\nrows written: 7\n")
    )
    emr, stub = _emr_stubbed(aws_env)
    log_uri = f"s3n://{bucket}/logs/"
    steps = {"Steps": [
        {"Id": "s-2", "Name": "second", "Status": {"State": "FAILED"}},
        {"Id": "s-1", "Name": "first", "Status": {"State": "COMPLETED"}},
    ]}  # fmt: skip
    stub.add_response("describe_cluster", _cluster("WAITING", log_uri), {"ClusterId": "j-TEST"})
    stub.add_response("list_steps", steps, {"ClusterId": "j-TEST"})
    stub.add_response("describe_cluster", _cluster("WAITING", log_uri), {"ClusterId": "j-TEST"})
    stub.add_response("list_steps", steps, {"ClusterId": "j-TEST"})
    stub.add_response("terminate_job_flows", {}, {"JobFlowIds": ["j-TEST"]})
    api = Api()
    api._clients["emr"] = emr
    with stub:
        assert main(["logs", "--cluster-id", "j-TEST", "--log", "stdout", "--tail", "1"], api=api) == 0
        assert capsys.readouterr().out == "rows written: 7\n"  # the failed step's log, found by itself
        assert main(["status", "--cluster-id", "j-TEST"], api=api) == 0
        out = capsys.readouterr().out
        assert "j-TEST  WAITING" in out
        assert out.index("s-1  COMPLETED") < out.index("s-2  FAILED")  # oldest first
        assert main(["terminate", "j-TEST"], api=api) == 0
        stub.assert_no_pending_responses()
    for rec in api.sent:
        assert_valid(rec)


def test_the_documented_dry_run_is_what_the_command_prints(capsys, assert_valid):
    """docs/emr.md shows a `run --dry-run` request: it must be valid, and be what that command prints."""
    doc = (REPO / "docs" / "emr.md").read_text()
    block = doc.split("**Dry run.**", 1)[1].split("```json\n", 1)[1].split("```", 1)[0]
    documented = json.loads(block)
    assert_valid(documented)
    bucket = "s3://my-bucket/mergekit"
    (printed,) = dry(
        capsys,
        ["run", "--s3-prefix", bucket, "--task-count", "4", "--dry-run", "--",
         "--data_source_1", f"{bucket}/input/x_list.txt", "--data_source_2", f"{bucket}/input/y_list.txt",
         "--output_uri", f"{bucket}/output/run1/"],
    )  # fmt: skip
    assert printed == documented


def test_entry_points_reach_the_launcher(capsys):
    import subprocess
    import sys

    from mergekit.cli import main as mergekit_main

    argv = ["run", "--s3-prefix", PREFIX, "--dry-run", "--", "--how", "left"]
    assert mergekit_main(["emr", *argv]) == 0  # the `mergekit` console script's dispatcher
    (via_cli,) = json_lines(capsys.readouterr().out)
    proc = subprocess.run([sys.executable, "-m", "mergekit.emr", *argv], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json_lines(proc.stdout) == [via_cli]
    assert via_cli["params"]["Steps"][0]["HadoopJarStep"]["Args"][-2:] == ["--how", "left"]


def test_run_shows_the_bootstrap_error_when_the_cluster_dies_first(
    aws_env, bucket, s3_client, tmp_path, capsys
):
    _uploaded(tmp_path, bucket, s3_client)
    # where EMR puts a node's bootstrap-action output
    key = "p/logs/j-TEST/node/i-0abc/bootstrap-actions/1/stderr.gz"
    text = "[install_mergekit] ERROR: no mergekit wheel for architecture aarch64 in s3://b/p/wheels/\n"
    s3_client.put_object(Bucket=bucket, Key=key, Body=gzip.compress(text.encode()))
    capsys.readouterr()
    emr, stub = _emr_stubbed(aws_env)
    log_uri = f"s3n://{bucket}/p/logs/"
    reason = "On the master instance (i-0abc), bootstrap action 1 returned a non-zero return code"
    stub.add_response("run_job_flow", {"JobFlowId": "j-TEST"})
    stub.add_response("list_steps", {"Steps": [{"Id": "s-1"}]}, {"ClusterId": "j-TEST"})
    stub.add_response(
        "describe_cluster", _cluster("TERMINATED_WITH_ERRORS", log_uri, reason), {"ClusterId": "j-TEST"}
    )
    stub.add_response("describe_step", _step("CANCELLED"), {"ClusterId": "j-TEST", "StepId": "s-1"})
    api = Api()
    api._clients["emr"] = emr
    with stub:
        rc = main(["run", "--s3-prefix", f"s3://{bucket}/p", "--poll", "0", "--", "-x"], api=api)
        stub.assert_no_pending_responses()
    err = capsys.readouterr().err
    assert rc == 1
    assert "step s-1 CANCELLED; cluster TERMINATED_WITH_ERRORS" in err
    assert reason in err
    assert f"s3://{bucket}/{key}" in err
    assert "ERROR: no mergekit wheel for architecture aarch64" in err


def test_status_lists_active_clusters_across_pages(aws_env, capsys, assert_valid):
    emr, stub = _emr_stubbed(aws_env)
    states = ["STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING", "TERMINATING"]
    page1 = {"Clusters": [{"Id": "j-A", "Name": "mergekit", "Status": {"State": "RUNNING"}}], "Marker": "m1"}
    page2 = {"Clusters": [{"Id": "j-B", "Name": "other", "Status": {"State": "WAITING"}}]}
    stub.add_response("list_clusters", page1, {"ClusterStates": states})
    stub.add_response("list_clusters", page2, {"ClusterStates": states, "Marker": "m1"})
    api = Api()
    api._clients["emr"] = emr
    with stub:
        assert main(["status"], api=api) == 0
        stub.assert_no_pending_responses()
    out = capsys.readouterr().out.splitlines()
    assert out == ["j-A  RUNNING        mergekit", "j-B  WAITING        other"]
    for rec in api.sent:
        assert_valid(rec)


def test_instance_architectures():
    from mergekit.emr.cluster import instance_arch

    for t in ("m6g.xlarge", "r7gd.2xlarge", "c7gn.large", "x2gd.medium", "m8g.4xlarge"):
        assert instance_arch(t) == "aarch64", t
    for t in (
        "m5.xlarge",
        "m5a.2xlarge",
        "m6i.2xlarge",
        "r5d.4xlarge",
        "m7a.large",
        "c6in.xlarge",
        "g5.xlarge",
    ):
        assert instance_arch(t) == "x86_64", t


def test_run_refuses_graviton_types_without_an_aarch64_wheel(aws_env, bucket, s3_client, tmp_path, capsys):
    _uploaded(tmp_path, bucket, s3_client)  # an x86_64 wheel only
    capsys.readouterr()
    emr, stub = _emr_stubbed(aws_env)
    api = Api()
    api._clients["emr"] = emr
    with stub:  # no EMR answers queued: a RunJobFlow would raise
        rc = main(
            ["run", "--s3-prefix", f"s3://{bucket}/p", "--core-types", "m6g.xlarge,m7g.xlarge", "--", "-x"],
            api=api,
        )
    err = capsys.readouterr().err
    assert rc == 2
    assert f"s3://{bucket}/p/wheels/mergekit-*_aarch64.whl (for m6g.xlarge, m7g.xlarge)" in err
