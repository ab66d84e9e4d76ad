"""`secauto logs alb|flow`: log files on disk, as records or as what the Lambda would make of them.

An incident responder downloads log files (`aws s3 cp --recursive ...`) and runs this on them:
one JSON object per entry, under the Athena table's column names, or with `--summary` the EMF
metric documents and the file summary the `alb_logs` function logs for the same file.
Unparseable lines are reported on stderr with their line number and skipped.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
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


#: Handles one opened file; returns False when it could not be read to its end.
FileHandler = Callable[[str, "Readable"], bool]


def _each_file(files: list[str], handle: FileHandler, err: TextIO) -> int:
    """`handle` each file (stdin for `-`); exit status 0 when every file was read to its end."""
    failures = 0
    with ExitStack() as stack:
        for name, source, error in _sources(files, stack):
            if source is None:
                print(f"{name}: {error}", file=err)
                failures += 1
            elif not handle(name, source):
                failures += 1
    return 1 if failures else 0


def run_alb(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Exit status 0 when every file was read to its end, 1 otherwise (bad lines do not count)."""
    from secauto_core.log_stream import CorruptLogError

    out, err = out or sys.stdout, err or sys.stderr

    def handle(name: str, source: Readable) -> bool:
        try:
            if not args.summary:
                _records(name, source, out, err)
                return True
            summary = _summary(name, source, out, args.top)
        except CorruptLogError as exc:
            print(f"{exc} (the records before the damage were printed)", file=err)
            return False
        if summary["read_error"]:
            print(f"{name}: {summary['read_error']} (the summary covers what was read)", file=err)
            return False
        return True

    return _each_file(args.files, handle, err)


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
    _add_flow_command(kinds)


def _flow_format(args: argparse.Namespace) -> Any:
    from auto_block.flowlogs import DEFAULT_FIELDS, parse_format

    return (
        parse_format(args.format)
        if args.format
        else (parse_format(list(DEFAULT_FIELDS)) if args.no_header else None)
    )


def run_flow(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Exit status 0 when every file was read to its end, 1 otherwise (bad records do not count)."""
    from auto_block.flowlogs import FlowLogError
    from secauto_core.log_stream import CorruptLogError

    out, err = out or sys.stdout, err or sys.stderr

    def handle(name: str, source: Readable) -> bool:
        try:
            if args.detect:
                _flow_detections(name, source, _flow_format(args), args, out)
            else:
                _flow_records(name, source, _flow_format(args), out, err)
        except (CorruptLogError, FlowLogError) as exc:
            print(f"{name}: {exc}", file=err)
            return False
        return True

    return _each_file(args.files, handle, err)


def _flow_lines(source: Readable, name: str, fmt: Any) -> Iterator[tuple[Any, int, bytes]]:
    """(format, line number, line) for each record line; the header line sets the format."""
    from auto_block.flowlogs import parse_format
    from secauto_core.log_stream import iter_lines

    number = 0
    for number, line in enumerate(iter_lines(source, name=name), 1):
        text = line.strip()
        if not text:
            continue
        if fmt is None:
            fmt = parse_format(text.decode("utf-8", "replace"))
            continue
        yield fmt, number, text


def _flow_records(name: str, source: Readable, fmt: Any, out: TextIO, err: TextIO) -> None:
    for current, number, line in _flow_lines(source, name, fmt):
        tokens = line.split()
        if len(tokens) != current.width:
            print(f"{name}:{number}: skipped: {len(tokens)} fields, the format has {current.width}", file=err)
            continue
        record = {
            field.replace("-", "_"): None if token == b"-" else token.decode("utf-8", "replace")
            for field, token in zip(current.fields, tokens, strict=True)
        }
        print(json.dumps(record), file=out)


def _flow_detections(name: str, source: Readable, fmt: Any, args: argparse.Namespace, out: TextIO) -> None:
    """What the detectors find in this file alone (no window shared with other files)."""
    from auto_block.flowfile import count_stream, detect_locally
    from auto_block.settings import AutoBlockSettings

    settings = AutoBlockSettings(
        port_scan_ports=args.ports, host_sweep_hosts=args.hosts, reject_flood_rejects=args.rejects
    )
    counts = count_stream(source, name=name, fmt=fmt)
    detections = detect_locally(counts, settings)
    for detection in detections:
        evidence = {k: v for k, v in detection.evidence.items() if k != "window_start"}
        row = {"source": str(detection.source), "detector": detection.detector, **evidence}
        print(json.dumps(row), file=out)
    summary = {
        "file": name,
        "records": counts.records,
        "bad_records": counts.bad_records,
        "nodata": counts.nodata,
        "skipdata": counts.skipdata,
        "egress": counts.egress,
        "sources_followed": len(counts.sources),
        "detections": len(detections),
    }
    print(json.dumps({"summary": summary}), file=out)


def _add_flow_command(kinds: Any) -> None:
    flow = kinds.add_parser(
        "flow",
        help="VPC flow logs (.log or .log.gz; S3 files with a header, or --format)",
        description="Print one JSON object per record (field names with '-' as '_'), or with --detect "
        "the sources the auto-blocking detectors would flag in these files.",
    )
    flow.add_argument("files", nargs="+", metavar="FILE", help="flow-log files; '-' reads stdin")
    flow.add_argument("--detect", action="store_true", help="detections instead of records")
    flow.add_argument(
        "--format",
        help="the flow log's LogFormat ('${version} ${srcaddr} ...') for files without a header "
        "(CloudWatch Logs exports)",
    )
    flow.add_argument("--no-header", action="store_true", help="no header line: the default (v2) format")
    flow.add_argument("--ports", type=int, default=20, help="distinct ports that make a port scan (20)")
    flow.add_argument("--hosts", type=int, default=20, help="distinct addresses that make a host sweep (20)")
    flow.add_argument("--rejects", type=int, default=500, help="REJECTs that make a flood (500)")
    flow.set_defaults(run=run_flow)
