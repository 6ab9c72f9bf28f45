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
    module = __import__(SUBCOMMANDS[name][0], fromlist=["main"])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
