"""Auto-blocking end to end against moto: flow-log files from S3 and CloudWatch Logs subscription
batches -> counts per source and window (DynamoDB) -> detections -> allowlist -> the block table
-> the WAF IP sets and the network ACL window; GuardDuty findings; the sweeper; notifications.

The account is seeded as `secauto replay` seeds it (`seed_auto_block`: VPC 10.0.0.0/16, a network
ACL with the deny window 1-10 before its allow-all rules 200/201, the two REGIONAL IP sets, the
sample flow-log object), once per module, and emptied before each test. The service's clock is
frozen (`clock`), so windows and block expiry are deterministic; WAF's update pacing is off (it
only spaces real calls one second apart).

What the sample flow-log file holds is listed in events/auto_block/expectations.toml.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from auto_block.block_table import load_blocks
from auto_block.waf_writer import UPDATE_PACER
from secauto_cli.embedded_account import EmbeddedAccount, embedded_account
from secauto_cli.environment import environment
from secauto_cli.seeds import FLOW_LOG_SOURCES, NACL_ALLOW_RULES, seed_auto_block
from secauto_cli.slack_capture import SlackCapture
from secauto_core.idempotency import reset_store
from secauto_core.notifier import reset_secret_cache
from secauto_core.settings import forget_settings

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

CAPABILITY = "auto_block"
EVENTS = FLOW_LOG_SOURCES.parent
#: The thresholds the sample files are made for (events/replay_context.toml sets the same).
SETTINGS = {
    "SECAUTO_AUTO_BLOCK_PORT_SCAN_PORTS": "10",
    "SECAUTO_AUTO_BLOCK_HOST_SWEEP_HOSTS": "10",
    "SECAUTO_AUTO_BLOCK_REJECT_FLOOD_REJECTS": "30",
    "SECAUTO_AUTO_BLOCK_ALLOW_CIDRS": '["192.0.2.192/27"]',
}
#: Just after the sample file's five minutes (10:00-10:05); the window is 10:05-10:10.
T0 = datetime(2026, 11, 24, 10, 7, 30, tzinfo=UTC)

#: What the sample flow-log file makes: blocked sources and their detectors.
FILE_BLOCKS = {
    "203.0.113.7/32": "port_scan",
    "198.51.100.23/32": "host_sweep",
    "203.0.113.50/32": "reject_flood",
    "2001:db8:bad:1::7/128": "port_scan",
    "198.51.100.77/32": "port_scan",  # pkt-srcaddr behind the load balancer's interface 10.0.0.12
}
FILE_ALLOWLISTED = {"192.0.2.200/32": "192.0.2.192/27", "10.0.3.44/32": "10.0.0.0/16"}
IPV4_BLOCKS = ["198.51.100.23/32", "198.51.100.77/32", "203.0.113.7/32", "203.0.113.50/32"]
IPV6_BLOCKS = ["2001:db8:bad:1::7/128"]

#: The records inside events/auto_block/flow_logs_subscription.json (default v2 format), readable.
ENI = "eni-0d3a5b7c9e1f20436"
SUBSCRIPTION_MESSAGES = [
    f"2 123456789012 {ENI} 10.0.2.30 192.0.2.44 443 51514 6 16 40112 1795514701 1795514761 ACCEPT OK",
    f"2 123456789012 {ENI} 192.0.2.44 10.0.2.30 51514 443 6 18 7311 1795514701 1795514761 ACCEPT OK",
    *(
        f"2 123456789012 {ENI} 203.0.113.66 10.0.2.30 {47000 + i} {port} 6 1 44 "
        f"{1795514720 + i} {1795514780 + i} {'ACCEPT' if port in (22, 443) else 'REJECT'} OK"
        for i, port in enumerate([22, 23, 80, 443, 445, 1433, 3306, 3389, 5432, 5900, 6379, 8080])
    ),
    f"2 123456789012 {ENI} 10.0.2.30 192.0.2.45 443 60211 6 8 15877 1795514744 1795514804 ACCEPT OK",
    f"2 123456789012 {ENI} 192.0.2.45 10.0.2.30 60211 443 6 9 2210 1795514744 1795514804 ACCEPT OK",
    f"2 123456789012 {ENI} - - - - - - - 1795514761 1795514821 - NODATA",
]

Invoke = Callable[[str, Any], Any]


class FrozenClock(datetime):
    """The service's `datetime`: `now()` is `current`, moved by the tests."""

    current: ClassVar[datetime] = T0

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return cls.current


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> type[FrozenClock]:
    monkeypatch.setattr(FrozenClock, "current", T0)
    monkeypatch.setattr("auto_block.service.datetime", FrozenClock)
    monkeypatch.setattr(UPDATE_PACER, "interval", 0.0)
    return FrozenClock


# --- helpers ----------------------------------------------------------------------------------------


def load(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    return event


def v2(src: str, dst: str, port: int | str, action: str = "REJECT", *, sport: int = 40000) -> str:
    """A default-format (v2) record."""
    return f"2 123456789012 {ENI} {src} {dst} {sport} {port} 6 1 44 1795514720 1795514780 {action} OK"


def subscription(messages: list[str], *, message_type: str = "DATA_MESSAGE") -> dict[str, Any]:
    """A CloudWatch Logs subscription event: `awslogs.data` = base64(gzip(JSON))."""
    payload = {
        "messageType": message_type,
        "owner": "123456789012",
        "logGroup": "/vpc/prod/flow-logs",
        "logStream": f"{ENI}-all",
        "subscriptionFilters": ["secauto-auto-block"],
        "logEvents": [
            {"id": str(37000000000000 + i), "timestamp": 1795514780000 + i, "message": message}
            for i, message in enumerate(messages)
        ],
    }
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()}}


def decoded(event: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))
    return payload


def scan(source: str, ports: range | list[int], dst: str = "10.0.2.30") -> list[str]:
    return [v2(source, dst, port, sport=41000 + i) for i, port in enumerate(ports)]


def new_version(event: dict[str, Any], etag: str) -> dict[str, Any]:
    """The same S3 key written again (a new object version: another etag)."""
    changed = copy.deepcopy(event)
    changed["detail"]["object"]["etag"] = etag
    changed["id"] = f"{changed['id'][:-4]}{etag[-4:]}"
    return changed


@dataclass
class BlockingAccount:
    account: Any
    environment: dict[str, str]

    @property
    def ip_sets(self) -> list[dict[str, str]]:
        refs: list[dict[str, str]] = json.loads(self.environment["SECAUTO_AUTO_BLOCK_WAF_IP_SETS"])
        return refs

    @property
    def acl_id(self) -> str:
        [window] = json.loads(self.environment["SECAUTO_AUTO_BLOCK_NETWORK_ACLS"])
        return str(window["acl_id"])

    def addresses(self, ip_version: str) -> list[str]:
        [ref] = [ref for ref in self.ip_sets if ref["ip_version"] == ip_version]
        ip_set = self.account.client("wafv2").get_ip_set(Name=ref["name"], Scope=ref["scope"], Id=ref["id"])
        return sorted(ip_set["IPSet"]["Addresses"], key=_by_address)

    def ingress(self) -> dict[int, str]:
        """Every ingress entry of the ACL: rule number -> "deny 203.0.113.7/32"."""
        [acl] = self.account.client("ec2").describe_network_acls(NetworkAclIds=[self.acl_id])["NetworkAcls"]
        return {
            entry[
                "RuleNumber"
            ]: f"{entry['RuleAction']} {entry.get('CidrBlock') or entry.get('Ipv6CidrBlock')}"
            for entry in acl["Entries"]
            if not entry["Egress"]
        }

    def window(self) -> dict[int, str]:
        return {number: entry for number, entry in self.ingress().items() if 1 <= number <= 10}

    def blocks(self) -> dict[str, Any]:
        rows = load_blocks(self.account.state_table, client=self.account.client("dynamodb"))
        return {block.key: block for block in rows}

    def items(self, prefix: str) -> list[dict[str, Any]]:
        items = self.account.client("dynamodb").scan(TableName=self.account.state_table)["Items"]
        return [item for item in items if item["pk"]["S"].startswith(prefix)]


def _by_address(cidr: str) -> tuple[int, int]:
    import ipaddress

    network = ipaddress.ip_network(cidr)
    return network.version, int(network.network_address)


ALLOW_RULES = {number: f"allow {cidr}" for number, cidr in NACL_ALLOW_RULES.items()}


@pytest.fixture(scope="module")
def seeded_account(slack_server: SlackCapture) -> Iterator[tuple[EmbeddedAccount, dict[str, str]]]:
    """One seeded account for the module (moto's EC2 and the AWS clients are slow to start);
    `blocking` empties it before each test."""
    with embedded_account(
        slack_url=slack_server.url,
        extra_environment={
            "SECAUTO_CAPABILITY": CAPABILITY,
            "POWERTOOLS_SERVICE_NAME": f"secauto-{CAPABILITY}",
            "SECAUTO_SECURITYHUB_RETRY_BASE_SECONDS": "0.01",
        },
    ) as account:
        yield account, seed_auto_block(account)


def _empty(target: BlockingAccount) -> None:
    """Back to the freshly seeded state: no rows, no blocks in WAF or the ACL window, no messages."""
    account = target.account
    dynamodb = account.client("dynamodb")
    for table, keys in ((account.state_table, ("pk", "sk")), (account.idempotency_table, ("id",))):
        for item in dynamodb.scan(TableName=table)["Items"]:
            dynamodb.delete_item(TableName=table, Key={key: item[key] for key in keys})
    waf = account.client("wafv2")
    for ref in target.ip_sets:
        token = waf.get_ip_set(Name=ref["name"], Scope=ref["scope"], Id=ref["id"])["LockToken"]
        waf.update_ip_set(Name=ref["name"], Scope=ref["scope"], Id=ref["id"], Addresses=[], LockToken=token)
    ec2 = account.client("ec2")
    for number in target.window():
        ec2.delete_network_acl_entry(NetworkAclId=target.acl_id, RuleNumber=number, Egress=False)
    account.sns_messages()
    account.dlq_messages()
    account.new_securityhub_findings()


def another_environment() -> None:
    """The next event is handled by another (cold) Lambda environment of the function: nothing
    cached in the process survives (the AWS clients are kept: they only cost time to make).

    Needed between events of different sources until one warm environment can handle them all
    (see `test_one_warm_process_handles_a_file_then_a_subscription`).
    """
    forget_settings()
    reset_store()
    reset_secret_cache()


@pytest.fixture
def blocking(seeded_account: tuple[EmbeddedAccount, dict[str, str]]) -> Callable[..., Any]:
    """`with blocking(enforce=True, **env) as target:` the seeded account, emptied, with the
    auto-block settings of the test."""
    account, seeded = seeded_account

    @contextmanager
    def open_account(*, enforce: bool = True, **overrides: str) -> Iterator[BlockingAccount]:
        variables = {**SETTINGS, "SECAUTO_AUTO_BLOCK_ENFORCE": json.dumps(enforce), **overrides, **seeded}
        target = BlockingAccount(account, variables)
        _empty(target)
        with environment(variables):
            another_environment()
            try:
                yield target
            finally:
                another_environment()

    return open_account


def sources(rows: list[dict[str, Any]]) -> dict[str, str]:
    return {row["source"]: row["detector"] for row in rows}


def slack_titles(slack: Any) -> list[str]:
    titles = []
    for payload in slack.received():
        header = [b for b in payload.get("blocks", []) if b.get("type") == "header"]
        titles.append(header[0]["text"]["text"] if header else payload.get("text", ""))
    return titles


# --- the sample flow-log file ------------------------------------------------------------------------


def test_flow_log_file_blocks_each_detector_and_spares_the_allowlist(
    blocking: Callable[..., Any], invoke: Invoke, slack: Any
) -> None:
    with blocking() as target:
        invocation = invoke(CAPABILITY, load("flow_log_file_delivered"))
        result = invocation.result
        # 128 records: 126 counted (12 of them egress, skipped), one NODATA, one SKIPDATA.
        assert (result["status"], result["records"], result["bad_records"]) == ("enforced", 126, 0)
        assert (result["nodata"], result["skipdata"]) == (1, 1)
        assert sources(result["blocked"]) == FILE_BLOCKS
        assert {row["source"]: row["allowed_by"] for row in result["allowlisted"]} == FILE_ALLOWLISTED
        detected = {row["source"] for row in result["detections"]}
        assert detected == set(FILE_BLOCKS) | set(FILE_ALLOWLISTED)
        # Benign clients, the egress responses of 10.0.1.17 (ephemeral destination ports) and the
        # load balancer's interface address (srcaddr behind pkt-srcaddr) are never even detected.
        for spared in (
            "192.0.2.10/32",
            "192.0.2.11/32",
            "2001:db8:4a7f::1c2/128",
            "10.0.1.17/32",
            "10.0.0.12/32",
        ):
            assert spared not in detected
        reasons = {row["source"]: row["reason"] for row in result["blocked"]}
        assert reasons["203.0.113.7/32"].startswith("port scan: 14 destination ports")
        assert reasons["198.51.100.23/32"].startswith("host sweep: 12 destination addresses")
        assert reasons["203.0.113.50/32"].startswith("reject flood: 35 rejected flows")
        assert reasons["198.51.100.77/32"].startswith("port scan: 11 destination ports")
        assert result["active_blocks"] == 5 and result["errors"] == []

        # What is enforced: the IP sets and the ACL window hold exactly the blocks.
        assert target.addresses("IPV4") == IPV4_BLOCKS
        assert target.addresses("IPV6") == IPV6_BLOCKS
        assert sorted(target.window().values()) == sorted(f"deny {cidr}" for cidr in FILE_BLOCKS)
        assert set(target.window()) == {1, 2, 3, 4, 5}
        assert {n: e for n, e in target.ingress().items() if n > 10} == ALLOW_RULES  # untouched
        blocks = target.blocks()
        assert set(blocks) == set(FILE_BLOCKS)
        assert all(b.expires_at == T0.replace(microsecond=0) + timedelta(minutes=60) for b in blocks.values())
        assert all(b.offenses == 1 for b in blocks.values())

    assert invocation.metrics["SourcesBlocked"] == 5
    assert invocation.metrics["FlowLogRecords"] == 126


def test_dry_run_changes_nothing_but_reports_what_it_would_block(
    blocking: Callable[..., Any], invoke: Invoke, slack: Any
) -> None:
    with blocking(enforce=False) as target:
        result = invoke(CAPABILITY, load("flow_log_file_delivered")).result
        assert result["status"] == "dry run"
        assert set(result["would_block"]) == set(FILE_BLOCKS)
        assert result["blocked"] == [] and result["extended"] == []
        assert {row["source"] for row in result["allowlisted"]} == set(FILE_ALLOWLISTED)
        assert target.addresses("IPV4") == [] and target.addresses("IPV6") == []
        assert target.ingress() == ALLOW_RULES
        assert target.blocks() == {}
        assert target.items("auto_block#blocks") == []
        # Only the counting windows are written (detection needs them, dry run or not).
        assert {item["pk"]["S"].split("#")[1] for item in target.items("auto_block#")} == {"window"}
        assert target.account.new_securityhub_findings() == []
        [message] = target.account.sns_messages()
    assert "5 source(s) would be blocked (dry run)" in message["subject"]
    assert slack_titles(slack) == ["[MEDIUM] Auto-block: 5 source(s) would be blocked (dry run)"]


def test_new_blocks_are_announced_once_and_each_gets_a_finding(
    blocking: Callable[..., Any], invoke: Invoke, slack: Any, clock: type[FrozenClock]
) -> None:
    # Security Hub keeps the findings of earlier tests (same Id per source): a day later, their
    # UpdatedAt is new, so they count as imported by this test.
    clock.current = T0 + timedelta(days=1)
    with blocking() as target:
        invoke(CAPABILITY, load("flow_log_file_delivered"))
        [message] = target.account.sns_messages()
        findings = target.account.new_securityhub_findings()
    assert message["attributes"]["capability"] == "auto_block"
    assert message["attributes"]["severity"] == "HIGH"
    assert "5 source(s) blocked" in message["subject"]
    for cidr in FILE_BLOCKS:
        assert f"blocked {cidr}" in message["message"]
    assert "allowlisted 192.0.2.200/32" in message["message"]
    assert slack_titles(slack) == ["[HIGH] Auto-block: 5 source(s) blocked"]
    by_source = {f["Resources"][0]["Id"].removeprefix("source/"): f for f in findings}
    assert set(by_source) == set(FILE_BLOCKS)
    scan_finding = by_source["203.0.113.7/32"]
    assert scan_finding["ProductFields"]["secauto/detector"] == "port_scan"
    assert scan_finding["Network"]["SourceIpV4"] == "203.0.113.7"
    assert scan_finding["Types"] == ["TTPs/Discovery/Recon"]
    assert by_source["203.0.113.50/32"]["Severity"]["Label"] == "MEDIUM"  # a flood ranks below scans


def test_skipdata_is_counted_with_a_metric_and_a_warning(
    blocking: Callable[..., Any], invoke: Invoke, slack: Any
) -> None:
    with blocking(enforce=False):
        invocation = invoke(CAPABILITY, load("flow_log_file_delivered"))
    assert invocation.result["skipdata"] == 1
    assert invocation.metrics["FlowLogSkipDataRecords"] == 1
    assert "Flow-log records were lost (SKIPDATA)" in invocation.log_messages("WARNING")
    assert "FlowLogBadRecords" not in invocation.metrics


def test_redelivered_file_event_is_a_duplicate_and_nothing_is_counted_twice(
    blocking: Callable[..., Any], invoke: Invoke, slack: Any
) -> None:
    event = load("flow_log_file_delivered")
    with blocking() as target:
        invoke(CAPABILITY, event)
        windows = target.items("auto_block#window#")
        first_slack = slack.received()
        target.account.new_securityhub_findings()
        target.account.sns_messages()
        again = invoke(CAPABILITY, event).result
        assert again["duplicate"] is True
        assert target.items("auto_block#window#") == windows  # no count added twice
        assert target.addresses("IPV4") == IPV4_BLOCKS and target.addresses("IPV6") == IPV6_BLOCKS
        assert all(b.offenses == 1 for b in target.blocks().values())
        assert target.account.new_securityhub_findings() == [] and target.account.sns_messages() == []
    assert len(first_slack) == 1 and slack.received() == []
    flood = next(w for w in windows if w["sk"]["S"] == "203.0.113.50")
    assert flood["rejects"]["N"] == "35"


def test_a_missing_object_is_skipped(blocking: Callable[..., Any], invoke: Invoke, slack: Any) -> None:
    event = load("flow_log_file_delivered")
    event["detail"]["object"]["key"] = event["detail"]["object"]["key"].replace("3f9c1a2b", "00000000")
    with blocking() as target:
        result = invoke(CAPABILITY, event).result
        assert (result["status"], result["reason"]) == ("skipped", "object no longer exists")
        assert target.addresses("IPV4") == []


# --- CloudWatch Logs subscriptions ------------------------------------------------------------------


def test_the_sample_subscription_holds_the_documented_records() -> None:
    payload = decoded(load("flow_logs_subscription"))
    assert (payload["messageType"], payload["logGroup"], payload["owner"]) == (
        "DATA_MESSAGE",
        "/vpc/prod/flow-logs",
        "123456789012",
    )
    assert [item["message"] for item in payload["logEvents"]] == SUBSCRIPTION_MESSAGES
    control = decoded(load("flow_logs_subscription_control_message"))
    assert control["messageType"] == "CONTROL_MESSAGE"


def test_sample_subscription_blocks_its_scanner(
    blocking: Callable[..., Any], invoke: Invoke, slack: Any
) -> None:
    with blocking() as target:
        result = invoke(CAPABILITY, load("flow_logs_subscription")).result
        assert result["trigger"] == "flow logs from /vpc/prod/flow-logs"
        assert (result["records"], result["nodata"], result["bad_records"]) == (16, 1, 0)
        assert sources(result["blocked"]) == {"203.0.113.66/32": "port_scan"}
        assert target.addresses("IPV4") == ["203.0.113.66/32"]
        assert target.window() == {1: "deny 203.0.113.66/32"}


def test_control_message_is_skipped(blocking: Callable[..., Any], invoke: Invoke, slack: Any) -> None:
    with blocking() as target:
        result = invoke(CAPABILITY, load("flow_logs_subscription_control_message")).result
        assert result["status"] == "skipped" and result["reason"].startswith("CONTROL_MESSAGE")
        assert target.items("auto_block#") == [] and target.account.dlq_messages() == []


def test_benign_traffic_blocks_nothing(blocking: Callable[..., Any], invoke: Invoke, slack: Any) -> None:
    clients = [
        v2(f"192.0.2.{n}", f"10.0.2.{30 + n % 2}", 443, "ACCEPT", sport=50000 + n) for n in range(40, 60)
    ]
    with blocking() as target:
        invocation = invoke(CAPABILITY, subscription(clients))
        result = invocation.result
        assert (result["records"], result["candidates"], result["detections"]) == (20, 0, [])
        assert target.items("auto_block#") == []  # not even a candidate: nothing written
        assert target.addresses("IPV4") == []
    assert slack.received() == []


def test_counting_spans_invocations(blocking: Callable[..., Any], invoke: Invoke, slack: Any) -> None:
    """Each batch alone is below the 10-port threshold; together, in one window, above it."""
    with blocking() as target:
        first = invoke(CAPABILITY, subscription(scan("203.0.113.66", [21, 22, 23, 25, 80, 110]))).result
        assert first["detections"] == [] and first["blocked"] == []
        assert target.addresses("IPV4") == []
        # The second batch repeats port 80 (counted once) and adds five more: 11 distinct ports.
        second = invoke(
            CAPABILITY, subscription(scan("203.0.113.66", [80, 443, 445, 3306, 3389, 8080]))
        ).result
        assert sources(second["blocked"]) == {"203.0.113.66/32": "port_scan"}
        assert second["blocked"][0]["reason"].startswith("port scan: 11 destination ports")
        assert target.addresses("IPV4") == ["203.0.113.66/32"]


def test_counts_from_a_file_and_a_subscription_add_up(
    blocking: Callable[..., Any], invoke: Invoke, slack: Any
) -> None:
    """Six ports in a flow-log file (custom format, by header), six more in a subscription batch
    (default format): one source, one window, 12 distinct ports."""
    header = "version srcaddr dstaddr srcport dstport protocol start end action log-status flow-direction"
    records = [
        f"5 198.51.100.90 10.0.1.17 {42000 + i} {port} 6 1795514420 1795514480 REJECT OK ingress"
        for i, port in enumerate([21, 22, 23, 25, 53, 80])
    ]
    event = load("flow_log_file_delivered")
    event["detail"]["object"]["key"] = event["detail"]["object"]["key"].replace("3f9c1a2b", "7d1e5a90")
    with blocking() as target:
        target.account.client("s3").put_object(
            Bucket=event["detail"]["bucket"]["name"],
            Key=event["detail"]["object"]["key"],
            Body=gzip.compress("\n".join([header, *records]).encode()),
        )
        from_file = invoke(CAPABILITY, event).result
        assert (from_file["records"], from_file["candidates"], from_file["blocked"]) == (6, 1, [])
        another_environment()
        batch = scan("198.51.100.90", [110, 143, 443, 445, 3389, 8080], dst="10.0.1.17")
        result = invoke(CAPABILITY, subscription(batch)).result
        assert sources(result["blocked"]) == {"198.51.100.90/32": "port_scan"}
        assert result["blocked"][0]["reason"].startswith("port scan: 12 destination ports")
        assert target.addresses("IPV4") == ["198.51.100.90/32"]


def test_an_active_block_is_extended_not_doubled(
    blocking: Callable[..., Any], invoke: Invoke, slack: Any, clock: type[FrozenClock]
) -> None:
    with blocking() as target:
        invoke(CAPABILITY, load("flow_log_file_delivered"))
        slack.received()
        another_environment()
        clock.current = T0 + timedelta(minutes=10)  # the next window
        result = invoke(CAPABILITY, subscription(scan("203.0.113.7", range(1000, 1012)))).result
        assert result["blocked"] == []
        [extended] = result["extended"]
        assert extended["source"] == "203.0.113.7/32" and extended["offenses"] == 1
        assert extended["until"] == (T0 + timedelta(minutes=70)).replace(microsecond=0).isoformat()
        assert target.addresses("IPV4") == IPV4_BLOCKS
        assert len(target.window()) == 5
    assert slack.received() == []  # nothing new to tell


def test_thresholds_above_the_count_cap_are_refused() -> None:
    """Counts stop at COUNT_CAP (256) per source and window, so a higher threshold could never fire."""
    from auto_block.settings import AutoBlockSettings

    with pytest.raises(ValueError, match="less than or equal to 256"):
        AutoBlockSettings(port_scan_ports=300)


def test_malformed_records_are_counted_and_skipped(
    blocking: Callable[..., Any], invoke: Invoke, slack: Any
) -> None:
    messages = [
        *scan("203.0.113.66", range(20, 32)),
        "2 123456789012 eni-0d3a5b7c9e1f20436 203.0.113.66 10.0.2.30",  # truncated
        v2("203.0.113.67", "10.0.2.30", 22) + " unexpected-extra-field",
        v2("203.0.113.68", "10.0.2.30", 22).replace(" OK", " BOGUS"),  # unknown log-status
    ]
    with blocking() as target:
        invocation = invoke(CAPABILITY, subscription(messages))
        result = invocation.result
        assert (result["records"], result["bad_records"]) == (12, 3)
        assert sources(result["blocked"]) == {"203.0.113.66/32": "port_scan"}
        assert target.addresses("IPV4") == ["203.0.113.66/32"]
    assert invocation.metrics["FlowLogBadRecords"] == 3
    [warning] = [r for r in invocation.logs if r["message"] == "Unparseable flow-log records skipped"]
    assert warning["bad_records"] == 3
    assert any("5 fields, the format has 14" in sample for sample in warning["samples"])


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("not base64 at all!", id="bad-base64"),
        pytest.param(base64.b64encode(b"plain, not gzip").decode(), id="not-gzip"),
        pytest.param(base64.b64encode(gzip.compress(b"{not json")).decode(), id="bad-json"),
        pytest.param(base64.b64encode(gzip.compress(b'{"logEvents": []}')).decode(), id="no-message-type"),
        pytest.param(
            base64.b64encode(
                gzip.compress(b'{"messageType": "DATA_MESSAGE", "logEvents": [{"id": "1"}]}')
            ).decode(),
            id="event-without-message",
        ),
    ],
)
def test_malformed_subscription_payload_is_rejected_and_parked(
    blocking: Callable[..., Any], invoke: Invoke, slack: Any, data: str
) -> None:
    event = {"awslogs": {"data": data}}
    with blocking() as target:
        result = invoke(CAPABILITY, event).result
        assert result["status"] == "rejected"
        assert result["reason"].startswith("not a CloudWatch Logs subscription payload")
        [parked] = target.account.dlq_messages()
        assert target.items("auto_block#") == []
    assert json.dumps(event) in json.dumps(parked)


def test_unknown_event_is_rejected_and_parked(
    blocking: Callable[..., Any], invoke: Invoke, slack: Any
) -> None:
    with blocking() as target:
        result = invoke(CAPABILITY, {"id": "x", "detail": "not an object"}).result
        assert result["status"] == "rejected"
        assert len(target.account.dlq_messages()) == 1


# --- the sweeper and escalation ----------------------------------------------------------------------


def test_sweeper_lifts_expired_blocks_only(
    blocking: Callable[..., Any], invoke: Invoke, slack: Any, clock: type[FrozenClock]
) -> None:
    tick = load("sweeper_tick")
    with blocking() as target:
        invoke(CAPABILITY, load("flow_log_file_delivered"))
        slack.received()
        another_environment()
        clock.current = T0 + timedelta(minutes=30)
        early = invoke(CAPABILITY, tick).result
        assert (early["released"], early["active_blocks"]) == ([], 5)
        assert target.addresses("IPV4") == IPV4_BLOCKS
        assert slack.received() == []

        clock.current = T0 + timedelta(minutes=61)
        swept = invoke(CAPABILITY, new_version_tick(tick)).result
        assert sorted(swept["released"]) == sorted(FILE_BLOCKS)
        assert swept["active_blocks"] == 0
        assert target.addresses("IPV4") == [] and target.addresses("IPV6") == []
        assert target.window() == {} and target.ingress() == ALLOW_RULES
        assert set(target.blocks()) == set(FILE_BLOCKS)  # the history stays, for escalation
    assert slack_titles(slack) == ["[LOW] Auto-block: 5 block(s) expired"]


def new_version_tick(tick: dict[str, Any]) -> dict[str, Any]:
    """The schedule's next tick (a new event id, or it would be a duplicate delivery)."""
    later = copy.deepcopy(tick)
    later["id"] = "4c8e2a6f-91b3-4d7e-a5c0-3f2b8d6e1a98"
    return later


def test_turning_enforcement_off_does_not_repeat_the_same_expiry_alert(
    blocking: Callable[..., Any], invoke: Invoke, slack: Any, clock: type[FrozenClock]
) -> None:
    with blocking() as target:
        invoke(CAPABILITY, load("flow_log_file_delivered"))
        slack.received()
        with environment({"SECAUTO_AUTO_BLOCK_ENFORCE": "false"}):
            for tick in range(3):
                another_environment()
                clock.current = T0 + timedelta(minutes=65 + 5 * tick)
                event = load("sweeper_tick")
                event["id"] = f"{event['id'][:-1]}{tick}"
                invoke(CAPABILITY, event)
        stale = target.addresses("IPV4")
    assert len(slack_titles(slack)) <= 1, f"{slack_titles(slack)}; still in WAF: {stale}"


def test_a_repeat_offender_is_blocked_longer(
    blocking: Callable[..., Any], invoke: Invoke, slack: Any, clock: type[FrozenClock]
) -> None:
    event = load("flow_log_file_delivered")
    with blocking(SECAUTO_AUTO_BLOCK_ESCALATION="4", SECAUTO_AUTO_BLOCK_BLOCK_MINUTES="60") as target:
        first = invoke(CAPABILITY, event).result
        [row] = [r for r in first["blocked"] if r["source"] == "203.0.113.7/32"]
        assert row["offenses"] == 1
        # Two hours later (the block expired) the same file's records arrive again (a new version).
        later = T0 + timedelta(hours=2)
        clock.current = later
        second = invoke(CAPABILITY, new_version(event, "0f0e0d0c0b0a09080706050403020100")).result
        [row] = [r for r in second["blocked"] if r["source"] == "203.0.113.7/32"]
        assert row["offenses"] == 2
        assert row["until"] == (later + timedelta(minutes=240)).replace(microsecond=0).isoformat()
        block = target.blocks()["203.0.113.7/32"]
        assert block.expires_at - block.blocked_at == timedelta(minutes=240)
        assert target.addresses("IPV4") == IPV4_BLOCKS


# --- GuardDuty ------------------------------------------------------------------------------------------


def test_guardduty_ssh_brute_force_blocks_the_attacker(
    blocking: Callable[..., Any], invoke: Invoke, slack: Any
) -> None:
    with blocking() as target:
        result = invoke(CAPABILITY, load("guardduty_ssh_brute_force")).result
        assert sources(result["blocked"]) == {"198.51.100.45/32": "guardduty"}
        assert target.addresses("IPV4") == ["198.51.100.45/32"]


def test_guardduty_port_probe_blocks_every_prober(
    blocking: Callable[..., Any], invoke: Invoke, slack: Any
) -> None:
    with blocking() as target:
        result = invoke(CAPABILITY, load("guardduty_port_probe")).result
        assert sources(result["blocked"]) == {
            "203.0.113.88/32": "guardduty",
            "2001:db8:77::5/128": "guardduty",
        }
        assert target.addresses("IPV6") == ["2001:db8:77::5/128"]


def test_guardduty_outbound_finding_blocks_nothing(
    blocking: Callable[..., Any], invoke: Invoke, slack: Any
) -> None:
    # The rule does not send it; delivered anyway, the handler still blocks nobody (the remote
    # address is the victim of our instance's scan).
    with blocking() as target:
        result = invoke(CAPABILITY, load("guardduty_outbound_portscan")).result
        assert result["detections"] == [] and result["blocked"] == []
        assert target.addresses("IPV4") == []


# --- one warm Lambda environment, several event sources ----------------------------------------------


def test_one_warm_process_handles_a_file_then_a_subscription(
    blocking: Callable[..., Any], invoke: Invoke, slack: Any
) -> None:
    with blocking():
        assert invoke(CAPABILITY, load("flow_log_file_delivered")).result["status"] == "enforced"
        # No reset_runtime() in between: a warm Lambda environment keeps its module state.
        assert invoke(CAPABILITY, load("flow_logs_subscription")).result["status"] == "enforced"
