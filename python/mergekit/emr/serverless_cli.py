"""``mergekit emr serverless run``: analysis.py on EMR Serverless, with mergekit in a packed environment.

One command: build the environment archive for the release's Python (the wheel, pandas, pyarrow), upload it
and analysis.py, create or reuse the application, start the job run, wait with a live status line, print
the driver's stderr tail on failure, and stop the application if this run started it.
"""

from __future__ import annotations

import argparse
import glob
import os
from typing import Any, Optional

from mergekit.emr import env_archive, s3
from mergekit.emr import serverless as sl
from mergekit.emr._args import add_aws, add_wait, err, int_at_least, kv
from mergekit.emr._aws import Api, EmrError
from mergekit.emr.releases import RELEASES, SERVERLESS_RELEASE
from mergekit.emr.s3 import S3Uri

PROG = "mergekit emr serverless"
SERVERLESS_DIR = "serverless"  # under the S3 prefix: the archive, analysis.py and the job logs
DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "mergekit", "emr-serverless")


def add_parser(sub: Any) -> None:
    top = sub.add_parser("serverless", help="run analysis.py on EMR Serverless (no cluster to manage)")
    ssub = top.add_subparsers(dest="serverless_command", required=True, metavar="COMMAND")
    run = ssub.add_parser(
        "run",
        help="package, upload and run analysis.py as an EMR Serverless job run",
        usage=f"{PROG} run --s3-prefix S3_PREFIX --execution-role-arn ARN [options] -- ANALYSIS_ARGS...",
        description="Build the Python environment archive (mergekit's wheel, pandas, pyarrow) for the "
        "release's Python, upload it with analysis.py, create or reuse the application, run the job and "
        "wait for it. Everything after -- goes to analysis.py unchanged; at least one argument is required.",
    )
    run.set_defaults(usage_parser=run)
    run.add_argument("--s3-prefix", required=True, help="s3://BUCKET/PREFIX for the archive, script and logs")
    run.add_argument(
        "--execution-role-arn",
        required=True,
        help="IAM role the job runs as (needs the S3 prefix and the job's inputs and outputs)",
    )
    run.add_argument("--dry-run", action="store_true", help="print the requests as JSON lines, send nothing")

    g = run.add_argument_group("application")
    g.add_argument(
        "--application-id", help="run on this application (default: reuse one named --name, or create it)"
    )
    g.add_argument(
        "--name", default="mergekit", help="application name to reuse or create (default: %(default)s)"
    )
    serverless_lines = [r for r in RELEASES.values() if r.serverless]
    g.add_argument(
        "--release",
        choices=tuple(r.label for r in serverless_lines),
        default=SERVERLESS_RELEASE,
        help="release line: " + "; ".join(r.describe() for r in serverless_lines) + " (default: %(default)s)",
    )
    g.add_argument(
        "--architecture",
        choices=tuple(env_archive.ARCHITECTURES),
        default="X86_64",
        help="CPU of the workers; ARM64 (Graviton) needs the aarch64 wheel (default: %(default)s)",
    )
    g.add_argument(
        "--idle-stop-minutes",
        type=int_at_least(1),
        default=15,
        help="a created application stops itself after this many idle minutes (default: %(default)s)",
    )
    g.add_argument("--max-cpu", help="application capacity cap, e.g. '64 vCPU' (with --max-memory)")
    g.add_argument("--max-memory", help="application capacity cap, e.g. '256 GB' (with --max-cpu)")
    g.add_argument("--tag", action="append", type=kv, default=[], help="tag KEY=VALUE (repeat)")

    e = run.add_argument_group("environment archive")
    e.add_argument("--wheel", help="mergekit wheel for --architecture (default: the newest in --dist)")
    e.add_argument(
        "--dist", default="dist", help="where scripts/build_wheels.sh put the wheels (default: dist)"
    )
    e.add_argument(
        "--python-version",
        help="the image's Python the archive is built for (default: the release line's oldest, e.g. 3.11)",
    )
    e.add_argument("--wheelhouse", help="directory of dependency wheels: build the archive offline from it")
    e.add_argument(
        "--requirement", action="append", default=[], help="one more package for analysis.py (repeat)"
    )
    e.add_argument("--archive", help="a prebuilt archive to upload instead of building one")
    e.add_argument(
        "--cache-dir",
        default=DEFAULT_CACHE,
        help="where built archives are kept and reused (default: %(default)s)",
    )
    e.add_argument("--analysis", default="analysis.py", help="the driver script (default: %(default)s)")

    j = run.add_argument_group("job run")
    j.add_argument(
        "--job-name", default="mergekit analysis.py", help="the job run's name (default: %(default)s)"
    )
    j.add_argument("--conf", action="append", type=kv, default=[], help="Spark property KEY=VALUE (repeat)")
    j.add_argument("--executor-memory", help="spark.executor.memory, e.g. 14g (default: EMR Serverless')")
    j.add_argument(
        "--executor-cores", help="spark.executor.cores: 1, 2, 4, 8 or 16 (default: EMR Serverless')"
    )
    j.add_argument(
        "--timeout-minutes",
        type=int_at_least(1),
        default=720,
        help="EMR Serverless cancels the run after this long (default: %(default)s)",
    )
    add_wait(run, "job run is", "the driver's stderr")
    add_aws(run)


def _wheel_for(args: argparse.Namespace, machine: str) -> str:
    if args.wheel:
        return args.wheel
    found = sorted(glob.glob(os.path.join(args.dist, f"mergekit-*_{machine}.whl")))
    if not found:
        raise EmrError(
            f"no mergekit wheel for {machine} in {args.dist}/: build it with scripts/build_wheels.sh"
            + (" --aarch64" if machine == "aarch64" else "")
            + ", or pass --wheel"
        )
    return found[-1]


def _api(args: argparse.Namespace) -> Api:
    given = getattr(args, "api", None)
    if given is not None:
        given.dry_run = args.dry_run
        return given
    return Api(dry_run=args.dry_run, region=args.region, profile=args.profile)


def _archive(args: argparse.Namespace, spec: env_archive.EnvSpec, dry_run: bool) -> str:
    if args.archive:
        if not os.path.isfile(args.archive):
            raise EmrError(f"--archive {args.archive} does not exist")
        return args.archive
    cached = os.path.join(args.cache_dir, spec.key())
    if dry_run:
        # a dry run sends nothing and builds nothing: it names the archive a live run would build here
        err(f"dry run: not building {cached}")
        return cached
    if not os.path.isfile(cached):
        err(f"building the environment archive for CPython {spec.python_version} {spec.machine()} ...")
    return env_archive.build(spec, args.cache_dir)


def cmd_run(args: argparse.Namespace, script_args: list[str]) -> int:
    prefix = S3Uri.parse(args.s3_prefix)
    line = RELEASES[args.release]
    python_version = args.python_version or line.pythons[0]
    if python_version not in line.pythons:
        raise EmrError(
            f"--python-version {python_version}: {line.label} ships Python {', '.join(line.pythons)}"
        )
    machine = env_archive.ARCHITECTURES[args.architecture]
    if not os.path.isfile(args.analysis):
        raise EmrError(f"no driver script {args.analysis}: pass --analysis PATH")
    spec = env_archive.EnvSpec(
        wheel=_wheel_for(args, machine),
        python_version=python_version,
        architecture=args.architecture,
        wheelhouse=args.wheelhouse,
        requirements=tuple(args.requirement),
    )
    if not os.path.isfile(spec.wheel):
        raise EmrError(f"no such wheel: {spec.wheel}")
    api = _api(args)
    archive = _archive(args, spec, api.dry_run)
    archive_uri = prefix.join(SERVERLESS_DIR, os.path.basename(archive))
    script_uri = prefix.join(SERVERLESS_DIR, "analysis.py")
    if api.dry_run and not os.path.isfile(archive):
        put = {"Bucket": archive_uri.bucket, "Key": archive_uri.key, "Body": archive}
        api.call("s3", "PutObject", {**put, "ServerSideEncryption": "AES256"})
        s3.upload_files(api, [(args.analysis, script_uri)])
    else:
        s3.upload_files(api, [(archive, archive_uri), (args.analysis, script_uri)])

    conf = dict(args.conf)
    if args.executor_memory:
        conf.setdefault("spark.executor.memory", args.executor_memory)
    if args.executor_cores:
        conf.setdefault("spark.executor.cores", args.executor_cores)
    log_uri = prefix.join(SERVERLESS_DIR, "logs").dir()
    opts = sl.JobOptions(
        application_name=args.name,
        release_label=line.label,
        architecture=args.architecture,
        execution_role_arn=args.execution_role_arn,
        entry_point=str(script_uri),
        archive=str(archive_uri),
        log_uri=log_uri,
        args=script_args,
        conf=conf,
        job_name=args.job_name,
        timeout_minutes=args.timeout_minutes,
        idle_stop_minutes=args.idle_stop_minutes,
        max_cpu=args.max_cpu,
        max_memory=args.max_memory,
        tags=dict(args.tag),
    )
    sl.spark_submit_parameters(opts)  # refuse a bad --conf before any application is touched

    status = sl.StatusLine()
    app = sl.prepare_application(api, opts, args.application_id, args.poll, status)
    status.end()
    job_run_id = "(not started)"
    try:
        job_run_id = sl.start_job_run(api, opts, app.id)
        if api.dry_run:
            return 0
        err(f"job run {job_run_id} on application {app.id} ({line.label}); logs: {log_uri}")
        if args.no_wait:
            err(f"submitted; the application {'stays started' if app.started else 'is as it was'}")
            app.started = False  # the run needs it: do not stop it under the job
            return 0
        return _wait_and_report(api, args, app, job_run_id, log_uri)
    except KeyboardInterrupt:
        err(f"\nstopped waiting; job run {job_run_id} carries on (application {app.id}).")
        app.started = False  # stopping it would fail while the job runs
        return 130
    finally:
        if app.started:
            sl.stop_application(api, app.id)
            err(
                f"stopping application {app.id}, which this run started (reuse it: --application-id {app.id})"
            )


def _wait_and_report(
    api: Api, args: argparse.Namespace, app: sl.Application, job_run_id: str, log_uri: str
) -> int:
    run = sl.wait_job_run(api, app.id, job_run_id, poll=args.poll)
    if run["state"] == "SUCCESS":
        err(f"job run {job_run_id} succeeded")
        return 0
    err(f"job run {job_run_id} {run['state']}: {run.get('stateDetails', '')}".rstrip(": "))
    uri = sl.driver_log_uri(log_uri, app.id, job_run_id)
    err(f"fetching the driver's stderr from {uri} ...")
    text: Optional[str] = sl.fetch_driver_log(api, log_uri, app.id, job_run_id, wait=args.log_wait)
    if text is None:
        err(f"not in S3 after {args.log_wait:.0f}s; look later under {log_uri}")
    else:
        err(f"----- last {args.tail} lines of the driver's stderr -----")
        err(s3.tail(text, args.tail))
    return 1
