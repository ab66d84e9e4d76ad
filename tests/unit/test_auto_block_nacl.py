"""The network ACL writer against moto: what the ACL actually holds after each call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from auto_block.model import Block, NaclWindow, as_network
from auto_block.nacl_writer import choose_blocks, ingress_entries, quota_room, reconcile_nacl

NOW = datetime(2026, 3, 15, 6, tzinfo=UTC)
REGION = "us-east-1"


@pytest.fixture(scope="module")
def _aws() -> Iterator[tuple[Any, str]]:
    """One moto account per module (EC2's first VPC costs a second): its EC2 client and a VPC
    with IPv6. Tests stay independent by each working on its own ACL."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
        }.items():
            patch.setenv(name, value)
        with mock_aws():
            client = boto3.client("ec2", region_name=REGION)
            vpc = client.create_vpc(CidrBlock="10.0.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
            yield client, vpc


@pytest.fixture
def ec2(_aws: tuple[Any, str]) -> Any:
    return _aws[0]


@pytest.fixture
def on(ec2: Any) -> Iterator[Callable[[str, Callable[..., Any]], None]]:
    """Registers a botocore event hook on the shared client for this test only."""
    registered: list[tuple[str, Callable[..., Any]]] = []

    def register(event: str, handler: Callable[..., Any]) -> None:
        registered.append((event, handler))
        ec2.meta.events.register(event, handler)

    yield register
    for event, handler in registered:
        ec2.meta.events.unregister(event, handler)


@pytest.fixture
def vpc(_aws: tuple[Any, str]) -> str:
    return _aws[1]


@pytest.fixture
def acl(ec2: Any, vpc: str) -> str:
    """A custom ACL laid out as we document: deny window from rule 10, allow rules from 100."""
    acl_id = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    add(ec2, acl_id, 100, "0.0.0.0/0", "allow")
    add(ec2, acl_id, 101, "::/0", "allow")
    add(ec2, acl_id, 100, "0.0.0.0/0", "allow", egress=True)
    return acl_id


def add(
    ec2: Any,
    acl_id: str,
    rule: int,
    cidr: str,
    action: str = "deny",
    *,
    egress: bool = False,
    protocol: str = "-1",
) -> None:
    field = "Ipv6CidrBlock" if ":" in cidr else "CidrBlock"
    ec2.create_network_acl_entry(
        NetworkAclId=acl_id,
        RuleNumber=rule,
        Protocol=protocol,
        RuleAction=action,
        Egress=egress,
        **{field: cidr},
    )


def raw_entries(ec2: Any, acl_id: str) -> list[dict[str, Any]]:
    return ec2.describe_network_acls(NetworkAclIds=[acl_id])["NetworkAcls"][0]["Entries"]


def ingress(ec2: Any, acl_id: str) -> dict[int, str]:
    """The ACL's ingress entries as {rule: "action cidr"} (with the protocol when not all)."""
    shown = {}
    for entry in raw_entries(ec2, acl_id):
        if not entry["Egress"]:
            cidr = entry.get("CidrBlock") or entry.get("Ipv6CidrBlock")
            protocol = "" if entry["Protocol"] == "-1" else f" proto {entry['Protocol']}"
            shown[entry["RuleNumber"]] = f"{entry['RuleAction']} {cidr}{protocol}"
    return dict(sorted(shown.items()))


def egress(ec2: Any, acl_id: str) -> list[dict[str, Any]]:
    return [entry for entry in raw_entries(ec2, acl_id) if entry["Egress"]]


def record_calls(on: Any) -> list[str]:
    """The operations the EC2 client calls from now on."""
    calls: list[str] = []
    on("before-parameter-build.ec2", lambda model, **_: calls.append(model.name))
    return calls


def block(network: str, *, minutes_ago: int = 0, severity: int = 50) -> Block:
    at = NOW - timedelta(minutes=minutes_ago)
    return Block(as_network(network), "port_scan", "test", severity, at, at + timedelta(hours=1))


ALLOWS = {100: "allow 0.0.0.0/0", 101: "allow ::/0"}


# --- creating, keeping, IPv6 -----------------------------------------------------------------------


def test_denies_are_created_at_the_lowest_free_numbers_and_nothing_else_changes(ec2, acl):
    window = NaclWindow(acl, first_rule=10, size=5)
    egress_before = egress(ec2, acl)
    desired = [
        block("203.0.113.7", minutes_ago=1),
        block("198.51.100.0/24", minutes_ago=2),
        block("2001:db8::1"),
    ]

    result = reconcile_nacl(ec2, window, desired)

    assert ingress(ec2, acl) == {
        10: "deny 2001:db8::1/128",
        11: "deny 203.0.113.7/32",
        12: "deny 198.51.100.0/24",
        **ALLOWS,
    }
    assert egress(ec2, acl) == egress_before
    assert sorted(result.created) == ["198.51.100.0/24", "2001:db8::1/128", "203.0.113.7/32"]
    assert (result.deleted, result.kept, result.evicted, result.errors, result.warnings) == (
        [],
        [],
        [],
        [],
        [],
    )
    v6 = next(e for e in raw_entries(ec2, acl) if e["RuleNumber"] == 10)
    assert "CidrBlock" not in v6 and v6["Ipv6CidrBlock"] == "2001:db8::1/128"


def test_a_second_run_with_the_same_blocks_only_reads_the_acl(ec2, acl, on):
    window = NaclWindow(acl, first_rule=10, size=5)
    desired = [block("203.0.113.7"), block("2001:db8::1")]
    reconcile_nacl(ec2, window, desired)
    calls = record_calls(on)

    again = reconcile_nacl(ec2, window, desired)

    assert calls == ["DescribeNetworkAcls"]
    assert (again.created, again.deleted, sorted(again.kept)) == (
        [],
        [],
        ["2001:db8::1/128", "203.0.113.7/32"],
    )


def test_ipv6_entries_compare_canonically(ec2, acl, on):
    add(ec2, acl, 10, "2001:DB8:0:0:0:0:0:1/128")  # as another tool (or WAF-style notation) wrote it
    calls = record_calls(on)

    result = reconcile_nacl(ec2, NaclWindow(acl, first_rule=10, size=5), [block("2001:db8::1")])

    assert calls == ["DescribeNetworkAcls"]
    assert result.kept == ["2001:db8::1/128"]
    assert ingress(ec2, acl) == {10: "deny 2001:DB8:0:0:0:0:0:1/128", **ALLOWS}


def test_expired_blocks_leave_the_window(ec2, acl):
    window = NaclWindow(acl, first_rule=10, size=5)
    reconcile_nacl(ec2, window, [block("203.0.113.7"), block("2001:db8::1")])

    result = reconcile_nacl(ec2, window, [])

    assert ingress(ec2, acl) == ALLOWS
    assert result.deleted == ["2001:db8::1/128", "203.0.113.7/32"]


# --- capacity ---------------------------------------------------------------------------------------


def test_a_full_window_keeps_the_newest_and_evicts_the_oldest(ec2, acl):
    window = NaclWindow(acl, first_rule=10, size=3)
    first = [block(f"192.0.2.{i}", minutes_ago=10 * i) for i in range(1, 5)]  # .1 newest, .4 oldest

    result = reconcile_nacl(ec2, window, first)

    assert ingress(ec2, acl) == {
        10: "deny 192.0.2.1/32",
        11: "deny 192.0.2.2/32",
        12: "deny 192.0.2.3/32",
        **ALLOWS,
    }
    assert [b.key for b in result.evicted] == ["192.0.2.4/32"]

    # A newer block arrives: the oldest in the window (.3) gives up its rule number.
    result = reconcile_nacl(ec2, window, [*first, block("198.51.100.9", minutes_ago=0)])

    assert ingress(ec2, acl) == {
        10: "deny 192.0.2.1/32",
        11: "deny 192.0.2.2/32",
        12: "deny 198.51.100.9/32",
        **ALLOWS,
    }
    assert (result.created, result.deleted) == (["198.51.100.9/32"], ["192.0.2.3/32"])
    assert [b.key for b in result.evicted] == ["192.0.2.3/32", "192.0.2.4/32"]


def test_quota_counts_each_familys_entries_outside_the_window_and_its_default_deny(ec2, vpc):
    acl_id = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    for rule in range(100, 115):  # 15 IPv4 rules of someone else's
        add(ec2, acl_id, rule, f"10.{rule}.0.0/16", "allow")
    add(ec2, acl_id, 200, "::/0", "allow")
    add(ec2, acl_id, 300, "0.0.0.0/0", "allow", egress=True)  # egress has its own quota
    window = NaclWindow(acl_id, first_rule=10, size=10, quota=20)

    # IPv4: 20 - 15 others - 1 default deny = 4; IPv6: 20 - 1 - 1 = 18 (the window caps it).
    assert quota_room(ingress_entries({"Entries": raw_entries(ec2, acl_id)}), window) == {4: 4, 6: 18}

    v4 = [block(f"192.0.2.{i}", minutes_ago=i) for i in range(1, 7)]
    v6 = [block("2001:db8::1", minutes_ago=3), block("2001:db8::2", minutes_ago=30)]
    result = reconcile_nacl(ec2, window, v4 + v6)

    window_rules = {rule: text for rule, text in ingress(ec2, acl_id).items() if rule in window.rule_numbers}
    assert sorted(window_rules.values()) == sorted(
        [f"deny 192.0.2.{i}/32" for i in range(1, 5)] + ["deny 2001:db8::1/128", "deny 2001:db8::2/128"]
    )
    assert sorted(b.key for b in result.evicted) == ["192.0.2.5/32", "192.0.2.6/32"]
    ipv4_rules = [e for e in raw_entries(ec2, acl_id) if not e["Egress"] and "CidrBlock" in e]
    assert len(ipv4_rules) + 1 == 20  # with the default deny AWS adds (moto omits it): at the quota


def test_a_listed_default_deny_is_not_counted_twice(ec2, vpc):
    default = ec2.describe_network_acls(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "default", "Values": ["true"]}]
    )
    acl = default["NetworkAcls"][0]
    assert {e["RuleNumber"] for e in acl["Entries"] if not e["Egress"]} == {100, 32767}
    window = NaclWindow(acl["NetworkAclId"], first_rule=10, size=50)
    assert quota_room(ingress_entries(acl), window) == {4: 18, 6: 19}


def test_choosing_blocks_respects_the_window_and_each_family():
    blocks = [
        block("192.0.2.1", minutes_ago=1),
        block("192.0.2.1", minutes_ago=9),
        block("2001:db8::1", minutes_ago=2),
    ]
    chosen, evicted = choose_blocks(blocks, size=5, room={4: 1, 6: 0})
    assert [b.key for b in chosen] == ["192.0.2.1/32"] and chosen[0].blocked_at == NOW - timedelta(minutes=1)
    assert [b.key for b in evicted] == ["2001:db8::1/128"]


# --- an ACL that disagrees with what we expected ---------------------------------------------------


def test_a_window_edited_by_hand_is_reconciled_and_entries_outside_it_are_untouched(ec2, acl):
    add(ec2, acl, 10, "192.0.2.99/32")  # a block that has since expired
    add(ec2, acl, 11, "203.0.113.7/32")  # wanted: stays as is
    add(ec2, acl, 12, "198.51.100.9/32", "allow")  # wanted network, but an allow
    add(ec2, acl, 13, "203.0.113.7/32")  # a duplicate
    add(ec2, acl, 14, "192.0.2.50/32", protocol="6")  # a tcp-only deny is not ours
    add(ec2, acl, 50, "8.8.8.8/32")  # someone's own deny outside the window
    add(ec2, acl, 10, "192.0.2.99/32", egress=True)  # egress shares the numbers, not the rules
    egress_before = egress(ec2, acl)
    desired = [
        block("203.0.113.7", minutes_ago=3),
        block("198.51.100.9", minutes_ago=1),
        block("2001:db8::7", minutes_ago=2),
    ]

    result = reconcile_nacl(ec2, NaclWindow(acl, first_rule=10, size=5), desired)

    assert ingress(ec2, acl) == {
        10: "deny 198.51.100.9/32",
        11: "deny 203.0.113.7/32",
        12: "deny 2001:db8::7/128",
        50: "deny 8.8.8.8/32",
        **ALLOWS,
    }
    assert egress(ec2, acl) == egress_before
    assert result.kept == ["203.0.113.7/32"]
    assert sorted(result.created) == ["198.51.100.9/32", "2001:db8::7/128"]
    # 203.0.113.7's duplicate and the allow for 198.51.100.9 were removed, yet both stay denied.
    assert result.deleted == ["192.0.2.50/32", "192.0.2.99/32"]
    assert result.errors == []


def test_entries_that_vanished_since_the_last_run_are_simply_recreated(ec2, acl):
    window = NaclWindow(acl, first_rule=10, size=5)
    reconcile_nacl(ec2, window, [block("203.0.113.7"), block("192.0.2.1", minutes_ago=5)])
    ec2.delete_network_acl_entry(NetworkAclId=acl, RuleNumber=10, Egress=False)  # by hand

    result = reconcile_nacl(ec2, window, [block("203.0.113.7"), block("192.0.2.1", minutes_ago=5)])

    assert ingress(ec2, acl) == {10: "deny 203.0.113.7/32", 11: "deny 192.0.2.1/32", **ALLOWS}
    assert (result.created, result.kept) == (["203.0.113.7/32"], ["192.0.2.1/32"])


def limit_exceeded() -> tuple[AWSResponse, dict[str, Any]]:
    return (
        AWSResponse(f"https://ec2.{REGION}.amazonaws.com/", 400, {}, None),
        {
            "Error": {"Code": "NetworkAclEntryLimitExceeded", "Message": "too many entries"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
    )


def test_a_failed_call_is_retried_by_the_next_round_and_the_other_changes_still_made(ec2, acl, on):
    add(ec2, acl, 10, "192.0.2.99/32")
    refusals = iter([limit_exceeded()])
    on("before-call.ec2.CreateNetworkAclEntry", lambda **_: next(refusals, None))

    result = reconcile_nacl(
        ec2,
        NaclWindow(acl, first_rule=10, size=5),
        [block("203.0.113.7", minutes_ago=1), block("2001:db8::1"), block("198.51.100.9", minutes_ago=2)],
    )

    # Round 1: rule 10 replaced, rule 11's create refused, rule 12 created; round 2 creates the
    # missing block at the free rule 11; round 3 finds nothing to change.
    assert ingress(ec2, acl) == {
        10: "deny 203.0.113.7/32",
        11: "deny 2001:db8::1/128",
        12: "deny 198.51.100.9/32",
        **ALLOWS,
    }
    assert (result.errors, result.rounds) == ([], 3)
    [recovered] = result.recovered
    assert "creating rule 11 for 2001:db8::1/128 failed: NetworkAclEntryLimitExceeded" in recovered
    assert sorted(result.created) == ["198.51.100.9/32", "2001:db8::1/128", "203.0.113.7/32"]


def test_a_call_that_keeps_failing_is_reported_and_the_other_changes_still_made(ec2, acl, on):
    def refuse_ipv6(params: dict[str, Any], **_: Any) -> Any:
        return limit_exceeded() if "Ipv6CidrBlock" in params.get("body", {}) else None

    on("before-call.ec2.CreateNetworkAclEntry", refuse_ipv6)

    result = reconcile_nacl(
        ec2,
        NaclWindow(acl, first_rule=10, size=5),
        [block("203.0.113.7", minutes_ago=1), block("2001:db8::1"), block("198.51.100.9", minutes_ago=2)],
        max_rounds=3,
    )

    assert ingress(ec2, acl) == {11: "deny 203.0.113.7/32", 12: "deny 198.51.100.9/32", **ALLOWS}
    # Every round tried the newest block at the free rule 10; the failure is said once.
    assert result.rounds == 3
    [error] = result.errors
    assert "creating rule 10 for 2001:db8::1/128 failed: NetworkAclEntryLimitExceeded" in error
    assert sorted(result.created) == ["198.51.100.9/32", "203.0.113.7/32"]


# --- order, dry run, configuration ------------------------------------------------------------------


def test_an_allow_all_before_the_window_is_warned_about(ec2, acl):
    result = reconcile_nacl(ec2, NaclWindow(acl, first_rule=200, size=5), [block("203.0.113.7")])
    assert len(result.warnings) == 2
    assert "ingress rule 100 allows 0.0.0.0/0 before the deny window" in result.warnings[0]
    assert "ingress rule 101 allows ::/0" in result.warnings[1]
    assert ingress(ec2, acl)[200] == "deny 203.0.113.7/32"  # still written: the warning is the point


def test_dry_run_reads_the_acl_and_changes_nothing(ec2, acl, on):
    add(ec2, acl, 10, "192.0.2.99/32")
    before = ingress(ec2, acl)
    calls = record_calls(on)

    plan = reconcile_nacl(ec2, NaclWindow(acl, first_rule=10, size=5), [block("203.0.113.7")], dry_run=True)

    assert calls == ["DescribeNetworkAcls"]
    assert ingress(ec2, acl) == before
    assert (plan.created, plan.deleted, plan.kept) == (["203.0.113.7/32"], ["192.0.2.99/32"], [])


@pytest.mark.parametrize("first_rule, size", [(0, 5), (32765, 5), (10, 0)])
def test_a_window_outside_the_usable_rule_numbers_is_refused(ec2, acl, first_rule, size):
    with pytest.raises(ValueError, match="not within rules 1-32766"):
        reconcile_nacl(ec2, NaclWindow(acl, first_rule=first_rule, size=size), [])


def test_a_missing_acl_raises(ec2):
    with pytest.raises(ec2.exceptions.ClientError):
        reconcile_nacl(ec2, NaclWindow("acl-0123456789abcdef0", first_rule=10, size=5), [])
