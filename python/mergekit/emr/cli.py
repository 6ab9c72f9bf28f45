"""``mergekit emr``: upload, run and manage the job on a transient Amazon EMR cluster.

Dry runs (``--dry-run``) print every request as one JSON line on stdout; everything meant for a person
(progress, states, hints) goes to stderr, so stdout stays machine-readable.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import glob
import os
import sys
from pathlib import Path
from typing import Any, Optional

from mergekit.emr import cluster as cl
from mergekit.emr import s3, security, serverless_cli, steps
from mergekit.emr._args import add_aws, add_wait, int_at_least, kv, seconds, split_passthrough
from mergekit.emr._args import err as _err
from mergekit.emr._args import types as type_list
from mergekit.emr._aws import Api, EmrError
from mergekit.emr.releases import DEFAULT_RELEASE, RELEASES, release_line
from mergekit.emr.s3 import S3Uri

PROG = "mergekit emr"


def default_bootstrap_script() -> Optional[str]:
    """emr_bootstrap/install_mergekit.sh of the checkout this package runs from, or the copy the wheel
    installs beside the package (pyproject's maturin `include` puts it at site-packages/emr_bootstrap/)."""
    here = Path(__file__).resolve()
    for cand in (
        here.parents[3] / "emr_bootstrap" / "install_mergekit.sh",
        here.parents[2] / "emr_bootstrap" / "install_mergekit.sh",
    ):
        if cand.is_file():
            return str(cand)
    return None


# --------------------------------------------------------------------------------------------- arguments


def _add_cluster(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cluster (ignored with --cluster-id)")
    g.add_argument("--cluster-id", help="run on this existing cluster instead of creating a transient one")
    g.add_argument("--name", default="mergekit", help="cluster name (default: %(default)s)")
    g.add_argument(
        "--release",
        choices=tuple(RELEASES),
        default=DEFAULT_RELEASE,
        help="EMR release line: "
        + "; ".join(r.describe() for r in RELEASES.values())
        + " (default: %(default)s)",
    )
    g.add_argument(
        "--release-label",
        help="any other EMR release label, passed through unchecked (overrides --release; set --python)",
    )
    g.add_argument("--master-type", default=cl.DEFAULT_MASTER_TYPE, help="on demand (default: %(default)s)")
    g.add_argument(
        "--core-types",
        type=type_list,
        default=cl.DEFAULT_CORE_TYPES,
        help=f"comma-separated, on demand (default: {','.join(cl.DEFAULT_CORE_TYPES)})",
    )
    g.add_argument(
        "--core-count", type=int_at_least(1), default=2, help="core nodes, on demand (default: %(default)s)"
    )
    g.add_argument(
        "--task-types",
        type=type_list,
        default=cl.DEFAULT_TASK_TYPES,
        help=f"comma-separated spot types of the task fleet (default: {','.join(cl.DEFAULT_TASK_TYPES)})",
    )
    g.add_argument(
        "--task-count",
        type=int_at_least(0),
        default=0,
        help="spot task nodes; 0 = no task fleet (default: %(default)s)",
    )
    g.add_argument(
        "--spot-timeout",
        type=int_at_least(1),
        default=10,
        help="minutes (5..1440) to wait for spot capacity, then --spot-timeout-action (default: %(default)s)",
    )
    g.add_argument(
        "--spot-timeout-action",
        choices=("SWITCH_TO_ON_DEMAND", "TERMINATE_CLUSTER"),
        default="SWITCH_TO_ON_DEMAND",
        help="when spot capacity does not come in time: take on-demand nodes instead, or give up "
        "(default: %(default)s)",
    )
    g.add_argument(
        "--idle-timeout",
        type=int_at_least(1),
        default=3600,
        help="auto-termination after this many idle seconds, 60..604800 (default: %(default)s)",
    )
    g.add_argument(
        "--keep-alive", action="store_true", help="keep the cluster after the steps (still idle-capped)"
    )
    g.add_argument("--log-uri", help="s3:// folder for the cluster's logs (default: S3_PREFIX/logs/)")
    g.add_argument("--subnet", action="append", default=[], help="EC2 subnet id (repeat for several)")
    g.add_argument("--key-name", help="EC2 key pair for SSH to the nodes (default: none, no SSH)")
    g.add_argument(
        "--service-role", default="EMR_DefaultRole", help="EMR service role (default: %(default)s)"
    )
    g.add_argument(
        "--instance-profile",
        default="EMR_EC2_DefaultRole",
        help="EC2 instance profile of the nodes (default: %(default)s)",
    )
    g.add_argument(
        "--security-configuration", help="name of an EMR security configuration (see security-config)"
    )
    g.add_argument("--tag", action="append", type=kv, default=[], help="cluster tag KEY=VALUE (repeat)")
    g.add_argument(
        "--python",
        help="interpreter the bootstrap installs into and PySpark runs (default: the release line's: "
        + ", ".join(f"{r.python} on {r.label}" for r in RELEASES.values())
        + "; python3 with --release-label)",
    )
    g.add_argument(
        "--wheelhouse", action="store_true", help="install dependencies from S3_PREFIX/wheelhouse/"
    )
    g.add_argument("--ebs-root-gb", type=int_at_least(1), help="root volume size per node, GiB")
    g.add_argument(
        "--ebs-data-gb",
        type=int_at_least(1),
        help="a gp3 data volume per core/task node for shuffle and spill, GiB",
    )


def _add_step(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("step")
    g.add_argument(
        "--deploy-mode",
        choices=("client", "cluster"),
        default="client",
        help="where the driver runs: client (the master node; its traceback is in the step's stderr) or "
        "cluster (a YARN container) (default: %(default)s)",
    )
    g.add_argument("--conf", action="append", type=kv, default=[], help="Spark property KEY=VALUE (repeat)")
    g.add_argument("--executor-memory", help="spark-submit --executor-memory, e.g. 6g (default: EMR's)")
    g.add_argument("--executor-cores", help="spark-submit --executor-cores, e.g. 4 (default: EMR's)")
    g.add_argument(
        "--action-on-failure",
        choices=steps.ACTIONS_ON_FAILURE,
        help="default: TERMINATE_CLUSTER on a transient cluster, CONTINUE on --cluster-id",
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description="Upload, run and manage the job on a transient Amazon EMR cluster."
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser(
        "upload", help="put wheels, bootstrap script, analysis.py and inputs into the S3 prefix"
    )
    up.add_argument("--s3-prefix", required=True, help="s3://BUCKET/PREFIX")
    up.add_argument(
        "--wheel", action="append", default=[], help="wheel or sdist (default: DIST/mergekit-*.whl)"
    )
    up.add_argument(
        "--dist", default="dist", help="where scripts/build_wheels.sh put the wheels (default: dist)"
    )
    up.add_argument(
        "--sdist", action="store_true", help="also upload DIST/mergekit-*.tar.gz (source fallback)"
    )
    up.add_argument("--bootstrap", help="bootstrap script (default: emr_bootstrap/install_mergekit.sh)")
    up.add_argument("--analysis", help="the driver script (default: ./analysis.py if present)")
    up.add_argument(
        "--input", action="append", default=[], help="local input file -> S3_PREFIX/input/ (repeat)"
    )
    up.add_argument("--wheelhouse", help="directory of dependency wheels for nodes without internet access")
    up.add_argument("--sse", choices=("AES256", "aws:kms", "none"), default="AES256", help="default: AES256")
    up.add_argument("--kms-key-id", help="KMS key for --sse aws:kms")
    up.add_argument("--dry-run", action="store_true", help="print the requests as JSON lines, send nothing")
    add_aws(up)

    run = sub.add_parser(
        "run",
        help="run analysis.py on a transient cluster: run [options] -- ANALYSIS_ARGS",
        usage=f"{PROG} run --s3-prefix S3_PREFIX [options] -- ANALYSIS_ARGS...",
        description="Run analysis.py on a transient EMR cluster (or --cluster-id). Everything after -- "
        "is passed to analysis.py unchanged; at least one argument is required.",
    )
    run.set_defaults(usage_parser=run)
    run.add_argument("--s3-prefix", required=True, help="s3://BUCKET/PREFIX that `upload` filled")
    run.add_argument("--script", help="driver script URI (default: S3_PREFIX/analysis.py)")
    run.add_argument(
        "--step-name", default="mergekit analysis.py", help="the EMR step's name (default: %(default)s)"
    )
    run.add_argument("--dry-run", action="store_true", help="print the requests as JSON lines, send nothing")
    _add_cluster(run)
    _add_step(run)
    add_wait(run, "cluster and steps are", "the failed step's stderr")
    add_aws(run)

    pipe = sub.add_parser("pipeline", help="run the chained steps of a steps.json")
    pipe.add_argument("steps_json", help="steps file (see docs/emr.md)")
    pipe.add_argument("--s3-prefix", required=True, help="s3://BUCKET/PREFIX that `upload` filled")
    pipe.add_argument("--run-id", help="names this run's output folder (default: UTC timestamp)")
    pipe.add_argument("--dry-run", action="store_true", help="print the requests as JSON lines, send nothing")
    _add_cluster(pipe)
    _add_step(pipe)
    add_wait(pipe, "cluster and steps are", "the failed step's stderr")
    add_aws(pipe)

    st = sub.add_parser("status", help="a cluster's state and steps, or the active clusters")
    st.add_argument("--cluster-id", help="this cluster's state and steps (default: list active clusters)")
    add_aws(st)

    lg = sub.add_parser("logs", help="print a step's log from the cluster's log URI")
    lg.add_argument("--cluster-id", required=True, help="the cluster whose log URI holds the log")
    lg.add_argument("--step-id", help="default: the first failed step, else the last step")
    lg.add_argument(
        "--log",
        choices=("stderr", "stdout", "controller", "syslog"),
        default="stderr",
        help="which of the step's logs (default: %(default)s)",
    )
    lg.add_argument("--tail", type=int_at_least(0), default=0, help="last N lines (default: 0, all)")
    lg.add_argument("--wait", type=seconds, default=0.0, help="seconds to wait for the log to reach S3")
    add_aws(lg)

    te = sub.add_parser("terminate", help="terminate clusters")
    te.add_argument("cluster_ids", nargs="*", metavar="CLUSTER_ID", help="clusters to terminate")
    te.add_argument("--cluster-id", action="append", default=[], help="a cluster to terminate (repeat)")
    add_aws(te)

    sc = sub.add_parser("security-config", help="create an EMR security configuration (encryption)")
    sc.add_argument("--name", required=True, help="name of the new security configuration")
    sc.add_argument("--kms-key", help="KMS key ARN: SSE-KMS for S3 and the local-disk key")
    sc.add_argument("--s3-encryption", choices=("SSE-S3", "SSE-KMS"), help="default: SSE-KMS with --kms-key")
    sc.add_argument("--certificates", help="s3:// zip of PEM files for in-transit TLS")
    sc.add_argument(
        "--no-local-disk-encryption", action="store_true", help="leave local disks unencrypted (no KMS key)"
    )
    sc.add_argument(
        "--no-in-transit-encryption", action="store_true", help="no TLS between nodes (no certificates)"
    )
    sc.add_argument("--dry-run", action="store_true", help="print the request as a JSON line, send nothing")
    add_aws(sc)

    serverless_cli.add_parser(sub)
    return p


def _api(args: argparse.Namespace) -> Api:
    given = getattr(args, "api", None)
    if given is not None:  # a caller (the tests) brought its own clients
        given.dry_run = getattr(args, "dry_run", False)
        return given
    return Api(dry_run=getattr(args, "dry_run", False), region=args.region, profile=args.profile)


# ---------------------------------------------------------------------------------------------- commands


def cmd_upload(args: argparse.Namespace) -> int:
    prefix = S3Uri.parse(args.s3_prefix)
    files: list[tuple[str, S3Uri]] = []

    wheels = list(args.wheel)
    if not wheels:
        wheels = sorted(glob.glob(os.path.join(args.dist, "mergekit-*.whl")))
        if args.sdist:
            wheels += sorted(glob.glob(os.path.join(args.dist, "mergekit-*.tar.gz")))
        if not wheels:
            raise EmrError(
                f"no mergekit wheels in {args.dist}/: build them first with scripts/build_wheels.sh"
            )
    files += [(w, prefix.join(cl.WHEELS_DIR, os.path.basename(w))) for w in wheels]

    bootstrap = args.bootstrap or default_bootstrap_script()
    if not bootstrap:
        raise EmrError("cannot find emr_bootstrap/install_mergekit.sh; pass --bootstrap PATH")
    files.append((bootstrap, prefix.join(cl.BOOTSTRAP_KEY)))

    analysis = args.analysis
    if analysis is None and os.path.isfile("analysis.py"):
        analysis = "analysis.py"
    if analysis:
        files.append((analysis, prefix.join(cl.ANALYSIS_KEY)))
    else:
        _err("note: no ./analysis.py here and no --analysis: not uploading a driver script")

    files += [(f, prefix.join(cl.INPUT_DIR, os.path.basename(f))) for f in args.input]
    if args.wheelhouse:
        house = sorted(glob.glob(os.path.join(args.wheelhouse, "*")))
        house = [h for h in house if os.path.isfile(h)]
        if not house:
            raise EmrError(f"--wheelhouse {args.wheelhouse} holds no files")
        files += [(h, prefix.join(cl.WHEELHOUSE_DIR, os.path.basename(h))) for h in house]

    sse = None if args.sse == "none" else args.sse
    api = _api(args)
    done = s3.upload_files(api, files, sse=sse, kms_key_id=args.kms_key_id)
    if not api.dry_run:
        n_skip = sum(u.skipped for u in done)
        _err(f"{len(done) - n_skip} uploaded, {n_skip} unchanged, under {prefix.dir()}")
    return 0


def _cluster_options(args: argparse.Namespace, prefix: S3Uri) -> cl.ClusterOptions:
    label = args.release_label or args.release
    line = release_line(label)
    python = args.python or (line.python if line else "python3")
    return cl.ClusterOptions(
        s3_prefix=prefix,
        name=args.name,
        release_label=label,
        master_type=args.master_type,
        core_types=tuple(args.core_types),
        core_count=args.core_count,
        task_types=tuple(args.task_types),
        task_count=args.task_count,
        spot_timeout_minutes=args.spot_timeout,
        spot_timeout_action=args.spot_timeout_action,
        idle_timeout_seconds=args.idle_timeout,
        log_uri=args.log_uri,
        subnets=tuple(args.subnet),
        key_name=args.key_name,
        service_role=args.service_role,
        instance_profile=args.instance_profile,
        security_configuration=args.security_configuration,
        tags=dict(args.tag),
        python=python,
        use_wheelhouse=args.wheelhouse,
        ebs_root_gb=args.ebs_root_gb,
        ebs_data_gb=args.ebs_data_gb,
        keep_alive=args.keep_alive,
    )


def _preflight(api: Api, opts: cl.ClusterOptions, scripts: list[str]) -> None:
    """Catch a missing upload before paying for a cluster that would fail in its bootstrap."""
    if api.dry_run:
        return
    missing = []
    if not s3.object_exists(api, opts.s3_prefix.join(cl.BOOTSTRAP_KEY)):
        missing.append(str(opts.s3_prefix.join(cl.BOOTSTRAP_KEY)))
    wheels = [k for k in s3.list_keys(api, opts.s3_prefix.join(cl.WHEELS_DIR)) if k.endswith(".whl")]
    if not wheels:
        missing.append(opts.s3_prefix.join(cl.WHEELS_DIR).dir() + "mergekit-*.whl")
    else:
        # each node installs the wheel of its own architecture: Graviton types need the aarch64 one
        types = {opts.master_type, *opts.core_types, *(opts.task_types if opts.task_count > 0 else ())}
        for arch in sorted({cl.instance_arch(t) for t in types}):
            if not any(k.endswith(f"_{arch}.whl") for k in wheels):
                missing.append(
                    opts.s3_prefix.join(cl.WHEELS_DIR).dir()
                    + f"mergekit-*_{arch}.whl (for "
                    + ", ".join(sorted(t for t in types if cl.instance_arch(t) == arch))
                    + ")"
                )
    for script in scripts:
        if not s3.object_exists(api, S3Uri.parse(script)):
            missing.append(script)
    if missing:
        raise EmrError(
            "not in S3 (run `mergekit emr upload` first):\n  " + "\n  ".join(dict.fromkeys(missing))
        )


def _launch(args: argparse.Namespace, api: Api, prefix: S3Uri, step_defs: list[dict[str, Any]]) -> tuple:
    """Start the steps on a new transient cluster or on --cluster-id: (cluster_id, step_ids, log_uri)."""
    if args.cluster_id:
        step_ids = steps.add_steps(api, args.cluster_id, step_defs)
        log_uri = args.log_uri
        if not log_uri and not api.dry_run:
            log_uri = cl.describe_cluster(api, args.cluster_id).get("LogUri")
        return args.cluster_id, step_ids, log_uri
    opts = _cluster_options(args, prefix)
    params = cl.run_job_flow_params(opts, step_defs)
    reply = api.call("emr", "RunJobFlow", params, dry_reply={"JobFlowId": "j-DRYRUN"})
    cluster_id = reply["JobFlowId"]
    if api.dry_run:
        return cluster_id, [], opts.log_dir()
    _err(f"cluster {cluster_id} starting ({opts.release_label}); logs: {opts.log_dir()}")
    # Steps given to RunJobFlow get their ids only once the cluster exists; list them in submission order.
    step_ids = [s["Id"] for s in steps.list_step_ids(api, cluster_id)]
    return cluster_id, step_ids, opts.log_dir()


def _wait_and_report(
    args: argparse.Namespace, api: Api, cluster_id: str, step_ids: list[str], log_uri
) -> int:
    transient = not args.cluster_id
    if args.no_wait:
        _err(f"submitted: cluster {cluster_id}, steps {' '.join(step_ids)}")
        _err(f"watch: {PROG} status --cluster-id {cluster_id}")
        return 0
    try:
        result = steps.wait_for_steps(api, cluster_id, step_ids, poll=args.poll)
    except KeyboardInterrupt:
        _err(f"\nstopped waiting; cluster {cluster_id} carries on.")
        _err(f"  {PROG} status --cluster-id {cluster_id}")
        _err(f"  {PROG} terminate {cluster_id}")
        return 130
    failed = result.failed_step()
    if failed is None:
        _err(f"all {len(step_ids)} step(s) completed on {cluster_id}")
        if transient and not args.keep_alive:
            _err("the cluster terminates by itself now that its steps are done")
        return 0

    state = result.step_states[failed]
    _err(f"step {failed} {state}; cluster {result.cluster['Status']['State']}")
    reason = result.cluster["Status"].get("StateChangeReason", {}).get("Message")
    if reason:
        _err(f"cluster: {reason}")
    if log_uri:
        if state == "FAILED":
            _err(f"fetching the step's stderr from {steps.step_log_uri(log_uri, cluster_id, failed)} ...")
            text = steps.fetch_step_log(api, log_uri, cluster_id, failed, wait=args.log_wait)
            if text is None:
                _err(
                    f"not in S3 after {args.log_wait:.0f}s; try later: {PROG} logs --cluster-id {cluster_id}"
                )
            else:
                _err(f"----- last {args.tail} lines of stderr of step {failed} -----")
                _err(s3.tail(text, args.tail))
        elif result.cluster["Status"]["State"] == "TERMINATED_WITH_ERRORS":
            # The step never ran: the cluster died first, most often in the bootstrap action.
            found = steps.fetch_bootstrap_stderr(api, log_uri, cluster_id)
            if found:
                _err(f"----- last {args.tail} lines of {found[0]} -----")
                _err(s3.tail(found[1], args.tail))
    return 1


def cmd_run(args: argparse.Namespace, script_args: list[str]) -> int:
    prefix = S3Uri.parse(args.s3_prefix)
    script = args.script or str(prefix.join(cl.ANALYSIS_KEY))
    aof = args.action_on_failure or ("CONTINUE" if args.cluster_id else "TERMINATE_CLUSTER")
    step = steps.spark_submit_step(
        args.step_name,
        script,
        script_args,
        aof,
        deploy_mode=args.deploy_mode,
        conf=dict(args.conf),
        executor_memory=args.executor_memory,
        executor_cores=args.executor_cores,
    )
    api = _api(args)
    if not args.cluster_id:
        _preflight(api, _cluster_options(args, prefix), [script] if script.startswith("s3://") else [])
    cluster_id, step_ids, log_uri = _launch(args, api, prefix, [step])
    if api.dry_run:
        return 0
    return _wait_and_report(args, api, cluster_id, step_ids, log_uri)


def cmd_pipeline(args: argparse.Namespace) -> int:
    prefix = S3Uri.parse(args.s3_prefix)
    run_id = args.run_id or _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    plan = steps.load_pipeline(steps.read_pipeline_file(args.steps_json), prefix, run_id)
    default_aof = args.action_on_failure or ("CANCEL_AND_WAIT" if args.cluster_id else "TERMINATE_CLUSTER")
    step_defs = [
        steps.spark_submit_step(
            s.name,
            s.script,
            s.args,
            s.action_on_failure or default_aof,
            deploy_mode=args.deploy_mode,
            conf={**dict(args.conf), **s.conf},
            executor_memory=s.executor_memory or args.executor_memory,
            executor_cores=s.executor_cores or args.executor_cores,
        )
        for s in plan
    ]
    api = _api(args)
    if not args.cluster_id:
        _preflight(api, _cluster_options(args, prefix), sorted({s.script for s in plan}))
    cluster_id, step_ids, log_uri = _launch(args, api, prefix, step_defs)
    if api.dry_run:
        return 0
    for s in plan:
        if s.output:
            _err(f"{s.name}: output {s.output}")
    return _wait_and_report(args, api, cluster_id, step_ids, log_uri)


def cmd_status(args: argparse.Namespace) -> int:
    api = _api(args)
    if not args.cluster_id:
        clusters = cl.list_active_clusters(api)
        if not clusters:
            print("no active clusters")
        for c in clusters:
            print(f"{c['Id']}  {c['Status']['State']:<13}  {c.get('Name', '')}")
        return 0
    c = cl.describe_cluster(api, args.cluster_id)
    status = c["Status"]
    print(f"{c['Id']}  {status['State']}  {c.get('Name', '')}  {c.get('ReleaseLabel', '')}")
    reason = status.get("StateChangeReason", {}).get("Message")
    if reason:
        print(f"  reason: {reason}")
    if c.get("LogUri"):
        print(f"  logs:   {c['LogUri']}")
    for s in steps.list_step_ids(api, args.cluster_id):
        print(f"  {s['Id']}  {s['Status']['State']:<11}  {s.get('Name', '')}")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    api = _api(args)
    c = cl.describe_cluster(api, args.cluster_id)
    log_uri = c.get("LogUri")
    if not log_uri:
        raise EmrError(f"cluster {args.cluster_id} has no LogUri: EMR kept its logs on the nodes only")
    step_id = args.step_id
    if not step_id:
        all_steps = steps.list_step_ids(api, args.cluster_id)
        if not all_steps:
            raise EmrError(f"cluster {args.cluster_id} has no steps")
        failed = [s for s in all_steps if s["Status"]["State"] == "FAILED"]
        step_id = failed[0]["Id"] if failed else all_steps[-1]["Id"]
    text = steps.fetch_step_log(api, log_uri, args.cluster_id, step_id, args.log, wait=args.wait)
    if text is None:
        uri = steps.step_log_uri(log_uri, args.cluster_id, step_id, args.log)
        raise EmrError(
            f"{uri} is not in S3 (yet): EMR pushes logs about every 5 minutes; retry with --wait 600"
        )
    print(s3.tail(text, args.tail) if args.tail else text.rstrip("\n"))
    return 0


def cmd_terminate(args: argparse.Namespace) -> int:
    ids = list(dict.fromkeys([*args.cluster_ids, *args.cluster_id]))
    if not ids:
        raise EmrError("terminate: give at least one cluster id")
    cl.terminate(_api(args), ids)
    _err(f"terminating {' '.join(ids)}")
    return 0


def cmd_security_config(args: argparse.Namespace) -> int:
    config = security.security_configuration(
        kms_key=args.kms_key,
        s3_mode=args.s3_encryption,
        local_disk=not args.no_local_disk_encryption,
        in_transit_certificates=args.certificates,
        in_transit=not args.no_in_transit_encryption,
    )
    api = _api(args)
    security.create(api, args.name, config)
    if not api.dry_run:
        _err(
            f"created security configuration {args.name!r}; use it with --security-configuration {args.name}"
        )
    return 0


def main(argv: Optional[list[str]] = None, api: Optional[Api] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    own, passthrough = split_passthrough(argv)
    parser = build_parser()
    args = parser.parse_args(own)
    args.api = api
    usage_parser = getattr(args, "usage_parser", None)
    if usage_parser is None and passthrough:
        parser.error("arguments after -- are only for `run` (they go to analysis.py)")
    if usage_parser is not None and not passthrough:
        usage_parser.error(
            "ANALYSIS_ARGS are required: give analysis.py's arguments after --, e.g. "
            "-- --data_source_1 s3://... --data_source_2 s3://... --output_uri s3://..."
        )
    try:
        if args.command == "upload":
            return cmd_upload(args)
        if args.command == "run":
            return cmd_run(args, passthrough)
        if args.command == "pipeline":
            return cmd_pipeline(args)
        if args.command == "status":
            return cmd_status(args)
        if args.command == "logs":
            return cmd_logs(args)
        if args.command == "terminate":
            return cmd_terminate(args)
        if args.command == "serverless":
            return serverless_cli.cmd_run(args, passthrough)
        return cmd_security_config(args)
    except EmrError as exc:
        _err(f"{PROG}: {exc}")
        return 2
    except Exception as exc:
        # AWS errors (credentials, permissions, throttling) are the user's to act on: one line, no traceback.
        botocore_exc = sys.modules.get("botocore.exceptions")
        if botocore_exc is not None and isinstance(
            exc, (botocore_exc.BotoCoreError, botocore_exc.ClientError)
        ):
            _err(f"{PROG}: AWS error: {exc}")
            return 1
        raise
