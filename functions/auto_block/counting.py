"""Counting flow-log records per source: distinct destination ports, distinct destination
addresses and REJECTs, the three facts the detectors judge.

A flow-log file holds up to 75 MB of records and a subscription batch thousands, so counting is
columnar: a block of lines is split by C-implemented calls (`bytes.split` through `map`), the
columns are picked with `itemgetter`, and `Counter` (its C loop) counts (source, port) and
(source, destination) pairs. Python code then runs once per distinct pair, not per record, and
keeps at most `cap` ports and addresses per source (a detector only needs to know a threshold was
passed), so memory grows with the number of sources, not of records.

A source is an address, never a network: a candidate whose source field is anything but a single
address (`10.0.0.0/8`, garbage) is not counted as a source; its records count as bad records.
Only candidates are checked (a handful per block), so the check costs nothing per record.
"""

from __future__ import annotations

import gc
from collections import Counter
from dataclasses import dataclass, field
from itertools import compress
from operator import itemgetter
from typing import TYPE_CHECKING

from auto_block.blockable import parse_source

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from auto_block.flowlogs import FlowFormat

__all__ = ["CANDIDATE_MIN", "FlowCounts", "SourceActivity", "count_block", "count_lines"]

_OK, _NODATA, _SKIPDATA = b"OK", b"NODATA", b"SKIPDATA"
#: A source with this many distinct ports or addresses within one block is followed closely.
CANDIDATE_MIN = 3
MAX_BAD_SAMPLES = 5
_MISSING, _REJECT, _INGRESS = b"-", b"REJECT", b"ingress"
_STATUSES = frozenset({_OK, _NODATA, _SKIPDATA})


@dataclass
class SourceActivity:
    """What one source did (within what was counted)."""

    ports: set[bytes] = field(default_factory=set)
    hosts: set[bytes] = field(default_factory=set)
    rejects: int = 0
    flows: int = 0
    #: True when more ports (or hosts) were seen than the cap kept.
    ports_capped: bool = False
    hosts_capped: bool = False


@dataclass
class FlowCounts:
    """Counts over some records; `merge` adds another's."""

    records: int = 0
    bad_records: int = 0
    nodata: int = 0
    skipdata: int = 0
    egress: int = 0
    sources: dict[bytes, SourceActivity] = field(default_factory=dict)
    bad_samples: list[str] = field(default_factory=list)

    def merge(self, other: FlowCounts, cap: int) -> FlowCounts:
        self.records += other.records
        self.bad_records += other.bad_records
        self.nodata += other.nodata
        self.skipdata += other.skipdata
        self.egress += other.egress
        room = max(MAX_BAD_SAMPLES - len(self.bad_samples), 0)
        self.bad_samples.extend(other.bad_samples[:room])
        for source, theirs in other.sources.items():
            mine = self.sources.get(source)
            if mine is None:
                self.sources[source] = theirs
                continue
            mine.rejects += theirs.rejects
            mine.flows += theirs.flows
            _add_capped(mine.ports, theirs.ports, cap, mine, "ports_capped")
            _add_capped(mine.hosts, theirs.hosts, cap, mine, "hosts_capped")
            mine.ports_capped |= theirs.ports_capped
            mine.hosts_capped |= theirs.hosts_capped
        return self


def _add_capped(
    into: set[bytes], values: Iterable[bytes], cap: int, owner: SourceActivity, flag: str
) -> None:
    for value in values:
        if len(into) >= cap:
            if value not in into:
                setattr(owner, flag, True)
                return
            continue
        into.add(value)


def _activity(sources: dict[bytes, SourceActivity], source: bytes) -> SourceActivity:
    activity = sources.get(source)
    if activity is None:
        activity = sources[source] = SourceActivity()
    return activity


class _Columns:
    """The columns detection reads, one entry per record (`None` when the format lacks it)."""

    def __init__(self, get: Callable[[int | None], list[bytes] | None], fmt: FlowFormat) -> None:
        self.statuses = get(fmt.log_status) or []
        self.sources = get(fmt.source) or []
        self.packet_sources = get(fmt.packet_source)
        self.destinations = get(fmt.destination) or []
        self.packet_destinations = get(fmt.packet_destination)
        self.ports = get(fmt.destination_port) or []
        self.actions = get(fmt.action) or []
        self.directions = get(fmt.direction)

    def keep(self, mask: list[bool]) -> None:
        """Keep the records where `mask` is true, in every column."""
        for name, column in vars(self).items():
            if column is not None:
                setattr(self, name, list(compress(column, mask)))


def _flat_columns(block: bytes, fmt: FlowFormat) -> _Columns | None:
    """Columns by slicing one split of the whole block, or None when the block is not regular.

    `block.split()` makes every token in one C call and `tokens[i::width]` is a column: no list
    per record. It is only right when every line has exactly `width` tokens, which the token
    count and a column of known values (log-status) confirm; otherwise the caller splits by line.
    """
    records = block.count(b"\n") + (0 if block.endswith(b"\n") or not block else 1)
    tokens = block.split()
    width = fmt.width
    if not records or len(tokens) != records * width:
        return None
    if not set(tokens[fmt.log_status :: width]) <= _STATUSES:
        return None
    return _Columns(lambda index: None if index is None else tokens[index::width], fmt)


def _row_columns(block: bytes, fmt: FlowFormat, counts: FlowCounts) -> _Columns:
    """Columns from a split per line; lines with the wrong number of fields are bad records."""
    lines = block.split(b"\n")
    rows = list(map(bytes.split, lines))
    width = fmt.width
    if set(map(len, rows)) - {width}:
        good = []
        for line, row in zip(lines, rows, strict=True):
            if len(row) == width:
                good.append(row)
            elif row:
                counts.bad_records += 1
                if len(counts.bad_samples) < MAX_BAD_SAMPLES:
                    text = line[:160].decode("utf-8", "replace")
                    counts.bad_samples.append(f"{len(row)} fields, the format has {width}: {text}")
        rows = good
    return _Columns(lambda index: None if index is None else list(map(itemgetter(index), rows)), fmt)


def _prefer(preferred: list[bytes] | None, fallback: list[bytes]) -> list[bytes]:
    """`pkt-srcaddr` (or `pkt-dstaddr`) where it is set, else `srcaddr` (`dstaddr`)."""
    if preferred is None:
        return fallback
    if _MISSING not in set(preferred):
        return preferred
    return [value if value != _MISSING else other for value, other in zip(preferred, fallback, strict=True)]


def _is_address(source: bytes) -> bool:
    try:
        parse_source(source.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return False
    return True


def _drop_non_addresses(candidates: set[bytes], sources: list[bytes], counts: FlowCounts) -> set[bytes]:
    """Remove candidates whose source is not a single address (returned); their records are
    bad records."""
    bogus = {source for source in candidates if not _is_address(source)}
    if not bogus:
        return bogus
    candidates -= bogus
    for source, records in Counter(compress(sources, map(bogus.__contains__, sources))).items():
        counts.records -= records
        counts.bad_records += records
        if len(counts.bad_samples) < MAX_BAD_SAMPLES:
            text = source[:80].decode("utf-8", "replace")
            counts.bad_samples.append(f"{records} record(s) whose source is not a single address: {text}")
    return bogus


def count_lines(
    lines: list[bytes], fmt: FlowFormat, *, cap: int, candidate_min: int = CANDIDATE_MIN
) -> FlowCounts:
    """Count the records among `lines` (no header; blank lines ignored)."""
    return count_block(b"\n".join(lines), fmt, cap=cap, candidate_min=candidate_min)


def count_block(block: bytes, fmt: FlowFormat, *, cap: int, candidate_min: int = CANDIDATE_MIN) -> FlowCounts:
    """Count the records of `block` (lines of records, no header).

    Only *candidate* sources are kept: those with a REJECT, or with at least `candidate_min`
    distinct destination ports or addresses in this block. Everyone else (the clients of a
    service, talking to one port of a few addresses) costs nothing beyond the C counting.
    """
    counts = FlowCounts()
    # Millions of short-lived tuples (the pairs) would make the cycle collector run over and
    # over for nothing: none of them can be in a cycle.
    collecting = gc.isenabled()
    gc.disable()
    try:
        columns = _flat_columns(block, fmt) or _row_columns(block, fmt, counts)
        _count_columns(columns, counts, cap, candidate_min)
    finally:
        if collecting:
            gc.enable()
    return counts


def _count_columns(columns: _Columns, counts: FlowCounts, cap: int, candidate_min: int) -> None:
    ok = columns.statuses.count(_OK)
    if ok != len(columns.statuses):
        tally = Counter(columns.statuses)
        counts.nodata, counts.skipdata = tally[_NODATA], tally[_SKIPDATA]
        unknown = len(columns.statuses) - ok - counts.nodata - counts.skipdata
        counts.bad_records += unknown
        if unknown or columns.directions is not None:
            columns.keep(list(map(_OK.__eq__, columns.statuses)))
        # Else NODATA/SKIPDATA records stay: every flow field of theirs is `-`, so they only
        # count under the source `-`, which is dropped below, and filtering costs a pass.
    if columns.directions is not None and set(columns.directions) - {_INGRESS, _MISSING}:
        # Only ingress counts when the direction is known (`-`: unknown, kept).
        keep = [direction in (_INGRESS, _MISSING) for direction in columns.directions]
        counts.egress = len(keep) - sum(keep)
        columns.keep(keep)
    counts.records = (
        len(columns.sources) + counts.egress - (len(columns.statuses) - columns.statuses.count(_OK))
    )
    if not columns.sources:
        return
    sources = _prefer(columns.packet_sources, columns.sources)
    destinations = _prefer(columns.packet_destinations, columns.destinations)
    rejected = Counter(compress(sources, map(_REJECT.__eq__, columns.actions)))
    port_pairs = set(zip(sources, columns.ports, strict=True))
    host_pairs = set(zip(sources, destinations, strict=True))
    distinct_ports = Counter(map(itemgetter(0), port_pairs))
    distinct_hosts = Counter(map(itemgetter(0), host_pairs))
    candidates = set(rejected)
    candidates.update(source for source, n in distinct_ports.items() if n >= candidate_min)
    candidates.update(source for source, n in distinct_hosts.items() if n >= candidate_min)
    candidates.discard(_MISSING)
    for source in _drop_non_addresses(candidates, sources, counts):
        rejected.pop(source, None)
    if not candidates:
        return
    activity = counts.sources
    is_candidate = candidates.__contains__
    for source, flows in Counter(compress(sources, map(is_candidate, sources))).items():
        _activity(activity, source).flows = flows
    for source, port in compress(port_pairs, map(is_candidate, map(itemgetter(0), port_pairs))):
        entry = activity[source]
        if len(entry.ports) < cap:
            entry.ports.add(port)
        else:
            entry.ports_capped = True
    for source, destination in compress(host_pairs, map(is_candidate, map(itemgetter(0), host_pairs))):
        entry = activity[source]
        if len(entry.hosts) < cap:
            entry.hosts.add(destination)
        else:
            entry.hosts_capped = True
    for source, rejects in rejected.items():
        activity[source].rejects = rejects
