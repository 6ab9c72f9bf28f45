"""Uploads, checksum skipping and log download against a real S3 API server on loopback."""

from __future__ import annotations

import gzip
import hashlib
import io

import pytest

from mergekit.emr import s3
from mergekit.emr._aws import Api
from mergekit.emr.cli import main
from mergekit.emr.s3 import S3Uri

pytestmark = pytest.mark.emr


def _files(tmp_path):
    wheel = tmp_path / "mergekit-0.1.0-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    # big enough that boto3 splits it into a multipart upload (its threshold is 8 MiB)
    wheel.write_bytes(bytes(range(256)) * (9 * 4096))
    analysis = tmp_path / "analysis.py"
    analysis.write_text("print('v1')\n")
    x = tmp_path / "x_list.txt"
    x.write_text("ID\tWord\nA\tHello\nB\tWorld\n")
    return wheel, analysis, x


def test_upload_then_skip_unchanged_then_replace_changed(aws_env, bucket, s3_client, tmp_path, capsys):
    wheel, analysis, x = _files(tmp_path)
    prefix = f"s3://{bucket}/jobs/mk"
    argv = [
        "upload",
        "--s3-prefix",
        prefix,
        "--wheel",
        str(wheel),
        "--analysis",
        str(analysis),
        "--input",
        str(x),
    ]

    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "4 uploaded, 0 unchanged" in err
    keys = sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == sorted(
        [
            f"jobs/mk/wheels/{wheel.name}",
            "jobs/mk/bootstrap/install_mergekit.sh",
            "jobs/mk/analysis.py",
            "jobs/mk/input/x_list.txt",
        ]
    )
    for local, key in [(wheel, f"jobs/mk/wheels/{wheel.name}"), (x, "jobs/mk/input/x_list.txt")]:
        obj = s3_client.get_object(Bucket=bucket, Key=key)
        body = obj["Body"].read()
        assert body == local.read_bytes()
        assert obj["Metadata"]["mergekit-sha256"] == hashlib.sha256(body).hexdigest()
        assert obj["ServerSideEncryption"] == "AES256"
    boot = s3_client.get_object(Bucket=bucket, Key="jobs/mk/bootstrap/install_mergekit.sh")["Body"].read()
    assert boot.startswith(b"#!/usr/bin/env bash")

    # a second run finds every object with the same checksum and sends no PutObject
    api = Api()
    assert main(argv, api=api) == 0
    assert "0 uploaded, 4 unchanged" in capsys.readouterr().err
    assert [r["operation"] for r in api.sent] == ["HeadObject"] * 4

    # one changed file: only that one goes up again
    analysis.write_text("print('v2')\n")
    api = Api()
    assert main(argv, api=api) == 0
    assert "1 uploaded, 3 unchanged" in capsys.readouterr().err
    puts = [r["params"]["Key"] for r in api.sent if r["operation"] == "PutObject"]
    assert puts == ["jobs/mk/analysis.py"]
    assert s3_client.get_object(Bucket=bucket, Key="jobs/mk/analysis.py")["Body"].read() == b"print('v2')\n"


def test_an_object_without_our_checksum_is_replaced(aws_env, bucket, s3_client, tmp_path, capsys):
    _, analysis, _ = _files(tmp_path)
    # same bytes, but put there by something else: no stored checksum, so it cannot be trusted to match
    s3_client.put_object(Bucket=bucket, Key="p/analysis.py", Body=analysis.read_bytes())
    api = Api()
    plan = s3.upload_files(api, [(str(analysis), S3Uri(bucket, "p/analysis.py"))], sse=None)
    assert [u.skipped for u in plan] == [False]
    head = s3_client.head_object(Bucket=bucket, Key="p/analysis.py")
    assert head["Metadata"]["mergekit-sha256"] == hashlib.sha256(analysis.read_bytes()).hexdigest()


def test_progress_bar_draws_in_place_on_a_terminal(aws_env, bucket, tmp_path):
    wheel, _, _ = _files(tmp_path)

    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    s3.upload_files(Api(), [(str(wheel), S3Uri(bucket, "w/a.whl"))], progress_stream=stream)
    text = stream.getvalue()
    assert "\r\033[K[" in text  # redrawn in place
    assert "100.0% 9.0 MiB/9.0 MiB" in text
    assert f"uploaded   s3://{bucket}/w/a.whl  (9.0 MiB" in text


def test_missing_local_file_is_a_clear_error(aws_env, bucket, tmp_path, capsys):
    rc = main(["upload", "--s3-prefix", f"s3://{bucket}/p", "--wheel", str(tmp_path / "nope.whl")])
    assert rc == 2 and "no such file to upload" in capsys.readouterr().err


def test_read_gzipped_log_and_tail(aws_env, bucket, s3_client):
    text = "".join(f"{i}\n" for i in range(1000))
    s3_client.put_object(Bucket=bucket, Key="logs/j-1/steps/s-1/stderr.gz", Body=gzip.compress(text.encode()))
    api = Api()
    uri = S3Uri.parse(f"s3n://{bucket}/logs/").join("j-1", "steps", "s-1", "stderr.gz")
    assert s3.wait_for_object(api, uri, timeout=0)
    assert s3.tail(s3.read_text(api, uri), 3) == "997\n998\n999"
    assert not s3.wait_for_object(api, S3Uri(bucket, "logs/j-1/steps/s-9/stderr.gz"), timeout=0)


def test_s3_uri_parsing():
    assert S3Uri.parse("s3://b/a/b/") == S3Uri("b", "a/b")
    assert S3Uri.parse("s3n://b/logs/").dir() == "s3://b/logs/"
    assert S3Uri.parse("s3://b").join("x", "y.txt") == S3Uri("b", "x/y.txt")
    with pytest.raises(Exception, match="not an S3 URI"):
        S3Uri.parse("/local/path")
