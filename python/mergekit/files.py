"""Files bigger than memory: ``read_csv`` (a parallel Rust reader) and ``join_files`` (an out-of-core join).

Both read delimited text with the same dialect (see ``docs/files.md``): tab-separated by default, any
one-byte separator, quoted fields with embedded separators, newlines and doubled quotes, CRLF line ends, a
UTF-8 BOM, empty fields as nulls. Columns are strings unless ``infer_types=True`` (``read_csv`` only).
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

import pyarrow as pa

from mergekit import _args, _native, _output, _resolve, _vocab
from mergekit._arrow import plan_columns
from mergekit.exceptions import InputFormatError, InputIOError, InvalidArgumentError

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["JoinSummary", "join_files", "parse_memory", "read_csv"]

_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_HOWS = _vocab.FILE_HOWS


def read_csv(
    path: PathLike,
    sep: str = "\t",
    header: bool = True,
    *,
    names: Optional[Sequence[str]] = None,
    quotechar: Optional[str] = '"',
    on_bad_lines: str = "error",
    infer_types: bool = False,
    threads: Optional[int] = None,
) -> pa.Table:
    """Read a delimited file into a ``pyarrow.Table``, parsing chunks in parallel.

    ``on_bad_lines``: what to do with a record whose field count differs from the header's: ``"error"``
    raises :class:`~mergekit.exceptions.InputFormatError` naming the file and line, ``"warn"`` skips it
    with a ``pandas.errors.ParserWarning``, ``"skip"`` skips it silently. Invalid UTF-8 and an
    unterminated quote always raise ``InputFormatError``; a missing file raises ``InputIOError``.
    ``quotechar=None`` turns quoting off. ``infer_types`` gives int64, float64 or bool columns where
    every value parses as one.
    """
    table, warns, _bad = _native.read_csv(
        os.fspath(path),
        sep=sep,
        quotechar=quotechar,
        header=header,
        names=list(names) if names is not None else None,
        on_bad_lines=on_bad_lines,
        infer_types=infer_types,
        threads=_args.threads(threads),
    )
    _emit_warnings(warns)
    return pa.table(table)


def _emit_warnings(warns: Sequence[str]) -> None:
    if warns:
        from pandas.errors import ParserWarning

        for w in warns:
            warnings.warn(f"skipping bad line: {w}", ParserWarning, stacklevel=3)


_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


_MAX_MEMORY = 2**63 - 1  # bytes, as the engine counts them (u64, kept clear of the sign bit)


def parse_memory(limit: Union[int, str]) -> int:
    """``2GB``, ``512MB``, ``1.5G``, ``800MiB`` or a number of bytes."""
    if isinstance(limit, bool) or not isinstance(limit, (int, str)):
        raise InvalidArgumentError(
            f"memory_limit must be a size like '2GB' or a number of bytes, got {limit!r}"
        )
    if isinstance(limit, int):
        value = limit
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?)(b?)\s*", str(limit).lower())
        if not m:
            raise InvalidArgumentError(f"memory_limit {limit!r} is not a size like '2GB', '512MB' or 1000000")
        number, unit, binary, _ = m.groups()
        scale = 1024 ** "bkmgt".index(unit or "b") if binary else _UNITS[unit]
        value = int(float(number) * scale)
    if value < 10**6:
        raise InvalidArgumentError(f"memory_limit must be at least 1MB, got {limit!r}")
    if value > _MAX_MEMORY:
        raise InvalidArgumentError(f"memory_limit must be at most {_MAX_MEMORY} bytes, got {limit!r}")
    return value


@dataclass
class JoinSummary:
    """What ``join_files`` did."""

    output: str
    rows_left: int
    rows_right: int
    rows_written: int
    spilled: bool
    #: The smaller input was held in memory and the other streamed through it: nothing was spilled.
    streamed: bool
    spill_bytes: int
    #: What was spilled, as Arrow arrays in memory (``spill_bytes`` is its compressed size on disk).
    spill_raw_bytes: int
    partitions: int
    max_depth: int
    block_joins: int
    peak_rss_bytes: int
    seconds: float
    bad_lines_left: int = 0
    bad_lines_right: int = 0
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        mb = 1 << 20
        how = (
            f"spilled {self.spill_bytes / mb:.1f} MiB ({self.spill_raw_bytes / mb:.1f} MiB as Arrow)"
            f" in {self.partitions} partitions"
            f" (depth {self.max_depth}, {self.block_joins} block joins)"
            if self.spilled
            else "streamed through the smaller side in memory"
            if self.streamed
            else "in memory"
        )
        return (
            f"{self.rows_left:,} left rows x {self.rows_right:,} right rows -> {self.rows_written:,} rows "
            f"in {self.output}; {how}; peak memory {self.peak_rss_bytes / mb:.0f} MiB; {self.seconds:.2f}s"
        )


def _is_parquet(path: str) -> bool:
    return path.lower().endswith(_PARQUET_SUFFIXES)


def _columns(path: str, sep: str, quotechar: Optional[str], header: bool) -> list[str]:
    if _is_parquet(path):
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(path).names)
        except OSError as e:
            raise InputIOError(f"{path}: {e}") from e
        except pa.ArrowException as e:
            raise InputFormatError(f"{path}: not a Parquet file ({_first_line(e)})") from e
    return list(_native.csv_columns(path, sep=sep, quotechar=quotechar, header=header))


def _parquet_reader(path: str) -> tuple[pa.RecordBatchReader, int]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except OSError as e:
        raise InputIOError(f"{path}: {e}") from e
    except pa.ArrowException as e:
        raise InputFormatError(f"{path}: not a Parquet file ({_first_line(e)})") from e
    md = pf.metadata
    size = sum(md.row_group(i).total_byte_size for i in range(md.num_row_groups))
    reader = pa.RecordBatchReader.from_batches(pf.schema_arrow, pf.iter_batches(batch_size=64 * 1024))
    return reader, size


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:300]


def _check_input(path: str) -> bool:
    """Raise a clear error for an input that cannot be read as a file; True if it is a pipe (or socket)
    that must be copied before it can be read twice (once for the header, once for the join)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputIOError(f"{path}: no such file") from None
    except OSError as e:
        raise InputIOError(f"{path}: {e.strerror or e}") from e
    if stat.S_ISREG(mode):
        return False
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return True
    what = {
        stat.S_IFDIR: "a directory",
        stat.S_IFCHR: "a character device (a terminal or a device node)",
        stat.S_IFBLK: "a block device",
    }.get(stat.S_IFMT(mode), "not a regular file")
    raise InputIOError(f"{path}: is {what}, not an input file")


def _copy_stream(path: str, temp_dir: Optional[str]) -> str:
    """Read a pipe to its end into a private file (named with this process's id, so a later run removes
    it if this one is killed); the join then reads that file."""
    directory = temp_dir or tempfile.gettempdir()
    fd, tmp = tempfile.mkstemp(prefix=f".mergekit-input-{os.getpid()}-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
            while True:
                chunk = src.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def _output_kind(output: str, sep: str, output_sep: Optional[str]) -> Optional[str]:
    """The output separator, or None for Parquet."""
    if _is_parquet(output):
        return None
    if output_sep is not None:
        return output_sep
    low = output.lower()
    if low.endswith(".csv"):
        return ","
    if low.endswith((".tsv", ".tab")):
        return "\t"
    return sep


def join_files(
    left: PathLike,
    right: PathLike,
    output: PathLike,
    on: Union[str, Sequence[str], None] = None,
    how: str = "inner",
    *,
    left_on: Union[str, Sequence[str], None] = None,
    right_on: Union[str, Sequence[str], None] = None,
    memory_limit: Union[int, str] = "2GB",
    sep: str = "\t",
    output_sep: Optional[str] = None,
    header: bool = True,
    quotechar: Optional[str] = '"',
    on_bad_lines: str = "error",
    suffixes: tuple[Optional[str], Optional[str]] = ("_x", "_y"),
    threads: Optional[int] = None,
    temp_dir: Optional[PathLike] = None,
    spill_compression: str = "auto",
    progress: Optional[Callable[[str, int, int, int], None]] = None,
    overwrite: bool = False,
) -> JoinSummary:
    """Join two files (TSV/CSV or Parquet) into ``output`` within about ``memory_limit`` of memory.

    Inputs that fit are joined in memory. When the smaller input is small (a 40th of ``memory_limit``),
    it is held in memory and the other streamed through it; otherwise both are hash-partitioned by key
    into Arrow spill files (in ``temp_dir``, default the system's) and joined partition by partition.
    ``spill_compression``: ``"auto"`` writes them uncompressed while the disk has room and with ZSTD when it
    does not; ``"lz4"``, ``"zstd"`` or ``"none"`` force a choice. Keys compare as text for
    delimited inputs (``"1"`` and ``"01"`` differ); null (empty) keys match each other, as in pandas.
    Output columns follow ``pandas.merge``'s naming; rows come out in no particular order.

    ``output`` is written under a temporary name in the same directory and renamed when complete: an
    error or Ctrl-C leaves no output and no spill files. Its format follows its extension: ``.parquet``,
    ``.csv`` (comma), ``.tsv`` (tab), else ``output_sep`` or ``sep``. mergekit refuses
    (``OutputRefusedError``) an output that is an input, a device or a pipe, or an existing file it did not
    write (unless ``overwrite=True``); ``"-"`` and ``"/dev/stdout"`` stream the finished output to standard
    output. Inputs may be named pipes (read to their end first).

    ``progress(phase, done_bytes, total_bytes, rows_written)`` is called about 5 times a second from a
    helper thread while the join runs.
    """
    left, right, output = os.fspath(left), os.fspath(right), os.fspath(output)
    _resolve.join_kind(how, _HOWS, "join_files")
    left_on, right_on = _resolve.key_arguments(how, on, left_on, right_on, infer=False, face="join_files")
    suffixes = _resolve.suffixes(suffixes)
    limit = parse_memory(memory_limit)
    threads = _args.threads(threads)
    pipes = [_check_input(p) for p in (left, right)]
    target = _output.file_output(output, [left, right], overwrite=overwrite)
    out_dir = os.path.dirname(os.path.abspath(output))
    if not target.streams and not os.path.isdir(out_dir):
        raise InputIOError(f"{output}: the directory {out_dir} does not exist")
    temp = os.fspath(temp_dir) if temp_dir is not None else None
    _output.remove_stale_temps(temp or tempfile.gettempdir())

    copies: list[str] = []
    try:
        names = []
        for p, is_pipe in zip((left, right), pipes):
            if is_pipe:
                copies.append(_copy_stream(p, temp))
                names.append(copies[-1])
            else:
                names.append(p)
        return _join_files(
            left,
            right,
            names,
            output,
            target,
            temp,
            left_on,
            right_on,
            how,
            limit,
            sep,
            output_sep,
            header,
            quotechar,
            on_bad_lines,
            suffixes,
            threads,
            spill_compression,
            progress,
        )
    finally:
        for c in copies:
            if os.path.exists(c):
                os.unlink(c)


def _join_files(
    left,
    right,
    names,
    output,
    target,
    temp,
    left_on,
    right_on,
    how,
    limit,
    sep,
    output_sep,
    header,
    quotechar,
    on_bad_lines,
    suffixes,
    threads,
    spill_compression,
    progress,
) -> JoinSummary:
    def named(e: Exception) -> Exception:
        """Errors about a copied pipe name the pipe, not the private copy."""
        text = str(e)
        for real, copy in zip((left, right), names):
            if copy != real and copy in text:
                return type(e)(text.replace(copy, real))
        return e

    lcols = _columns(names[0], sep, quotechar, header)
    rcols = _columns(names[1], sep, quotechar, header)
    _resolve.check_columns(lcols, left_on, "left")
    _resolve.check_columns(rcols, right_on, "right")
    plan = [
        (c.name, c.side, c.source, c.coalesce_from)
        for c in plan_columns(lcols, rcols, left_on, right_on, how, suffixes)
    ]
    out_sep = _output_kind(output, sep, output_sep)
    if target.streams:
        # The finished output is copied to the stream: build it in a private file first.
        base = os.path.join(temp or tempfile.gettempdir(), f"stream-{os.getpid()}")
        native_output = _output.temp_name(base, "parquet" if out_sep is None else "tmp")
    else:
        native_output = output

    sources = []
    sizes = []
    for p in names:
        if _is_parquet(p):
            reader, size = _parquet_reader(p)
            sources.append(reader)
            sizes.append(size)
        else:
            sources.append(p)
            sizes.append(os.path.getsize(p))

    tracker = _native.JoinProgress()
    stop = threading.Event()
    poller = None
    if progress is not None:
        poller = threading.Thread(target=_poll, args=(tracker, progress, stop), daemon=True)
        poller.start()
    try:
        try:
            raw = _native.join_files(
                sources[0],
                sources[1],
                native_output,
                left_on=left_on,
                right_on=right_on,
                how=how,
                plan=plan,
                memory_limit=limit,
                left_size=sizes[0],
                right_size=sizes[1],
                sep=sep,
                quotechar=quotechar,
                header=header,
                on_bad_lines=on_bad_lines,
                output_sep=out_sep,
                threads=threads,
                temp_dir=temp,
                spill_compression=spill_compression,
                progress=tracker,
            )
        except (InputIOError, InputFormatError) as e:
            raise named(e) from e
        if target.streams:
            target.stream_from(native_output)
    finally:
        stop.set()
        if poller is not None:
            poller.join()
        if native_output != output and os.path.exists(native_output):
            os.unlink(native_output)
    if progress is not None:
        progress("done", *tracker.snapshot()[1:])
    _emit_warnings(raw.get("warnings", []))
    return JoinSummary(output=output, **raw)


_PHASES = ("starting", "reading", "partitioning", "joining", "done")


def _poll(tracker, progress, stop: threading.Event) -> None:
    while not stop.wait(0.2):
        phase, done, total, rows = tracker.snapshot()
        progress(_PHASES[min(phase, 4)], done, total, rows)
