"""The per-file summary: what a person (or the auto-blocking capability) reads about one log file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from alb_logs.aggregate import FileAggregate

__all__ = ["BadLineSample", "ClientCount", "FileSummary", "UrlCount", "summarize"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class ClientCount(_Model):
    client_ip: str
    count: int


class UrlCount(_Model):
    url: str
    count: int


class BadLineSample(_Model):
    line_number: int
    reason: str
    excerpt: str


class FileSummary(_Model):
    """One log file, summarized. `top_clients` is the top-talker list auto-blocking consumes."""

    bucket: str | None = None
    key: str | None = None
    lines: int
    requests: int
    bad_lines: int
    blank_lines: int = 0
    first_time: str | None = None
    last_time: str | None = None
    load_balancers: list[str] = Field(default_factory=list)
    top_clients: list[ClientCount] = Field(default_factory=list)
    top_error_clients: list[ClientCount] = Field(default_factory=list)
    top_5xx_urls: list[UrlCount] = Field(default_factory=list)
    #: Counts in the top lists may be low by at most this much (0: exact; see `top_counts`).
    top_counts_error_bound: int = 0
    bad_line_samples: list[BadLineSample] = Field(default_factory=list)
    #: Set when the file could not be read to its end; the figures cover what was read.
    read_error: str | None = None


def summarize(
    aggregate: FileAggregate, *, top_n: int, bucket: str | None = None, key: str | None = None
) -> FileSummary:
    return FileSummary(
        bucket=bucket,
        key=key,
        lines=aggregate.lines,
        requests=aggregate.requests,
        bad_lines=aggregate.bad_lines,
        blank_lines=aggregate.blank_lines,
        first_time=aggregate.first_time,
        last_time=aggregate.last_time,
        load_balancers=sorted({stats.load_balancer for stats in aggregate.minutes.values()}),
        top_clients=[ClientCount(client_ip=ip, count=n) for ip, n in aggregate.clients.top(top_n)],
        top_error_clients=[
            ClientCount(client_ip=ip, count=n) for ip, n in aggregate.error_clients.top(top_n)
        ],
        top_5xx_urls=[UrlCount(url=url, count=n) for url, n in aggregate.error_urls.top(top_n)],
        top_counts_error_bound=max(
            aggregate.clients.error_bound,
            aggregate.error_clients.error_bound,
            aggregate.error_urls.error_bound,
        ),
        bad_line_samples=[
            BadLineSample(line_number=bad.line_number, reason=bad.reason, excerpt=bad.excerpt)
            for bad in aggregate.bad_line_samples
        ],
        read_error=aggregate.read_error,
    )


def summary_fields(summary: FileSummary) -> dict[str, Any]:
    """The summary as log fields (JSON types)."""
    return summary.model_dump(mode="json")
