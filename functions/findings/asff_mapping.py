"""A normalized finding as an ASFF finding secauto imports under its own product."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from secauto_core.asff import AsffResource, FindingSpec, build_finding, inbound_network

if TYPE_CHECKING:
    from findings.model import NormalizedFinding

__all__ = ["CAPABILITY", "to_asff"]

CAPABILITY = "findings"


def to_asff(finding: NormalizedFinding, home_region: str) -> dict[str, Any]:
    """The ASFF finding: the native ARN as Id and the native times, so a re-delivered or
    updated finding updates the same Security Hub finding instead of adding another."""
    spec = FindingSpec(
        capability=CAPABILITY,
        natural_key=finding.arn,
        id=finding.arn,
        generator_id=finding.generator_id,
        account_id=finding.account_id,
        region=home_region,
        title=finding.title,
        description=finding.description,
        severity=finding.severity,
        severity_original=finding.severity_original,
        types=finding.types,
        resources=[
            AsffResource(type=r.type, id=r.id, region=r.region, details=r.details, tags=r.tags or None)
            for r in finding.resources
        ],
        created_at=finding.created_at,
        updated_at=finding.updated_at,
        first_observed_at=finding.first_seen,
        last_observed_at=finding.last_seen,
        source_url=finding.console_url,
        product_fields={
            "secauto/Source": finding.source.value,
            "secauto/NativeType": finding.type,
            "secauto/NativeRegion": finding.region,
            "secauto/Count": str(finding.count),
            **finding.product_fields,
        },
        network=inbound_network(finding.remote_ip),
        record_state="ARCHIVED" if finding.archived else "ACTIVE",
        workflow_status=finding.workflow_status,
    )
    return build_finding(spec)
