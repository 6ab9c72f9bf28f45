"""One way to talk to AWS, live or dry.

Every request the launcher makes goes through :class:`Api.call` as ``(service, operation, params)``, which is
also the dry-run output format, so what ``--dry-run`` prints is exactly what a live run would send. Live calls
go through boto3 clients, whose parameter validation against the service model stays on.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Callable, Optional, TextIO

from mergekit.exceptions import MergekitError

BOTO3_MISSING = "boto3 is not installed, and a real run needs it: pip install 'mergekit[emr]' (or boto3)"


class EmrError(MergekitError):
    """A failure the launcher reports as one clear message and a non-zero exit, without a traceback."""


def import_boto3():
    try:
        import boto3
    except ImportError as exc:  # only the extra is missing; say how to get it
        raise EmrError(BOTO3_MISSING) from exc
    return boto3


def client_error_class() -> Any:
    """botocore's ClientError, for the callers that must tell "not found" from other failures."""
    try:
        from botocore.exceptions import ClientError
    except ImportError as exc:
        raise EmrError(BOTO3_MISSING) from exc
    return ClientError


def snake_case(operation: str) -> str:
    # RunJobFlow -> run_job_flow, ListObjectsV2 -> list_objects_v2: botocore's rule for method names.
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", operation)
    return re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s).lower()


class Api:
    """Sends requests with boto3 (live) or prints them as JSON lines and answers with canned replies (dry)."""

    def __init__(
        self,
        dry_run: bool = False,
        region: Optional[str] = None,
        profile: Optional[str] = None,
        endpoint_url: Optional[str] = None,
        out: Optional[TextIO] = None,
        session: Any = None,
    ):
        self.dry_run = dry_run
        self.region = region
        self.profile = profile
        self.endpoint_url = endpoint_url
        self.out = out if out is not None else sys.stdout
        self._session = session
        self._clients: dict[str, Any] = {}
        self.sent: list[dict[str, Any]] = []

    # Credentials come only from boto3's standard chain (env, shared config/credentials files, SSO, instance
    # or container roles); --profile only names a profile in the standard files.
    def session(self):
        if self._session is None:
            boto3 = import_boto3()
            self._session = boto3.session.Session(profile_name=self.profile, region_name=self.region)
        return self._session

    def client(self, service: str):
        if service not in self._clients:
            kwargs: dict[str, Any] = {}
            if self.endpoint_url:
                kwargs["endpoint_url"] = self.endpoint_url
            self._clients[service] = self.session().client(service, **kwargs)
        return self._clients[service]

    def call(self, service: str, operation: str, params: dict[str, Any], dry_reply: Any = None) -> Any:
        record = {"service": service, "operation": operation, "params": params}
        self.sent.append(record)
        if self.dry_run:
            self.out.write(json.dumps(record, sort_keys=False) + "\n")
            self.out.flush()
            return dry_reply() if callable(dry_reply) else (dry_reply or {})
        method: Callable[..., Any] = getattr(self.client(service), snake_case(operation))
        return method(**params)
