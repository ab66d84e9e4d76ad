"""The notification for a finding: what it is, where, how bad, since when, and why now."""

from __future__ import annotations

from typing import TYPE_CHECKING

from findings.integration import NATIVE_PRODUCTS
from secauto_core.alert import Alert, Fact
from secauto_core.console_links import securityhub_finding_url

if TYPE_CHECKING:
    from findings.model import NormalizedFinding

__all__ = ["build_alert"]

_SOURCE_NAMES = {"guardduty": "GuardDuty", "macie": "Macie", "inspector": "Inspector"}


def build_alert(finding: NormalizedFinding, reason: str, account_alias: str | None, imported: bool) -> Alert:
    source = _SOURCE_NAMES[finding.source.value]
    resources = ", ".join(f"{r.type} {r.id}" for r in finding.resources[:3])
    if len(finding.resources) > 3:
        resources += f" (+{len(finding.resources) - 3} more)"
    facts = [
        Fact(label="Type", value=finding.type),
        Fact(label="Resource", value=resources),
        Fact(label="Severity", value=f"{finding.severity.value} ({source} {finding.severity_original})"),
        Fact(label="First seen", value=(finding.first_seen or finding.created_at).isoformat()),
        Fact(label="Last seen", value=(finding.last_seen or finding.updated_at).isoformat()),
        Fact(label="Count", value=str(finding.count)),
        Fact(label="Why notified", value=reason),
    ]
    if finding.remote_ip:
        facts.append(Fact(label="Remote IP", value=finding.remote_ip))
    product = "secauto" if imported else NATIVE_PRODUCTS[finding.source]
    facts.append(
        Fact(
            label="Security Hub", value=f"{securityhub_finding_url(finding.region, finding.arn)} ({product})"
        )
    )
    return Alert(
        capability="findings",
        severity=finding.severity,
        title=f"{source}: {finding.title}",
        summary=finding.description,
        account_id=finding.account_id,
        account_alias=account_alias,
        region=finding.region,
        time=finding.updated_at,
        facts=tuple(facts),
        labels=tuple(
            label
            for label in ("sample" if finding.sample else "", "archived" if finding.archived else "")
            if label
        ),
        console_url=finding.console_url,
        subject_id=finding.arn,
    )
