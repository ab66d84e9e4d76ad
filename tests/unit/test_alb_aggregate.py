"""The per-file aggregation of ALB access logs, checked against the complete per-line parser.

`counting.count_block` reads each line through a fast path (splits on quotes and spaces) and
`aggregate.FileAggregate` decodes the counted keys afterwards. Whatever the shape of the lines
and however a file is cut into blocks, the per load balancer and minute figures must be the ones
`parser.parse_line` gives line by line. Also: arbitrary bytes never make the aggregation raise,
the response-time distribution's EMF points, bounded top lists, and sample reservoirs.

"""

from __future__ import annotations

import copy
import itertools
import json
import math
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alb_logs.aggregate import FileAggregate, MinuteStats, aggregate_blocks
from alb_logs.counting import PRUNE_CAPACITY, BlockCounts, Reservoir, count_block, prune
from alb_logs.distribution import MAX_POINTS, Distribution
from alb_logs.emf import metric_documents
from alb_logs.parser import LineError, parse_line
from alb_logs.top_counts import TopCounts

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------------------------------
# A small grammar of well-formed entries (the shapes of AWS's documented examples).

LOAD_BALANCERS = ("app/shop-prod/50dc6c495c0c9188", "app/api-internal/6d0ecf831eec9f09")
MINUTES = ("2026-11-24T10:00", "2026-11-24T10:01", "2026-11-24T10:07")
CLIENTS = ("203.0.113.24", "198.51.100.77", "192.0.2.10", "2001:db8:4a7f::1c2", "10.20.4.17")
TARGETS = ("10.0.1.17:8080", "10.0.2.31:8080", "fd00:ec2:0:4::a1:50051")
TIMES = ("-1", "0.000", "0.001", "0.003", "0.034", "0.412", "1.250", "30.002")
ELB_STATUSES = ("200", "101", "301", "302", "403", "404", "460", "500", "502", "503", "504", "-")
TARGET_STATUSES = ("200", "101", "302", "404", "500", "502")
ACTIONS = (
    "forward",
    "waf",
    "waf,forward",
    "redirect",
    "fixed-response",
    "waf,redirect",
    "authenticate,waf,forward",
)
USER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6)",
    "curl/8.11.0",
    'sqlmap/1.8 (\\"https://sqlmap.org\\")',  # an escaped quote, as ALB logs it
    'zgrab \\"x\\" \\\\ tail',  # escaped quotes and an escaped backslash
    "ends in a backslash \\\\",  # an escaped backslash just before the closing quote
    "-",
)
REQUESTS = (
    "GET https://shop.example.com:443/ HTTP/1.1",
    "POST https://shop.example.com:443/api/checkout HTTP/1.1",
    "GET https://shop.example.com:443/?q=%22x%22 HTTP/2.0",
    'GET https://shop.example.com:443/?q=\\"x\\" HTTP/1.1',  # a raw quote in the URL, escaped
    "- - - ",  # a request line ALB could not parse
)
CLASSIFICATIONS = ("-", "Acceptable", "Ambiguous", "Severe")
TLS = (("-", "-"), ("ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2"), ("TLS_AES_128_GCM_SHA256", "TLSv1.3"))
TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-web/73e2d6bc24d8a067"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/9f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b"


@st.composite
def entries(draw: st.DrawFn) -> bytes:
    """One well-formed entry, with its newline."""
    minute = draw(st.sampled_from(MINUTES))
    time = f"{minute}:{draw(st.integers(0, 59)):02d}.{draw(st.integers(0, 999_999)):06d}Z"
    client = f"{draw(st.sampled_from(CLIENTS))}:{draw(st.integers(1, 65535))}"
    answered = draw(st.booleans())
    target = draw(st.sampled_from(TARGETS)) if answered or draw(st.booleans()) else "-"
    target_status = draw(st.sampled_from(TARGET_STATUSES)) if answered else "-"
    elb_status = target_status if answered and draw(st.booleans()) else draw(st.sampled_from(ELB_STATUSES))
    request_time, target_time, response_time = (draw(st.sampled_from(TIMES)) for _ in range(3))
    cipher, protocol = draw(st.sampled_from(TLS))
    actions = draw(st.sampled_from(ACTIONS))
    classification = draw(st.sampled_from(CLASSIFICATIONS))
    reason = "-" if classification in ("-", "Acceptable") else "UndefinedContentLengthSemantics"
    received, sent = draw(st.integers(0, 10**7)), draw(st.integers(0, 10**7))
    target_list = target if answered else "-"
    status_list = target_status if answered else "-"
    line = (
        f"{draw(st.sampled_from(('https', 'h2', 'http', 'grpcs', 'wss')))} {time} "
        f"{draw(st.sampled_from(LOAD_BALANCERS))} {client} {target} {request_time} {target_time} "
        f"{response_time} {elb_status} {target_status} {received} {sent} "
        f'"{draw(st.sampled_from(REQUESTS))}" "{draw(st.sampled_from(USER_AGENTS))}" {cipher} {protocol} '
        f'{draw(st.sampled_from((TG, "-")))} "Root=1-6743b000-{draw(st.integers(0, 10**9)):024d}" '
        f'"shop.example.com" "{CERT}" {draw(st.integers(-1, 50))} {time} "{actions}" "-" "-" '
        f'"{target_list}" "{status_list}" "{classification}" "{reason}" TID_000fc85367a051cb'
    )
    tail = draw(st.sampled_from(("", ' "-" "-" "-"', ' "-" "-" "-" "future-field"')))
    return f"{line}{tail}\n".encode()


def blocks_of(lines: list[bytes], cuts: list[int]) -> list[bytes]:
    """`lines` joined into blocks, cut before each index in `cuts`."""
    bounds = [0, *sorted(set(cuts)), len(lines)]
    return [b"".join(lines[a:b]) for a, b in itertools.pairwise(bounds) if b > a]


# --------------------------------------------------------------------------------------------------
# What the complete parser says, computed line by line.


def status_class(code: int | str | None) -> str | None:
    return None if code is None else f"{str(code)[0]}xx"


def expected_minutes(lines: list[bytes]) -> dict[tuple[str, datetime], dict[str, Any]]:
    """Per (load balancer, minute): the figures `MinuteStats` must hold, from `parse_line`."""
    passed_waf = {"forward", "redirect", "fixed-response", "authenticate"}
    minutes: dict[tuple[str, datetime], dict[str, Any]] = {}
    for line in lines:
        record = parse_line(line)
        minute = datetime.fromisoformat(record["time"][:16]).replace(tzinfo=UTC)
        stats = minutes.setdefault(
            (record["elb"], minute),
            {
                "requests": 0,
                "elb_status": Counter(),
                "target_status": Counter(),
                "alb_generated_errors": 0,
                "waf_acted": 0,
                "received_bytes": 0,
                "sent_bytes": 0,
                "latency": Counter(),
                "tls": Counter(),
                "classifications": Counter(),
            },
        )
        stats["requests"] += 1
        elb_class = status_class(record["elb_status_code"])
        target_class = status_class(record["target_status_code"])
        if elb_class:
            stats["elb_status"][elb_class] += 1
        if target_class:
            stats["target_status"][target_class] += 1
        elif elb_class in ("4xx", "5xx"):
            stats["alb_generated_errors"] += 1
        executed = set((record["actions_executed"] or "").split(","))
        if target_class is None and "waf" in executed and not executed & passed_waf:
            stats["waf_acted"] += 1
        stats["received_bytes"] += record["received_bytes"]
        stats["sent_bytes"] += record["sent_bytes"]
        if record["target_processing_time"] is not None and record["target_processing_time"] >= 0:
            stats["latency"][record["target_processing_time"]] += 1
        if record["ssl_protocol"] is not None:
            stats["tls"][record["ssl_protocol"]] += 1
        if record["classification"] is not None:
            stats["classifications"][record["classification"]] += 1
    return minutes


def figures(stats: MinuteStats) -> dict[str, Any]:
    return {
        "requests": stats.requests,
        "elb_status": stats.elb_status,
        "target_status": stats.target_status,
        "alb_generated_errors": stats.alb_generated_errors,
        "waf_acted": stats.waf_acted,
        "received_bytes": stats.received_bytes,
        "sent_bytes": stats.sent_bytes,
        "latency": stats.target_response_time.counts,
        "tls": stats.tls_protocols,
        "classifications": stats.classifications,
    }


def file_figures(aggregate: FileAggregate) -> dict[str, Any]:
    """Everything but the (randomly drawn) request samples."""
    return {
        "lines": aggregate.lines,
        "bad_lines": aggregate.bad_lines,
        "blank_lines": aggregate.blank_lines,
        "first_time": aggregate.first_time,
        "last_time": aggregate.last_time,
        "minutes": {key: figures(stats) for key, stats in aggregate.minutes.items()},
        "clients": aggregate.clients.counts,
        "error_clients": aggregate.error_clients.counts,
        "error_urls": aggregate.error_urls.counts,
        "bad_line_samples": aggregate.bad_line_samples,
    }


# --------------------------------------------------------------------------------------------------
# The aggregate agrees with the complete parser.


@FAST
@given(st.lists(entries(), min_size=1, max_size=60))
def test_aggregate_agrees_with_parse_line_per_load_balancer_and_minute(lines: list[bytes]) -> None:
    aggregate = aggregate_blocks([b"".join(lines)], workers=1)

    assert (aggregate.lines, aggregate.bad_lines, aggregate.blank_lines) == (len(lines), 0, 0)
    assert {key: figures(stats) for key, stats in aggregate.minutes.items()} == expected_minutes(lines)
    records = [parse_line(line) for line in lines]
    assert aggregate.first_time == min(r["time"] for r in records)
    assert aggregate.last_time == max(r["time"] for r in records)
    assert aggregate.clients.counts == Counter(r["client_ip"] for r in records)
    errors = [r for r in records if r["elb_status_code"] is not None and r["elb_status_code"] >= 400]
    assert aggregate.error_clients.counts == Counter(r["client_ip"] for r in errors)
    # A 5xx whose request line ALB could not parse ("- - - ") is listed under "-".
    assert aggregate.error_urls.counts == Counter(
        r["request_url"] or "-" for r in errors if r["elb_status_code"] >= 500
    )


@FAST
@given(st.lists(entries(), min_size=1, max_size=40), st.data())
def test_the_same_lines_cut_into_blocks_differently_give_the_same_aggregate(
    lines: list[bytes], data: st.DataObject
) -> None:
    cuts = data.draw(st.lists(st.integers(1, len(lines)), max_size=6), label="cuts")

    whole = aggregate_blocks([b"".join(lines)], workers=1)
    cut = aggregate_blocks(blocks_of(lines, cuts), workers=1)
    one_per_line = aggregate_blocks(lines, workers=1)

    assert file_figures(cut) == file_figures(whole) == file_figures(one_per_line)


# --------------------------------------------------------------------------------------------------
# Arbitrary input never raises, and every line is accounted for.


def mangled(line: bytes, start: int, length: int) -> bytes:
    return line[:start] + line[start + length :]


line_or_noise = st.one_of(
    entries(),
    st.binary(max_size=300),
    st.builds(mangled, entries(), st.integers(0, 400), st.integers(1, 40)),
    st.sampled_from([b"\n", b"\r\n", b"   \n", b'"\n', b'\\"\\\\"\n', b"\x00\x01\n"]),
)


@FAST
@given(st.lists(st.lists(line_or_noise, max_size=12).map(b"".join), max_size=5))
def test_arbitrary_bytes_never_raise_and_every_line_is_accounted_for(blocks: list[bytes]) -> None:
    aggregate = aggregate_blocks(blocks, workers=1, bad_line_samples=3)

    expected_lines = sum(len(block.split(b"\n")) - block.endswith(b"\n") for block in blocks if block)
    assert aggregate.lines == expected_lines
    assert aggregate.lines == aggregate.requests + aggregate.bad_lines + aggregate.blank_lines
    assert len(aggregate.bad_line_samples) <= 3
    assert all(0 <= bad.line_number <= aggregate.lines for bad in aggregate.bad_line_samples)
    aggregate.error_samples()
    aggregate.waf_samples()


def test_a_time_that_overflows_when_converted_to_utc_is_a_bad_line() -> None:
    line = entry().replace(b"2026-11-24T10:00:20.310557Z", b"0001-01-01T00+01:00", 1)

    aggregate = aggregate_blocks([line], workers=1)

    assert (aggregate.lines, aggregate.bad_lines, aggregate.requests) == (1, 1, 0)


# --------------------------------------------------------------------------------------------------
# The fast path must reject what the complete parser rejects, and a rejected line counts nowhere.

ENTRY = (
    "https 2026-11-24T10:00:20.310557Z app/shop-prod/50dc6c495c0c9188 {client} {target} 0.000 {seconds} "
    '0.000 {elb} {tgt} 402 1190 "GET https://shop.example.com:443/api/items/9921 HTTP/1.1" "ua" '
    f'TLS_AES_128_GCM_SHA256 TLSv1.3 {TG} "Root=1" "shop.example.com" "{CERT}" 1 '
    '2026-11-24T10:00:20.310557Z "waf,forward" "-" "-" "10.0.1.18:8080" "500" "-" "-" TID_1\n'
)


def entry(
    client: str = "198.51.100.7:4000",
    target: str = "10.0.1.18:8080",
    seconds: str = "0.412",
    elb: str = "500",
    tgt: str = "500",
) -> bytes:
    return ENTRY.format(client=client, target=target, seconds=seconds, elb=elb, tgt=tgt).encode()


def test_the_reference_entry_is_counted_in_full() -> None:
    aggregate = aggregate_blocks([entry()], workers=1)
    [stats] = aggregate.minutes.values()
    assert (aggregate.requests, aggregate.bad_lines, stats.received_bytes) == (1, 0, 402)
    assert stats.target_response_time.counts == {0.412: 1}
    assert [r["client_ip"] for r in aggregate.error_samples()] == ["198.51.100.7"]


def test_bad_lines_are_numbered_in_the_file_across_blocks() -> None:
    good = entry(elb="200", tgt="200")
    lines = [good, good, b"not an entry\n", good, b"\n", good, b"https 2026-11-24T10:00:55Z x 1.2.3.4:5\n"]

    aggregate = aggregate_blocks(blocks_of(lines, [2, 4, 5]), workers=1)

    assert (aggregate.lines, aggregate.bad_lines, aggregate.blank_lines, aggregate.requests) == (7, 2, 1, 4)
    assert [bad.line_number for bad in aggregate.bad_line_samples] == [3, 7]
    assert all(bad.reason for bad in aggregate.bad_line_samples)


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"client": "198.51.100.7:abc"}, id="client-port-not-a-number"),
        pytest.param({"client": ":4000"}, id="client-without-address"),
        pytest.param({"target": "garbage"}, id="target-not-address-port"),
    ],
)
def test_what_parse_line_rejects_is_a_bad_line_for_the_aggregate(fields: dict[str, str]) -> None:
    line = entry(**fields)
    with pytest.raises(LineError):
        parse_line(line)

    aggregate = aggregate_blocks([line], workers=1)

    assert (aggregate.requests, aggregate.bad_lines) == (0, 1)


@pytest.mark.parametrize("seconds", ["inf", "1e3", "nan"])
def test_a_malformed_processing_time_stays_out_of_the_distribution(seconds: str) -> None:
    """The count validates the fields it keys on; a processing time is only kept when it is one."""
    with pytest.raises(LineError):
        parse_line(entry(seconds=seconds))

    aggregate = aggregate_blocks([entry(seconds=seconds)], workers=1)

    [stats] = aggregate.minutes.values()
    assert (aggregate.requests, aggregate.bad_lines) == (1, 0)
    assert stats.target_response_time.counts == {}
    assert "Infinity" not in json.dumps(metric_documents([stats]))


def test_a_line_rejected_for_its_status_code_counts_nowhere() -> None:
    aggregate = aggregate_blocks([entry(elb="abc")], workers=1)

    assert (aggregate.requests, aggregate.bad_lines) == (0, 1)
    assert not aggregate.clients.counts and not aggregate.error_clients.counts
    assert not aggregate.error_urls.counts
    for stats in aggregate.minutes.values():
        assert (stats.received_bytes, stats.sent_bytes, stats.target_response_time.total) == (0, 0, 0)


# --------------------------------------------------------------------------------------------------
# WAF: the metric and the samples describe the same requests.


def test_waf_acted_counts_only_requests_waf_answered() -> None:
    blocked = entry(target="-", seconds="-1", elb="403", tgt="-").replace(b'"waf,forward"', b'"waf"')
    forwarded_then_503 = entry(target="-", seconds="-1", elb="503", tgt="-")  # actions "waf,forward"

    aggregate = aggregate_blocks([blocked + forwarded_then_503], workers=1)

    [stats] = aggregate.minutes.values()
    assert (stats.waf_acted, stats.alb_generated_errors) == (1, 2)


def test_waf_samples_are_the_requests_waf_answered() -> None:
    blocked = entry(target="-", seconds="-1", elb="403", tgt="-").replace(b'"waf,forward"', b'"waf"')
    forwarded_then_503 = entry(target="-", seconds="-1", elb="503", tgt="-")

    aggregate = aggregate_blocks([blocked + forwarded_then_503], workers=1)

    assert [r["elb_status_code"] for r in aggregate.waf_samples()] == [403]


def test_a_request_waf_passed_and_authenticate_answered_is_not_waf_acted() -> None:
    redirected_to_login = entry(target="-", seconds="-1", elb="302", tgt="-").replace(
        b'"waf,forward"', b'"waf,authenticate"'
    )

    aggregate = aggregate_blocks([redirected_to_login], workers=1)

    [stats] = aggregate.minutes.values()
    assert stats.waf_acted == 0


# --------------------------------------------------------------------------------------------------
# Distribution.points(): what TargetResponseTime publishes.


def true_quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank quantile of a sorted list."""
    q = min(max(q, 0.0), 1.0)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@FAST
@given(st.dictionaries(st.integers(0, 60_000).map(lambda ms: ms / 1000), st.integers(1, 3), max_size=30))
def test_few_observations_are_published_exactly(counts: dict[float, int]) -> None:
    distribution = Distribution()
    for value, count in counts.items():
        distribution.add(value, count)
    expected = sorted(value for value, count in counts.items() for _ in range(count))

    assert sum(counts.values()) <= MAX_POINTS
    assert distribution.points() == expected


@FAST
@given(
    st.dictionaries(
        st.integers(0, 60_000).map(lambda ms: ms / 1000), st.integers(1, 2_000), min_size=1, max_size=60
    ).filter(lambda counts: sum(counts.values()) > MAX_POINTS)
)
def test_many_observations_give_99_points_within_one_point_of_the_percentiles(
    counts: dict[float, int],
) -> None:
    distribution = Distribution()
    for value, count in counts.items():
        distribution.add(value, count)
    ordered = sorted(value for value, count in counts.items() for _ in range(count))

    points = distribution.points()

    assert len(points) == MAX_POINTS
    assert points == sorted(points) and set(points) <= set(counts)
    assert points[0] >= ordered[0] and points[-1] <= ordered[-1]
    step = 1 / MAX_POINTS
    for p in (0.5, 0.9, 0.99):
        published = true_quantile(points, p)  # what CloudWatch's pNN over the points gives
        assert true_quantile(ordered, p - step) <= published <= true_quantile(ordered, p + step), p
        assert distribution.quantile(p) == true_quantile(ordered, p)


def test_points_never_exceed_the_limit_for_a_busy_minute() -> None:
    distribution = Distribution()
    for ms in range(5_000):
        distribution.add(ms / 1000, 1 + ms % 7)
    assert len(distribution.points()) == MAX_POINTS
    assert len(distribution.points(limit=10)) == 10
    assert Distribution().points() == [] and Distribution().quantile(0.5) is None


# --------------------------------------------------------------------------------------------------
# Bounded top lists: prune (per worker) and TopCounts (per file).


def test_prune_bounds_the_counter_keeps_heavy_hitters_and_reports_what_it_dropped() -> None:
    heavy = {f"198.51.100.{i}": 1_000 + i for i in range(20)}
    counts: Counter[str] = Counter(heavy)
    counts.update(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(60_000))

    dropped = prune(counts)

    assert len(counts) <= PRUNE_CAPACITY // 2
    assert all(counts[ip] == n for ip, n in heavy.items())
    assert dropped == 1
    small: Counter[str] = Counter({"a": 3, "b": 2})
    assert prune(small, capacity=4) == 0 and small == {"a": 3, "b": 2}


def test_merging_block_counts_prunes_the_client_counters_and_records_the_bound() -> None:
    first, second = BlockCounts(), BlockCounts()
    first.clients.update({b"198.51.100.77": 500, b"203.0.113.24": 300})
    first.clients.update(b"10.0.%d.%d" % (i // 256, i % 256) for i in range(30_000))
    second.clients.update({b"198.51.100.77": 250})
    second.clients.update(b"10.1.%d.%d" % (i // 256, i % 256) for i in range(30_000))

    first.merge(second)

    assert len(first.clients) <= PRUNE_CAPACITY
    assert first.clients[b"198.51.100.77"] == 750 and first.clients[b"203.0.113.24"] == 300
    assert first.top_error_bound >= 1


def test_top_counts_stay_within_capacity_and_heavy_hitters_survive() -> None:
    top: TopCounts[str] = TopCounts(capacity=100)
    for batch in range(50):
        counts: Counter[str] = Counter(f"10.{batch}.{i // 256}.{i % 256}" for i in range(40))
        counts.update({"198.51.100.77": 30, "203.0.113.50": 20, "192.0.2.55": 10})
        top.update(counts)
        assert len(top.counts) <= top.capacity

    assert top.top(3) == [("198.51.100.77", 1500), ("203.0.113.50", 1000), ("192.0.2.55", 500)]
    # Each of the 49 prunes dropped keys seen once: the bound is their sum, and it holds.
    assert 1 <= top.error_bound <= 50


def test_file_summary_reports_the_top_lists_error_bound() -> None:
    from alb_logs.summary import summarize

    aggregate = aggregate_blocks([entry()], workers=1)
    aggregate.clients = TopCounts(capacity=2)
    aggregate.clients.update(Counter({"a": 5, "b": 3, "c": 1}))

    summary = summarize(aggregate, top_n=10)

    assert summary.top_counts_error_bound == 3  # "b" (3) was dropped to keep capacity // 2 keys
    assert [c.client_ip for c in summary.top_clients] == ["a"]


def test_top_counts_error_bound_covers_a_key_dropped_twice() -> None:
    top: TopCounts[str] = TopCounts(capacity=4)
    top.update(Counter({"A": 10, "B": 10, "X": 1, "C": 1, "D": 1}))  # X dropped (count 1)
    top.update(Counter({"X": 1, "E": 1, "F": 1}))  # X dropped again (count 1)
    top.update(Counter({"X": 9}))  # X's true count is 11

    reported = dict(top.top(3))["X"]

    assert 11 - reported <= top.error_bound


# --------------------------------------------------------------------------------------------------
# Sample reservoirs.


@FAST
@given(
    st.integers(0, 8),
    st.integers(0, 30),
    st.integers(0, 30),
    st.integers(0, 2**16),
)
def test_reservoir_merge_keeps_at_most_size_items_and_only_items_offered(
    size: int, mine: int, theirs: int, seed: int
) -> None:
    left, right = Reservoir(size, seed), Reservoir(size, seed + 1)
    for i in range(mine):
        left.offer(f"left-{i}".encode())
    for i in range(theirs):
        right.offer(f"right-{i}".encode())
    offered = {f"left-{i}".encode() for i in range(mine)} | {f"right-{i}".encode() for i in range(theirs)}

    left.merge(right.items, right.seen)

    assert len(left.items) == min(size, mine + theirs)
    assert set(left.items) <= offered and len(set(left.items)) == len(left.items)
    assert left.seen == mine + theirs


def test_reservoir_merge_draws_from_both_sides_in_proportion() -> None:
    from_right = 0
    for seed in range(200):
        left, right = Reservoir(10, seed), Reservoir(10, seed + 1000)
        for i in range(100):
            left.offer(b"L%d" % i)
        for i in range(300):
            right.offer(b"R%d" % i)
        left.merge(right.items, right.seen)
        from_right += sum(item.startswith(b"R") for item in left.items)
    assert 0.65 < from_right / 2000 < 0.85  # 300 of 400 lines: 75%


def test_samples_are_not_lost_when_blocks_are_merged() -> None:
    aggregate = aggregate_blocks([entry(), entry(), entry()], workers=1, sample_size=20)

    assert len(aggregate.error_samples()) == 3


# --------------------------------------------------------------------------------------------------
# BlockCounts.merge is order-independent (workers finish in any order).


def merged_counts(counts: BlockCounts) -> dict[str, Any]:
    return {
        "lines": counts.lines,
        "bad_lines": counts.bad_lines,
        "blank_lines": counts.blank_lines,
        "first_time": counts.first_time,
        "last_time": counts.last_time,
        "combos": counts.combos,
        "latency": counts.latency,
        "sizes": counts.sizes,
        "clients": counts.clients,
        "error_clients": counts.error_clients,
        "error_requests": counts.error_requests,
        "errors_seen": counts.errors_seen,
        "waf_seen": counts.waf_seen,
        "block_lines": counts.block_lines,
        "bad_line_samples": sorted(counts.bad_line_samples, key=lambda b: (b.block, b.line_number)),
        "top_error_bound": counts.top_error_bound,
    }


@FAST
@given(
    st.lists(line_or_noise, max_size=15),
    st.lists(line_or_noise, max_size=15),
    st.lists(entries(), max_size=8),
)
def test_block_counts_merge_is_order_independent(
    first: list[bytes], second: list[bytes], third: list[bytes]
) -> None:
    a, b, c = (count_block(b"".join(lines), index) for index, lines in enumerate((first, second, third)))

    ab = copy.deepcopy(a).merge(copy.deepcopy(b), bad_line_limit=100)
    ba = copy.deepcopy(b).merge(copy.deepcopy(a), bad_line_limit=100)
    ab_c = copy.deepcopy(ab).merge(copy.deepcopy(c), bad_line_limit=100)
    a_bc = copy.deepcopy(a).merge(
        copy.deepcopy(b).merge(copy.deepcopy(c), bad_line_limit=100), bad_line_limit=100
    )

    assert merged_counts(ab) == merged_counts(ba)
    assert merged_counts(ab_c) == merged_counts(a_bc)
