"""The RunJobFlow request for a transient, cost-capped cluster, and the calls that watch or end a cluster."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

from mergekit.emr._aws import Api, EmrError
from mergekit.emr.releases import DEFAULT_RELEASE
from mergekit.emr.s3 import S3Uri

# The layout `mergekit emr upload` writes under the S3 prefix and `run` reads from.
WHEELS_DIR = "wheels"
WHEELHOUSE_DIR = "wheelhouse"
BOOTSTRAP_KEY = "bootstrap/install_mergekit.sh"
ANALYSIS_KEY = "analysis.py"
INPUT_DIR = "input"
LOGS_DIR = "logs"
OUTPUT_DIR = "output"

# The manylinux2014 wheel installs on EMR 7.x and emr-spark-8.0.0 (Amazon Linux 2023, glibc 2.34) and on the
# EMR 6.x line (glibc 2.26) alike; the release lines and their Pythons are in releases.py.
DEFAULT_MASTER_TYPE = "m5.xlarge"
DEFAULT_CORE_TYPES = ("m5.xlarge",)
# Several interchangeable types give the spot allocator more pools to choose from, which is what keeps
# interruptions and fallbacks rare; all x86_64 so one wheel serves the whole cluster.
DEFAULT_TASK_TYPES = ("m5.2xlarge", "m5a.2xlarge", "m6i.2xlarge", "r5.2xlarge")

ACTIVE_STATES = ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING", "TERMINATING")
DONE_STATES = ("TERMINATED", "TERMINATED_WITH_ERRORS")


@dataclass
class ClusterOptions:
    s3_prefix: S3Uri
    name: str = "mergekit"
    release_label: str = DEFAULT_RELEASE
    master_type: str = DEFAULT_MASTER_TYPE
    core_types: tuple[str, ...] = DEFAULT_CORE_TYPES
    core_count: int = 2
    task_types: tuple[str, ...] = DEFAULT_TASK_TYPES
    task_count: int = 0  # spot capacity units; 0 = no task fleet
    spot_timeout_minutes: int = 10
    spot_timeout_action: str = "SWITCH_TO_ON_DEMAND"
    spot_allocation: str = "price-capacity-optimized"
    idle_timeout_seconds: int = 3600
    log_uri: Optional[str] = None
    subnets: tuple[str, ...] = ()
    key_name: Optional[str] = None
    service_role: str = "EMR_DefaultRole"
    instance_profile: str = "EMR_EC2_DefaultRole"
    security_configuration: Optional[str] = None
    tags: dict[str, str] = field(default_factory=dict)
    python: str = "python3"
    use_wheelhouse: bool = False
    ebs_root_gb: Optional[int] = None
    ebs_data_gb: Optional[int] = (
        None  # a gp3 volume per core/task node for shuffle and spill (m5 has no disk)
    )
    keep_alive: bool = False  # only for clusters meant to take several `--cluster-id` runs

    def log_dir(self) -> str:
        return self.log_uri or self.s3_prefix.join(LOGS_DIR).dir()


_GRAVITON = re.compile(r"^[a-z]+\d+g[a-z]*\.")  # m6g.xlarge, r7gd.2xlarge, c7gn.large, x2gd.medium, ...


def instance_arch(instance_type: str) -> str:
    """The CPU architecture (as `uname -m` names it) of an EC2 instance type."""
    return "aarch64" if _GRAVITON.match(instance_type) else "x86_64"


def bootstrap_action(opts: ClusterOptions) -> dict[str, Any]:
    args = ["--wheels", opts.s3_prefix.join(WHEELS_DIR).dir(), "--python", opts.python]
    if opts.use_wheelhouse:
        args += ["--wheelhouse", opts.s3_prefix.join(WHEELHOUSE_DIR).dir()]
    return {
        "Name": "install mergekit",
        "ScriptBootstrapAction": {"Path": str(opts.s3_prefix.join(BOOTSTRAP_KEY)), "Args": args},
    }


def _type_configs(types: tuple[str, ...], ebs_gb: Optional[int] = None) -> list[dict[str, Any]]:
    if not types:
        raise EmrError("an instance fleet needs at least one instance type")
    configs = []
    for t in types:
        cfg: dict[str, Any] = {"InstanceType": t, "WeightedCapacity": 1}
        if ebs_gb:
            cfg["EbsConfiguration"] = {
                "EbsBlockDeviceConfigs": [
                    {
                        "VolumeSpecification": {"VolumeType": "gp3", "SizeInGB": ebs_gb},
                        "VolumesPerInstance": 1,
                    }
                ]
            }
        configs.append(cfg)
    return configs


def instance_fleets(opts: ClusterOptions) -> list[dict[str, Any]]:
    """Master and core on demand (losing either loses the job or HDFS); task nodes on spot.

    Instance fleets rather than groups because only fleets have a provisioning timeout that falls back to on
    demand: a spot shortage then delays the job by ``spot_timeout_minutes`` instead of stalling it.
    """
    if opts.core_count < 1:
        raise EmrError("--core-count must be at least 1")
    fleets: list[dict[str, Any]] = [
        {
            "Name": "master",
            "InstanceFleetType": "MASTER",
            "TargetOnDemandCapacity": 1,
            "InstanceTypeConfigs": _type_configs((opts.master_type,)),
        },
        {
            "Name": "core",
            "InstanceFleetType": "CORE",
            "TargetOnDemandCapacity": opts.core_count,
            "InstanceTypeConfigs": _type_configs(opts.core_types, opts.ebs_data_gb),
        },
    ]
    if opts.task_count > 0:
        if not 5 <= opts.spot_timeout_minutes <= 1440:
            raise EmrError("--spot-timeout must be between 5 and 1440 minutes (the EMR limits)")
        fleets.append(
            {
                "Name": "task-spot",
                "InstanceFleetType": "TASK",
                "TargetSpotCapacity": opts.task_count,
                "TargetOnDemandCapacity": 0,
                "InstanceTypeConfigs": _type_configs(opts.task_types, opts.ebs_data_gb),
                "LaunchSpecifications": {
                    "SpotSpecification": {
                        "TimeoutDurationMinutes": opts.spot_timeout_minutes,
                        "TimeoutAction": opts.spot_timeout_action,
                        "AllocationStrategy": opts.spot_allocation,
                    },
                    "OnDemandSpecification": {"AllocationStrategy": "lowest-price"},
                },
            }
        )
    return fleets


def run_job_flow_params(opts: ClusterOptions, steps: list[dict[str, Any]]) -> dict[str, Any]:
    if not 60 <= opts.idle_timeout_seconds <= 604800:
        raise EmrError("--idle-timeout must be between 60 and 604800 seconds (the EMR limits)")
    instances: dict[str, Any] = {
        "InstanceFleets": instance_fleets(opts),
        # The steps are in this request, so the cluster ends when they do: no idle cluster to pay for.
        "KeepJobFlowAliveWhenNoSteps": opts.keep_alive,
        "TerminationProtected": False,
    }
    if opts.subnets:
        # Fleets accept several subnets and pick the one with capacity: more spot pools again.
        instances["Ec2SubnetIds"] = list(opts.subnets)
    if opts.key_name:
        instances["Ec2KeyName"] = opts.key_name

    tags = {"created-by": "mergekit", **opts.tags}
    params: dict[str, Any] = {
        "Name": opts.name,
        "LogUri": opts.log_dir(),
        "ReleaseLabel": opts.release_label,
        "Applications": [{"Name": "Spark"}],
        "Instances": instances,
        "Steps": steps,
        "BootstrapActions": [bootstrap_action(opts)],
        "Configurations": [
            {
                # Spark must run the interpreter the bootstrap installed mergekit into.
                "Classification": "spark-env",
                "Configurations": [
                    {
                        "Classification": "export",
                        "Properties": {"PYSPARK_PYTHON": opts.python, "PYSPARK_DRIVER_PYTHON": opts.python},
                    }
                ],
            }
        ],
        "ServiceRole": opts.service_role,
        "JobFlowRole": opts.instance_profile,
        "VisibleToAllUsers": True,
        # A second guard besides KeepJobFlowAliveWhenNoSteps=False: a cluster left idle (e.g. after
        # --keep-alive, or a step that never got submitted) still ends after this many seconds.
        "AutoTerminationPolicy": {"IdleTimeout": opts.idle_timeout_seconds},
        "ScaleDownBehavior": "TERMINATE_AT_TASK_COMPLETION",
        "StepConcurrencyLevel": 1,
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }
    if opts.security_configuration:
        params["SecurityConfiguration"] = opts.security_configuration
    if opts.ebs_root_gb:
        params["EbsRootVolumeSize"] = opts.ebs_root_gb
    return params


def describe_cluster(api: Api, cluster_id: str) -> dict[str, Any]:
    return api.call("emr", "DescribeCluster", {"ClusterId": cluster_id})["Cluster"]


def list_active_clusters(api: Api) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    params: dict[str, Any] = {"ClusterStates": list(ACTIVE_STATES)}
    while True:
        page = api.call("emr", "ListClusters", params)
        out.extend(page.get("Clusters", []))
        if not page.get("Marker"):
            return out
        params = {**params, "Marker": page["Marker"]}


def terminate(api: Api, cluster_ids: list[str]) -> None:
    api.call("emr", "TerminateJobFlows", {"JobFlowIds": cluster_ids})
