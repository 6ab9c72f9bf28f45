"""The ``mergekit`` console script: ``mergekit join ...`` and ``mergekit emr ...``.

Each subcommand lives in its own module and is imported only when used, so ``mergekit join`` does not
pay for boto3.
"""

from __future__ import annotations

import sys
from typing import Optional

SUBCOMMANDS = {
    "join": ("mergekit.files_cli", "join two delimited or Parquet files, out of core if needed"),
    "emr": ("mergekit.emr.cli", "upload, run and manage the job on a transient Amazon EMR cluster"),
}

USAGE = "usage: mergekit {join,emr} ...\n\n" + "\n".join(
    f"  {name:<6} {help_}" for name, (_, help_) in SUBCOMMANDS.items()
)


def main(argv: Optional[list[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"mergekit: unknown command {name!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    module = __import__(SUBCOMMANDS[name][0], fromlist=["main"])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
