"""`secauto logs alb`: ALB access-log files on disk, as records or as what the Lambda would emit.

An incident responder downloads log files (`aws s3 cp --recursive ...`) and runs this on them:
one JSON object per entry, under the Athena table's column names, or with `--summary` the EMF
metric documents and the file summary the `alb_logs` function logs for the same file.
Unparseable lines are reported on stderr with their line number and skipped.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator

    from secauto_core.log_stream import Readable

__all__ = ["add_logs_commands"]

_STDIN = "-"


def _sources(names: list[str], stack: ExitStack) -> Iterator[tuple[str, Readable | None, str | None]]:
    """(name, opened binary stream or None, error) per argument; `-` is stdin."""
    for name in names:
        if name == _STDIN:
            yield "<stdin>", sys.stdin.buffer, None
            continue
        try:
            yield name, stack.enter_context(Path(name).open("rb")), None  # noqa: SIM115 (the stack closes it)
        except OSError as exc:
            yield name, None, f"cannot open: {exc.strerror or exc}"


def _records(name: str, source: Readable, out: TextIO, err: TextIO) -> int:
    """Print each entry of one file as JSON; returns the number of bad lines."""
    from alb_logs.parser import LineError, parse_line
    from secauto_core.log_stream import iter_lines

    bad = 0
    for number, line in enumerate(iter_lines(source, name=name), 1):
        if not line.strip():
            continue
        try:
            record = parse_line(line)
        except LineError as exc:
            bad += 1
            print(f"{name}:{number}: skipped: {exc}", file=err)
            continue
        print(json.dumps(record, ensure_ascii=False), file=out)
    return bad


def _size(source: Readable) -> int | None:
    """The size of a regular file (small files are counted without worker processes)."""
    try:
        return os.fstat(source.fileno()).st_size  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return None


def _summary(name: str, source: Readable, out: TextIO, top_n: int) -> dict[str, Any]:
    from alb_logs.emf import metric_documents
    from alb_logs.service import analyze
    from alb_logs.settings import AlbLogSettings
    from alb_logs.summary import summarize

    settings = AlbLogSettings(workers=0, top_n=top_n)
    aggregate = analyze(source, name=name, settings=settings, size=_size(source))
    for document in metric_documents(aggregate.minutes.values()):
        print(json.dumps(document), file=out)
    summary = summarize(aggregate, top_n=top_n, key=name).model_dump(mode="json")
    print(json.dumps({"summary": summary}), file=out)
    return summary


def run_alb(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Exit status 0 when every file was read to its end, 1 otherwise (bad lines do not count)."""
    from secauto_core.log_stream import CorruptLogError

    out, err = out or sys.stdout, err or sys.stderr
    failures = 0
    with ExitStack() as stack:
        for name, source, error in _sources(args.files, stack):
            if source is None:
                print(f"{name}: {error}", file=err)
                failures += 1
                continue
            try:
                if args.summary:
                    summary = _summary(name, source, out, args.top)
                    if summary["read_error"]:
                        print(f"{name}: {summary['read_error']} (the summary covers what was read)", file=err)
                        failures += 1
                else:
                    _records(name, source, out, err)
            except CorruptLogError as exc:
                print(f"{exc} (the records before the damage were printed)", file=err)
                failures += 1
    return 1 if failures else 0


def add_logs_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`secauto logs alb ...` (and the other log formats as they come)."""
    logs = commands.add_parser("logs", help="parse log files on disk (incident response, offline analysis)")
    kinds = logs.add_subparsers(dest="kind", required=True)
    alb = kinds.add_parser(
        "alb",
        help="Application Load Balancer access logs (.log or .log.gz)",
        description="Print one JSON object per entry (the Athena ALB table's column names), or with "
        "--summary the metrics (EMF) and the summary the alb_logs function emits for the same file.",
    )
    alb.add_argument("files", nargs="+", metavar="FILE", help="log files; '-' reads stdin")
    alb.add_argument("--summary", action="store_true", help="metrics and file summary instead of records")
    alb.add_argument("--top", type=int, default=10, help="entries in the summary's top lists (default 10)")
    alb.set_defaults(run=run_alb)
