"""The EMR release lines mergekit knows, with the Spark and Python each one ships (AWS's release guide).

Sources (checked 2026-12-01; cited again in docs/emr.md):
- https://docs.aws.amazon.com/emr/latest/ReleaseGuide/emr-7130-release.html (Python 3.9, 3.11)
- https://docs.aws.amazon.com/emr/latest/ReleaseGuide/Spark-release-history.html (emr-7.13.0: 3.5.6-amzn-2)
- https://docs.aws.amazon.com/emr/latest/ReleaseGuide/emr-spark800-release.html (Spark 4.0.2-amzn-0;
  Python 3.11, 3.12, 3.13; EC2, EKS and EMR Serverless)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReleaseLine:
    label: str
    spark: str
    pythons: tuple[str, ...]  # the Python versions the release guide lists for the line
    python: str  # the interpreter the bootstrap installs into and PYSPARK_PYTHON names on EC2
    serverless: bool  # offered by EMR Serverless

    def describe(self) -> str:
        return f"{self.label} (Spark {self.spark}, Python {', '.join(self.pythons)})"


RELEASES: dict[str, ReleaseLine] = {
    # python3 on EMR 7 (Amazon Linux 2023) is the system 3.9 at /usr/bin/python3: it has the node's pip and
    # the boto3 of the AMI; the abi3-py39 wheel fits it. python3.11 is there too (--python python3.11).
    "emr-7.13.0": ReleaseLine("emr-7.13.0", "3.5.6", ("3.9", "3.11"), "python3", serverless=True),
    # The Spark 4 line ships no 3.9: name the oldest interpreter it lists, so the wheels pip picks for it
    # (pyarrow, pandas) are the ones with the longest support window.
    "emr-spark-8.0.0": ReleaseLine(
        "emr-spark-8.0.0", "4.0.2", ("3.11", "3.12", "3.13"), "python3.11", serverless=True
    ),
}
DEFAULT_RELEASE = "emr-7.13.0"
SERVERLESS_RELEASE = "emr-spark-8.0.0"


def release_line(label: str):
    """The known line of ``label``, or None for a label mergekit passes through unchecked."""
    return RELEASES.get(label)
