"""The per-line hot loop: counting one block of log lines into `BlockCounts`.

A busy load balancer writes files of millions of lines, so this loop does as little per line as
Python allows: one split on quotes, one split of the unquoted head, and a count of the line's
low-cardinality facts (load balancer, minute, status codes, TLS segment, actions, classification)
keyed by their tuple. Decoding (status classes, TLS versions, WAF actions, timestamps, response
times) happens later, once per distinct key (`aggregate`).

A block is a run of complete lines; `BlockCounts` is small and picklable, so blocks can be counted
in worker processes and merged in any order (`parallel`).

A line the fast path cannot take apart (escaped quotes, an unusual quote layout, a short head)
goes through the complete parser; a line that parser rejects is counted and a few are kept, with
their reasons, for the log.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from alb_logs.fields import TOKEN_NAMES, Token
from alb_logs.parser import LineError, decode, parse_tokens, tokenize
from alb_logs.top_counts import PRUNE_CAPACITY, prune

__all__ = ["PRUNE_CAPACITY", "BadLine", "BlockCounts", "Reservoir", "count_block", "prune"]


#: A modern entry split on `"` (at most 22 times): the head, 11 quoted tokens, and the rest.
_QUOTE_PARTS = 23
#: The unquoted head ends with a space: 12 tokens and an empty last piece.
_HEAD_PIECES = 13
#: Parts (of the split on quotes) holding the tokens the aggregation reads.
_REQUEST_PART, _TLS_PART, _ACTIONS_PART, _CLASSIFICATION_PART = 1, 4, 11, 21
#: Escaped quotes (and backslashes) inside quoted fields are swapped for bytes a log line never
#: holds before the split on quotes, so such lines (scanners love quotes in user agents) stay on
#: the fast path; `restore_escapes` swaps them back where a value is shown.
_QUOTE_MARK, _BACKSLASH_MARK = b"\x00", b"\x01"
#: Byte values the fast path compares against (no slicing): "0", "T", ":"; and the length of
#: `YYYY-MM-DDTHH:MM`, the minute a line is counted in.
_ZERO, _T, _COLON, _MINUTE = 48, 84, 58, 16

#: The tuple counted per line: (elb, minute, elb_status, target_status, tls segment, actions,
#: classification); the TLS segment is " ssl_cipher ssl_protocol target_group_arn ".
ComboKey = tuple[bytes, bytes, bytes, bytes, bytes, bytes, bytes]


@dataclass(frozen=True)
class BadLine:
    """An unparseable line: `line_number` counts from 1 within block number `block`."""

    line_number: int
    reason: str
    excerpt: str
    block: int = 0


class Reservoir:
    """A uniform sample of at most `size` lines (Algorithm R), seeded so reruns agree."""

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self.seen = 0
        self.items: list[bytes] = []
        self._random = random.Random(seed)

    def offer(self, line: bytes) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(line)
        else:
            slot = self._random.randrange(self.seen)
            if slot < self.size:
                self.items[slot] = line

    def merge(self, items: list[bytes], seen: int) -> None:
        """Take in another reservoir's sample of `seen` lines, keeping the union uniform."""
        if not seen:
            return
        total = self.seen + seen
        if len(self.items) + len(items) <= self.size:
            self.items.extend(items)
        else:
            # Each kept slot comes from either side in proportion to the lines it stands for.
            mine, theirs = list(self.items), list(items)
            self._random.shuffle(mine)
            self._random.shuffle(theirs)
            merged: list[bytes] = []
            while len(merged) < self.size and (mine or theirs):
                take_theirs = not mine or (theirs and self._random.random() < seen / total)
                merged.append(theirs.pop() if take_theirs else mine.pop())
            self.items = merged
        self.seen = total


@dataclass
class BlockCounts:
    """What counting one block found, before decoding."""

    lines: int = 0
    bad_lines: int = 0
    blank_lines: int = 0
    first_time: bytes | None = None
    last_time: bytes | None = None
    combos: Counter[ComboKey] = field(default_factory=Counter)
    #: (elb, minute, target_processing_time) -> requests.
    latency: Counter[tuple[bytes, bytes, bytes]] = field(default_factory=Counter)
    #: (elb, minute) -> [received_bytes, sent_bytes].
    sizes: dict[tuple[bytes, bytes], list[int]] = field(default_factory=dict)
    clients: Counter[bytes] = field(default_factory=Counter)
    error_clients: Counter[bytes] = field(default_factory=Counter)
    #: Request lines ("VERB URL PROTO") of 5xx responses.
    error_requests: Counter[bytes] = field(default_factory=Counter)
    error_samples: list[bytes] = field(default_factory=list)
    errors_seen: int = 0
    waf_samples: list[bytes] = field(default_factory=list)
    waf_seen: int = 0
    bad_line_samples: list[BadLine] = field(default_factory=list)
    #: The configured sample size (merged samples keep this many).
    sample_size: int = 20
    #: Lines per block number, to turn per-block line numbers into the file's.
    block_lines: dict[int, int] = field(default_factory=dict)
    #: Counts in the client and URL counters may be low by at most this (see `prune`).
    top_error_bound: int = 0

    def merge(self, other: BlockCounts, *, bad_line_limit: int = 5, seed: int = 0) -> BlockCounts:
        """Add `other`'s counts to these (both describe lines of one file); returns self."""
        self.lines += other.lines
        self.bad_lines += other.bad_lines
        self.blank_lines += other.blank_lines
        if other.first_time is not None and other.last_time is not None:
            self.first_time = (
                other.first_time if self.first_time is None else min(self.first_time, other.first_time)
            )
            self.last_time = (
                other.last_time if self.last_time is None else max(self.last_time, other.last_time)
            )
        self.block_lines.update(other.block_lines)
        self.combos.update(other.combos)
        self.latency.update(other.latency)
        for key, (received, sent) in other.sizes.items():
            size = self.sizes.setdefault(key, [0, 0])
            size[0] += received
            size[1] += sent
        for mine, theirs in (
            (self.clients, other.clients),
            (self.error_clients, other.error_clients),
            (self.error_requests, other.error_requests),
        ):
            mine.update(theirs)
            # A key dropped in several prunes may be low by the sum of what each prune dropped.
            self.top_error_bound = max(self.top_error_bound, other.top_error_bound) + prune(mine)
        room = max(bad_line_limit - len(self.bad_line_samples), 0)
        self.bad_line_samples.extend(other.bad_line_samples[:room])
        keep = max(self.sample_size, other.sample_size)
        errors = Reservoir(keep, seed)
        errors.items, errors.seen = list(self.error_samples), self.errors_seen
        errors.merge(other.error_samples, other.errors_seen)
        self.error_samples, self.errors_seen = errors.items, errors.seen
        waf = Reservoir(keep, seed + 1)
        waf.items, waf.seen = list(self.waf_samples), self.waf_seen
        waf.merge(other.waf_samples, other.waf_seen)
        self.waf_samples, self.waf_seen = waf.items, waf.seen
        return self


def _slow_path(line: bytes) -> tuple[list[bytes], bytes, bytes, bytes, bytes]:
    """The fields the count needs, from the complete parser; raises `LineError`."""
    raw = line.rstrip(b"\r")
    if not raw.strip():
        raise LineError("blank line")
    tokens = tokenize(raw)
    parse_tokens(tokens)  # every check of the complete parser, for a precise reason
    padded = [b"-" if token is None else token for token in tokens]
    padded += [b"-"] * (len(TOKEN_NAMES) - len(padded))
    # The TLS segment in the fast path's shape.
    tls = b" " + b" ".join(padded[Token.SSL_PROTOCOL - 1 : Token.SSL_PROTOCOL + 2]) + b" "
    return padded[:12], padded[Token.REQUEST], tls, padded[Token.ACTIONS], padded[Token.CLASSIFICATION]


def restore_escapes(text: bytes) -> bytes:
    """Undo the placeholders `count_block` puts in for escaped quotes and backslashes."""
    return text.replace(_QUOTE_MARK, b'"').replace(_BACKSLASH_MARK, b"\\")


#: Actions that mean the request went on after WAF looked at it (as the log writes them).
PASSED_WAF = frozenset({b"forward", b"redirect", b"fixed-response", b"authenticate"})


def waf_answered(actions: bytes) -> bool:
    """WAF answered the request itself (blocked or challenged it): `waf` ran, nothing after it."""
    executed = set(actions.split(b","))
    return b"waf" in executed and not executed & PASSED_WAF


def _is_status(code: bytes) -> bool:
    """Three ASCII digits, not starting with 0 (HTTP status codes)."""
    return len(code) == 3 and code.isdigit() and code[0] != _ZERO


def _fast_path_problem(
    time: bytes,
    address: bytes,
    port: bytes,
    target: bytes,
    elb_status: bytes,
    target_status: bytes,
    received: bytes,
    sent: bytes,
) -> str | None:
    """Why the fields the count reads are not an entry's, or None (the usual case, made cheap)."""
    if not address or not port.isdigit():
        return "client is not address:port"
    if not (received.isdigit() and sent.isdigit()):
        return "received_bytes or sent_bytes is not a whole number"
    if not (elb_status == b"-" or _is_status(elb_status)) or not (
        target_status == b"-" or _is_status(target_status)
    ):
        return "a status code is not one"
    # `YYYY-MM-DDTHH:MM...`: compared by byte value, no slicing.
    if len(time) < _MINUTE or time[10] != _T or time[13] != _COLON or not time[:4].isdigit():
        return "time is not a timestamp"
    if target != b"-" and not target[target.rfind(b":") + 1 :].isdigit():
        return "target is not address:port"
    return None


def count_block(
    block: bytes,
    block_index: int = 0,
    *,
    sample_size: int = 20,
    bad_line_samples: int = 5,
    seed: int = 0,
) -> BlockCounts:
    """Count the lines of `block` (complete lines; the last may lack its newline), the
    `block_index`-th block of its file (bad lines are numbered within the block)."""
    counts = BlockCounts(sample_size=sample_size)
    combos, latency, sizes = counts.combos, counts.latency, counts.sizes
    clients, error_clients, error_requests = counts.clients, counts.error_clients, counts.error_requests
    errors, waf = Reservoir(sample_size, seed), Reservoir(sample_size, seed + 1)
    first, last = b"\xff", b""
    run_elb: bytes | None = None
    combo_list: list[ComboKey] = []
    latency_list: list[tuple[bytes, bytes, bytes]] = []
    client_list: list[bytes] = []
    combo_keys, latency_keys, client_keys = combo_list.append, latency_list.append, client_list.append
    run_minute, run_received, run_sent = b"", 0, 0
    lines = block.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    number = 0
    for number, line in enumerate(lines, 1):
        if b"\\" in line:
            parts = line.replace(b"\\\\", _BACKSLASH_MARK).replace(b'\\"', _QUOTE_MARK).split(b'"', 22)
        else:
            parts = line.split(b'"', 22)
        head = parts[0].split(b" ")
        if len(parts) == _QUOTE_PARTS and len(head) == _HEAD_PIECES:
            request = parts[_REQUEST_PART]
            tls = parts[_TLS_PART]
            actions = parts[_ACTIONS_PART]
            classification = parts[_CLASSIFICATION_PART]
        else:
            if not line.strip():
                counts.blank_lines += 1
                continue
            try:
                head, request, tls, actions, classification = _slow_path(line)
            except LineError as exc:
                counts.bad_lines += 1
                if len(counts.bad_line_samples) < bad_line_samples:
                    excerpt = decode(line.rstrip(b"\r")[:200])
                    counts.bad_line_samples.append(BadLine(number, str(exc), excerpt, block_index))
                continue
        _, time, elb, client, target, _, seconds, _, elb_status, target_status, received, sent, *_ = head
        address, _, port = client.rpartition(b":")
        # The checks of `_fast_path_problem`, inline (no call per line); it names the reason.
        if not (
            address
            and port.isdigit()
            and received.isdigit()
            and sent.isdigit()
            and (
                (len(elb_status) == 3 and elb_status.isdigit() and elb_status[0] != _ZERO)
                or elb_status == b"-"
            )
            and (
                target_status == b"-"
                or (len(target_status) == 3 and target_status.isdigit() and target_status[0] != _ZERO)
            )
            and len(time) >= _MINUTE
            and time[10] == _T
            and time[13] == _COLON
            and (target == b"-" or target[target.rfind(b":") + 1 :].isdigit())
            and time[:4].isdigit()
        ):
            problem = _fast_path_problem(
                time, address, port, target, elb_status, target_status, received, sent
            )
            counts.bad_lines += 1
            if len(counts.bad_line_samples) < bad_line_samples:
                reason = problem or "malformed"
                counts.bad_line_samples.append(BadLine(number, reason, decode(line[:200]), block_index))
            continue
        minute = time[:16]
        # Appended now, counted per block by `Counter.update` (its C loop hashes each key once).
        combo_keys((elb, minute, elb_status, target_status, tls, actions, classification))
        latency_keys((elb, minute, seconds))
        if minute != run_minute or elb != run_elb:
            # Lines come roughly in time order: byte sums add up in locals for a run of lines
            # of one load balancer and minute, and go to the dict when the run ends.
            if run_elb is not None:
                size = sizes.setdefault((run_elb, run_minute), [0, 0])
                size[0] += run_received
                size[1] += run_sent
            run_elb, run_minute, run_received, run_sent = elb, minute, 0, 0
        run_received += int(received)
        run_sent += int(sent)
        client_keys(address)
        if time < first:
            first = time
        if time > last:
            last = time
        if elb_status >= b"400":  # 3 ASCII digits (checked when decoded): compared, not sliced
            error_clients[address] += 1
            if elb_status >= b"500":
                error_requests[request] += 1
                errors.offer(line)
            if target_status == b"-" and waf_answered(actions):
                waf.offer(line)
    if run_elb is not None:
        size = sizes.setdefault((run_elb, run_minute), [0, 0])
        size[0] += run_received
        size[1] += run_sent
    combos.update(combo_list)
    latency.update(latency_list)
    clients.update(client_list)
    counts.lines = number
    counts.block_lines[block_index] = number
    if last:
        counts.first_time, counts.last_time = first, last
    counts.error_samples, counts.errors_seen = errors.items, errors.seen
    counts.waf_samples, counts.waf_seen = waf.items, waf.seen
    return counts
