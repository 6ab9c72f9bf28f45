"""S3 side of the launcher: upload with checksum skipping and a progress bar, log download."""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Optional, TextIO

from mergekit.emr._aws import Api, EmrError, client_error_class

# The object's SHA-256 is stored as user metadata rather than compared with the ETag: an ETag is an MD5 only
# for single-part, unencrypted-or-SSE-S3 uploads, while this works for multipart and KMS objects too.
SHA_META = "mergekit-sha256"


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str  # no leading slash; a "prefix" has no trailing slash either

    @classmethod
    def parse(cls, uri: str) -> S3Uri:
        # EMR reports LogUri as s3n://; Hadoop users write s3a://. All name the same object.
        for scheme in ("s3://", "s3n://", "s3a://"):
            if uri.startswith(scheme):
                rest = uri[len(scheme) :]
                bucket, _, key = rest.partition("/")
                if not bucket:
                    break
                return cls(bucket, key.strip("/"))
        raise EmrError(f"not an S3 URI: {uri!r} (expected s3://bucket/prefix)")

    def join(self, *parts: str) -> S3Uri:
        key = "/".join(p.strip("/") for p in (self.key, *parts) if p.strip("/"))
        return S3Uri(self.bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def dir(self) -> str:
        """The URI with a trailing slash, as EMR wants for LogUri and the bootstrap wants for a folder."""
        return f"s3://{self.bucket}/{self.key}/" if self.key else f"s3://{self.bucket}/"


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Progress:
    """A byte-count progress bar on stderr: redrawn in place on a terminal, one line per file otherwise."""

    def __init__(self, total: int, stream: Optional[TextIO] = None, width: int = 30):
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.width = width
        self.label = ""
        self._lock = threading.Lock()  # boto3's transfer manager calls back from its worker threads
        self._last = 0.0

    def start(self, label: str) -> None:
        self.label = label
        self._draw(force=True)

    def add(self, n: int) -> None:
        with self._lock:
            self.done += n
            self._draw()

    def line(self, text: str) -> None:
        with self._lock:
            if self.tty:
                self.stream.write("\r\033[K")
            self.stream.write(text + "\n")
            self._draw(force=True)

    def _draw(self, force: bool = False) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1 and self.done < self.total:
            return
        self._last = now
        frac = min(self.done / self.total, 1.0)
        bar = "#" * int(frac * self.width)
        self.stream.write(
            f"\r\033[K[{bar:<{self.width}}] {frac * 100:5.1f}% "
            f"{_mib(self.done)}/{_mib(self.total)} {self.label}"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _mib(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1 << 20:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1 << 20):.1f} MiB"


@dataclass
class Upload:
    local: str
    dest: S3Uri
    size: int = 0
    sha256: str = ""
    skipped: bool = False


def upload_files(
    api: Api,
    files: list[tuple[str, S3Uri]],
    sse: Optional[str] = "AES256",
    kms_key_id: Optional[str] = None,
    progress_stream: Optional[TextIO] = None,
) -> list[Upload]:
    """Upload ``(local path, destination)`` pairs, skipping objects whose stored SHA-256 already matches.

    Dry run: no HeadObject (that would be a request), and one PutObject line per file whose ``Body`` is the
    local path the live run would stream from.
    """
    plan = []
    for local, dest in files:
        if not os.path.isfile(local):
            raise EmrError(f"no such file to upload: {local}")
        plan.append(Upload(local, dest, os.path.getsize(local), sha256_file(local)))

    extra: dict[str, str] = {}
    if sse:
        extra["ServerSideEncryption"] = sse
        if kms_key_id:
            extra["SSEKMSKeyId"] = kms_key_id

    if api.dry_run:
        for u in plan:
            params: dict[str, object] = {
                "Bucket": u.dest.bucket,
                "Key": u.dest.key,
                "Body": os.path.abspath(u.local),
            }
            params.update(extra)
            params["Metadata"] = {SHA_META: u.sha256}
            api.call("s3", "PutObject", params)
        return plan

    progress = Progress(sum(u.size for u in plan), progress_stream)
    s3 = api.client("s3")
    try:
        for u in plan:
            progress.start(os.path.basename(u.local))
            if _stored_sha256(api, u.dest) == u.sha256:
                u.skipped = True
                progress.add(u.size)
                progress.line(f"unchanged  {u.dest}  ({_mib(u.size)}, sha256 {u.sha256[:12]})")
                continue
            args: dict[str, object] = dict(extra)
            args["Metadata"] = {SHA_META: u.sha256}
            # upload_file may split this into a multipart upload; record it as the one PutObject it stands for
            record = {"Bucket": u.dest.bucket, "Key": u.dest.key, "Body": os.path.abspath(u.local), **args}
            api.sent.append({"service": "s3", "operation": "PutObject", "params": record})
            s3.upload_file(u.local, u.dest.bucket, u.dest.key, ExtraArgs=args, Callback=progress.add)
            progress.line(f"uploaded   {u.dest}  ({_mib(u.size)}, sha256 {u.sha256[:12]})")
    finally:
        progress.close()
    return plan


def _stored_sha256(api: Api, uri: S3Uri) -> Optional[str]:
    ClientError = client_error_class()

    try:
        head = api.call("s3", "HeadObject", {"Bucket": uri.bucket, "Key": uri.key})
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return head.get("Metadata", {}).get(SHA_META)


def object_exists(api: Api, uri: S3Uri) -> bool:
    ClientError = client_error_class()

    try:
        api.call("s3", "HeadObject", {"Bucket": uri.bucket, "Key": uri.key})
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def list_keys(api: Api, prefix: S3Uri) -> list[str]:
    keys: list[str] = []
    params = {"Bucket": prefix.bucket, "Prefix": prefix.key + "/" if prefix.key else ""}
    while True:
        page = api.call("s3", "ListObjectsV2", params)
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
        if not page.get("IsTruncated"):
            return keys
        params = {**params, "ContinuationToken": page["NextContinuationToken"]}


def read_text(api: Api, uri: S3Uri) -> str:
    """An object's text; EMR gzips the logs it pushes to S3, so ``.gz`` objects are decompressed."""
    body = api.call("s3", "GetObject", {"Bucket": uri.bucket, "Key": uri.key})["Body"].read()
    if uri.key.endswith(".gz") or body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    return body.decode("utf-8", errors="replace")


def wait_for_object(api: Api, uri: S3Uri, timeout: float, poll: float = 15.0) -> bool:
    """EMR pushes node logs to S3 about every five minutes and at shutdown, so a step's stderr can lag the
    step's failure by minutes: poll until it appears or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if object_exists(api, uri):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(poll, max(deadline - time.monotonic(), 0.0)))


def tail(text: str, lines: int) -> str:
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])
