"""The WAF IP-set writer against moto: what the IP set actually holds after each call."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from auto_block.model import Block, WafIpSetRef, as_network
from auto_block.pacing import Pacer
from auto_block.waf_writer import (
    IpSetUpdateError,
    backoff_delay,
    cap_blocks,
    plan_ip_set,
    reconcile_ip_set,
)

NOW = datetime(2026, 3, 15, 6, tzinfo=UTC)
REGION = "us-east-1"


class FakeTime:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def pacer(fake_time: FakeTime) -> Pacer:
    return Pacer(1.0, clock=fake_time.clock, sleep=fake_time.sleep)


@pytest.fixture
def waf(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.client("wafv2", region_name=REGION)


def make_set(
    waf: Any, name: str, version: str = "IPV4", addresses: list[str] | None = None, **extra: Any
) -> WafIpSetRef:
    summary = waf.create_ip_set(
        Name=name, Scope="REGIONAL", IPAddressVersion=version, Addresses=addresses or [], **extra
    )["Summary"]
    return WafIpSetRef(name=name, id=summary["Id"], scope="REGIONAL", ip_version=version)


def contents(waf: Any, ref: WafIpSetRef) -> list[str]:
    """What the IP set actually holds, as WAF lists it."""
    return sorted(waf.get_ip_set(Name=ref.name, Scope=ref.scope, Id=ref.id)["IPSet"]["Addresses"])


def record_calls(client: Any) -> list[tuple[str, dict[str, Any]]]:
    """(operation, params) of every call the client makes from now on."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def observe(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, params))

    client.meta.events.register("before-parameter-build.wafv2", observe)
    return calls


def names(calls: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [name for name, _ in calls]


def block(network: str, *, severity: int = 50, minutes_ago: int = 0) -> Block:
    at = NOW - timedelta(minutes=minutes_ago)
    return Block(as_network(network), "port_scan", "test", severity, at, at + timedelta(hours=1))


def reconcile(
    waf: Any, ref: WafIpSetRef, desired: Any, fake_time: FakeTime, pacer: Pacer, **kwargs: Any
) -> Any:
    return reconcile_ip_set(waf, ref, desired, pacer=pacer, sleep=fake_time.sleep, **kwargs)


# --- writing, emptying, no-ops ---------------------------------------------------------------------


def test_writes_the_blocks_of_its_ip_version_then_empties_the_set_when_every_block_expired(
    waf, fake_time, pacer
):
    ref = make_set(waf, "v4")
    desired = [block("203.0.113.7"), block("198.51.100.0/24"), block("2001:db8::1")]

    result = reconcile(waf, ref, desired, fake_time, pacer)
    assert contents(waf, ref) == ["198.51.100.0/24", "203.0.113.7/32"]
    assert (result.added, result.removed, result.kept, result.updated) == (
        ["198.51.100.0/24", "203.0.113.7/32"],
        [],
        [],
        True,
    )

    emptied = reconcile(waf, ref, [], fake_time, pacer)
    assert contents(waf, ref) == []
    assert (emptied.removed, emptied.updated) == (["198.51.100.0/24", "203.0.113.7/32"], True)


def test_no_update_call_when_the_set_already_holds_the_desired_list(waf, fake_time, pacer):
    ref = make_set(waf, "v4", addresses=["203.0.113.7/32", "198.51.100.0/24"])
    calls = record_calls(waf)

    result = reconcile(waf, ref, [block("198.51.100.0/24"), block("203.0.113.7")], fake_time, pacer)

    assert names(calls) == ["GetIPSet"]
    assert (result.updated, result.attempts, result.kept) == (False, 1, ["198.51.100.0/24", "203.0.113.7/32"])
    assert fake_time.sleeps == []


def test_an_empty_set_with_nothing_desired_is_left_alone(waf, fake_time, pacer):
    ref = make_set(waf, "v4")
    calls = record_calls(waf)
    assert not reconcile(waf, ref, [], fake_time, pacer).updated
    assert names(calls) == ["GetIPSet"]


def test_ipv6_set_compares_addresses_canonically_and_ignores_ipv4(waf, fake_time, pacer):
    ref = make_set(waf, "v6", "IPV6", addresses=["2001:DB8:0:0:0:0:0:1/128"])
    calls = record_calls(waf)

    same = reconcile(waf, ref, [block("2001:db8::1"), block("203.0.113.7")], fake_time, pacer)
    assert names(calls) == ["GetIPSet"]
    assert same.kept == ["2001:db8::1/128"] and not same.updated

    grown = reconcile(waf, ref, [block("2001:db8::1"), block("2001:db8:ffff::/48")], fake_time, pacer)
    assert contents(waf, ref) == ["2001:db8::1/128", "2001:db8:ffff::/48"]
    assert (grown.added, grown.kept) == (["2001:db8:ffff::/48"], ["2001:db8::1/128"])


def test_dry_run_reads_the_set_and_changes_nothing(waf, fake_time, pacer):
    ref = make_set(waf, "v4", addresses=["192.0.2.1/32"])
    calls = record_calls(waf)

    plan = reconcile(waf, ref, [block("203.0.113.7")], fake_time, pacer, dry_run=True)

    assert names(calls) == ["GetIPSet"]
    assert contents(waf, ref) == ["192.0.2.1/32"]
    assert (plan.added, plan.removed, plan.updated) == (["203.0.113.7/32"], ["192.0.2.1/32"], False)


def test_the_update_keeps_the_sets_description(waf, fake_time, pacer):
    ref = make_set(waf, "described", Description="secauto auto-blocking")
    calls = record_calls(waf)
    reconcile(waf, ref, [block("203.0.113.7")], fake_time, pacer)
    update = next(params for name, params in calls if name == "UpdateIPSet")
    assert update["Description"] == "secauto auto-blocking"


# --- capacity ---------------------------------------------------------------------------------------


def test_10001_offenders_fill_the_set_with_10000_and_report_the_least_severe(waf, fake_time, pacer):
    ref = make_set(waf, "big")
    offenders = [  # public addresses: private ones are refused before capacity counts
        block(f"11.{i // 65536}.{i // 256 % 256}.{i % 256}", minutes_ago=i % 50) for i in range(10_000)
    ]
    weakest = block("192.0.2.99", severity=10)
    offenders.insert(1234, weakest)

    result = reconcile(waf, ref, offenders, fake_time, pacer)

    held = contents(waf, ref)
    assert len(held) == 10_000
    assert "192.0.2.99/32" not in held
    assert result.dropped == [weakest]
    assert result.updated and len(result.added) == 10_000


def test_at_equal_severity_the_oldest_block_is_the_one_dropped(waf, fake_time, pacer):
    ref = make_set(waf, "small")
    desired = [block("192.0.2.1", minutes_ago=5), block("192.0.2.2", minutes_ago=50), block("192.0.2.3")]
    result = reconcile(waf, ref, desired, fake_time, pacer, max_addresses=2)
    assert contents(waf, ref) == ["192.0.2.1/32", "192.0.2.3/32"]
    assert [b.key for b in result.dropped] == ["192.0.2.2/32"]


ranked_blocks = st.lists(
    st.builds(
        lambda host, severity, minutes: block(f"192.0.2.{host}", severity=severity, minutes_ago=minutes),
        st.integers(0, 30),
        st.integers(0, 3),
        st.integers(0, 3),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(blocks=ranked_blocks, limit=st.integers(1, 12))
def test_the_cap_keeps_the_highest_ranked_networks_and_accounts_for_every_one(blocks, limit):
    kept, dropped = cap_blocks(blocks, limit)
    networks = {b.network for b in blocks}
    kept_networks = [b.network for b in kept]
    assert len(kept_networks) == len(set(kept_networks)) == min(limit, len(networks))
    assert set(kept_networks) | {b.network for b in dropped} == networks
    assert not set(kept_networks) & {b.network for b in dropped}
    if kept and dropped:
        assert min((b.severity, b.blocked_at) for b in kept) >= max(
            (b.severity, b.blocked_at) for b in dropped
        )
    # Each kept network is represented by its own highest-ranked block.
    for chosen in kept:
        assert (chosen.severity, chosen.blocked_at) == max(
            (b.severity, b.blocked_at) for b in blocks if b.network == chosen.network
        )


def test_plan_removes_what_waf_holds_but_cannot_be_parsed():
    plan = plan_ip_set(["not-an-address", "192.0.2.1/32"], [block("192.0.2.1")], "IPV4")
    assert (plan.removed, plan.kept, plan.addresses) == (
        ["not-an-address"],
        ["192.0.2.1/32"],
        ["192.0.2.1/32"],
    )


def test_a_cap_below_one_is_refused():
    with pytest.raises(ValueError, match="at least one"):
        cap_blocks([block("192.0.2.1")], 0)


# --- concurrency ------------------------------------------------------------------------------------


def run_once_before_update(client: Any, action: Callable[[], None]) -> None:
    """Run `action` just before the client's first UpdateIPSet: after its GetIPSet, so its token
    is made stale by whatever `action` writes."""
    done = threading.Event()

    def interleave(**_: Any) -> None:
        if not done.is_set():
            done.set()
            action()

    client.meta.events.register("before-call.wafv2.UpdateIPSet", interleave)


def test_racing_writers_lose_no_block(waf, fake_time, pacer):
    ref = make_set(waf, "race", addresses=["192.0.2.1/32"])
    table = [block("192.0.2.1")]  # the block table both writers record into before writing WAF
    writer_a, writer_b = waf, boto3.client("wafv2", region_name=REGION)
    calls_a = record_calls(writer_a)
    results: dict[str, Any] = {}

    def b_blocks_its_source() -> None:
        table.append(block("203.0.113.66"))
        results["b"] = reconcile(writer_b, ref, lambda: list(table), fake_time, pacer)

    run_once_before_update(writer_a, b_blocks_its_source)
    table.append(block("198.51.100.9"))
    snapshot_a = list(table)  # what A's first round sees: B's block does not exist yet
    results["a"] = reconcile(writer_a, ref, lambda: list(table), fake_time, pacer)
    made_by_a = names(calls_a)

    assert contents(waf, ref) == ["192.0.2.1/32", "198.51.100.9/32", "203.0.113.66/32"]
    assert (results["b"].updated, results["b"].conflicts) == (True, 0)
    # A's token went stale. Had A retried with its first snapshot, it would have written
    # 192.0.2.1 and 198.51.100.9 only, and B's block would be gone. The loader read the table
    # again after the second GetIPSet: B (which read the table after A recorded) had already
    # written the union, so A had nothing left to write.
    assert "203.0.113.66/32" not in {b.key for b in snapshot_a}
    a = results["a"]
    assert (a.attempts, a.conflicts, a.updated) == (2, 1, False)
    assert made_by_a == ["GetIPSet", "UpdateIPSet", "GetIPSet"]


def test_a_list_taken_before_another_writer_recorded_is_written_as_given(waf, fake_time, pacer):
    """The writer writes exactly what it is given, so a stale snapshot can drop a block another
    writer recorded meanwhile (until the next run): why callers should pass a loader."""
    ref = make_set(waf, "stale-list")
    table = [block("192.0.2.1")]
    other = boto3.client("wafv2", region_name=REGION)

    def other_blocks_its_source() -> None:
        table.append(block("203.0.113.66"))
        reconcile(other, ref, list(table), fake_time, pacer)

    run_once_before_update(waf, other_blocks_its_source)
    reconcile(waf, ref, [*table, block("198.51.100.9")], fake_time, pacer)

    assert contents(waf, ref) == ["192.0.2.1/32", "198.51.100.9/32"]


def test_racing_writers_with_lists_taken_after_both_recorded_end_in_the_union(waf, fake_time, pacer):
    """Lists (not loaders) are safe when taken after both writers recorded their blocks."""
    ref = make_set(waf, "race-lists")
    table = [block("192.0.2.1")]
    table.append(block("198.51.100.9"))  # writer A records
    table.append(block("203.0.113.66"))  # writer B records
    desired_a, desired_b = list(table), list(table)
    writer_b = boto3.client("wafv2", region_name=REGION)
    calls_a = record_calls(waf)
    run_once_before_update(waf, lambda: reconcile(writer_b, ref, desired_b, fake_time, pacer))

    a = reconcile(waf, ref, desired_a, fake_time, pacer)
    made_by_a = names(calls_a)

    assert contents(waf, ref) == ["192.0.2.1/32", "198.51.100.9/32", "203.0.113.66/32"]
    # A's token went stale; re-reading showed B had already written the same list: no second write.
    assert (a.conflicts, a.updated) == (1, False)
    assert made_by_a == ["GetIPSet", "UpdateIPSet", "GetIPSet"]


def test_a_retry_writes_the_table_again_rather_than_merging_what_it_read(waf, fake_time, pacer):
    """A block another writer released while we retried stays released."""
    ref = make_set(waf, "release", addresses=["192.0.2.1/32", "192.0.2.2/32"])
    table = [block("192.0.2.1"), block("192.0.2.2")]
    other = boto3.client("wafv2", region_name=REGION)

    def other_releases_a_block() -> None:
        table.pop()
        reconcile(other, ref, lambda: list(table), fake_time, pacer)

    run_once_before_update(waf, other_releases_a_block)
    result = reconcile(waf, ref, lambda: [*table, block("203.0.113.5")], fake_time, pacer)

    assert contents(waf, ref) == ["192.0.2.1/32", "203.0.113.5/32"]
    assert result.conflicts == 1


def test_conflicts_on_every_attempt_end_in_a_clear_error(waf, fake_time):
    ref = make_set(waf, "busy")
    other = boto3.client("wafv2", region_name=REGION)

    def someone_else_writes(**_: Any) -> None:
        token = other.get_ip_set(Name=ref.name, Scope=ref.scope, Id=ref.id)["LockToken"]
        other.update_ip_set(
            Name=ref.name, Scope=ref.scope, Id=ref.id, Addresses=["192.0.2.200/32"], LockToken=token
        )

    waf.meta.events.register("before-call.wafv2.UpdateIPSet", someone_else_writes)

    with pytest.raises(
        IpSetUpdateError, match=r"busy \(REGIONAL.*3 attempts \(3 stale lock tokens\).*WAFOptimisticLock"
    ):
        reconcile(waf, ref, [block("203.0.113.7")], fake_time, Pacer(0.0), max_attempts=3)
    backoffs = fake_time.sleeps
    assert len(backoffs) == 2
    assert 0.25 <= backoffs[0] <= 0.5 and 0.5 <= backoffs[1] <= 1.0


def waf_error(code: str) -> tuple[AWSResponse, dict[str, Any]]:
    """A WAF error response as botocore would have parsed it."""
    return AWSResponse(f"https://wafv2.{REGION}.amazonaws.com/", 400, {}, None), {
        "Error": {"Code": code, "Message": f"injected {code}"},
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }


@pytest.mark.parametrize("code", ["WAFLimitsExceededException", "ThrottlingException"])
def test_limit_and_throttling_errors_are_retried_after_a_backoff(waf, fake_time, code):
    ref = make_set(waf, "throttled")
    failures = iter([waf_error(code)])
    waf.meta.events.register("before-call.wafv2.UpdateIPSet", lambda **_: next(failures, None))

    result = reconcile(waf, ref, [block("203.0.113.7")], fake_time, Pacer(0.0))

    assert contents(waf, ref) == ["203.0.113.7/32"]
    # Refused once, written in the second round, confirmed by the third.
    assert (result.attempts, result.conflicts, result.updated) == (3, 0, True)
    assert len(fake_time.sleeps) == 1 and 0.25 <= fake_time.sleeps[0] <= 0.5


def test_other_errors_are_raised_at_once(waf, fake_time, pacer):
    missing = WafIpSetRef(
        name="missing", id="00000000-0000-0000-0000-000000000000", scope="REGIONAL", ip_version="IPV4"
    )
    with pytest.raises(waf.exceptions.WAFNonexistentItemException):
        reconcile(waf, missing, [block("203.0.113.7")], fake_time, pacer)
    assert fake_time.sleeps == []


# --- pacing -----------------------------------------------------------------------------------------


def test_updates_in_one_region_are_spaced_a_second_apart(waf, fake_time, pacer):
    first, second = make_set(waf, "one"), make_set(waf, "two")
    reconcile(waf, first, [block("203.0.113.7")], fake_time, pacer)
    assert fake_time.sleeps == []
    reconcile(waf, second, [block("203.0.113.7")], fake_time, pacer)
    assert fake_time.sleeps == [1.0]
    fake_time.now += 5
    reconcile(waf, first, [], fake_time, pacer)
    assert fake_time.sleeps == [1.0]


def test_pacer_gives_concurrent_callers_distinct_slots_per_key(fake_time):
    pacer = Pacer(1.0, clock=fake_time.clock, sleep=lambda _: None)  # the clock does not move
    assert [pacer.wait("us-east-1") for _ in range(3)] == [0.0, 1.0, 2.0]
    assert pacer.wait("eu-west-1") == 0.0
    pacer.reset()
    assert pacer.wait("us-east-1") == 0.0
    with pytest.raises(ValueError, match="negative"):
        Pacer(-1)


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    assert backoff_delay(1, rng=lambda: 0.0) == 0.25
    assert backoff_delay(1, rng=lambda: 1.0) == 0.5
    assert backoff_delay(3, rng=lambda: 1.0) == 2.0
    assert backoff_delay(20, rng=lambda: 1.0) == 8.0
