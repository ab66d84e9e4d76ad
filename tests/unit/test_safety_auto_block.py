"""Issue #11, auto-blocking: the safety invariants, each searched for a counterexample.

1. Only single addresses are ever blocked by automation (whatever a flow log, a GuardDuty finding
   or an ALB summary names, even with no allowlist at all).
2. The whole internet, and any range wider than the configured minimum, is refused by every path:
   the block table and both writers, whatever the table holds.
3. What the organisation itself uses (private, shared, special addresses, in any IPv6 disguise)
   is never blocked unless `allowPrivateSources` says so.
4. A write never removes an active block: after any interleaving of detections, manual blocks,
   unblocks and sweeps on threads, the WAF IP sets and the ACL window hold exactly the table's
   active rows, with no extra sweep.
5. An offense is recorded atomically: concurrent detections of one source count one offense.

The moto tests share one account (module scope) and reset it per example. Each AWS call runs
alone (`atomic_calls`), as AWS runs each API call atomically: moto's backends are not
thread-safe, and without this a simulated race inside one moto call would be a false alarm.
Threads interleave between calls in an order hypothesis draws (`Turns`), so a failing
interleaving is found again, and shrunk, whatever the machine's speed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.client
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from auto_block import waf_writer
from auto_block.allowlist import Allowlist
from auto_block.block_table import BLOCKS_PK, block_duration, load_blocks, record_block
from auto_block.blockable import (
    MAX_MIN_PREFIX,
    MIN_MIN_PREFIX,
    BlockPolicy,
    BlockRefused,
    parse_source,
    refusal,
    special_ranges,
)
from auto_block.model import Block, Detection, NaclWindow
from auto_block.nacl_writer import plan_nacl
from auto_block.service import AutoBlocker, RunReport
from auto_block.settings import AutoBlockSettings
from auto_block.waf_writer import UPDATE_PACER, plan_ip_set
from secauto_cli.embedded_account import EmbeddedAccount, embedded_account
from secauto_cli.seeds import seed_auto_block
from secauto_core.observability import metrics
from secauto_core.settings import RuntimeSettings

NOW = datetime(2026, 11, 24, 10, 7, 30, tzinfo=UTC)
FAST = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
#: Documentation ranges: not used on any wire, deliberately blockable (every sample names them).
DOCUMENTATION = [
    ipaddress.ip_network(cidr)
    for cidr in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
]


# --- the shared moto account ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_metrics_left() -> Iterator[None]:
    """Runs outside a handler add metrics nobody flushes: drop them, or the next handler
    invocation in this process would publish them as its own."""
    yield
    metrics.clear_metrics()


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[EmbeddedAccount, dict[str, str]]]:
    """A moto account as the replay seeds it: state table, VPC 10.0.0.0/16, an ACL with the deny
    window 1-10 before its allow-all rules, the two REGIONAL IP sets."""
    with embedded_account() as account:
        yield account, seed_auto_block(account)


@pytest.fixture(scope="module")
def atomic_calls() -> Iterator[AtomicCalls]:
    calls = AtomicCalls()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            botocore.client.BaseClient,
            "_make_api_call",
            calls.wrap(botocore.client.BaseClient._make_api_call),
        )
        patch.setattr(UPDATE_PACER, "interval", 0.0)  # WAF's one-update-per-second pacing
        patch.setattr(waf_writer, "_BACKOFF_BASE_SECONDS", 0.001)  # stale-token backoffs, shortened
        yield calls


class Turns:
    """A deterministic interleaving of registered threads, one AWS call at a time.

    A call waits until every registered thread is either waiting to make a call or finished;
    then the current pick says whose call goes. A pick (cycled) is (thread, burst): that thread
    (an index into the waiting ones, by number) makes up to `burst` calls in a row, so one run
    can overtake another by a whole table change and enforcement. The order of all calls is a
    function of `picks`, which hypothesis draws and shrinks: no interleaving depends on the
    machine's speed."""

    def __init__(self, threads: int, picks: list[tuple[int, int]]) -> None:
        self._cond = threading.Condition()
        self._running = set(range(threads))  # between calls (computing), not finished
        self._waiting: set[int] = set()
        self._picks = itertools.cycle(picks or [(0, 1)])
        self._turn: int | None = None
        self._favourite: int | None = None
        self._burst = 0

    def call(self, me: int, make: Any) -> Any:
        with self._cond:
            self._running.discard(me)
            self._waiting.add(me)
            self._choose()
            while self._turn != me:
                self._cond.wait()
            self._waiting.discard(me)
            self._running.add(me)
        try:
            return make()
        finally:
            with self._cond:
                self._turn = None
                self._choose()

    def finish(self, me: int) -> None:
        with self._cond:
            self._running.discard(me)
            self._choose()

    def _choose(self) -> None:
        if self._turn is None and not self._running and self._waiting:
            if self._favourite not in self._waiting or self._burst <= 0:
                index, self._burst = next(self._picks)
                waiting = sorted(self._waiting)
                self._favourite = waiting[index % len(waiting)]
            self._turn = self._favourite
            self._burst -= 1
        self._cond.notify_all()


class AtomicCalls:
    """Every AWS API call made while installed runs alone; threads registered with `turns` take
    their calls in the order `Turns` decides.

    moto raises `StopIteration` where EC2 answers `InvalidNetworkAclEntry.NotFound` (deleting or
    replacing an entry another writer removed first: shared/aws-facts.md); the error AWS gives is
    raised instead, so the writers meet what they would meet in AWS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self.turns: Turns | None = None

    @contextlib.contextmanager
    def thread(self, me: int) -> Iterator[None]:
        """Run the body as registered thread `me` of `turns`."""
        assert self.turns is not None
        self._local.me = me
        try:
            yield
        finally:
            self._local.me = None
            self.turns.finish(me)

    def wrap(self, call: Any) -> Any:
        def locked(client: Any, operation: str, params: dict[str, Any]) -> Any:
            with self._lock:
                try:
                    return call(client, operation, params)
                except StopIteration:
                    error = {"Code": "InvalidNetworkAclEntry.NotFound", "Message": "no such entry"}
                    raise ClientError({"Error": error}, operation) from None

        def atomic(client: Any, operation: str, params: dict[str, Any]) -> Any:
            me = getattr(self._local, "me", None)
            if self.turns is None or me is None:
                return locked(client, operation, params)
            return self.turns.call(me, lambda: locked(client, operation, params))

        return atomic


def reset(account: EmbeddedAccount, seeded_env: dict[str, str]) -> None:
    """An empty block table and counting windows, empty IP sets, an empty deny window."""
    dynamodb = account.client("dynamodb")
    for item in dynamodb.scan(TableName=account.state_table)["Items"]:
        if item["pk"]["S"].startswith("auto_block#"):
            dynamodb.delete_item(TableName=account.state_table, Key={"pk": item["pk"], "sk": item["sk"]})
    waf = account.client("wafv2")
    for ref in json.loads(seeded_env["SECAUTO_AUTO_BLOCK_WAF_IP_SETS"]):
        token = waf.get_ip_set(Name=ref["name"], Scope=ref["scope"], Id=ref["id"])["LockToken"]
        waf.update_ip_set(Name=ref["name"], Scope=ref["scope"], Id=ref["id"], Addresses=[], LockToken=token)
    ec2 = account.client("ec2")
    acl_id = json.loads(seeded_env["SECAUTO_AUTO_BLOCK_NETWORK_ACLS"])[0]["acl_id"]
    for number in window_entries(account, seeded_env):
        ec2.delete_network_acl_entry(NetworkAclId=acl_id, RuleNumber=number, Egress=False)
    metrics.clear_metrics()


def reset_table(account: EmbeddedAccount) -> None:
    """An empty block table (what only the table's own tests need: cheaper than `reset`)."""
    dynamodb = account.client("dynamodb")
    for block in table_rows(account):
        dynamodb.delete_item(
            TableName=account.state_table, Key={"pk": {"S": BLOCKS_PK}, "sk": {"S": block.key}}
        )


def block_settings(seeded_env: dict[str, str], **overrides: Any) -> AutoBlockSettings:
    base = AutoBlockSettings.from_environ(
        {
            **seeded_env,
            "SECAUTO_AUTO_BLOCK_ENFORCE": "true",
            "SECAUTO_AUTO_BLOCK_PORT_SCAN_PORTS": "10",
            "SECAUTO_AUTO_BLOCK_ALB_REQUESTS_PER_FILE": "100",
        }
    )
    return base.model_copy(update=overrides)


def blocker(account: EmbeddedAccount, settings_: AutoBlockSettings) -> AutoBlocker:
    """One invocation's service (a new one per run, as Lambda would)."""
    return AutoBlocker(
        settings=settings_,
        runtime=RuntimeSettings(state_table=account.state_table),
        account=account.account_id,
        region=account.region,
        notifier=None,
        importer=None,
        now=NOW,
    )


def waf_contents(account: EmbeddedAccount, seeded_env: dict[str, str]) -> set[str]:
    waf = account.client("wafv2")
    held: set[str] = set()
    for ref in json.loads(seeded_env["SECAUTO_AUTO_BLOCK_WAF_IP_SETS"]):
        addresses = waf.get_ip_set(Name=ref["name"], Scope=ref["scope"], Id=ref["id"])["IPSet"]["Addresses"]
        held.update(str(ipaddress.ip_network(address)) for address in addresses)
    return held


def window_entries(account: EmbeddedAccount, seeded_env: dict[str, str]) -> dict[int, str]:
    """The deny window's entries: rule number -> canonical network."""
    [window] = json.loads(seeded_env["SECAUTO_AUTO_BLOCK_NETWORK_ACLS"])
    rules = range(window["first_rule"], window["first_rule"] + window["size"])
    [acl] = account.client("ec2").describe_network_acls(NetworkAclIds=[window["acl_id"]])["NetworkAcls"]
    return {
        entry["RuleNumber"]: str(ipaddress.ip_network(entry.get("CidrBlock") or entry["Ipv6CidrBlock"]))
        for entry in acl["Entries"]
        if not entry["Egress"] and entry["RuleNumber"] in rules
    }


def table_rows(account: EmbeddedAccount) -> list[Block]:
    return load_blocks(account.state_table, client=account.client("dynamodb"))


# --- hostile sources ---------------------------------------------------------------------------------

V4 = st.builds(ipaddress.IPv4Address, st.integers(0, 2**32 - 1))
V6 = st.builds(ipaddress.IPv6Address, st.integers(0, 2**128 - 1))
PUBLIC_V4 = st.sampled_from(["198.51.100.", "203.0.113.", "11.22.33."]).flatmap(
    lambda base: st.integers(1, 254).map(lambda host: f"{base}{host}")
)
#: What a flow-log field, a GuardDuty remote address or an ALB client field may hold.
SOURCE_TEXT = st.one_of(
    PUBLIC_V4,
    st.builds(lambda host: f"2001:db8:bad::{host:x}", st.integers(1, 0xFFFF)),
    st.builds(lambda a, p: f"{a}/{p}", st.one_of(PUBLIC_V4, V4.map(str)), st.integers(0, 32)),
    st.builds(lambda a, p: f"{ipaddress.ip_network((a, p), strict=False)}", V6, st.integers(0, 128)),
    st.sampled_from(["0.0.0.0/0", "::/0", "0.0.0.0", "::", "10.0.0.0/8", "203.0.113.0/24", "fe80::1%eth0"]),
    V4.map(str),
    V4.map(lambda a: f"::ffff:{a}"),
    st.text(alphabet="0123456789abcdef.:/x-%", min_size=1, max_size=18),
)


def flow_records(sources: list[str]) -> list[str]:
    """A port scan (12 REJECTed ports of 10.0.2.30) from each source, default v2 format."""
    return [
        f"2 123456789012 eni-0d3a5b7c9e1f20436 {source} 10.0.2.30 {40000 + port} {port} 6 1 44 "
        f"1795514720 1795514780 REJECT OK"
        for source in sources
        for port in range(20, 32)
    ]


def guardduty_probe(sources: list[str]) -> dict[str, Any]:
    return {
        "id": "8ec9a3f2b1d04e7c96a5f0b2c1d3e4f5",
        "type": "Recon:EC2/PortProbeUnprotectedPort",
        "severity": 2,
        "service": {
            "action": {
                "actionType": "PORT_PROBE",
                "portProbeAction": {
                    "portProbeDetails": [
                        {"remoteIpDetails": {"ipAddressV6" if ":" in source else "ipAddressV4": source}}
                        for source in sources
                    ]
                },
            }
        },
    }


def alb_summary(sources: list[str]) -> str:
    clients = [{"client_ip": source, "count": 5000} for source in sources]
    return json.dumps(
        {"summary": {"key": "alb/x.log.gz", "load_balancers": ["app/shop"], "top_clients": clients}}
    )


# --- 1. only single addresses ------------------------------------------------------------------------


@settings(max_examples=12, **FAST)
@given(sources=st.lists(SOURCE_TEXT, min_size=1, max_size=5, unique=True), private=st.booleans())
def test_invariant_only_single_addresses_are_blocked(
    seeded: tuple[EmbeddedAccount, dict[str, str]],
    atomic_calls: AtomicCalls,
    sources: list[str],
    private: bool,
) -> None:
    """With no allowlist at all (the worst configuration), every automated input path, fed
    ranges, the whole internet, IPv4-mapped and scoped addresses and garbage, blocks single
    addresses only: in the table, the WAF IP sets and the ACL window."""
    account, seeded_env = seeded
    reset(account, seeded_env)
    config = block_settings(
        seeded_env,
        allow_own_vpcs=False,
        allow_cidrs=(),
        allow_private_sources=private,
        alb_top_talkers_enabled=True,
    )
    from auto_block.flowlogs import LogsSubscription

    payload = LogsSubscription(
        "DATA_MESSAGE", "/vpc/prod/flow-logs", "eni-all", account.account_id, flow_records(sources)
    )
    reports = [
        blocker(account, config).subscription(payload),
        blocker(account, config).guardduty(guardduty_probe(sources)),
        blocker(account, config).alb_summaries([alb_summary(sources)], trigger="ALB summaries"),
    ]

    rows = table_rows(account)
    for network in [row.network for row in rows] + [
        ipaddress.ip_network(n) for n in waf_contents(account, seeded_env)
    ]:
        assert network.num_addresses == 1, f"{network} blocked from {sources}"
    for network in window_entries(account, seeded_env).values():
        assert ipaddress.ip_network(network).num_addresses == 1, network
    # Not vacuous: each well-formed public single address was blocked by all three paths.
    policy = BlockPolicy(allow_private=private)
    public = {
        str(parse_source(s)) for s in sources if _single(s) and refusal(parse_source(s), policy) is None
    }
    event(f"public single addresses: {len(public)}, other sources: {len(sources) - len(public)}")
    assert {row.key for row in rows} == public
    for report in reports:
        assert {block.key for block in (*report.blocked, *report.extended)} == public, report.as_dict()
        assert all(row.reason for row in report.refused)


def _single(text: str) -> bool:
    try:
        parse_source(text)
    except ValueError:
        return False
    return True


# --- 2. never the internet, never wider than the minimum -----------------------------------------------

NETWORKS = st.one_of(
    st.builds(lambda a, p: ipaddress.ip_network((a, p), strict=False), V4, st.integers(0, 32)),
    st.builds(lambda a, p: ipaddress.ip_network((a, p), strict=False), V6, st.integers(0, 128)),
    st.sampled_from([ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]),
)
POLICIES = st.builds(
    BlockPolicy,
    min_prefix_v4=st.integers(MIN_MIN_PREFIX[4], MAX_MIN_PREFIX[4]),
    min_prefix_v6=st.integers(MIN_MIN_PREFIX[6], MAX_MIN_PREFIX[6]),
    allow_private=st.booleans(),
)


def block_of(network: Any, minutes_ago: int = 0) -> Block:
    at = NOW - timedelta(minutes=minutes_ago)
    return Block(network, "manual", "test", 50, at, at + timedelta(hours=1))


@settings(max_examples=300, deadline=None)
@given(table=st.lists(NETWORKS, max_size=12), policy=POLICIES)
def test_invariant_no_writer_writes_the_internet_or_a_range_wider_than_the_minimum(
    table: list[Any], policy: BlockPolicy
) -> None:
    """Whatever the block table holds (rows by hand, by an older version), neither writer's plan
    writes 0.0.0.0/0, ::/0 or a range wider than the minimum; each such row is reported."""
    desired = [block_of(network, minutes) for minutes, network in enumerate(table)]
    too_wide = {n for n in table if n.prefixlen == 0 or n.prefixlen < policy.min_prefix(n.version)}
    for version in ("IPV4", "IPV6"):
        plan = plan_ip_set(["0.0.0.0/0", "::/0"], desired, version, policy=policy)  # type: ignore[arg-type]
        written = {ipaddress.ip_network(address) for address in plan.addresses}
        assert not written & too_wide
        assert all(network.prefixlen >= policy.min_prefix(network.version) > 0 for network in written)
        assert {"0.0.0.0/0", "::/0"} & set(plan.removed)  # what an old version wrote is removed
        family = 6 if version == "IPV6" else 4
        assert {b.network for b, _ in plan.refused} >= {n for n in too_wide if n.version == family}
    nacl = plan_nacl([], NaclWindow("acl-1", first_rule=1, size=40, quota=40), desired, policy)
    created = {network for _, network in nacl.create}
    assert not created & too_wide
    assert {b.network for b, _ in nacl.refused} >= too_wide
    event(f"too wide: {bool(too_wide)}")


@settings(max_examples=30, **FAST)
@given(network=NETWORKS, policy=POLICIES, allow_range=st.booleans())
def test_invariant_the_table_never_records_the_internet_or_a_range_wider_than_the_minimum(
    seeded: tuple[EmbeddedAccount, dict[str, str]], network: Any, policy: BlockPolicy, allow_range: bool
) -> None:
    """`record_block` is the decision point: whatever the caller (a manual `--range` included),
    a refused network leaves no row, and a range needs `allow_range`."""
    account, seeded_env = seeded
    reset_table(account)
    config = block_settings(
        seeded_env,
        min_range_prefix_v4=policy.min_prefix_v4,
        min_range_prefix_v6=policy.min_prefix_v6,
        allow_private_sources=policy.allow_private,
    )
    detection = Detection(network, "manual", 100, "by hand")
    wider = network.prefixlen == 0 or network.prefixlen < policy.min_prefix(network.version)
    try:
        record_block(
            account.state_table, detection, config, NOW, allowlist=Allowlist(), allow_range=allow_range
        )
    except BlockRefused as refused:
        assert refused.reason
        assert table_rows(account) == []
        event("refused")
        return
    assert not wider and refusal(network, policy) is None
    assert allow_range or network.num_addresses == 1
    assert [row.network for row in table_rows(account)] == [network]


# --- 3. never what the organisation uses -------------------------------------------------------------


def _inside(network: Any) -> st.SearchStrategy[Any]:
    return st.integers(0, network.num_addresses - 1).map(lambda offset: network.network_address + offset)


SPECIAL_V4 = [special for special in special_ranges() if special.network.version == 4]
#: An address in a special range, and the special IPv4 ones in every IPv6 form that carries them.
SPECIAL_ADDRESSES = st.one_of(
    *(_inside(special.network).map(lambda a, s=special: (a, s.private)) for special in special_ranges()),
    st.sampled_from(SPECIAL_V4).flatmap(
        lambda s: _inside(s.network).flatmap(
            lambda a: st.sampled_from(
                [
                    ipaddress.IPv6Address(f"::ffff:{a}"),
                    ipaddress.IPv6Address((0x0064FF9B << 96) | int(a)),  # NAT64 64:ff9b::/96
                    ipaddress.IPv6Address((0x2002 << 112) | (int(a) << 80) | 1),  # 6to4
                    # Teredo: a public server (65.54.227.120), the client's address inverted.
                    ipaddress.IPv6Address((0x20010000 << 96) | (0x4136E378 << 64) | (~int(a) & 0xFFFFFFFF)),
                ]
            ).map(lambda form: (form, s.private))
        )
    ),
)


@settings(max_examples=300, deadline=None)
@given(candidate=SPECIAL_ADDRESSES, policy=POLICIES)
def test_invariant_private_and_special_sources_are_never_blocked(
    candidate: tuple[Any, bool], policy: BlockPolicy
) -> None:
    """Special addresses are refused by the table's rule and by both writers; private ones too
    unless `allowPrivateSources` (then only those); IPv6 disguises count as the IPv4 inside."""
    address, private = candidate
    network = ipaddress.ip_network(address)
    refused = refusal(network, policy)
    if private and policy.allow_private:
        event("private, allowed")
        return
    assert refused is not None, f"{address} would be blocked"
    for version in ("IPV4", "IPV6"):
        plan = plan_ip_set([], [block_of(network)], version, policy=policy)  # type: ignore[arg-type]
        assert plan.addresses == []
    nacl = plan_nacl([], NaclWindow("acl-1", first_rule=1, size=5), [block_of(network)], policy)
    assert nacl.create == [] and [b.network for b, _ in nacl.refused] == [network]
    with pytest.raises(BlockRefused):
        _record_without_aws(network, policy)


def _record_without_aws(network: Any, policy: BlockPolicy) -> None:
    """`record_block` refuses before it touches AWS (the client given would fail any call)."""
    config = AutoBlockSettings(
        min_range_prefix_v4=policy.min_prefix_v4,
        min_range_prefix_v6=policy.min_prefix_v6,
        allow_private_sources=policy.allow_private,
    )
    record_block(
        "unused",
        Detection(network, "port_scan", 70, "scan"),
        config,
        NOW,
        allowlist=Allowlist(),
        client=object(),
    )


@settings(max_examples=500, deadline=None)
@given(address=st.one_of(V4, V6))
def test_invariant_what_python_calls_non_global_is_refused_unless_documentation(address: Any) -> None:
    """A cross-check of the explicit table against `ipaddress`: an address Python does not call
    globally reachable (nor multicast) is refused, but for the documentation ranges (blockable
    on purpose) and IETF-assigned 2001::/23 blocks that are global in IANA's registry."""
    network = ipaddress.ip_network(address)
    if any(network.subnet_of(doc) for doc in DOCUMENTATION if doc.version == network.version):  # type: ignore[arg-type]
        return
    if isinstance(address, ipaddress.IPv6Address) and address in ipaddress.ip_network("2001::/23"):
        return  # Python 3.11 calls all of 2001::/23 private; IANA calls parts of it global
    inner = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    judged = inner or address
    if judged.is_global and not judged.is_multicast:
        return
    assert refusal(network) is not None, f"{address} (not global per ipaddress) would be blocked"


# --- 4. a write never removes an active block ------------------------------------------------------------

POOL = ["198.51.100.1", "198.51.100.2", "2001:db8::7", "203.0.113.9", "203.0.113.0/24"]
OPERATIONS = st.one_of(
    st.tuples(st.just("detect"), st.sampled_from(POOL[:4])),
    st.tuples(st.just("block"), st.sampled_from(POOL)),
    st.tuples(st.just("unblock"), st.sampled_from(POOL)),
    st.tuples(st.just("sweep"), st.just("")),
)


def run_operation(
    account: EmbeddedAccount, config: AutoBlockSettings, operation: tuple[str, str]
) -> RunReport:
    """One invocation: it changes the table (or not), then enforces, as every entry point does."""
    kind, source = operation
    service = blocker(account, config)
    if kind == "detect":
        return service.guardduty(guardduty_probe([source]))
    if kind == "block":
        network = ipaddress.ip_network(source)
        return service.block(network, duration=timedelta(hours=1), reason="by hand", allow_range=True)
    if kind == "unblock":
        return service.unblock(ipaddress.ip_network(source))
    return service.sweep()


@settings(max_examples=25, **FAST)
@given(
    schedule=st.lists(st.lists(OPERATIONS, min_size=1, max_size=3), min_size=2, max_size=3),
    # Whose AWS calls go next, and how many in a row, whenever several threads wait (cycled).
    picks=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 16)), min_size=1, max_size=30),
    preblocked=st.lists(st.sampled_from(POOL), max_size=3, unique=True),
)
def test_invariant_a_write_never_removes_an_active_block(
    seeded: tuple[EmbeddedAccount, dict[str, str]],
    atomic_calls: AtomicCalls,
    schedule: list[list[tuple[str, str]]],
    picks: list[tuple[int, int]],
    preblocked: list[str],
) -> None:
    """Threads run invocations concurrently (each: change the table, then enforce through the
    writers), their AWS calls interleaved as `picks` says. When all have finished, the IP sets
    and the ACL window hold exactly the table's active rows, with no extra sweep."""
    account, seeded_env = seeded
    reset(account, seeded_env)
    config = block_settings(seeded_env, allow_own_vpcs=False)  # (the allowlist is not at stake here)
    for source in preblocked:  # some blocks exist (and are enforced) before the race
        run_operation(account, config, ("block", source))
    reports: list[RunReport] = []
    failures: list[BaseException] = []

    def worker(me: int, operations: list[tuple[str, str]]) -> None:
        with atomic_calls.thread(me):
            try:
                for operation in operations:
                    reports.append(run_operation(account, config, operation))
            except BaseException as exc:  # surfaced below, with the schedule
                failures.append(exc)

    atomic_calls.turns = Turns(len(schedule), picks)
    threads = [threading.Thread(target=worker, args=(i, ops)) for i, ops in enumerate(schedule)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    atomic_calls.turns = None

    assert failures == []
    errors = [e for r in reports for e in r.errors if not e.endswith("is not blocked")]
    assert errors == [], errors
    active = {row.key for row in table_rows(account) if row.active(NOW)}
    event(f"active blocks at the end: {len(active)}")
    assert waf_contents(account, seeded_env) == active
    assert set(window_entries(account, seeded_env).values()) == active


# --- 5. an offense is recorded atomically --------------------------------------------------------------


@settings(max_examples=20, **FAST)
@given(
    racers=st.integers(2, 5),
    before=st.one_of(
        st.none(),
        st.tuples(st.integers(1, 3), st.sampled_from([-600, 0, 600])),  # offenses, expiry vs now (s)
    ),
    picks=st.lists(st.tuples(st.integers(0, 4), st.integers(1, 3)), min_size=1, max_size=20),
)
def test_invariant_an_offense_is_recorded_atomically(
    seeded: tuple[EmbeddedAccount, dict[str, str]],
    atomic_calls: AtomicCalls,
    racers: int,
    before: tuple[int, int] | None,
    picks: list[tuple[int, int]],
) -> None:
    """Concurrent detections of one source: exactly one new offense when it was not blocked
    (with the duration that offense earns), none when it was; the count never runs ahead."""
    account, seeded_env = seeded
    reset(account, seeded_env)
    config = block_settings(seeded_env)
    key = {"pk": {"S": BLOCKS_PK}, "sk": {"S": "198.51.100.45/32"}}
    prior_offenses, prior_expiry = 0, 0
    if before is not None:
        prior_offenses, shift = before
        prior_expiry = int(NOW.timestamp()) + shift
        item = {**key, "offenses": {"N": str(prior_offenses)}, "expires_at": {"N": str(prior_expiry)}}
        account.client("dynamodb").put_item(TableName=account.state_table, Item=item)
    detection = Detection(ipaddress.ip_network("198.51.100.45"), "guardduty", 20, "brute force")
    outcomes: list[Any] = []

    def racer(me: int) -> None:
        with atomic_calls.thread(me):
            outcomes.append(record_block(account.state_table, detection, config, NOW, allowlist=Allowlist()))

    atomic_calls.turns = Turns(racers, picks)
    threads = [threading.Thread(target=racer, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    atomic_calls.turns = None

    assert len(outcomes) == racers
    [row] = table_rows(account)
    was_active = prior_expiry > NOW.timestamp()
    new = [outcome for outcome in outcomes if outcome.new]
    event(f"was active: {was_active}")
    if was_active:
        assert new == [] and row.offenses == prior_offenses
        assert row.expires_at == max(
            datetime.fromtimestamp(prior_expiry, UTC), NOW + block_duration(prior_offenses, config)
        )
    else:
        assert len(new) == 1 and row.offenses == prior_offenses + 1
        assert row.expires_at == NOW + block_duration(prior_offenses + 1, config)
        assert new[0].block == row


# --- maxNewBlocksPerRun counts new blocks only -----------------------------------------------------------


def test_the_run_cap_counts_new_blocks_not_extensions(seeded: tuple[EmbeddedAccount, dict[str, str]]) -> None:
    account, seeded_env = seeded
    reset(account, seeded_env)
    capped = block_settings(seeded_env, max_new_blocks_per_run=2, allow_own_vpcs=False)
    sources = ["198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4", "198.51.100.5"]
    for source in sources[:2]:
        blocker(account, capped).guardduty(guardduty_probe([source]))  # already blocked: extended below

    dry = blocker(account, capped.model_copy(update={"enforce": False})).guardduty(guardduty_probe(sources))
    report = blocker(account, capped).guardduty(guardduty_probe(sources))

    assert {b.key for b in report.extended} == {"198.51.100.1/32", "198.51.100.2/32"}
    assert len(report.blocked) == 2 and len(report.deferred) == 1
    assert [d.source for d in dry.deferred] == [d.source for d in report.deferred]  # the dry run agrees
    assert len(dry.would_block) == 4
    assert {row.key for row in table_rows(account)} == {f"{s}/32" for s in sources} - {
        str(report.deferred[0].source)
    }


def test_rows_no_version_of_the_code_may_write_are_never_enforced_and_are_reported(
    seeded: tuple[EmbeddedAccount, dict[str, str]],
) -> None:
    """Rows written by hand or by an older version: the whole internet, a private range, garbage,
    host bits set. The sweeper writes none of them, removes what an old version wrote into WAF
    and the window, and says why; the one valid row is enforced."""
    account, seeded_env = seeded
    reset(account, seeded_env)
    until = str(int((NOW + timedelta(hours=1)).timestamp()))
    dynamodb = account.client("dynamodb")
    for key in ("0.0.0.0/0", "::/0", "10.0.0.0/8", "garbage", "203.0.113.7/24", "198.51.100.9/32"):
        item = {"pk": {"S": BLOCKS_PK}, "sk": {"S": key}, "expires_at": {"N": until}, "offenses": {"N": "1"}}
        dynamodb.put_item(TableName=account.state_table, Item=item)
    ec2 = account.client("ec2")
    acl_id = json.loads(seeded_env["SECAUTO_AUTO_BLOCK_NETWORK_ACLS"])[0]["acl_id"]
    ec2.create_network_acl_entry(  # what an old version wrote as deny rule 1
        NetworkAclId=acl_id,
        RuleNumber=1,
        Protocol="-1",
        RuleAction="deny",
        Egress=False,
        CidrBlock="0.0.0.0/0",
    )

    report = blocker(account, block_settings(seeded_env)).sweep()

    assert waf_contents(account, seeded_env) == {"198.51.100.9/32"}
    assert set(window_entries(account, seeded_env).values()) == {"198.51.100.9/32"}
    refused = {row.source: row.reason for row in report.refused}
    assert refused == {
        "0.0.0.0/0": "0.0.0.0/0 is the whole IPv4 internet",
        "::/0": "::/0 is the whole IPv6 internet",
        "10.0.0.0/8": "a /8 is wider than the widest IPv4 range allowed (/24, minRangePrefixV4)",
    }
    assert {row.by for row in report.refused} == {"block table"}
    assert report.errors == []
