"""The ``mergekit`` console script: ``mergekit join ...`` and ``mergekit emr ...``.

Each subcommand lives in its own module and is imported only when used, so ``mergekit join`` does not
pay for boto3. Ctrl-C at any moment (even while the subcommand's libraries are still importing) ends with
a one-line message and exit status 130, never a traceback.
"""

from __future__ import annotations

import sys
from typing import Optional

SUBCOMMANDS = {
    "join": ("mergekit.files_cli", "join two delimited or Parquet files, out of core if needed"),
    "emr": ("mergekit.emr.cli", "upload, run and manage the job on a transient Amazon EMR cluster"),
}

# What each subcommand needs loaded before it starts (the slow imports: pandas, pyarrow, the engine).
PRELOAD = {"join": ("mergekit.files",)}

USAGE = "usage: mergekit [--version] {join,emr} ...\n\n" + "\n".join(
    f"  {name:<6} {help_}" for name, (_, help_) in SUBCOMMANDS.items()
)

EXIT_INTERRUPTED = 130


def main(argv: Optional[list[str]] = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("mergekit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(argv: Optional[list[str]]) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    if args[0] in ("-V", "--version"):
        from mergekit import __version__

        print(f"mergekit {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"mergekit: unknown command {name!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    modules = _import_deferring_signals((SUBCOMMANDS[name][0], *PRELOAD.get(name, ())))
    if modules is None:
        print("mergekit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return int(modules[0].main(rest) or 0)


def _import_deferring_signals(names: tuple[str, ...]):
    """Import ``names`` with SIGINT/SIGTERM only recorded, not raised: a KeyboardInterrupt inside a C
    extension's import (numpy's, pyarrow's) comes out as an unrelated ImportError with a traceback.
    Returns the modules, or None if a signal arrived (the caller then exits quietly)."""
    import importlib
    import signal

    got: list[int] = []

    def record(signum, frame) -> None:
        got.append(signum)

    previous = {s: signal.signal(s, record) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        modules = [importlib.import_module(n) for n in names]
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return None if got else modules


if __name__ == "__main__":
    sys.exit(main())
