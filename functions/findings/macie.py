"""Macie findings (`aws.macie` / "Macie Finding") into the internal model.

Sensitive-data findings get `Sensitive Data Identifications/...` types, policy findings
`Effects/Data Exposure/...` (as AWS maps them); Macie's Low / Medium / High is the label and its
description the `Original`; the affected bucket and object are the resources.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError

from findings.model import FindingResource, NormalizationError, NormalizedFinding
from findings.parsing import Lenient, Timestamp, first_error, tag_map
from findings.settings import FindingSource
from secauto_core.console_links import console_base_url
from secauto_core.severity import Severity

__all__ = ["MacieDetail", "macie_types", "normalize_macie"]

_SENSITIVE_CATEGORY = {
    "Credentials": "Passwords",
    "Financial": "Financial",
    "Personal": "PII",
    "CustomIdentifier": "Custom",
    "Multiple": "PII",
}


class _Severity(Lenient):
    score: float | None = None
    description: str = "Medium"


class _Resources(Lenient):
    s3_bucket: dict[str, Any] | None = None
    s3_object: dict[str, Any] | None = None


class MacieDetail(Lenient):
    id: str = Field(min_length=1)
    account_id: str = Field(pattern=r"^\d{12}$")
    region: str = Field(min_length=1)
    partition: str = "aws"
    type: str = Field(min_length=1)
    title: str = ""
    description: str = ""
    severity: _Severity = _Severity()
    created_at: Timestamp
    updated_at: Timestamp
    count: int = Field(default=1, ge=0)
    category: str | None = None
    archived: bool = False
    sample: bool = False
    resources_affected: _Resources = _Resources()
    classification_details: dict[str, Any] | None = None
    policy_details: dict[str, Any] | None = None


def macie_types(finding_type: str, category: str | None) -> tuple[str, ...]:
    classifier = finding_type.replace("/", "-")
    if finding_type.startswith("SensitiveData") or category == "CLASSIFICATION":
        kind = finding_type.rsplit("/", 1)[-1]
        return (f"Sensitive Data Identifications/{_SENSITIVE_CATEGORY.get(kind, 'PII')}/{classifier}",)
    return (f"Effects/Data Exposure/{classifier}",)


def _severity(description: str) -> Severity:
    try:
        return Severity(description.strip().upper())
    except ValueError:
        return Severity.MEDIUM


def _resources(detail: MacieDetail) -> tuple[FindingResource, ...]:
    bucket = detail.resources_affected.s3_bucket or {}
    found: list[FindingResource] = []
    name = bucket.get("name")
    bucket_arn = bucket.get("arn") or (f"arn:{detail.partition}:s3:::{name}" if name else None)
    if bucket_arn:
        found.append(
            FindingResource(
                type="AwsS3Bucket", id=str(bucket_arn), region=detail.region, tags=tag_map(bucket.get("tags"))
            )
        )
    obj = detail.resources_affected.s3_object or {}
    if obj.get("key") and bucket_arn:
        found.append(
            FindingResource(
                type="AwsS3Object",
                id=f"{bucket_arn}/{obj['key']}",
                region=detail.region,
                tags=tag_map(obj.get("tags")),
            )
        )
    if not found:
        found.append(FindingResource(type="Other", id=f"macie:{detail.id}", region=detail.region))
    return tuple(found)


def normalize_macie(detail: dict[str, Any]) -> NormalizedFinding:
    try:
        parsed = MacieDetail.model_validate(detail)
    except ValidationError as exc:
        raise NormalizationError(f"not a Macie finding: {first_error(exc)}") from exc
    region, account = parsed.region, parsed.account_id
    arn = f"arn:{parsed.partition}:macie2:{region}:{account}:finding/{parsed.id}"
    classification = parsed.classification_details or {}
    result = classification.get("result") or {}
    fields = {
        "secauto/macie/category": parsed.category or "",
        "secauto/macie/jobId": str(classification.get("jobId") or ""),
        "secauto/macie/sensitiveDataOccurrences": str(
            sum(
                int(item.get("totalCount", 0) or 0)
                for item in result.get("sensitiveData") or []
                if isinstance(item, dict)
            )
        )
        if result.get("sensitiveData")
        else "",
    }
    return NormalizedFinding(
        source=FindingSource.MACIE,
        native_id=parsed.id,
        arn=arn,
        account_id=account,
        region=region,
        type=parsed.type,
        title=parsed.title or parsed.type,
        description=parsed.description or parsed.title or parsed.type,
        severity=_severity(parsed.severity.description),
        severity_original=parsed.severity.description,
        created_at=parsed.created_at,
        updated_at=parsed.updated_at,
        first_seen=parsed.created_at,
        last_seen=parsed.updated_at,
        count=parsed.count,
        sample=parsed.sample,
        archived=parsed.archived,
        generator_id=str(classification.get("jobArn") or f"aws/macie/{parsed.type}"),
        types=macie_types(parsed.type, parsed.category),
        resources=_resources(parsed),
        console_url=f"{console_base_url(region)}/macie/home?region={region}#findings?itemId={parsed.id}",
        product_fields={k: v for k, v in fields.items() if v},
    )
