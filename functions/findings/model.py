"""The one internal finding model every source is normalized into.

A `NormalizedFinding` can always become an ASFF finding Security Hub accepts and a DynamoDB
state key: it checks, when it is made, what `to_asff` and the state store rely on (a 12-digit
account, a Region name, bounded ids, times ASFF can write, taxonomy types, resources). A
normalizer that meets anything else raises `NormalizationError` before the finding is claimed
or notified, so a notification is never followed by a finding that cannot be imported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from secauto_core.asff_validator import TYPE_NAMESPACES
from secauto_core.eventbridge import ACCOUNT_ID_PATTERN, REGION_PATTERN, bounded_time

if TYPE_CHECKING:
    from datetime import datetime

    from findings.settings import FindingSource
    from secauto_core.severity import Severity

__all__ = ["FindingResource", "NormalizationError", "NormalizedFinding"]


class NormalizationError(ValueError):
    """An event carries no finding we can normalize (the reason says why)."""


_ACCOUNT = re.compile(ACCOUNT_ID_PATTERN)
_REGION = re.compile(REGION_PATTERN)
#: Native ids and ARNs: printable ASCII, short enough for the ASFF Id (512) and a DynamoDB key.
_IDENTIFIER = re.compile(r"[\x21-\x7e]{1,512}")
_TYPES_MAX = 50


def _type_problem(entry: str) -> str | None:
    parts = entry.split("/")
    if parts[0] not in TYPE_NAMESPACES or not 2 <= len(parts) <= 3 or not all(parts):
        return f"type {entry[:80]!r} is not namespace/category[/classifier]"
    return None


def _time_problems(**times: datetime | None) -> list[str]:
    problems = []
    for name, moment in times.items():
        if moment is None:
            continue
        try:
            bounded_time(moment)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    return problems


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

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise NormalizationError(f"{self.source.value} finding cannot be imported: {'; '.join(problems)}")

    def _problems(self) -> list[str]:
        problems = []
        if not _ACCOUNT.fullmatch(self.account_id):
            problems.append("account id: 12 digits required")
        if not _REGION.fullmatch(self.region):
            problems.append("region: not a Region name")
        problems += [
            f"{name}: 1 to 512 printable ASCII characters required"
            for name, value in (("id", self.native_id), ("arn", self.arn))
            if not _IDENTIFIER.fullmatch(value)
        ]
        problems += [
            f"{name}: required"
            for name in ("title", "description", "generator_id")
            if not getattr(self, name)
        ]
        if not 1 <= len(self.types) <= _TYPES_MAX:
            problems.append(f"types: 1 to {_TYPES_MAX} required")
        problems += [problem for entry in self.types if (problem := _type_problem(entry))]
        if not self.resources or any(not r.type or not r.id for r in self.resources):
            problems.append("resources: at least one, each with a type and an id")
        if self.count < 0:
            problems.append("count: not negative")
        problems += _time_problems(
            created_at=self.created_at,
            updated_at=self.updated_at,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
        )
        return problems

    @property
    def dedupe_key(self) -> str:
        return f"{self.source.value}#{self.account_id}#{self.native_id}"

    @property
    def tags(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for resource in self.resources:
            merged.update(resource.tags)
        return merged
