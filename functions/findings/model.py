"""The one internal finding model every source is normalized into."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from findings.settings import FindingSource
    from secauto_core.severity import Severity

__all__ = ["FindingResource", "NormalizationError", "NormalizedFinding"]


class NormalizationError(ValueError):
    """An event carries no finding we can normalize (the reason says why)."""


@dataclass(frozen=True)
class FindingResource:
    """A resource the finding is about, already in ASFF terms (`AwsEc2Instance`, an ARN, ...)."""

    type: str
    id: str
    region: str | None = None
    details: dict[str, Any] | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NormalizedFinding:
    source: FindingSource
    #: The service's finding id and ARN (the ARN is the ASFF `Id`, as in AWS's own integrations).
    native_id: str
    arn: str
    account_id: str
    region: str
    #: The service's own type, e.g. `Recon:EC2/PortProbeUnprotectedPort` or `PACKAGE_VULNERABILITY`.
    type: str
    title: str
    description: str
    severity: Severity
    #: The service's own severity value, as text (ASFF `Severity.Original`).
    severity_original: str
    created_at: datetime
    updated_at: datetime
    first_seen: datetime | None
    last_seen: datetime | None
    count: int
    sample: bool
    archived: bool
    generator_id: str
    types: tuple[str, ...]
    resources: tuple[FindingResource, ...]
    console_url: str
    product_fields: dict[str, str] = field(default_factory=dict)
    #: The remote address the finding names (GuardDuty network findings), if any.
    remote_ip: str | None = None
    #: ASFF Workflow status and record state AWS would give it (e.g. a closed Inspector finding).
    workflow_status: str = "NEW"

    @property
    def dedupe_key(self) -> str:
        return f"{self.source.value}#{self.account_id}#{self.native_id}"

    @property
    def tags(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for resource in self.resources:
            merged.update(resource.tags)
        return merged
