"""EMR Serverless: the application, the job run with the packed environment, waiting, and the driver's log.

An EMR Serverless application is a named Spark runtime (a release label and an architecture) that holds no
machines until a job runs; the job run brings analysis.py and the environment archive from S3. The launcher
reuses an application of the same name, release and architecture when there is one, creates it otherwise,
and stops again what it started, so no pre-initialised capacity is left running.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from mergekit.emr import s3
from mergekit.emr._aws import Api, EmrError
from mergekit.emr.s3 import S3Uri
from mergekit.emr.steps import StatusLine

SERVICE = "emr-serverless"
ENV_NAME = "environment"  # the directory spark.archives unpacks the archive into (URI#environment)
ENV_PYTHON = f"./{ENV_NAME}/bin/python"

APP_LIVE = ("CREATING", "CREATED", "STARTING", "STARTED", "STOPPING", "STOPPED")
JOB_DONE = ("SUCCESS", "FAILED", "CANCELLED")


@dataclass
class JobOptions:
    application_name: str
    release_label: str
    architecture: str
    execution_role_arn: str
    entry_point: str  # s3:// URI of analysis.py
    archive: str  # s3:// URI of the environment archive
    log_uri: str  # s3:// folder for the driver and executor logs
    args: list[str] = field(default_factory=list)
    conf: dict[str, str] = field(default_factory=dict)
    job_name: str = "mergekit analysis.py"
    timeout_minutes: int = 720
    idle_stop_minutes: int = 15
    max_cpu: Optional[str] = None
    max_memory: Optional[str] = None
    tags: dict[str, str] = field(default_factory=dict)


def spark_submit_parameters(opts: JobOptions) -> str:
    """The ``--conf`` list: the environment archive and the interpreter in it for the driver and executors,
    then the caller's properties (which may override any of these)."""
    conf = {
        "spark.archives": f"{opts.archive}#{ENV_NAME}",
        "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON": ENV_PYTHON,
        "spark.emr-serverless.driverEnv.PYSPARK_PYTHON": ENV_PYTHON,
        "spark.executorEnv.PYSPARK_PYTHON": ENV_PYTHON,
        **opts.conf,
    }
    for k, v in conf.items():
        if any(c.isspace() for c in k + v):
            # sparkSubmitParameters is one string that EMR splits on whitespace
            raise EmrError(f"--conf {k}={v}: Spark properties for EMR Serverless cannot contain spaces")
    return " ".join(f"--conf {k}={v}" for k, v in conf.items())


def create_application_params(opts: JobOptions) -> dict[str, Any]:
    params: dict[str, Any] = {
        "name": opts.application_name,
        "releaseLabel": opts.release_label,
        "type": "SPARK",
        "clientToken": str(uuid.uuid4()),
        "architecture": opts.architecture,
        # started on demand by the job run, stopped after this much idle time even if nobody stops it
        "autoStartConfiguration": {"enabled": True},
        "autoStopConfiguration": {"enabled": True, "idleTimeoutMinutes": opts.idle_stop_minutes},
        "tags": {"created-by": "mergekit", **opts.tags},
    }
    if opts.max_cpu or opts.max_memory:
        if not (opts.max_cpu and opts.max_memory):
            raise EmrError("--max-cpu and --max-memory go together (EMR Serverless needs both)")
        params["maximumCapacity"] = {"cpu": opts.max_cpu, "memory": opts.max_memory}
    return params


def start_job_run_params(opts: JobOptions, application_id: str) -> dict[str, Any]:
    if not 1 <= opts.timeout_minutes <= 1_000_000:
        raise EmrError("--timeout-minutes must be at least 1")
    return {
        "applicationId": application_id,
        "clientToken": str(uuid.uuid4()),
        "executionRoleArn": opts.execution_role_arn,
        "name": opts.job_name,
        "jobDriver": {
            "sparkSubmit": {
                "entryPoint": opts.entry_point,
                "entryPointArguments": [str(a) for a in opts.args],
                "sparkSubmitParameters": spark_submit_parameters(opts),
            }
        },
        "configurationOverrides": {
            "monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": opts.log_uri}}
        },
        "executionTimeoutMinutes": opts.timeout_minutes,
        "tags": {"created-by": "mergekit", **opts.tags},
    }


# ------------------------------------------------------------------------------------------ application


def find_application(api: Api, opts: JobOptions) -> Optional[dict[str, Any]]:
    """An application of this name, release and architecture that can still run jobs, if there is one."""
    params: dict[str, Any] = {"states": list(APP_LIVE)}
    while True:
        page = api.call(SERVICE, "ListApplications", params, dry_reply={"applications": []})
        for app in page.get("applications", []):
            if (
                app.get("name") == opts.application_name
                and app.get("releaseLabel") == opts.release_label
                and app.get("architecture", "X86_64") == opts.architecture
            ):
                return app
        if not page.get("nextToken"):
            return None
        params = {**params, "nextToken": page["nextToken"]}


def get_application(api: Api, application_id: str) -> dict[str, Any]:
    return api.call(SERVICE, "GetApplication", {"applicationId": application_id})["application"]


def wait_application(
    api: Api,
    application_id: str,
    wanted: tuple[str, ...],
    poll: float,
    status: StatusLine,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    start = time.monotonic()
    while True:
        app = get_application(api, application_id)
        state = app["state"]
        status.show(f"application {application_id} {state}", time.monotonic() - start)
        if state in wanted:
            return app
        if state == "TERMINATED":
            raise EmrError(f"application {application_id} is TERMINATED: {app.get('stateDetails', '')}")
        sleep(poll)


@dataclass
class Application:
    id: str
    created: bool  # by this run
    started: bool  # by this run: this run stops it again


def prepare_application(
    api: Api,
    opts: JobOptions,
    application_id: Optional[str],
    poll: float,
    status: StatusLine,
    sleep: Callable[[float], None] = time.sleep,
) -> Application:
    """Reuse ``application_id`` (or an application of the same name, release and architecture), or create
    one; then start it unless it is running already."""
    app: Optional[dict[str, Any]]
    if application_id:
        app = None if api.dry_run else get_application(api, application_id)
        if app is not None and app.get("releaseLabel") != opts.release_label:
            raise EmrError(
                f"application {application_id} runs {app.get('releaseLabel')}, not {opts.release_label}; "
                "pass --release to match it or leave out --application-id"
            )
    else:
        app = find_application(api, opts)
    created = False
    if app is None and not application_id:
        reply = api.call(
            SERVICE,
            "CreateApplication",
            create_application_params(opts),
            dry_reply={"applicationId": "00dryrunapp", "name": opts.application_name, "arn": "arn:dry-run"},
        )
        application_id, created = reply["applicationId"], True
    elif app is not None:
        application_id = app["applicationId"] if "applicationId" in app else app["id"]
    if application_id is None:  # unreachable: found, given or created above
        raise EmrError("no EMR Serverless application to run on")
    state = "CREATED"  # what a dry run assumes: it shows the StartApplication a live run may send
    if not api.dry_run:
        ready = ("CREATED", "STARTED", "STOPPED")
        if app is None or app.get("state") not in ready:  # just created, or still changing state
            app = wait_application(api, application_id, ready, poll, status, sleep)
        state = app["state"]
    started = False
    if state in ("CREATED", "STOPPED"):
        api.call(SERVICE, "StartApplication", {"applicationId": application_id})
        started = True
        if not api.dry_run:
            wait_application(api, application_id, ("STARTED",), poll, status, sleep)
    return Application(application_id, created, started)


def stop_application(api: Api, application_id: str) -> None:
    api.call(SERVICE, "StopApplication", {"applicationId": application_id})


# ---------------------------------------------------------------------------------------------- job run


def start_job_run(api: Api, opts: JobOptions, application_id: str) -> str:
    reply = api.call(
        SERVICE,
        "StartJobRun",
        start_job_run_params(opts, application_id),
        dry_reply={"applicationId": application_id, "jobRunId": "00dryrunjob", "arn": "arn:dry-run"},
    )
    return reply["jobRunId"]


def wait_job_run(
    api: Api,
    application_id: str,
    job_run_id: str,
    poll: float,
    status: Optional[StatusLine] = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll GetJobRun until the run ends; one live line shows the state and the elapsed time."""
    status = status or StatusLine()
    start = time.monotonic()
    try:
        while True:
            run = api.call(SERVICE, "GetJobRun", {"applicationId": application_id, "jobRunId": job_run_id})[
                "jobRun"
            ]
            status.show(f"{application_id}/{job_run_id} {run['state']}", time.monotonic() - start)
            if run["state"] in JOB_DONE:
                return run
            sleep(poll)
    finally:
        status.end()


def driver_log_uri(log_uri: str, application_id: str, job_run_id: str, name: str = "stderr") -> S3Uri:
    """Where EMR Serverless writes the driver's logs: LOGURI/applications/APP/jobs/RUN/SPARK_DRIVER/."""
    return S3Uri.parse(log_uri).join(
        "applications", application_id, "jobs", job_run_id, "SPARK_DRIVER", f"{name}.gz"
    )


def fetch_driver_log(
    api: Api, log_uri: str, application_id: str, job_run_id: str, wait: float, name: str = "stderr"
) -> Optional[str]:
    uri = driver_log_uri(log_uri, application_id, job_run_id, name)
    if not s3.wait_for_object(api, uri, timeout=wait):
        return None
    return s3.read_text(api, uri)
