"""Reading one ALB log object from S3 and reporting it: EMF metrics, summary, request samples."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alb_logs.aggregate import FileAggregate, aggregate_blocks
from alb_logs.emf import metric_documents, print_documents, stale_minutes
from alb_logs.parallel import available_cpus
from alb_logs.settings import AlbLogSettings
from alb_logs.summary import FileSummary, summarize
from secauto_core import clients
from secauto_core.log_stream import CorruptLogError, Readable, iter_blocks
from secauto_core.observability import MetricUnit, logger, metrics

if TYPE_CHECKING:
    from alb_logs.model import ObjectCreated

__all__ = ["CONNECTION_LOG_PREFIX", "LOG_KEY_MARKER", "analyze", "process_object", "report", "skip_reason"]

#: Every ELB access-log key has this after the configured prefix.
LOG_KEY_MARKER = "AWSLogs/"
#: Decompressed bytes per counted block (about 600 entries): the per-block lists the count builds
#: then stay in the CPU caches, measurably faster than 1 MiB blocks (benchmarks/alb_logs.py).
BLOCK_SIZE = 256 * 1024
#: Objects smaller than this (compressed) are counted in the handler's process alone: about
#: 50,000 entries, a quarter of a second of work, less than starting workers is worth.
PARALLEL_MIN_BYTES = 4 * 1024 * 1024
#: File names of ALB connection logs, written beside the access logs.
CONNECTION_LOG_PREFIX = "conn_log."


def worker_count(settings: AlbLogSettings, size: int | None) -> int:
    """Processes for an object of `size` compressed bytes: forking costs more than a small file."""
    if settings.workers:
        return settings.workers
    if size is not None and size < PARALLEL_MIN_BYTES:
        return 1
    return available_cpus()


def analyze(
    source: Readable, *, name: str, settings: AlbLogSettings, size: int | None = None
) -> FileAggregate:
    """Aggregate one log stream; a truncated or corrupt stream keeps what was read before it."""
    workers = worker_count(settings, size)
    try:
        return aggregate_blocks(
            iter_blocks(source, name=name, block_size=BLOCK_SIZE),
            workers=workers,
            sample_size=settings.sample_size,
            bad_line_samples=settings.bad_line_samples,
        )
    except CorruptLogError as exc:
        aggregate: FileAggregate = exc.partial_result  # type: ignore[attr-defined]
        aggregate.read_error = str(exc)
        return aggregate


def report(aggregate: FileAggregate, summary: FileSummary) -> None:
    """Metrics (EMF), the summary and the request samples, to the function's log."""
    print_documents(metric_documents(aggregate.minutes.values()))
    stale = stale_minutes(aggregate.minutes.values())
    if stale:
        logger.warning(
            "Some minutes are outside CloudWatch's metric window (14 days back, 2 hours ahead): "
            "their metrics will be dropped",
            extra={"minutes": stale[:10], "stale_minutes": len(stale)},
        )
    fields = summary.model_dump(mode="json")
    if summary.read_error:
        logger.error(
            "ALB log file could not be read to its end: partial results",
            extra={"reason": summary.read_error, "summary": fields},
        )
        metrics.add_metric(name="AlbLogFilesUnreadable", unit=MetricUnit.Count, value=1)
    else:
        logger.info("ALB log file summary", extra={"summary": fields})
    if summary.bad_lines:
        metrics.add_metric(name="AlbLogBadLines", unit=MetricUnit.Count, value=summary.bad_lines)
        logger.warning(
            "Unparseable ALB log lines skipped",
            extra={"bad_lines": summary.bad_lines, "samples": fields["bad_line_samples"], "key": summary.key},
        )
    for kind, samples in (
        ("5xx response", aggregate.error_samples()),
        ("WAF-answered request", aggregate.waf_samples()),
    ):
        for record in samples:
            logger.info(f"ALB {kind} sample", extra={"request": record, "key": summary.key})
    metrics.add_metric(name="AlbLogFilesProcessed", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="AlbLogLines", unit=MetricUnit.Count, value=summary.lines)


def skip_reason(key: str, key_prefix: str, account: str) -> str | None:
    """Why `key` is not an access-log file of `account` under `key_prefix`, or None when it is.

    The rule matches every `..._app....log.gz` under any `AWSLogs/`; this narrows it to what the
    function may read (its role allows this account's prefix only) and should count.
    """
    expected = f"{key_prefix}{LOG_KEY_MARKER}{account}/elasticloadbalancing/"
    if not key.startswith(expected):
        return f"not under {expected}"
    if key.rsplit("/", 1)[-1].startswith(CONNECTION_LOG_PREFIX):
        # ALB connection logs share the prefix and the suffix, with another format.
        return "an ALB connection log, not an access log"
    return None


def process_object(
    detail: ObjectCreated, account: str, settings: AlbLogSettings | None = None
) -> dict[str, Any]:
    """Read, aggregate and report one log object; the handler's result."""
    settings = settings or AlbLogSettings.current()
    bucket, key = detail.bucket.name, detail.object.key
    reason = skip_reason(key, settings.key_prefix, account)
    if reason:
        logger.info(
            "Object is not one of this account's ALB access logs: skipped",
            extra={"key": key, "reason": reason},
        )
        metrics.add_metric(name="AlbLogObjectsSkipped", unit=MetricUnit.Count, value=1)
        return {"status": "skipped", "reason": reason, "key": key}
    s3 = clients.client("s3")
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except s3.exceptions.NoSuchKey:
        # Deleted (e.g. by a lifecycle rule) before we got to it: nothing left to read.
        logger.warning("Log object no longer exists: skipped", extra={"bucket": bucket, "key": key})
        metrics.add_metric(name="AlbLogObjectsSkipped", unit=MetricUnit.Count, value=1)
        return {"status": "skipped", "reason": "object no longer exists", "key": key}
    try:
        aggregate = analyze(body, name=key, settings=settings, size=detail.object.size)
    finally:
        body.close()
    summary = summarize(aggregate, top_n=settings.top_n, bucket=bucket, key=key)
    report(aggregate, summary)
    return {
        "status": "partial" if summary.read_error else "processed",
        "key": key,
        "lines": summary.lines,
        "requests": summary.requests,
        "bad_lines": summary.bad_lines,
        "minutes": len(aggregate.minutes),
        "load_balancers": summary.load_balancers,
    }
