"""The `mergekit emr` command line itself: usage errors, help text, release lines, the error hierarchy."""

from __future__ import annotations

import argparse
import math

import pytest
from emr_oracle import json_lines

from mergekit._clock import clock
from mergekit.emr._aws import EmrError
from mergekit.emr.cli import build_parser, cmd_terminate, main
from mergekit.emr.releases import DEFAULT_RELEASE, RELEASES
from mergekit.exceptions import MergekitError

pytestmark = pytest.mark.emr

PREFIX = "s3://data-bkt/mk"


def _parsers(parser: argparse.ArgumentParser, path=("mergekit emr",)):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def test_every_option_has_help_text():
    missing = [
        f"{' '.join(path)} {action.option_strings or action.dest}"
        for path, parser in _parsers(build_parser())
        for action in parser._actions
        if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) and not action.help
    ]
    assert missing == []
    names = {" ".join(path) for path, _ in _parsers(build_parser())}
    assert {"mergekit emr run", "mergekit emr serverless run", "mergekit emr pipeline"} <= names


def test_run_usage_names_the_analysis_args(capsys):
    parsers = dict(_parsers(build_parser()))
    for path in (("mergekit emr", "run"), ("mergekit emr", "serverless", "run")):
        usage = parsers[path].format_usage()
        assert usage.rstrip().endswith("-- ANALYSIS_ARGS..."), usage
    with pytest.raises(SystemExit) as exc:
        main(["run", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for option in ("--step-name", "--spot-timeout-action", "--deploy-mode", "--executor-memory",
                   "--executor-cores", "--tail", "--release"):  # fmt: skip
        assert f"  {option}" in text, option


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--s3-prefix", PREFIX, "--dry-run"], "ANALYSIS_ARGS are required"),
        (["run", "--s3-prefix", PREFIX, "--dry-run", "--"], "ANALYSIS_ARGS are required"),
        (
            ["run", "--s3-prefix", PREFIX, "--task-count", "-1", "--", "-x"],
            "argument --task-count: must be at",
        ),
        (
            ["run", "--s3-prefix", PREFIX, "--core-count", "0", "--", "-x"],
            "argument --core-count: must be at",
        ),
        (
            ["run", "--s3-prefix", PREFIX, "--task-count", "two", "--", "-x"],
            "argument --task-count: expected a",
        ),
        (["run", "--s3-prefix", PREFIX, "--poll", "-1", "--", "-x"], "argument --poll: must be a finite"),
        (["run", "--s3-prefix", PREFIX, "--tail", "0", "--", "-x"], "argument --tail: must be at least 1"),
        (["run", "--s3-prefix", PREFIX, "--ebs-data-gb", "0", "--", "-x"], "argument --ebs-data-gb: must be"),
        (["logs", "--cluster-id", "j-1", "--tail", "-5"], "argument --tail: must be at least 0"),
        (["status", "--", "-x"], "arguments after -- are only for `run`"),
    ],
)
def test_usage_errors_exit_2_and_name_the_argument(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    assert exc.value.code == 2
    assert message in out.err
    assert out.out == ""


@pytest.mark.parametrize(
    ("extra", "label", "python"),
    [
        ([], "emr-7.13.0", "python3"),
        (["--release", "emr-spark-8.0.0"], "emr-spark-8.0.0", "python3.11"),
        (["--release", "emr-spark-8.0.0", "--python", "python3.13"], "emr-spark-8.0.0", "python3.13"),
        (["--release-label", "emr-6.15.0"], "emr-6.15.0", "python3"),
    ],
)
def test_release_lines_set_the_label_and_the_python(capsys, assert_valid, extra, label, python):
    assert main(["run", "--s3-prefix", PREFIX, "--dry-run", *extra, "--", "-x"]) == 0
    (rec,) = json_lines(capsys.readouterr().out)
    assert_valid(rec)
    p = rec["params"]
    assert p["ReleaseLabel"] == label
    props = p["Configurations"][0]["Configurations"][0]["Properties"]
    assert props == {"PYSPARK_PYTHON": python, "PYSPARK_DRIVER_PYTHON": python}
    boot = p["BootstrapActions"][0]["ScriptBootstrapAction"]["Args"]
    assert boot[boot.index("--python") + 1] == python


def test_the_release_table():
    assert DEFAULT_RELEASE == "emr-7.13.0"
    assert (RELEASES["emr-7.13.0"].spark, RELEASES["emr-7.13.0"].pythons) == ("3.5.6", ("3.9", "3.11"))
    line8 = RELEASES["emr-spark-8.0.0"]
    assert (line8.spark, line8.pythons, line8.serverless) == ("4.0.2", ("3.11", "3.12", "3.13"), True)
    # the wheel is abi3 for 3.9+: every listed Python of every line can load it
    assert all(tuple(map(int, v.split("."))) >= (3, 9) for r in RELEASES.values() for v in r.pythons)


def test_emr_error_is_a_mergekit_error():
    assert issubclass(EmrError, MergekitError)
    with pytest.raises(MergekitError, match="give at least one cluster id"):
        cmd_terminate(argparse.Namespace(cluster_ids=[], cluster_id=[]))


def test_terminate_without_ids_is_exit_2(capsys):
    assert main(["terminate"]) == 2
    assert "give at least one cluster id" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0:00:00"), (59.9, "0:00:59"), (3725, "1:02:05"), (97389, "27:03:09"), (-4, "0:00:00"),
     (math.nan, "0:00:00")],
)  # fmt: skip
def test_one_clock_for_every_status_line(seconds, text):
    assert clock(seconds) == text
