"""Argument types and groups shared by ``mergekit emr`` and ``mergekit emr serverless``.

Every numeric option is checked where it enters: a value out of range is a usage error (exit 2) that names
the option, before any request is built.
"""

from __future__ import annotations

import argparse
import sys


def err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def kv(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def types(text: str) -> tuple[str, ...]:
    found = tuple(t.strip() for t in text.split(",") if t.strip())
    if not found:
        raise argparse.ArgumentTypeError("expected a comma-separated list of instance types")
    return found


def int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"  # what argparse prints for an unparsable value
    return parse


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value >= 0 or value == float("inf"):  # also refuses NaN
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, got {text!r}")
    return value


def add_aws(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("AWS (credentials come from the standard AWS chain only)")
    g.add_argument("--region", help="AWS region (default: from the standard AWS config)")
    g.add_argument("--profile", help="named profile in the standard AWS config files")


def add_wait(p: argparse.ArgumentParser, what: str, log: str) -> None:
    g = p.add_argument_group("waiting")
    g.add_argument("--no-wait", action="store_true", help=f"return once the {what} submitted")
    g.add_argument(
        "--poll", type=seconds, default=30.0, help="seconds between status checks (default: %(default)s)"
    )
    g.add_argument(
        "--log-wait",
        type=seconds,
        default=600.0,
        help=f"on failure, seconds to wait for {log} to reach S3 (default: %(default)s)",
    )
    g.add_argument(
        "--tail",
        type=int_at_least(1),
        default=50,
        help=f"lines of {log} to print on failure (default: %(default)s)",
    )


def split_passthrough(argv: list[str]) -> tuple[list[str], list[str]]:
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1 :]
    return argv, []
