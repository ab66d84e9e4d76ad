"""Auto-blocking's pure parts: the flow-log format, counting, the detectors, the allowlist and
the escalation; and one property of the whole decision (`AutoBlocker._act`): nothing that
overlaps the allowlist or the account's own VPC ranges is ever blocked, enforced or in a dry run.
"""

from __future__ import annotations

import base64
import gzip
import ipaddress
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from auto_block.allowlist import Allowlist, own_vpc_ranges
from auto_block.block_table import BLOCKS_PK, block_duration, load_blocks
from auto_block.blockable import refusal
from auto_block.counting import FlowCounts, SourceActivity, count_lines
from auto_block.detect import (
    alb_detections,
    guardduty_detections,
    judge_window,
    strongest,
)
from auto_block.flowlogs import DEFAULT_FIELDS, FlowLogError, decode_subscription, parse_format
from auto_block.model import Detection, as_network
from auto_block.service import AutoBlocker, RunReport
from auto_block.settings import AutoBlockSettings
from auto_block.windows import WindowTotals
from secauto_cli.embedded_account import EmbeddedAccount, embedded_account
from secauto_core.observability import metrics
from secauto_core.settings import RuntimeSettings
from tests.conftest import EVENTS_DIR

#: A custom (v5) format as an S3 file's header names it.
V5_HEADER = (
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end "
    "action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr flow-direction"
)
V5 = parse_format(V5_HEADER)
V2 = parse_format(" ".join(f"${{{name}}}" for name in DEFAULT_FIELDS))
CAP = 256

#: Special-purpose addresses that are "globally reachable" in IANA's registry yet nobody's host:
#: PCP anycast (RFC 7723) and AS112's anycast sink (RFC 7534).
GLOBAL_V4 = "192.0.0.9"
GLOBAL_V6 = "2620:4f:8000::1"


def v5(src: str, dst: str, port: int | str, action: str = "REJECT", **fields: str) -> bytes:
    """One v5 record; `pkt_srcaddr`, `flow_direction`, `log_status`, ... override their column."""
    values = {
        "version": "5",
        "account-id": "123456789012",
        "interface-id": "eni-0a1b2c3d4e5f60718",
        "srcaddr": src,
        "dstaddr": dst,
        "srcport": "40000",
        "dstport": str(port),
        "protocol": "6",
        "packets": "1",
        "bytes": "44",
        "start": "1795514400",
        "end": "1795514460",
        "action": action,
        "log-status": "OK",
        "vpc-id": "vpc-0f1e2d3c4b5a69788",
        "subnet-id": "subnet-0b1c2d3e4f5a60718",
        "instance-id": "i-0a1b2c3d4e5f60718",
        "tcp-flags": "2",
        "type": "IPv4",
        "pkt-srcaddr": src,
        "pkt-dstaddr": dst,
        "flow-direction": "ingress",
    }
    values.update({name.replace("_", "-"): value for name, value in fields.items()})
    return " ".join(values[name] for name in V5.fields).encode()


def v2(src: str, dst: str, port: int | str, action: str = "REJECT", status: str = "OK") -> bytes:
    return f"2 123456789012 eni-0a1b2c3d4e5f60718 {src} {dst} 40000 {port} 6 1 44 1795514400 1795514460 {action} {status}".encode()


def activity(counts: FlowCounts, source: str) -> SourceActivity:
    return counts.sources[source.encode()]


# --- flowlogs.parse_format ---------------------------------------------------------------------------


def test_parse_format_reads_a_header_by_name_not_position() -> None:
    assert V5.fields[0] == "version" and V5.width == 22
    assert (V5.source, V5.destination, V5.destination_port) == (3, 4, 6)
    assert (V5.action, V5.log_status, V5.protocol, V5.start) == (12, 13, 7, 10)
    assert (V5.packet_source, V5.packet_destination, V5.direction) == (19, 20, 21)
    reordered = parse_format("log-status action dstport dstaddr srcaddr")
    assert (reordered.source, reordered.destination, reordered.destination_port) == (4, 3, 2)
    assert (reordered.action, reordered.log_status) == (1, 0)
    assert reordered.packet_source is None and reordered.direction is None


def test_parse_format_reads_a_log_format_and_a_list() -> None:
    log_format = "${srcaddr} ${dstaddr} ${dstport} ${action} ${log-status} ${pkt-srcaddr} ${flow-direction}"
    fmt = parse_format(log_format)
    assert fmt.fields == (
        "srcaddr",
        "dstaddr",
        "dstport",
        "action",
        "log-status",
        "pkt-srcaddr",
        "flow-direction",
    )
    assert (fmt.packet_source, fmt.direction) == (5, 6)
    assert parse_format(list(DEFAULT_FIELDS)) == V2
    assert V2.fields == DEFAULT_FIELDS and V2.source == 3 and V2.packet_source is None
    # Athena-style names (pkt_srcaddr) mean the same fields.
    assert parse_format("pkt_srcaddr dstaddr dstport action log_status").packet_source == 0


def test_parse_format_accepts_packet_addresses_without_interface_addresses() -> None:
    fmt = parse_format("pkt-srcaddr pkt-dstaddr dstport action log-status")
    assert (fmt.source, fmt.packet_source, fmt.destination, fmt.packet_destination) == (0, 0, 1, 1)


@pytest.mark.parametrize(
    ("fields", "missing"),
    [
        ("srcaddr dstaddr action log-status", "dstport"),
        ("srcaddr dstaddr dstport log-status", "action"),
        ("srcaddr dstaddr dstport action", "log-status"),
        ("dstaddr dstport action log-status", "srcaddr"),
        ("srcaddr dstport action log-status", "dstaddr"),
        ("", "dstport, action, log-status, srcaddr, dstaddr"),
    ],
)
def test_parse_format_refuses_formats_detection_cannot_use(fields: str, missing: str) -> None:
    with pytest.raises(FlowLogError, match=f"lacks {missing}"):
        parse_format(fields)


def test_parse_format_refuses_a_field_named_twice() -> None:
    with pytest.raises(FlowLogError, match="names a field twice"):
        parse_format("srcaddr dstaddr dstport action log-status srcaddr")


# --- flowlogs.decode_subscription ---------------------------------------------------------------------


def _awslogs(raw: bytes) -> dict[str, Any]:
    return {"awslogs": {"data": base64.b64encode(gzip.compress(raw)).decode()}}


def test_decode_subscription_reads_the_payload() -> None:
    payload = {
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/vpc/prod/flow-logs",
        "logStream": "eni-0a1b2c3d4e5f60718-all",
        "subscriptionFilters": ["secauto-auto-block"],
        "logEvents": [{"id": "1", "timestamp": 1, "message": v2("203.0.113.7", "10.0.1.17", 22).decode()}],
    }
    decoded = decode_subscription(_awslogs(json.dumps(payload).encode()))
    assert (decoded.message_type, decoded.log_group, decoded.owner) == (
        "DATA_MESSAGE",
        "/vpc/prod/flow-logs",
        "123456789012",
    )
    assert decoded.log_stream == "eni-0a1b2c3d4e5f60718-all"
    assert decoded.messages == [v2("203.0.113.7", "10.0.1.17", 22).decode()]


@pytest.mark.parametrize(
    "event",
    [
        pytest.param({}, id="no-awslogs"),
        pytest.param({"awslogs": "data"}, id="awslogs-not-an-object"),
        pytest.param({"awslogs": {}}, id="no-data"),
        pytest.param({"awslogs": {"data": "%%% not base64 %%%"}}, id="bad-base64"),
        pytest.param({"awslogs": {"data": base64.b64encode(b"not gzip").decode()}}, id="not-gzip"),
        pytest.param(
            {"awslogs": {"data": base64.b64encode(gzip.compress(b"x")[:-4]).decode()}}, id="truncated-gzip"
        ),
        pytest.param(_awslogs(b"{not json"), id="bad-json"),
        pytest.param(_awslogs(b"[]"), id="json-not-an-object"),
        pytest.param(_awslogs(b'{"logEvents": []}'), id="no-message-type"),
        pytest.param(
            _awslogs(b'{"messageType": "DATA_MESSAGE", "logEvents": [{"id": "1"}]}'),
            id="event-without-message",
        ),
        pytest.param(
            _awslogs(b'{"messageType": "DATA_MESSAGE", "logEvents": [1]}'), id="event-not-an-object"
        ),
    ],
)
def test_decode_subscription_errors_are_flow_log_errors(event: dict[str, Any]) -> None:
    with pytest.raises(FlowLogError, match="not a CloudWatch Logs subscription payload"):
        decode_subscription(event)


# --- counting.count_lines --------------------------------------------------------------------------------


def test_count_lines_prefers_the_packet_source() -> None:
    lines = [
        # Behind the load balancer's interface 10.0.0.12: the scanner is pkt-srcaddr.
        *(v5("10.0.0.12", "10.0.1.17", port, pkt_srcaddr="198.51.100.77") for port in range(20, 25)),
        # pkt-srcaddr "-": srcaddr stands in.
        v5("203.0.113.9", "10.0.1.17", 22, pkt_srcaddr="-"),
    ]
    counts = count_lines(lines, V5, cap=CAP)
    assert set(counts.sources) == {b"198.51.100.77", b"203.0.113.9"}
    assert len(activity(counts, "198.51.100.77").ports) == 5
    assert activity(counts, "203.0.113.9").rejects == 1


def test_count_lines_prefers_the_packet_destination() -> None:
    lines = [v5("203.0.113.7", "10.0.0.12", 22, pkt_dstaddr=f"10.0.1.{n}") for n in range(1, 6)]
    assert activity(count_lines(lines, V5, cap=CAP), "203.0.113.7").hosts == {
        f"10.0.1.{n}".encode() for n in range(1, 6)
    }


def test_count_lines_skips_egress_when_the_direction_is_known() -> None:
    egress = [v5("10.0.1.17", "192.0.2.10", 50000 + n, "ACCEPT", flow_direction="egress") for n in range(12)]
    unknown = [v5("203.0.113.7", "10.0.1.17", port, flow_direction="-") for port in (21, 22, 23)]
    counts = count_lines([*egress, *unknown], V5, cap=CAP)
    assert (counts.egress, counts.records) == (12, 15)
    assert set(counts.sources) == {b"203.0.113.7"}  # `-`: unknown direction, counted


def test_count_lines_without_a_direction_field_counts_everything() -> None:
    responses = [v2("10.0.1.17", "192.0.2.10", 50000 + n, "ACCEPT") for n in range(4)]
    counts = count_lines(responses, V2, cap=CAP)
    assert counts.egress == 0 and set(counts.sources) == {b"10.0.1.17"}


def test_count_lines_counts_nodata_and_skipdata_apart() -> None:
    nodata = b"2 123456789012 eni-0a1b2c3d4e5f60718 - - - - - - - 1795514400 1795514460 - NODATA"
    skipdata = b"2 123456789012 eni-0a1b2c3d4e5f60718 - - - - - - - 1795514400 1795514460 - SKIPDATA"
    counts = count_lines([nodata, skipdata, skipdata, v2("203.0.113.7", "10.0.1.17", 22)], V2, cap=CAP)
    assert (counts.nodata, counts.skipdata, counts.records, counts.bad_records) == (1, 2, 1, 0)
    assert set(counts.sources) == {b"203.0.113.7"}


def test_count_lines_counts_and_samples_bad_records() -> None:
    lines = [
        v2("203.0.113.7", "10.0.1.17", 22),
        b"2 123456789012 eni-0a1b2c3d4e5f60718 203.0.113.7",  # truncated
        v2("203.0.113.7", "10.0.1.17", 23) + b" extra",
        v2("203.0.113.8", "10.0.1.17", 23, status="BOGUS"),  # an unknown log status
        b"",  # blank lines are no records
        b"   ",
    ]
    counts = count_lines(lines, V2, cap=CAP)
    assert (counts.records, counts.bad_records) == (1, 3)
    assert counts.bad_samples[0].startswith("4 fields, the format has 14: 2 123456789012")
    assert counts.bad_samples[1].startswith("15 fields, the format has 14")
    assert set(counts.sources) == {b"203.0.113.7"}
    many = count_lines([b"too short"] * 20, V2, cap=CAP)
    assert many.bad_records == 20 and len(many.bad_samples) == 5


def test_count_lines_follows_only_candidate_sources() -> None:
    lines = [
        v2("192.0.2.10", "10.0.1.17", 443, "ACCEPT"),  # a client: one port, one address
        v2("192.0.2.10", "10.0.1.18", 443, "ACCEPT"),
        *(v2("192.0.2.11", "10.0.1.17", port, "ACCEPT") for port in (80, 443, 8443)),  # 3 ports
        *(v2("192.0.2.12", f"10.0.1.{n}", 443, "ACCEPT") for n in (1, 2, 3)),  # 3 addresses
        v2("192.0.2.13", "10.0.1.17", 22),  # one REJECT
    ]
    counts = count_lines(lines, V2, cap=CAP)
    assert set(counts.sources) == {b"192.0.2.11", b"192.0.2.12", b"192.0.2.13"}
    assert counts.records == 9
    third = activity(counts, "192.0.2.12")
    assert (len(third.ports), len(third.hosts), third.rejects, third.flows) == (1, 3, 0, 3)
    assert set(count_lines(lines, V2, cap=CAP, candidate_min=4).sources) == {b"192.0.2.13"}


def test_count_lines_tallies_rejects_flows_and_caps_the_sets() -> None:
    flood = [v2("203.0.113.50", "10.0.1.18", 3389) for _ in range(35)]
    scan = [v2("203.0.113.7", "10.0.1.17", port) for port in range(1000, 1020)]
    counts = count_lines([*flood, *scan], V2, cap=8)
    flooder, scanner = activity(counts, "203.0.113.50"), activity(counts, "203.0.113.7")
    assert (flooder.rejects, flooder.flows, len(flooder.ports), flooder.ports_capped) == (35, 35, 1, False)
    assert (len(scanner.ports), scanner.ports_capped, scanner.hosts_capped) == (8, True, False)


def test_flow_counts_merge_adds_up_with_the_cap() -> None:
    first = count_lines([v2("203.0.113.7", "10.0.1.17", p) for p in (21, 22, 23, 24)] + [b"bad"], V2, cap=CAP)
    second = count_lines(
        [v2("203.0.113.7", "10.0.1.18", p) for p in (24, 25, 26)]
        + [v2("203.0.113.8", "10.0.1.17", 22)]
        + [b"2 123456789012 eni-0a1b2c3d4e5f60718 - - - - - - - 1 2 - SKIPDATA"],
        V2,
        cap=CAP,
    )
    total = FlowCounts().merge(first, 5).merge(second, 5)
    assert (total.records, total.bad_records, total.skipdata) == (8, 1, 1)
    scanner = activity(total, "203.0.113.7")
    # Ports 21-26 are six: five kept, the cap reached; addresses 10.0.1.17 and .18 both kept.
    assert (len(scanner.ports), scanner.ports_capped) == (5, True)
    assert scanner.hosts == {b"10.0.1.17", b"10.0.1.18"}
    assert (scanner.rejects, scanner.flows) == (7, 7)
    assert activity(total, "203.0.113.8").rejects == 1
    assert total.bad_samples == first.bad_samples


# --- detect ------------------------------------------------------------------------------------------------

SETTINGS = AutoBlockSettings(port_scan_ports=10, host_sweep_hosts=10, reject_flood_rejects=30)


def totals(source: str = "203.0.113.7", *, ports: int = 1, hosts: int = 1, rejects: int = 0) -> WindowTotals:
    return WindowTotals(
        source=source, window_start=1795514700, ports=ports, hosts=hosts, rejects=rejects, flows=1
    )


@pytest.mark.parametrize(
    ("window", "detectors"),
    [
        (totals(ports=9, hosts=9, rejects=29), []),
        (totals(ports=10), ["port_scan"]),
        (totals(hosts=10), ["host_sweep"]),
        (totals(rejects=30), ["reject_flood"]),
        (totals(ports=12, hosts=11, rejects=40), ["port_scan", "host_sweep", "reject_flood"]),
        (totals("not an address", ports=50), []),
    ],
)
def test_judge_window_thresholds(window: WindowTotals, detectors: list[str]) -> None:
    found = judge_window(window, SETTINGS)
    assert [d.detector for d in found] == detectors
    for detection in found:
        assert detection.source == as_network(window.source)
        assert detection.evidence["ports"] == window.ports


def test_judge_window_reasons_name_the_figures() -> None:
    [scan] = judge_window(totals(ports=14), SETTINGS)
    assert scan.reason.startswith("port scan: 14 destination ports in the 5-minute window")
    [v6] = judge_window(totals("2001:db8:bad:1::7", hosts=10), SETTINGS)
    assert str(v6.source) == "2001:db8:bad:1::7/128"


def guardduty_detail(
    finding_type: str = "UnauthorizedAccess:EC2/SSHBruteForce", **overrides: Any
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "id": "8ec9a3f2b1d04e7c96a5f0b2c1d3e4f5",
        "type": finding_type,
        "severity": 2,
        "service": {
            "action": {
                "actionType": "NETWORK_CONNECTION",
                "networkConnectionAction": {
                    "connectionDirection": "INBOUND",
                    "remoteIpDetails": {"ipAddressV4": GLOBAL_V4},
                },
            },
            "additionalInfo": {"value": "{}", "type": "default"},
        },
    }
    detail.update(overrides)
    return detail


def probe_detail(*remotes: dict[str, str]) -> dict[str, Any]:
    return guardduty_detail(
        "Recon:EC2/PortProbeUnprotectedPort",
        service={
            "action": {
                "actionType": "PORT_PROBE",
                "portProbeAction": {
                    "portProbeDetails": [
                        {"localPortDetails": {"port": 3389}, "remoteIpDetails": remote} for remote in remotes
                    ]
                },
            }
        },
    )


def test_guardduty_inbound_brute_force_names_the_attacker() -> None:
    [found] = guardduty_detections(guardduty_detail())
    assert (str(found.source), found.detector, found.severity) == (f"{GLOBAL_V4}/32", "guardduty", 20)
    assert (
        found.reason
        == "GuardDuty UnauthorizedAccess:EC2/SSHBruteForce (severity 2), finding 8ec9a3f2b1d04e7c96a5f0b2c1d3e4f5"
    )
    assert found.evidence == {
        "finding_id": "8ec9a3f2b1d04e7c96a5f0b2c1d3e4f5",
        "type": "UnauthorizedAccess:EC2/SSHBruteForce",
    }
    # Numbers as strings (GuardDuty's format drift) read the same.
    assert guardduty_detections(guardduty_detail(severity="8"))[0].severity == 80


def test_guardduty_port_probe_names_every_prober_once_ipv4_and_ipv6() -> None:
    found = guardduty_detections(
        probe_detail({"ipAddressV4": GLOBAL_V4}, {"ipAddressV4": GLOBAL_V4}, {"ipAddressV6": GLOBAL_V6})
    )
    assert [str(d.source) for d in found] == [f"{GLOBAL_V4}/32", f"{GLOBAL_V6}/128"]


@pytest.mark.parametrize(
    "detail",
    [
        pytest.param(guardduty_detail(service={"additionalInfo": {"sample": True}}), id="sample"),
        pytest.param(
            guardduty_detail(
                service={
                    **guardduty_detail()["service"],
                    "additionalInfo": {"sample": "true", "type": "default"},
                }
            ),
            id="sample-as-string",
        ),
        pytest.param(
            guardduty_detail(
                "Recon:EC2/Portscan",
                service={
                    "action": {
                        "networkConnectionAction": {
                            "connectionDirection": "OUTBOUND",
                            "remoteIpDetails": {"ipAddressV4": GLOBAL_V4},
                        }
                    }
                },
            ),
            id="outbound-portscan",
        ),
        pytest.param(
            guardduty_detail(
                service={
                    "action": {
                        "networkConnectionAction": {
                            "connectionDirection": "OUTBOUND",
                            "remoteIpDetails": {"ipAddressV4": GLOBAL_V4},
                        }
                    }
                },
            ),
            id="outbound-brute-force",  # our instance brute-forces someone: not an attacker of ours
        ),
        pytest.param(guardduty_detail("Backdoor:EC2/C&CActivity.B"), id="another-type"),
        pytest.param(guardduty_detail(service={"action": None}), id="no-action"),
        pytest.param(probe_detail({"ipAddressV4": "not-an-address"}), id="bad-address"),
    ],
)
def test_guardduty_findings_that_block_nobody(detail: dict[str, Any]) -> None:
    assert guardduty_detections(detail) == []


def test_guardduty_findings_with_documentation_addresses_block_them() -> None:
    """What every sample event (documentation addresses only) needs to show a GuardDuty block."""
    sample = json.loads((EVENTS_DIR / "auto_block" / "guardduty_ssh_brute_force.json").read_text())
    assert [str(d.source) for d in guardduty_detections(sample["detail"])] == ["198.51.100.45/32"]


def test_alb_detections_take_clients_over_the_threshold() -> None:
    alb = AutoBlockSettings(alb_requests_per_file=1000)
    summary = {
        "key": "alb/AWSLogs/123456789012/elasticloadbalancing/us-east-1/2026/11/24/x.log.gz",
        "load_balancers": ["app/shop-prod/50dc6c495c0c9188"],
        "top_clients": [
            {"client_ip": "198.51.100.77", "count": 4200},
            {"client_ip": "2001:db8:4a7f::1c2", "count": "1000"},
            {"client_ip": "203.0.113.24", "count": 999},
            {"client_ip": "-", "count": 5000},
        ],
    }
    found = alb_detections(summary, alb)
    assert [str(d.source) for d in found] == ["198.51.100.77/32", "2001:db8:4a7f::1c2/128"]
    assert (
        found[0].reason
        == "ALB top talker: 4200 requests to app/shop-prod/50dc6c495c0c9188 in one 5-minute log file"
    )
    assert found[0].evidence == {"requests": 4200, "key": summary["key"]}
    assert alb_detections({"top_clients": None}, alb) == []


def test_strongest_keeps_one_detection_per_source_the_most_severe_first() -> None:
    net = as_network
    found = strongest(
        [
            Detection(net("203.0.113.50"), "reject_flood", 60, "reject flood"),
            Detection(net("203.0.113.7"), "reject_flood", 60, "reject flood"),
            Detection(net("203.0.113.7"), "port_scan", 70, "port scan"),
            Detection(net("198.51.100.45"), "guardduty", 20, "brute force"),
            Detection(net("198.51.100.23"), "host_sweep", 70, "host sweep"),
        ]
    )
    assert [(str(d.source), d.detector) for d in found] == [
        ("198.51.100.23/32", "host_sweep"),
        ("203.0.113.7/32", "port_scan"),
        ("203.0.113.50/32", "reject_flood"),
        ("198.51.100.45/32", "guardduty"),
    ]
    assert found[1].reason == "port scan; reject flood"


# --- allowlist and escalation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowed", "candidate", "covered_by"),
    [
        (["192.0.2.192/27"], "192.0.2.200", "192.0.2.192/27"),  # inside
        (["192.0.2.200/32"], "192.0.2.0/24", "192.0.2.200/32"),  # would cover an allowed address
        (["192.0.2.192/27"], "192.0.2.191", None),  # just outside
        (["10.0.0.0/16", "2001:db8:1::/48"], "2001:db8:1:2::7", "2001:db8:1::/48"),
        (["2001:db8::/32"], "203.0.113.7", None),  # families never mix
        (["::/0"], "203.0.113.7", None),
        (["0.0.0.0/0"], "2001:db8::1", None),
        (["::ffff:0:0/96"], "203.0.113.7", None),  # an IPv4-mapped range is IPv6
        ([], "203.0.113.7", None),
    ],
)
def test_allowlist_covers_overlaps_both_ways(
    allowed: list[str], candidate: str, covered_by: str | None
) -> None:
    covered = Allowlist.of(allowed).covers(as_network(candidate))
    assert (None if covered is None else str(covered)) == covered_by


def test_allowlist_of_collapses_and_accepts_host_bits() -> None:
    allowlist = Allowlist.of(["192.0.2.0/25", "192.0.2.128/25", "192.0.2.7/24", as_network("2001:db8::1")])
    assert [str(n) for n in allowlist.networks] == ["192.0.2.0/24", "2001:db8::1/128"]


@pytest.mark.parametrize(
    ("offenses", "minutes"),
    [(0, 60), (1, 60), (2, 240), (3, 960), (4, 3840), (5, 10080), (50, 10080)],
)
def test_block_duration_escalates_up_to_the_cap(offenses: int, minutes: int) -> None:
    escalating = AutoBlockSettings(block_minutes=60, escalation=4.0, max_block_minutes=7 * 24 * 60)
    assert block_duration(offenses, escalating) == timedelta(minutes=minutes)


def test_block_duration_without_escalation_is_constant() -> None:
    flat = AutoBlockSettings(block_minutes=30, escalation=1.0)
    assert {block_duration(n, flat) for n in range(1, 10)} == {timedelta(minutes=30)}


# --- the property: nothing allowed is ever blocked -------------------------------------------------------

NOW = datetime(2026, 11, 24, 10, 7, 30, tzinfo=UTC)
VPC_CIDR = "10.0.0.0/16"


@pytest.fixture
def _no_metrics_left() -> Iterator[None]:
    """`_act` outside a handler adds metrics nobody flushes: drop them, or the next handler
    invocation in this process would publish them as its own."""
    yield
    metrics.clear_metrics()


@pytest.fixture(scope="module")
def decision_account() -> Iterator[tuple[EmbeddedAccount, list[str]]]:
    """A moto account with the state table and a VPC (IPv4 and IPv6): its own ranges."""
    with embedded_account() as account:
        ec2 = account.client("ec2")
        ec2.create_vpc(CidrBlock=VPC_CIDR, AmazonProvidedIpv6CidrBlock=True)
        yield account, own_vpc_ranges(ec2)


def _network(base: str, prefixes: tuple[int, int]) -> st.SearchStrategy[Any]:
    """Networks inside `base` (small universes, so allowlists and candidates overlap often)."""
    parent = ipaddress.ip_network(base)
    low, high = prefixes
    return st.builds(
        lambda offset, prefix: ipaddress.ip_network(
            (int(parent.network_address) + offset, prefix), strict=False
        ),
        st.integers(0, parent.num_addresses - 1),
        st.integers(low, high),
    )


ALLOWED = st.one_of(_network("203.0.113.0/24", (24, 32)), _network("2001:db8::/120", (116, 128)))
#: Automation's candidates are single addresses (a range cannot even be a detection).
CANDIDATES = st.one_of(
    _network("203.0.113.0/24", (32, 32)),
    _network("2001:db8::/120", (128, 128)),
    _network("10.0.0.0/15", (32, 32)),  # half inside the VPC range, half outside: private, refused
)


def _reset_blocks(account: EmbeddedAccount) -> None:
    dynamodb = account.client("dynamodb")
    for block in load_blocks(account.state_table, client=dynamodb):
        dynamodb.delete_item(
            TableName=account.state_table, Key={"pk": {"S": BLOCKS_PK}, "sk": {"S": block.key}}
        )


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    allowed=st.lists(ALLOWED, max_size=4),
    candidates=st.lists(CANDIDATES, min_size=1, max_size=6, unique=True),
    enforce=st.booleans(),
    injected=st.booleans(),
)
def test_act_never_blocks_an_allowed_or_own_vpc_source(
    _no_metrics_left: None,
    decision_account: tuple[EmbeddedAccount, list[str]],
    allowed: list[Any],
    candidates: list[Any],
    enforce: bool,
    injected: bool,
) -> None:
    account, vpc_ranges = decision_account
    _reset_blocks(account)
    expected = Allowlist.of([*allowed, *vpc_ranges])
    blocker = AutoBlocker(
        settings=AutoBlockSettings(
            enforce=enforce, allow_cidrs=tuple(map(str, allowed)), allow_own_vpcs=True
        ),
        runtime=RuntimeSettings(state_table=account.state_table),
        account=account.account_id,
        region=account.region,
        notifier=None,
        importer=None,
        now=NOW,
        # Injected, or built as a run builds it (the settings' CIDRs and DescribeVpcs, on moto).
        _allowlist=expected if injected else None,
    )
    detections = [Detection(network, "port_scan", 70, "property") for network in candidates]
    report = blocker._act(detections, RunReport(trigger="property", enforce=enforce))

    acted = [block.network for block in (*report.blocked, *report.extended)] + [
        d.source for d in report.would_block
    ]
    recorded = [
        block.network for block in load_blocks(account.state_table, client=account.client("dynamodb"))
    ]
    for network in (*acted, *recorded):
        assert expected.covers(network) is None, f"{network} overlaps the allowlist {expected.networks}"
    # Private sources outside the allowlist (10.1.x.x: not this account's VPC) are refused with
    # the reason; everything else is acted on (the run's cap of 100 is far away); nothing is both.
    spared = {detection.source for detection, _ in report.allowlisted}
    refused = {as_network(row.source) for row in report.refused}
    event(f"acted on some: {bool(acted)}, spared some: {bool(spared)}, refused some: {bool(refused)}")
    assert spared == {network for network in candidates if expected.covers(network) is not None}
    assert refused == {network for network in set(candidates) - spared if refusal(network) is not None}
    assert all("private (RFC 1918)" in row.reason for row in report.refused)
    assert set(acted) == set(candidates) - spared - refused
    if enforce:
        assert report.would_block == [] and set(recorded) == set(acted)
    else:
        assert report.blocked == [] and recorded == []
