"""What a run tells people: one Slack/SNS summary, and an ASFF finding per blocked source."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from secauto_core.alert import Alert, Fact
from secauto_core.asff import AsffResource, FindingSpec, build_finding, inbound_network
from secauto_core.severity import Severity

if TYPE_CHECKING:
    from datetime import datetime

    from auto_block.model import Block
    from auto_block.service import RunReport

__all__ = ["block_finding", "run_alert"]

CAPABILITY = "auto_block"
_LISTED = 15


def _until(block: Block) -> str:
    return block.expires_at.strftime("%Y-%m-%d %H:%M UTC")


def run_alert(report: RunReport, account: str, region: str, alias: str | None, now: datetime) -> Alert | None:
    """The run's summary, or None when there is nothing to tell (no block, no error)."""
    # What could not be enforced everywhere (a full ACL window) is shown with news, never alone:
    # it stays true run after run.
    if not (report.blocked or report.would_block or report.errors or report.released):
        return None
    facts: list[Fact] = []
    for block in report.blocked[:_LISTED]:
        repeat = f", offense {block.offenses}" if block.offenses > 1 else ""
        facts.append(
            Fact(label=f"blocked {block.network}", value=f"until {_until(block)}{repeat}: {block.reason}")
        )
    for detection in report.would_block[:_LISTED]:
        facts.append(Fact(label=f"would block {detection.source}", value=detection.reason))
    for detection, allowed in report.allowlisted[:_LISTED]:
        facts.append(Fact(label=f"allowlisted {detection.source}", value=f"in {allowed}: {detection.reason}"))
    for refused in report.refused[:_LISTED]:
        facts.append(Fact(label=f"refused {refused.source}", value=f"never blocked: {refused.reason}"))
    for block in report.released[:_LISTED]:
        facts.append(Fact(label=f"unblocked {block.network}", value=f"expired {_until(block)}"))
    if report.dropped:
        facts.append(Fact(label="not enforced everywhere", value="; ".join(report.dropped[:_LISTED])))
    for error in report.errors[:_LISTED]:
        facts.append(Fact(label="error", value=error))
    if report.deferred:
        facts.append(Fact(label="deferred", value=f"{len(report.deferred)} more over this run's cap"))
    mode = "" if report.enforce else " (dry run)"
    if report.blocked:
        title = f"Auto-block: {len(report.blocked)} source(s) blocked{mode}"
        severity = Severity.HIGH
    elif report.would_block:
        title = f"Auto-block: {len(report.would_block)} source(s) would be blocked{mode}"
        severity = Severity.MEDIUM
    elif report.errors:
        title = "Auto-block: enforcement errors"
        severity = Severity.HIGH
    else:
        title = f"Auto-block: {len(report.released)} block(s) expired"
        severity = Severity.LOW
    summary = (
        f"{report.trigger}: {report.records} records, {len(report.detections)} detection(s), "
        f"{len(report.blocked)} new block(s), {len(report.extended)} extended, "
        f"{len(report.allowlisted)} allowlisted, {len(report.refused)} refused, "
        f"{report.active} active block(s) enforced."
    )
    return Alert(
        capability=CAPABILITY,
        severity=severity,
        title=title,
        summary=summary,
        account_id=account,
        account_alias=alias,
        region=region,
        time=now,
        facts=tuple(facts),
        labels=("dry run",) if not report.enforce else (),
        subject_id=f"auto_block/{report.trigger}/{now.isoformat()}",
    )


def block_finding(block: Block, account: str, region: str, now: datetime) -> dict[str, Any]:
    """An ASFF finding for one blocked source (the same Id for every block of that source)."""
    address = str(block.network.network_address) if block.network.num_addresses == 1 else None
    spec = FindingSpec(
        capability=CAPABILITY,
        natural_key=str(block.network),
        generator_id=f"secauto/auto_block/{block.detector}",
        account_id=account,
        region=region,
        title=f"Blocked abusive source {block.network} ({block.detector.replace('_', ' ')})",
        description=f"{block.reason}. Blocked in WAF and the network ACLs until {_until(block)} "
        f"(offense {block.offenses}).",
        severity=Severity.HIGH if block.severity >= 70 else Severity.MEDIUM,
        types=[
            "TTPs/Discovery/Recon"
            if block.detector in ("port_scan", "host_sweep")
            else "Unusual Behaviors/Network Flow"
        ],
        resources=[AsffResource(type="Other", id=f"source/{block.network}", region=region)],
        created_at=block.blocked_at,
        updated_at=now,
        first_observed_at=block.blocked_at,
        last_observed_at=now,
        network=inbound_network(address),
        product_fields={
            "secauto/detector": block.detector,
            "secauto/expires_at": block.expires_at.isoformat(),
            "secauto/offenses": str(block.offenses),
        },
    )
    return build_finding(spec)
