"""The one output rule, for every face (``join_files``/``mergekit join``, the Parquet path, ``analysis.py``).

mergekit replaces only what it can show it wrote, and says in one line why it refuses anything else:

- an output that is one of the inputs (or, for a directory output, holds one) is refused;
- a device, a named pipe or a socket is refused, except the streams a user names on purpose: ``-`` and
  ``/dev/stdout`` (also ``/dev/stderr``, ``/dev/fd/N``, ``/dev/null``), which are written to as a stream,
  never renamed over;
- an existing file is replaced only if mergekit wrote it (its ``user.mergekit.output`` extended attribute,
  set on the temporary file before the rename that publishes it) or the caller passes ``overwrite=True``;
- an existing directory is replaced only if it is a complete mergekit output: Spark's ``_SUCCESS`` plus
  mergekit's ``_MERGEKIT`` marker, which lists every file mergekit wrote there, and nothing else in it.
  No flag makes mergekit replace any other directory.

Temporary outputs are named ``.<name>.mergekit-<pid>.<tmp|arrow>`` beside the target: the rename is the
commit point, and a later run removes the temporaries of processes that no longer exist.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Optional

from mergekit.exceptions import OutputRefusedError

MARK_XATTR = "user.mergekit.output"
MARK_VALUE = b"mergekit"
DIR_MARKER = "_MERGEKIT"
SUCCESS = "_SUCCESS"

# Temporary outputs, and private copies of piped inputs (files.py).
_TEMP_NAME = re.compile(r"^\.(?:.+\.mergekit-(\d+)\.(?:tmp|arrow)|mergekit-input-(\d+)-.+)$")
_FD_PATH = re.compile(r"^/(?:dev|proc/self)/fd/(\d+)$")
_STREAMS = {"-": 1, "/dev/stdout": 1, "/dev/stderr": 2}


def temp_name(target: str, suffix: str, pid: Optional[int] = None) -> str:
    """The hidden temporary beside ``target`` (the Rust writer uses the same pattern, src/io/write.rs)."""
    directory = os.path.dirname(os.path.abspath(target))
    pid = os.getpid() if pid is None else pid
    return os.path.join(directory, f".{os.path.basename(target)}.mergekit-{pid}.{suffix}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temps(directory: str) -> list[str]:
    """Remove temporary outputs (by their name) of mergekit processes that no longer exist."""
    removed: list[str] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        m = _TEMP_NAME.match(name)
        if not m:
            continue
        pid = int(m.group(1) or m.group(2))
        path = os.path.join(directory, name)
        if pid == os.getpid() or pid_alive(pid):
            continue
        try:
            if stat.S_ISREG(os.lstat(path).st_mode):
                os.unlink(path)
                removed.append(path)
        except OSError:
            pass
    return removed


def remove_own_temps(output: str, temp_dir: Optional[str] = None) -> None:
    """After an interrupt: remove whatever this process left for ``output`` (its temporary outputs, its
    private copies of piped inputs, its spill directories). The engine removes them itself when it stops;
    this is the net under a signal that arrives in between."""
    import shutil
    import tempfile

    pid = str(os.getpid())
    directories = {os.path.dirname(os.path.abspath(output)), temp_dir or tempfile.gettempdir()}
    for directory in directories:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            path = os.path.join(directory, name)
            m = _TEMP_NAME.match(name)
            try:
                if m and (m.group(1) or m.group(2)) == pid:
                    os.unlink(path)
                elif name.startswith(f"mergekit-spill-{pid}-") and os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
            except OSError:
                pass


def mark_written(path: str) -> None:
    """Record on ``path`` (a file about to be published) that mergekit wrote it. Best effort: where the
    file system has no extended attributes, a later run simply cannot show it wrote the file, and asks
    for ``overwrite``."""
    with contextlib.suppress(OSError, AttributeError):
        os.setxattr(path, MARK_XATTR, MARK_VALUE)


def wrote(path: str) -> bool:
    try:
        return os.getxattr(path, MARK_XATTR) == MARK_VALUE
    except (OSError, AttributeError):
        return False


@dataclass
class FileTarget:
    """Where one file output goes, and what was there before (to tell afterwards whether it was written)."""

    path: str
    #: The file descriptor to stream the finished output to, or None to rename into place.
    stream_fd: Optional[int] = None
    #: Path to open for streaming (``/dev/null``), when there is no descriptor number.
    stream_path: Optional[str] = None
    before: Optional[tuple[int, int, int, int]] = None

    @property
    def streams(self) -> bool:
        return self.stream_fd is not None or self.stream_path is not None

    def committed(self) -> bool:
        """Whether a new output is in place: the target exists and is not the file that was there."""
        if self.streams:
            return False
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        return _identity(st) != self.before

    def stream_from(self, src: str) -> None:
        """Copy the finished output ``src`` to the stream."""
        fd = self.stream_fd if self.stream_fd is not None else os.open(self.stream_path or "", os.O_WRONLY)
        try:
            with open(src, "rb") as f:
                while True:
                    chunk = f.read(1 << 20)
                    if not chunk:
                        break
                    view = memoryview(chunk)
                    while view:
                        n = os.write(fd, view)
                        view = view[n:]
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, like other Unix tools.
            pass
        finally:
            if self.stream_fd is None:
                os.close(fd)


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _kind(mode: int) -> Optional[str]:
    if stat.S_ISDIR(mode):
        return "an existing directory"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return None


def file_output(output: str, inputs: Sequence[str], overwrite: bool = False) -> FileTarget:
    """Check ``output`` against the rule and say how to write it; ``OutputRefusedError`` if it may not be."""
    if output in _STREAMS:
        return FileTarget(output, stream_fd=_STREAMS[output])
    fd = _FD_PATH.match(output)
    if fd:
        return FileTarget(output, stream_fd=int(fd.group(1)))
    if output == "/dev/null":
        return FileTarget(output, stream_path=output)
    try:
        st = os.stat(output)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise OutputRefusedError(f"output {output}: cannot inspect it: {e.strerror or e}") from e
    if st is not None:
        for inp in inputs:
            try:
                same = os.path.samefile(output, inp)
            except OSError:
                same = False
            if same:
                raise OutputRefusedError(f"output {output} is also an input ({inp}); write to another path")
        kind = _kind(st.st_mode)
        if kind is not None:
            hint = "; use -o - to write to standard output" if kind != "an existing directory" else ""
            raise OutputRefusedError(f"output {output} is {kind}, not a file mergekit can replace{hint}")
        if not (overwrite or wrote(output)):
            raise OutputRefusedError(
                f"output {output} exists and mergekit did not write it; remove it, choose another path, "
                "or pass overwrite=True (--overwrite) to replace it"
            )
    remove_stale_temps(os.path.dirname(os.path.abspath(output)))
    return FileTarget(output, before=_identity(st) if st is not None else None)


# ---------------------------------------------------------------------------------------------------------
# Directory outputs (analysis.py): the checks are pure functions over what a file system reports, so the
# same rule serves local paths, HDFS and S3 through Hadoop's FileSystem API.


def dir_marker(files: Iterable[str]) -> str:
    """The ``_MERGEKIT`` marker's text: the names of the files mergekit wrote into the directory."""
    return json.dumps({"written_by": "mergekit", "files": sorted(files)}, indent=0) + "\n"


def _marked_files(marker: Optional[str]) -> Optional[set[str]]:
    if marker is None:
        return None
    try:
        doc = json.loads(marker)
        if doc.get("written_by") != "mergekit":
            return None
        return {str(f) for f in doc["files"]}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def check_dir_output(
    uri: str,
    *,
    exists: bool,
    is_dir: bool,
    entries: Sequence[str] = (),
    marker: Optional[str] = None,
    inputs_inside: Sequence[str] = (),
) -> None:
    """Refuse (``OutputRefusedError``, one line) to replace ``uri`` unless it is absent or a complete
    mergekit output holding nothing else. ``entries`` are the names directly in it, ``marker`` the text of
    its ``_MERGEKIT`` file (None if absent), ``inputs_inside`` the inputs that are it or lie under it."""
    if inputs_inside:
        raise OutputRefusedError(
            f"--output_uri {uri} is an input or holds one ({', '.join(inputs_inside)}); "
            "replacing it would delete the input: choose another output path"
        )
    if not exists:
        return
    if not is_dir:
        raise OutputRefusedError(f"--output_uri {uri} is an existing file, not a directory mergekit wrote")
    files = _marked_files(marker)
    if files is None or SUCCESS not in entries:
        raise OutputRefusedError(
            f"--output_uri {uri} is an existing directory that is not a mergekit output (no {SUCCESS} and "
            f"{DIR_MARKER} markers); mergekit will not replace it: choose a new path"
        )
    allowed = files | {SUCCESS, DIR_MARKER}
    allowed |= {f".{name}.crc" for name in allowed}
    extra = sorted(set(entries) - allowed)
    if extra:
        shown = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
        raise OutputRefusedError(
            f"--output_uri {uri} is a mergekit output, but now also holds files mergekit did not write "
            f"({shown}); mergekit will not replace it: choose a new path"
        )


def is_within(child: str, parent: str) -> bool:
    """Whether the (qualified) path ``child`` is ``parent`` or lies under it."""
    c, p = child.rstrip("/"), parent.rstrip("/")
    return c == p or c.startswith(p + "/")


__all__ = [
    "DIR_MARKER",
    "FileTarget",
    "check_dir_output",
    "dir_marker",
    "file_output",
    "is_within",
    "mark_written",
    "remove_stale_temps",
    "temp_name",
    "wrote",
]
