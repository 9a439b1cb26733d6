"""The ``inferlearn`` command. Each area registers its own sub-commands."""

from __future__ import annotations

import argparse
import sys

from inferlearn import __version__
from inferlearn.course import commands as course_commands
from inferlearn.evals import commands as eval_commands
from inferlearn.prod import commands as prod_commands
from inferlearn.prod import eval_commands as safety_eval_commands
from inferlearn.server import commands as server_commands


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, one sub-command per area function."""
    parser = argparse.ArgumentParser(
        prog="inferlearn", description="Run, check and grade the inferlearn course; serve the local model."
    )
    parser.add_argument("--version", action="version", version=f"inferlearn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    server_commands.register(sub)
    course_commands.register(sub)
    eval_kinds = eval_commands.register(sub)
    safety_eval_commands.register(eval_kinds)  # eval pii, eval injection (phase 4)
    prod_commands.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, dispatch, turn expected errors into one readable line.
    Introduced in ``phase3_eval/05_regressions_in_ci``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"inferlearn {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
