"""``mergekit join``: join two delimited or Parquet files, out of core when they exceed the memory limit.

Exit codes: 0 success (the output is in place); 2 bad usage or bad input (a missing column, a malformed
file, a missing input, an argument out of range, an output mergekit refuses to replace); 74 an I/O error
writing the output or spill files; 70 an internal error (a bug: please report it); 130 interrupted (Ctrl-C,
SIGINT) and 143 terminated (SIGTERM), both only when no output was written. The rename of the finished
output is the commit point: a signal that arrives after it still exits 0, because the output exists. On any
failure the output path is left untouched and temporary and spill files are removed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Optional

from mergekit import _vocab
from mergekit._clock import clock

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 70
EXIT_IO = 74
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so the engine stops and cleans up the same way."""


def _on_sigterm(signum, frame) -> None:
    raise Terminated()


def _count(minimum: int):
    """An argparse type: an integer of at least ``minimum`` (a usage error, exit 2, otherwise)."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {v}")
        from mergekit import _args

        if v > _args.max_threads():
            raise argparse.ArgumentTypeError(
                f"must be at most {_args.max_threads()} ({_args.MAX_THREADS_PER_CORE} per core), got {v}"
            )
        return v

    return parse


DESCRIPTION = """\
Join two files on key columns and write the result, like pandas.merge but for files larger than memory.
Inputs that fit in --memory-limit are joined in memory; larger ones are hash-partitioned into spill files
(Arrow IPC, in --temp-dir) and joined partition by partition. The output appears only when complete
(written under a temporary name and renamed); a failed or interrupted run leaves no output.

Delimited inputs: tab-separated by default (--sep), first line is the header (unless --no-header, then
the columns are named 0, 1, ...), quoted fields may hold separators, newlines and doubled quotes, CRLF and a
UTF-8 BOM are accepted, empty fields are nulls. Keys compare as text, and null keys match each other.
Files ending in .parquet/.pq are read as Parquet.
"""

EPILOG = """\
exit codes: 0 success, 2 bad usage or bad input, 74 I/O error, 70 internal error, 130 interrupted
(SIGINT), 143 terminated (SIGTERM); 130/143 only when no output was written

example:
  mergekit join x_list.txt y_list.txt -o out.tsv --on ID --how inner --memory-limit 2GB
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mergekit join",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("left", help="left input file (TSV/CSV text, or Parquet by extension)")
    p.add_argument("right", help="right input file (TSV/CSV text, or Parquet by extension)")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output file; its format follows the extension: .parquet, .csv (comma), .tsv (tab), "
        "otherwise --output-sep (default: the input --sep); '-' or /dev/stdout writes to standard output. "
        "An existing file is replaced only if mergekit wrote it (or with --overwrite); an input, a "
        "directory, a device or a pipe is refused",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing output file even if mergekit did not write it (never an input, a "
        "directory or a device)",
    )
    p.add_argument("--on", action="append", help="key column present on both sides (repeat for several keys)")
    p.add_argument(
        "--left-on", action="append", help="key column of the left file (repeatable; with --right-on)"
    )
    p.add_argument(
        "--right-on", action="append", help="key column of the right file (repeatable; with --left-on)"
    )
    p.add_argument(
        "--how",
        default="inner",
        choices=_vocab.FILE_HOWS,
        help="join type, as in pandas.merge plus semi/anti joins (default: inner)",
    )
    p.add_argument(
        "--memory-limit",
        default="2GB",
        help="memory budget for the join, e.g. 512MB, 2GB, 1.5GiB (default: 2GB); inputs larger than "
        "about a quarter of it are joined out of core",
    )
    p.add_argument(
        "--sep", default="\t", help="input field separator, one character (default: tab; use , for CSV)"
    )
    p.add_argument(
        "--output-sep", default=None, help="output field separator (default: from the extension, or --sep)"
    )
    p.add_argument(
        "--no-header", action="store_true", help="inputs have no header line; columns are named 0, 1, ..."
    )
    p.add_argument("--quotechar", default='"', help='quote character (default: "); see --no-quoting')
    p.add_argument("--no-quoting", action="store_true", help="treat quote characters as ordinary text")
    p.add_argument(
        "--on-bad-lines",
        default="error",
        choices=["error", "warn", "skip"],
        help="a line with the wrong number of fields: fail (default), warn and skip it, or skip it silently",
    )
    p.add_argument(
        "--suffixes",
        nargs=2,
        default=["_x", "_y"],
        metavar=("LEFT", "RIGHT"),
        help="suffixes for non-key columns present on both sides (default: _x _y)",
    )
    p.add_argument(
        "--threads",
        type=_count(1),
        default=None,
        help="worker threads, 1 to 8 per core (default: all cores or $MERGEKIT_THREADS)",
    )
    p.add_argument(
        "--temp-dir", default=None, help="directory for spill files (default: the system temp directory)"
    )
    p.add_argument(
        "--spill-compression",
        choices=_vocab.SPILL_COMPRESSIONS,
        default=_vocab.SPILL_COMPRESSIONS[0],
        help="how spill files are compressed (default: auto, uncompressed while the disk has room for them "
        "and the output, else zstd; lz4 is in between)",
    )
    p.add_argument(
        "--progress",
        choices=["auto", "always", "never"],
        default="auto",
        help="progress bar on stderr: auto shows it only on a terminal (default: auto)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success (no summary)")
    return p


class _Bar:
    """A one-line progress bar on stderr: phase, percent, MB/s, rows written, ETA."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.phase = ""
        self.phase_start = self.start
        self.width = 0

    def __call__(self, phase: str, done: int, total: int, rows: int) -> None:
        now = time.monotonic()
        if phase == "done":
            line = f"\rdone         {rows:,} rows written in {clock(now - self.start)}"
            self.width = max(self.width, len(line))
            sys.stderr.write(line.ljust(self.width))
            sys.stderr.flush()
            return
        if phase != self.phase:
            self.phase, self.phase_start = phase, now
        elapsed = max(now - self.phase_start, 1e-3)
        frac = min(done / total, 1.0) if total else 0.0
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 and frac < 1 else 0.0
        filled = int(frac * 24)
        line = (
            f"\r{phase:<12} [{'#' * filled}{'.' * (24 - filled)}] {frac * 100:5.1f}% "
            f"{rate / 1e6:7.1f} MB/s  {rows:,} rows  ETA {clock(eta)}"
        )
        self.width = max(self.width, len(line))
        sys.stderr.write(line.ljust(self.width))
        sys.stderr.flush()

    def close(self) -> None:
        if self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()


def main(argv: Optional[list[str]] = None) -> int:
    # SIGTERM stops the join like Ctrl-C (clean-up included) instead of killing the process outright.
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _on_sigterm)
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on bad usage, 0 for --help
        return int(e.code or 0)

    if args.on and (args.left_on or args.right_on):
        parser.print_usage(sys.stderr)
        print("mergekit join: use --on, or --left-on with --right-on, not both", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not args.on and not (args.left_on and args.right_on):
        parser.print_usage(sys.stderr)
        print(
            "mergekit join: name the key column(s) with --on (or --left-on and --right-on)", file=sys.stderr
        )
        return EXIT_BAD_INPUT

    from mergekit import _output
    from mergekit import exceptions as ex
    from mergekit.files import join_files

    show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    bar = _Bar() if show else None
    before = _identity(args.output)
    try:
        summary = join_files(
            args.left,
            args.right,
            args.output,
            on=args.on,
            left_on=args.left_on,
            right_on=args.right_on,
            how=args.how,
            memory_limit=args.memory_limit,
            sep=_unescape(args.sep),
            output_sep=_unescape(args.output_sep) if args.output_sep is not None else None,
            header=not args.no_header,
            quotechar=None if args.no_quoting else args.quotechar,
            on_bad_lines=args.on_bad_lines,
            suffixes=tuple(args.suffixes),
            threads=args.threads,
            temp_dir=args.temp_dir,
            spill_compression=args.spill_compression,
            progress=bar,
            overwrite=args.overwrite,
        )
        # The output is committed: from here to the process's exit a signal must not turn success into a
        # reported failure (a signal before this line is handled below, by looking at the output).
        _ignore_signals()
    except KeyboardInterrupt as e:
        # A second signal must not interrupt the clean-up and the report.
        _ignore_signals()
        _close(bar)
        _output.remove_own_temps(args.output, args.temp_dir)
        what = "terminated" if isinstance(e, Terminated) else "interrupted"
        if before != _identity(args.output) and _identity(args.output) is not None:
            # The signal came after the rename: the output is complete, and the exit status says so.
            print(
                f"mergekit join: {what} after the output was complete; {args.output} is written",
                file=sys.stderr,
            )
            return EXIT_OK
        print(f"mergekit join: {what}; no output was written", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(e, Terminated) else EXIT_INTERRUPTED
    except ex.InternalError as e:
        _close(bar)
        print(f"mergekit join: internal error (please report it): {e}", file=sys.stderr)
        return EXIT_INTERNAL
    except ex.InputIOError as e:
        _close(bar)
        print(f"mergekit join: I/O error: {e}", file=sys.stderr)
        return EXIT_IO if _is_output_problem(e, args) else EXIT_BAD_INPUT
    except (ex.MergekitError, ValueError, KeyError) as e:
        _close(bar)
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"mergekit join: {msg}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as e:
        _close(bar)
        print(f"mergekit join: I/O error: {e}", file=sys.stderr)
        return EXIT_IO
    except Exception as e:  # anything else is a bug, reported as one
        _close(bar)
        print(f"mergekit join: internal error (please report it): {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_INTERNAL
    _close(bar)
    if not args.quiet:
        print(str(summary), file=sys.stderr)
    return EXIT_OK


def _ignore_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _identity(path: str):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _is_output_problem(e: Exception, args) -> bool:
    """An I/O error about an input file is bad input; anything else (output, spill) is an I/O failure."""
    text = str(e)
    return not (text.startswith(args.left) or text.startswith(args.right))


def _close(bar: Optional[_Bar]) -> None:
    if bar is not None:
        bar.close()


def _unescape(s: str) -> str:
    """Let shells pass a tab as the two characters \\t."""
    return {"\\t": "\t", "tab": "\t", "comma": ","}.get(s, s)


if __name__ == "__main__":
    sys.exit(main())
