"""A whole file's aggregate: per load balancer and minute metrics, and the file summary.

Blocks of lines are counted (`counting.count_block`, in worker processes when there are spare
CPUs) and each block's counts are folded in here: every distinct key is decoded once (status
classes, TLS versions, WAF actions, minutes, response times), so the per-line loop stays minimal
and memory is bounded by the block size, the minutes and the top-list capacities, not by the file.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from alb_logs.counting import BadLine, BlockCounts, Reservoir, count_block, restore_escapes, waf_answered
from alb_logs.distribution import Distribution
from alb_logs.parallel import reduce_unordered
from alb_logs.parser import LineError, decode, parse_line
from alb_logs.top_counts import TopCounts

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = ["FileAggregate", "MinuteStats", "aggregate_blocks"]

#: TLS versions and desync classes become dimension values: only well-formed names, else "Other".
_DIMENSION_VALUE = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
#: Actions meaning the request went on after WAF looked at it.
_PASSED_WAF = frozenset(
    {b"forward", b"redirect", b"fixed-response", b"authenticate-oidc", b"authenticate-cognito"}
)


@dataclass
class MinuteStats:
    """What one load balancer served in one minute (of this file)."""

    load_balancer: str
    minute: datetime
    requests: int = 0
    #: Responses by class of `elb_status_code` ("2xx".."5xx"): every response the client got.
    elb_status: Counter[str] = field(default_factory=Counter)
    #: Responses by class of `target_status_code`: only requests a target answered.
    target_status: Counter[str] = field(default_factory=Counter)
    #: 4xx/5xx the load balancer (or WAF) produced itself: no target response.
    alb_generated_errors: int = 0
    #: Requests AWS WAF answered itself (blocked or challenged): not passed on.
    waf_acted: int = 0
    received_bytes: int = 0
    sent_bytes: int = 0
    tls_protocols: Counter[str] = field(default_factory=Counter)
    classifications: Counter[str] = field(default_factory=Counter)
    target_response_time: Distribution = field(default_factory=Distribution)


@dataclass
class FileAggregate:
    """Everything one pass over a file learned."""

    sample_size: int = 20
    bad_line_limit: int = 5
    lines: int = 0
    bad_lines: int = 0
    blank_lines: int = 0
    first_time: str | None = None
    last_time: str | None = None
    minutes: dict[tuple[str, datetime], MinuteStats] = field(default_factory=dict)
    clients: TopCounts[str] = field(default_factory=TopCounts)
    error_clients: TopCounts[str] = field(default_factory=TopCounts)
    error_urls: TopCounts[str] = field(default_factory=TopCounts)
    bad_line_samples: list[BadLine] = field(default_factory=list)
    #: Set when the file could not be read to its end (truncated or corrupt).
    read_error: str | None = None
    _errors: Reservoir = field(default_factory=lambda: Reservoir(20, seed=11))
    _waf: Reservoir = field(default_factory=lambda: Reservoir(20, seed=13))

    def __post_init__(self) -> None:
        self._errors = Reservoir(self.sample_size, seed=11)
        self._waf = Reservoir(self.sample_size, seed=13)

    @property
    def requests(self) -> int:
        return sum(stats.requests for stats in self.minutes.values())

    def error_samples(self) -> list[dict[str, Any]]:
        """The sampled 5xx requests, every field parsed."""
        return _parsed(self._errors.items)

    def waf_samples(self) -> list[dict[str, Any]]:
        """The sampled requests WAF answered, every field parsed."""
        return _parsed(self._waf.items)

    def add(self, counts: BlockCounts) -> None:
        """Fold one block's counts in."""
        self.lines += counts.lines
        self.bad_lines += counts.bad_lines
        self.blank_lines += counts.blank_lines
        room = max(self.bad_line_limit - len(self.bad_line_samples), 0)
        offsets = _block_offsets(counts.block_lines)
        for bad in sorted(counts.bad_line_samples, key=lambda b: (b.block, b.line_number))[:room]:
            number = offsets.get(bad.block, 0) + bad.line_number if bad.line_number else 0
            self.bad_line_samples.append(BadLine(number, bad.reason, bad.excerpt))
        if counts.first_time is not None and counts.last_time is not None:
            first, last = decode(counts.first_time), decode(counts.last_time)
            self.first_time = first if self.first_time is None else min(self.first_time, first)
            self.last_time = last if self.last_time is None else max(self.last_time, last)
        minutes: dict[tuple[bytes, bytes], MinuteStats | None] = {}
        for key, count in counts.combos.items():
            stats = self._stats(minutes, key[0], key[1])
            if stats is None:
                self._reject(count, "time is not a timestamp", key[1])
            else:
                _add_combo(stats, key, count)
        for (elb, minute, seconds), count in counts.latency.items():
            stats = self._stats(minutes, elb, minute)
            if stats is not None and seconds != b"-1":
                _add_latency(stats, seconds, count)
        for (elb, minute), (received, sent) in counts.sizes.items():
            stats = self._stats(minutes, elb, minute)
            if stats is not None:
                stats.received_bytes += received
                stats.sent_bytes += sent
        for top in (self.clients, self.error_clients, self.error_urls):
            top.error_bound = max(top.error_bound, counts.top_error_bound)
        self.clients.update(_decoded(counts.clients))
        self.error_clients.update(_decoded(counts.error_clients))
        urls: Counter[str] = Counter()
        for request, count in counts.error_requests.items():
            words = request.split(b" ")
            urls[decode(restore_escapes(words[1] if len(words) >= 2 else request))] += count
        self.error_urls.update(urls)
        self._errors.merge(counts.error_samples, counts.errors_seen)
        self._waf.merge(counts.waf_samples, counts.waf_seen)

    def _stats(
        self, cache: dict[tuple[bytes, bytes], MinuteStats | None], elb: bytes, minute: bytes
    ) -> MinuteStats | None:
        key = (elb, minute)
        if key not in cache:
            when = _minute(minute)
            if when is None:
                cache[key] = None
            else:
                name = decode(elb)
                stats = self.minutes.get((name, when))
                if stats is None:
                    stats = self.minutes[name, when] = MinuteStats(load_balancer=name, minute=when)
                cache[key] = stats
        return cache[key]

    def _reject(self, count: int, reason: str, value: bytes) -> None:
        """Lines found bad only once decoded (the fast path does not check these fields)."""
        self.bad_lines += count
        if len(self.bad_line_samples) < self.bad_line_limit:
            self.bad_line_samples.append(BadLine(0, reason, decode(value[:200])))


def _add_combo(stats: MinuteStats, key: tuple[bytes, ...], count: int) -> None:
    _, _, elb_status, target_status, tls, actions, classification = key
    stats.requests += count
    elb_class = _status_class(elb_status)
    if elb_class:
        stats.elb_status[elb_class] += count
    target_class = _status_class(target_status)
    if target_class:
        stats.target_status[target_class] += count
    elif elb_class in ("4xx", "5xx"):
        stats.alb_generated_errors += count
    if target_class is None and waf_answered(actions):
        stats.waf_acted += count
    tls_tokens = tls.split()
    if len(tls_tokens) >= 2 and tls_tokens[1] != b"-":
        stats.tls_protocols[_dimension_value(tls_tokens[1])] += count
    if classification not in (b"-", b""):
        stats.classifications[_dimension_value(classification)] += count


#: A processing time as AWS writes it (`0.001`); anything else ("inf", "1e3") is not one.
_SECONDS = re.compile(rb"^\d{1,6}(\.\d{1,6})?\Z")


def _add_latency(stats: MinuteStats, seconds: bytes, count: int) -> None:
    if _SECONDS.match(seconds):  # -1 (not dispatched) and malformed values stay out
        stats.target_response_time.add(float(seconds), count)


def _status_class(code: bytes) -> str | None:
    return f"{code[:1].decode()}xx" if len(code) == 3 and code.isdigit() else None


def _dimension_value(value: bytes) -> str:
    text = decode(value)
    return text if _DIMENSION_VALUE.match(text) else "Other"


def _minute(value: bytes) -> datetime | None:
    try:
        minute = datetime.fromisoformat(decode(value))
        return minute.replace(tzinfo=UTC) if minute.tzinfo is None else minute.astimezone(UTC)
    except (ValueError, OverflowError):  # e.g. year 1 with an offset
        return None


def _decoded(counts: Counter[bytes]) -> Counter[str]:
    decoded: Counter[str] = Counter()
    for key, count in counts.items():
        decoded[decode(key)] += count
    return decoded


def _parsed(lines: list[bytes]) -> list[dict[str, Any]]:
    records = []
    for line in lines:
        try:
            records.append(parse_line(line))
        except LineError:  # pragma: no cover - the line passed the same checks when counted
            continue
    return records


def _block_offsets(block_lines: dict[int, int]) -> dict[int, int]:
    """Lines before each block, from the line count of every block."""
    offsets, total = {}, 0
    for index in sorted(block_lines):
        offsets[index] = total
        total += block_lines[index]
    return offsets


def _numbered(blocks: Iterable[bytes], sample_size: int, bad_line_samples: int) -> Iterator[tuple[Any, ...]]:
    """Each block with its number (its lines are counted by the worker, not here)."""
    for index, block in enumerate(blocks):
        yield (block, index, sample_size, bad_line_samples)


def _count(block: bytes, index: int, sample_size: int, bad_line_samples: int) -> BlockCounts:
    # The sample seed is the block's number: reruns of a file draw the same samples.
    return count_block(block, index, sample_size=sample_size, bad_line_samples=bad_line_samples, seed=index)


def _merge(total: BlockCounts, counts: BlockCounts) -> BlockCounts:
    return total.merge(counts, bad_line_limit=len(total.bad_line_samples) + len(counts.bad_line_samples))


def aggregate_blocks(
    blocks: Iterable[bytes],
    *,
    workers: int = 1,
    sample_size: int = 20,
    bad_line_samples: int = 5,
) -> FileAggregate:
    """Aggregate blocks of whole lines (of one file) into a new `FileAggregate`.

    When `blocks` raises (a corrupt object), the lines read so far are still aggregated: the
    exception propagates with the partial aggregate as `exc.partial_result`.
    """
    result = FileAggregate(sample_size=sample_size, bad_line_limit=bad_line_samples)
    try:
        total = reduce_unordered(_count, _merge, _numbered(blocks, sample_size, bad_line_samples), workers)
    except Exception as exc:
        partial = getattr(exc, "partial_result", None)
        if isinstance(partial, BlockCounts):
            result.add(partial)
        exc.partial_result = result  # type: ignore[attr-defined]
        raise
    if total is not None:
        result.add(total)
    return result
