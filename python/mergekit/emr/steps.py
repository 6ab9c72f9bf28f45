"""Spark steps: the ``spark-submit`` step, chained pipelines from ``steps.json``, and waiting on them."""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, TextIO

from mergekit._clock import clock
from mergekit.emr import s3
from mergekit.emr._aws import Api, EmrError
from mergekit.emr.cluster import OUTPUT_DIR
from mergekit.emr.s3 import S3Uri

ACTIONS_ON_FAILURE = ("TERMINATE_CLUSTER", "CANCEL_AND_WAIT", "CONTINUE")
STEP_DONE = ("COMPLETED", "CANCELLED", "FAILED", "INTERRUPTED")


def spark_submit_step(
    name: str,
    script: str,
    args: list[str],
    action_on_failure: str,
    deploy_mode: str = "client",
    conf: Optional[dict[str, str]] = None,
    executor_memory: Optional[str] = None,
    executor_cores: Optional[str] = None,
) -> dict[str, Any]:
    """A ``spark-submit`` run through ``command-runner.jar``.

    Client deploy mode by default: the driver then runs on the master node and its Python traceback lands in
    the step's own stderr, which is the log the launcher fetches on failure (in cluster mode it would be
    buried in a YARN container log).
    """
    if action_on_failure not in ACTIONS_ON_FAILURE:
        raise EmrError(f"action on failure must be one of {', '.join(ACTIONS_ON_FAILURE)}")
    submit = ["spark-submit", "--deploy-mode", deploy_mode]
    if executor_memory:
        submit += ["--executor-memory", str(executor_memory)]
    if executor_cores:
        submit += ["--executor-cores", str(executor_cores)]
    for k, v in (conf or {}).items():
        submit += ["--conf", f"{k}={v}"]
    submit.append(script)
    submit += [str(a) for a in args]
    return {
        "Name": name,
        "ActionOnFailure": action_on_failure,
        "HadoopJarStep": {"Jar": "command-runner.jar", "Args": submit},
    }


def add_steps(api: Api, cluster_id: str, steps: list[dict[str, Any]]) -> list[str]:
    reply = api.call(
        "emr",
        "AddJobFlowSteps",
        {"JobFlowId": cluster_id, "Steps": steps},
        dry_reply=lambda: {"StepIds": [f"s-DRYRUN{i}" for i in range(len(steps))]},
    )
    return list(reply["StepIds"])


def list_step_ids(api: Api, cluster_id: str) -> list[dict[str, Any]]:
    """All steps of a cluster, oldest first (EMR lists newest first)."""
    out: list[dict[str, Any]] = []
    params: dict[str, Any] = {"ClusterId": cluster_id}
    while True:
        page = api.call("emr", "ListSteps", params)
        out.extend(page.get("Steps", []))
        if not page.get("Marker"):
            break
        params = {**params, "Marker": page["Marker"]}
    return list(reversed(out))


# ---------------------------------------------------------------------------------------------- pipelines


@dataclass
class PipelineStep:
    name: str
    script: str
    args: list[str]
    output: Optional[str]
    input: Optional[str]
    action_on_failure: Optional[str]
    executor_memory: Optional[str] = None
    executor_cores: Optional[str] = None
    conf: dict[str, str] = field(default_factory=dict)


_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.\-]+)\}")


def _truthy(v: Any) -> bool:
    return str(v).strip().lower() in ("1", "true", "yes")


def _none(v: Any) -> Optional[str]:
    # seed 002's steps.json writes "None" and "" for absent values
    if v is None or str(v).strip() in ("", "None", "null"):
        return None
    return str(v)


def load_pipeline(doc: dict[str, Any], prefix: S3Uri, run_id: str) -> list[PipelineStep]:
    """Resolve a ``steps.json`` document into concrete steps.

    Each step: ``name``; ``script`` (an s3:// URI, or a key relative to the S3 prefix; default
    ``analysis.py``); ``args`` (list; placeholders ``{input}``, ``{output}``, ``{prefix}``, ``{run_id}``,
    ``{steps.NAME.output}``); ``output`` (an s3:// URI, or ``auto`` for ``PREFIX/output/RUN_ID/NAME/``);
    ``input`` (an s3:// URI) or ``input_from`` (a previous step's name: its output becomes this input);
    optional ``action_on_failure``, ``executor_memory``, ``executor_cores``, ``conf``.
    The field names of seed 002's steps.json are accepted too (``script_uri``, ``ActionOnFailure`` and, in
    ``script_args``, ``auto_generate_output``/``output_uri``/``format_output``, ``input_data``,
    ``input_dependency_from_output_step``/``from_step``). Without ``args`` a step gets
    ``--input {input} --output {output}`` for whichever of the two it has.
    """
    raw_steps = doc.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise EmrError('steps.json: expected {"steps": [ ... ]} with at least one step')
    outputs: dict[str, Optional[str]] = {}
    out: list[PipelineStep] = []
    for i, raw in enumerate(raw_steps):
        if not isinstance(raw, dict):
            raise EmrError(f"steps.json: step {i} is not an object")
        script_args = raw.get("script_args")
        sa: dict = script_args if isinstance(script_args, dict) else {}
        name = _none(raw.get("name")) or f"step_{i}"
        if name in outputs:
            raise EmrError(f"steps.json: two steps are named {name!r}")
        where = f"steps.json: step {name!r}"

        script = _none(raw.get("script")) or _none(raw.get("script_uri")) or "analysis.py"
        if not script.startswith("s3://"):
            script = str(prefix.join(script))

        output = _none(raw.get("output")) or _none(sa.get("output_uri"))
        if output is None and _truthy(sa.get("auto_generate_output", "0")):
            output = "auto"
        if output == "auto":
            suffix = _none(sa.get("format_output")) or ""
            output = prefix.join(OUTPUT_DIR, run_id, name + suffix).dir()

        source = _none(raw.get("input_from"))
        if source is None and _truthy(sa.get("input_dependency_from_output_step", "0")):
            source = _none(sa.get("from_step"))
            if source is None:
                raise EmrError(f"{where}: input_dependency_from_output_step needs from_step")
        if source is not None:
            if source not in outputs:
                raise EmrError(f"{where}: input_from {source!r} is not an earlier step")
            if outputs[source] is None:
                raise EmrError(f"{where}: step {source!r} has no output to use as input")
            inp: Optional[str] = outputs[source]
        else:
            inp = _none(raw.get("input")) or _none(sa.get("input_data"))

        values = {"prefix": prefix.dir().rstrip("/"), "run_id": run_id, "input": inp, "output": output}
        values.update({f"steps.{k}.output": v for k, v in outputs.items()})

        def subst(text: str, values=values, where=where) -> str:
            def one(m: re.Match) -> str:
                key = m.group(1)
                if key not in values:
                    raise EmrError(f"{where}: unknown placeholder {{{key}}}")
                if values[key] is None:
                    raise EmrError(f"{where}: {{{key}}} is used but the step has no {key}")
                return str(values[key])

            return _PLACEHOLDER.sub(one, text)

        if "args" in raw:
            if not isinstance(raw["args"], list):
                raise EmrError(f"{where}: args must be a list of strings")
            args = [subst(str(a)) for a in raw["args"]]
        else:
            args = (["--input", inp] if inp else []) + (["--output", output] if output else [])

        aof = _none(raw.get("action_on_failure")) or _none(raw.get("ActionOnFailure"))
        conf = raw.get("conf") or {}
        if not isinstance(conf, dict):
            raise EmrError(f"{where}: conf must be an object of Spark properties")
        out.append(
            PipelineStep(
                name=name,
                script=script,
                args=args,
                output=output,
                input=inp,
                action_on_failure=aof,
                executor_memory=_none(raw.get("executor_memory")),
                executor_cores=_none(raw.get("executor_cores")),
                conf={str(k): str(v) for k, v in conf.items()},
            )
        )
        outputs[name] = output
    return out


def read_pipeline_file(path: str) -> dict[str, Any]:
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as exc:
        raise EmrError(f"cannot read {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise EmrError(f"{path} is not valid JSON: {exc}") from exc


# ---------------------------------------------------------------------------------------------- waiting


class StatusLine:
    """One live status line: redrawn in place on a terminal; elsewhere (CI logs) printed only on change."""

    def __init__(self, stream: Optional[TextIO] = None):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = ""

    def show(self, text: str, elapsed: float) -> None:
        if self.tty:
            self.stream.write(f"\r\033[K{text} · {clock(elapsed)}")
            self.stream.flush()
        elif text != self._last:
            self.stream.write(f"{text} · {clock(elapsed)}\n")
            self.stream.flush()
        self._last = text

    def end(self) -> None:
        if self.tty and self._last:
            self.stream.write("\n")
            self.stream.flush()


@dataclass
class WaitResult:
    step_states: dict[str, str]
    cluster: dict[str, Any]

    def failed_step(self) -> Optional[str]:
        for sid, state in self.step_states.items():
            if state != "COMPLETED":
                return sid
        return None


def wait_for_steps(
    api: Api,
    cluster_id: str,
    step_ids: list[str],
    poll: float = 30.0,
    status: Optional[StatusLine] = None,
    sleep: Callable[[float], None] = time.sleep,
) -> WaitResult:
    """Poll until every step has finished (or the cluster is gone), showing cluster state, the current step
    and its state, and the elapsed time."""
    status = status or StatusLine()
    start = time.monotonic()
    states: dict[str, str] = dict.fromkeys(step_ids, "PENDING")
    names: dict[str, str] = {}
    try:
        while True:
            cluster = api.call("emr", "DescribeCluster", {"ClusterId": cluster_id})["Cluster"]
            cstate = cluster["Status"]["State"]
            current = next((s for s in step_ids if states[s] not in STEP_DONE), None)
            if current is not None:
                step = api.call("emr", "DescribeStep", {"ClusterId": cluster_id, "StepId": current})["Step"]
                states[current] = step["Status"]["State"]
                names[current] = step.get("Name", current)
            done = sum(1 for s in step_ids if states[s] == "COMPLETED")
            shown = current or step_ids[-1]
            status.show(
                f"{cluster_id} {cstate} · step {done + (current is not None)}/{len(step_ids)} "
                f"{names.get(shown, shown)} {states[shown]}",
                time.monotonic() - start,
            )
            failed = any(states[s] in ("FAILED", "CANCELLED", "INTERRUPTED") for s in step_ids)
            all_done = all(states[s] in STEP_DONE for s in step_ids)
            if all_done or failed or cstate in ("TERMINATED", "TERMINATED_WITH_ERRORS"):
                # A terminated cluster runs nothing more: whatever is not finished never will be.
                return WaitResult(states, cluster)
            sleep(poll)
    finally:
        status.end()


def step_log_uri(log_uri: str, cluster_id: str, step_id: str, name: str = "stderr") -> S3Uri:
    """Where EMR puts a step's logs: LOGURI/CLUSTER/steps/STEP/{stderr,stdout,controller,syslog}.gz."""
    return S3Uri.parse(log_uri).join(cluster_id, "steps", step_id, f"{name}.gz")


def fetch_step_log(
    api: Api, log_uri: str, cluster_id: str, step_id: str, name: str = "stderr", wait: float = 0.0
) -> Optional[str]:
    uri = step_log_uri(log_uri, cluster_id, step_id, name)
    if not s3.wait_for_object(api, uri, timeout=wait):
        return None
    return s3.read_text(api, uri)


def fetch_bootstrap_stderr(api: Api, log_uri: str, cluster_id: str) -> Optional[tuple[str, str]]:
    """The first bootstrap-action stderr under LOGURI/CLUSTER/node/*/bootstrap-actions/, for a cluster that
    died before any step ran. Returns (uri, text) or None."""
    node_dir = S3Uri.parse(log_uri).join(cluster_id, "node")
    for key in s3.list_keys(api, node_dir):
        if "/bootstrap-actions/" in key and key.endswith("stderr.gz"):
            uri = S3Uri(node_dir.bucket, key)
            text = s3.read_text(api, uri)
            if text.strip():
                return str(uri), text
    return None
