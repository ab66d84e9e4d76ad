"""The detectors: window totals, GuardDuty findings and ALB summaries, judged into detections."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from auto_block.blockable import parse_source
from auto_block.model import Detection

if TYPE_CHECKING:
    from collections.abc import Iterable

    from auto_block.model import Network
    from auto_block.settings import AutoBlockSettings
    from auto_block.windows import WindowTotals

__all__ = [
    "GUARDDUTY_TYPES",
    "alb_detections",
    "guardduty_detections",
    "judge_window",
]

#: Severity ranks: what a target keeps when it cannot hold every block.
PORT_SCAN, HOST_SWEEP, REJECT_FLOOD, ALB_TOP_TALKER = 70, 70, 60, 50

#: GuardDuty finding types whose remote address is an attacker reaching in.
GUARDDUTY_TYPES = frozenset(
    {
        "Recon:EC2/PortProbeUnprotectedPort",
        "Recon:EC2/PortProbeEMRUnprotectedPort",
        "UnauthorizedAccess:EC2/SSHBruteForce",
        "UnauthorizedAccess:EC2/RDPBruteForce",
    }
)


def _network(address: str) -> Network | None:
    """A source as a single address (its /32 or /128), or None: a CIDR is never a source."""
    try:
        return parse_source(address)
    except ValueError:
        return None


def judge_window(totals: WindowTotals, settings: AutoBlockSettings) -> list[Detection]:
    """Every detector a source's window totals trip (a source can trip several)."""
    network = _network(totals.source)
    if network is None:
        return []
    if totals.window_start:
        start = datetime.fromtimestamp(totals.window_start, UTC).strftime("%H:%M UTC")
        window = f"in the {settings.window_seconds // 60}-minute window from {start}"
    else:
        window = "in these records"
    evidence: dict[str, int | str] = {
        "ports": totals.ports,
        "hosts": totals.hosts,
        "rejects": totals.rejects,
        "flows": totals.flows,
        "window_start": totals.window_start,
    }
    found = []
    if totals.ports >= settings.port_scan_ports:
        reason = f"port scan: {totals.ports} destination ports {window}"
        found.append(Detection(network, "port_scan", PORT_SCAN, reason, evidence))
    if totals.hosts >= settings.host_sweep_hosts:
        reason = f"host sweep: {totals.hosts} destination addresses {window}"
        found.append(Detection(network, "host_sweep", HOST_SWEEP, reason, evidence))
    if totals.rejects >= settings.reject_flood_rejects:
        reason = f"reject flood: {totals.rejects} rejected flows {window}"
        found.append(Detection(network, "reject_flood", REJECT_FLOOD, reason, evidence))
    return found


def _remote_addresses(action: dict[str, Any]) -> list[str]:
    """Remote IPv4/IPv6 addresses of a GuardDuty finding's inbound action."""
    addresses: list[str] = []
    probe = action.get("portProbeAction") or {}
    for detail in probe.get("portProbeDetails") or []:
        remote = detail.get("remoteIpDetails") or {}
        addresses += [remote[k] for k in ("ipAddressV4", "ipAddressV6") if isinstance(remote.get(k), str)]
    connection = action.get("networkConnectionAction") or {}
    if connection.get("connectionDirection", "INBOUND") == "INBOUND":
        remote = connection.get("remoteIpDetails") or {}
        addresses += [remote[k] for k in ("ipAddressV4", "ipAddressV6") if isinstance(remote.get(k), str)]
    return addresses


def guardduty_detections(detail: dict[str, Any]) -> list[Detection]:
    """A GuardDuty finding of a blocking type, as one detection per remote address."""
    finding_type = str(detail.get("type", ""))
    if finding_type not in GUARDDUTY_TYPES:
        return []
    service = detail.get("service") or {}
    if (service.get("additionalInfo") or {}).get("sample") in (True, "true"):
        return []  # GuardDuty's sample findings name documentation addresses
    action = service.get("action") or {}
    severity = float(detail.get("severity", 5))
    found = []
    for address in dict.fromkeys(_remote_addresses(action)):
        # Loopback, private, reserved, ... addresses are refused (with the reason) where a
        # detection becomes a block: `blockable.vet`, in the service and the block table.
        network = _network(address)
        if network is None:
            continue
        reason = f"GuardDuty {finding_type} (severity {severity:g}), finding {detail.get('id', '?')}"
        evidence: dict[str, int | str] = {"finding_id": str(detail.get("id", "")), "type": finding_type}
        found.append(Detection(network, "guardduty", int(severity * 10), reason, evidence))
    return found


def alb_detections(summary: dict[str, Any], settings: AutoBlockSettings) -> list[Detection]:
    """Clients of an ALB log file above `alb_requests_per_file` (the alb_logs summary's top list)."""
    found = []
    for entry in summary.get("top_clients") or []:
        count = int(entry.get("count", 0))
        network = _network(str(entry.get("client_ip", "")))
        if network is None or count < settings.alb_requests_per_file:
            continue
        balancers = ", ".join(summary.get("load_balancers") or []) or "a load balancer"
        reason = f"ALB top talker: {count} requests to {balancers} in one 5-minute log file"
        evidence: dict[str, int | str] = {"requests": count, "key": str(summary.get("key", ""))}
        found.append(Detection(network, "alb_top_talker", ALB_TOP_TALKER, reason, evidence))
    return found


def strongest(detections: Iterable[Detection]) -> list[Detection]:
    """One detection per source: the most severe (the others' reasons joined to it)."""
    by_source: dict[Network, list[Detection]] = {}
    for detection in detections:
        by_source.setdefault(detection.source, []).append(detection)
    merged = []
    for group in by_source.values():
        group.sort(key=lambda d: -d.severity)
        top = group[0]
        if len(group) > 1:
            reasons = "; ".join(d.reason for d in group)
            top = Detection(top.source, top.detector, top.severity, reasons, top.evidence)
        merged.append(top)
    merged.sort(key=lambda d: (-d.severity, str(d.source)))
    return merged
