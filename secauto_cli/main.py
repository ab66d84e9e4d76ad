"""The `secauto` command: local replay of sample events, and the demo `make demo` runs."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from secauto_cli.blocking import add_blocking_commands
from secauto_cli.logs import add_logs_commands

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]


def _replay(args: argparse.Namespace) -> int:
    from secauto_cli.session import ReplaySession

    failures = 0
    with ReplaySession(show_logs=args.show_logs) as session:
        for name in args.events:
            outcome = session.replay(Path(name), as_json=args.json)
            failures += bool(outcome.errors)
    if failures:
        print(f"secauto replay: {failures} of {len(args.events)} event(s) failed", file=sys.stderr)
    return 1 if failures else 0


def _demo(args: argparse.Namespace) -> int:
    from secauto_cli.demo import run_demo

    return run_demo(as_json=args.json, synthesize_stacks=not args.skip_synth)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="secauto", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    replay = commands.add_parser(
        "replay",
        help="replay EventBridge event files against an embedded moto account",
        description="Match each event against rules/, run the matched handlers in-process against an "
        "embedded moto account, and report what was sent or changed.",
    )
    replay.add_argument("events", nargs="+", metavar="EVENT_FILE")
    replay.add_argument("--json", action="store_true", help="one JSON object per event")
    replay.add_argument("--show-logs", action="store_true", help="include the handlers' log records")
    replay.set_defaults(run=_replay)

    demo = commands.add_parser("demo", help="synthesize every stack, then replay every sample event")
    demo.add_argument("--json", action="store_true", help="replay results as JSON lines")
    demo.add_argument("--skip-synth", action="store_true", help="replay only")
    demo.set_defaults(run=_demo)

    add_logs_commands(commands)
    add_blocking_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except BrokenPipeError:
        # The reader went away (`secauto logs alb big.log.gz | head`): stop quietly, as cat does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return status


if __name__ == "__main__":
    sys.exit(main())
