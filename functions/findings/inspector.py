"""Amazon Inspector findings (`aws.inspector2` / "Inspector2 Finding") into the internal model.

The finding ARN is the Id; Inspector's label (UNTRIAGED read as INFORMATIONAL) is the severity
with the Inspector score as `Original`; a CLOSED finding is archived and resolved, a SUPPRESSED
one keeps its workflow status. Inspector's timestamps arrive in several non-ISO styles.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError

from findings.model import FindingResource, NormalizationError, NormalizedFinding
from findings.parsing import Lenient, Timestamp, first_error, tag_map
from findings.settings import FindingSource
from secauto_core.console_links import console_base_url
from secauto_core.severity import Severity

__all__ = ["InspectorDetail", "inspector_types", "normalize_inspector"]

_CHECKS = "Software and Configuration Checks"
_TYPES = {
    "PACKAGE_VULNERABILITY": f"{_CHECKS}/Vulnerabilities/CVE",
    "CODE_VULNERABILITY": f"{_CHECKS}/Vulnerabilities/Code Vulnerability",
    "NETWORK_REACHABILITY": f"{_CHECKS}/AWS Security Best Practices/Network Reachability",
}
_RESOURCE_TYPES = {
    "AWS_EC2_INSTANCE": "AwsEc2Instance",
    "AWS_ECR_CONTAINER_IMAGE": "AwsEcrContainerImage",
    "AWS_ECR_REPOSITORY": "AwsEcrRepository",
    "AWS_LAMBDA_FUNCTION": "AwsLambdaFunction",
    "CODE_REPOSITORY": "CodeRepository",
}
_WORKFLOW = {"ACTIVE": "NEW", "SUPPRESSED": "SUPPRESSED", "CLOSED": "RESOLVED"}


class _Resource(Lenient):
    id: str = Field(min_length=1)
    type: str = "OTHER"
    partition: str | None = None
    region: str | None = None
    tags: dict[str, Any] | list[Any] | None = None


class InspectorDetail(Lenient):
    finding_arn: str = Field(min_length=1)
    aws_account_id: str = Field(pattern=r"^\d{12}$")
    type: str = "PACKAGE_VULNERABILITY"
    title: str = ""
    description: str = ""
    severity: str = "UNTRIAGED"
    inspector_score: float | None = None
    status: str = "ACTIVE"
    first_observed_at: Timestamp
    last_observed_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    resources: list[_Resource] = Field(default_factory=list)
    package_vulnerability_details: dict[str, Any] | None = None
    remediation: dict[str, Any] | None = None
    fix_available: str | None = None
    exploit_available: str | None = None


def inspector_types(finding_type: str) -> tuple[str, ...]:
    return (_TYPES.get(finding_type, f"Software and Configuration Checks/Vulnerabilities/{finding_type}"),)


def _severity(label: str) -> Severity:
    try:
        return Severity(label.strip().upper())
    except ValueError:
        return Severity.INFORMATIONAL  # UNTRIAGED


def _region_of(arn: str, fallback: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else fallback


def _resource_id(resource: _Resource, region: str, account: str) -> str:
    if resource.type == "AWS_EC2_INSTANCE" and not resource.id.startswith("arn:"):
        return f"arn:{resource.partition or 'aws'}:ec2:{region}:{account}:instance/{resource.id}"
    return resource.id


def normalize_inspector(detail: dict[str, Any], event_region: str = "") -> NormalizedFinding:
    try:
        parsed = InspectorDetail.model_validate(detail)
    except ValidationError as exc:
        raise NormalizationError(f"not an Inspector finding: {first_error(exc)}") from exc
    account = parsed.aws_account_id
    region = _region_of(parsed.finding_arn, event_region or "us-east-1")
    resources = tuple(
        FindingResource(
            type=_RESOURCE_TYPES.get(resource.type, "Other"),
            id=_resource_id(resource, resource.region or region, account),
            region=resource.region or region,
            tags=tag_map(resource.tags),
        )
        for resource in parsed.resources
    ) or (FindingResource(type="Other", id=parsed.finding_arn, region=region),)
    vulnerability = parsed.package_vulnerability_details or {}
    recommendation = (parsed.remediation or {}).get("recommendation") or {}
    fields = {
        "secauto/inspector/vulnerabilityId": str(vulnerability.get("vulnerabilityId") or ""),
        "secauto/inspector/inspectorScore": ""
        if parsed.inspector_score is None
        else f"{parsed.inspector_score:g}",
        "secauto/inspector/fixAvailable": parsed.fix_available or "",
        "secauto/inspector/exploitAvailable": parsed.exploit_available or "",
        "secauto/inspector/status": parsed.status,
        "secauto/inspector/remediation": str(recommendation.get("text") or ""),
    }
    updated = parsed.updated_at or parsed.last_observed_at or parsed.first_observed_at
    finding_id = parsed.finding_arn.rsplit("/", 1)[-1]
    console = (
        f"{console_base_url(region)}/inspector/v2/home?region={region}"
        f"#/findings/all?findingArn={parsed.finding_arn}"
    )
    return NormalizedFinding(
        source=FindingSource.INSPECTOR,
        native_id=finding_id,
        arn=parsed.finding_arn,
        account_id=account,
        region=region,
        type=parsed.type,
        title=parsed.title or str(vulnerability.get("vulnerabilityId") or parsed.type),
        description=parsed.description or parsed.title or parsed.type,
        severity=_severity(parsed.severity),
        severity_original=f"{parsed.inspector_score:g}"
        if parsed.inspector_score is not None
        else parsed.severity,
        created_at=parsed.first_observed_at,
        updated_at=updated,
        first_seen=parsed.first_observed_at,
        last_seen=parsed.last_observed_at,
        count=1,
        sample=False,
        archived=parsed.status == "CLOSED",
        generator_id="AWSInspector",
        types=inspector_types(parsed.type),
        resources=resources,
        console_url=console,
        product_fields={k: v for k, v in fields.items() if v},
        workflow_status=_WORKFLOW.get(parsed.status, "NEW"),
    )
