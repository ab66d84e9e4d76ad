"""GuardDuty findings (`aws.guardduty` / "GuardDuty Finding") into the internal model.

Follows AWS's own GuardDuty-to-ASFF mapping where it is documented: the finding ARN is the Id,
the detector ARN the generator, severity 1-3.9 / 4-6.9 / 7-8.9 / 9-10 is LOW / MEDIUM / HIGH /
CRITICAL (the number kept as `Original`). AWS maps Types per finding type, not per threat
purpose: the types AWS documents are in `_TYPE_CATEGORIES`; others fall back to their threat
purpose's usual category.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from pydantic import Field, ValidationError

from findings.model import FindingResource, NormalizationError, NormalizedFinding
from findings.parsing import JsonObject, Lenient, Timestamp, first_error, tag_map
from findings.settings import FindingSource
from secauto_core.console_links import console_base_url
from secauto_core.severity import Severity

__all__ = ["GuardDutyDetail", "normalize_guardduty", "severity_label", "threat_types"]

#: Finding types (shell-style patterns) AWS maps to a specific namespace/category, in order.
_TYPE_CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("*InstanceCredentialExfiltration*", ("Effects/Data Exfiltration",)),
    ("CryptoCurrency:*", ("TTPs/Command and Control", "Effects/Resource Consumption")),
    ("*TorRelay*", ("Effects/Resource Consumption",)),
    ("Policy:S3/*", ("Effects/Data Exposure",)),
    ("*IAMUser/ConsoleLogin*", ("Unusual Behaviors/User",)),
    ("Trojan:*DGADomainRequest*", ("TTPs/Command and Control",)),
    ("Trojan:*BlackholeTraffic*", ("TTPs/Command and Control",)),
)

#: Otherwise, the threat purpose (the part of the type before ":") → ASFF namespace/category.
_THREAT_PURPOSE = {
    "Backdoor": "TTPs/Command and Control",
    "Behavior": "Unusual Behaviors/VM",
    "CredentialAccess": "TTPs/Credential Access",
    "CryptoCurrency": "Effects/Resource Consumption",
    "DefenseEvasion": "TTPs/Defense Evasion",
    "Discovery": "TTPs/Discovery",
    "Execution": "TTPs/Execution",
    "Exfiltration": "Effects/Data Exfiltration",
    "Impact": "Effects/Resource Consumption",
    "InitialAccess": "TTPs/Initial Access",
    "Object": "TTPs/Execution",
    "Pentest": "TTPs/Discovery",
    "Persistence": "TTPs/Persistence",
    "Policy": "Software and Configuration Checks/AWS Security Best Practices",
    "PrivilegeEscalation": "TTPs/Privilege Escalation",
    "Recon": "TTPs/Discovery",
    "Stealth": "TTPs/Defense Evasion",
    "Trojan": "TTPs/Execution",
    "UnauthorizedAccess": "TTPs/Initial Access",
}
_DEFAULT_PURPOSE = "Unusual Behaviors/Application"


class _Service(Lenient):
    service_name: str | None = None
    detector_id: str | None = None
    action: dict[str, Any] | None = None
    additional_info: JsonObject = None
    event_first_seen: Timestamp | None = None
    event_last_seen: Timestamp | None = None
    archived: bool = False
    count: int = Field(default=1, ge=0)
    resource_role: str | None = None


class _Resource(Lenient):
    resource_type: str = "Unknown"
    instance_details: dict[str, Any] | None = None
    access_key_details: dict[str, Any] | None = None
    s3_bucket_details: list[dict[str, Any]] | None = None
    eks_cluster_details: dict[str, Any] | None = None
    lambda_details: dict[str, Any] | None = None
    rds_db_instance_details: dict[str, Any] | None = None
    ecs_cluster_details: dict[str, Any] | None = None


class GuardDutyDetail(Lenient):
    account_id: str = Field(pattern=r"^\d{12}$")
    region: str = Field(min_length=1)
    partition: str = "aws"
    id: str = Field(min_length=1)
    arn: str = Field(min_length=1)
    type: str = Field(min_length=1)
    resource: _Resource = _Resource()
    service: _Service = _Service()
    severity: float = Field(ge=0, le=10)
    created_at: Timestamp
    updated_at: Timestamp
    title: str = ""
    description: str = ""


def severity_label(score: float) -> Severity:
    if score >= 9:
        return Severity.CRITICAL
    if score >= 7:
        return Severity.HIGH
    if score >= 4:
        return Severity.MEDIUM
    if score >= 1:
        return Severity.LOW
    return Severity.INFORMATIONAL


def threat_types(finding_type: str) -> tuple[str, ...]:
    """ASFF Types for a GuardDuty type: `<namespace/category>/<type with '/' as '-'>`."""
    classifier = finding_type.replace("/", "-")
    for pattern, prefixes in _TYPE_CATEGORIES:
        if fnmatchcase(finding_type, pattern):
            return tuple(f"{prefix}/{classifier}" for prefix in prefixes)
    purpose = finding_type.split(":", 1)[0]
    return (f"{_THREAT_PURPOSE.get(purpose, _DEFAULT_PURPOSE)}/{classifier}",)


def _resources(detail: GuardDutyDetail) -> tuple[FindingResource, ...]:
    resource, partition, region, account = detail.resource, detail.partition, detail.region, detail.account_id
    found: list[FindingResource] = []
    if resource.instance_details and resource.instance_details.get("instanceId"):
        instance = resource.instance_details
        found.append(
            FindingResource(
                type="AwsEc2Instance",
                id=f"arn:{partition}:ec2:{region}:{account}:instance/{instance['instanceId']}",
                region=region,
                details={
                    "AwsEc2Instance": {
                        k: v
                        for k, v in {
                            "Type": instance.get("instanceType"),
                            "ImageId": instance.get("imageId"),
                            "LaunchedAt": instance.get("launchTime"),
                        }.items()
                        if v
                    }
                },
                tags=tag_map(instance.get("tags")),
            )
        )
    if resource.access_key_details and resource.access_key_details.get("accessKeyId"):
        access_key = resource.access_key_details
        principal = {
            "PrincipalId": access_key.get("principalId"),
            "PrincipalName": access_key.get("userName"),
            "PrincipalType": access_key.get("userType"),
        }
        found.append(
            FindingResource(
                type="AwsIamAccessKey",
                id=f"AWS::IAM::AccessKey:{access_key['accessKeyId']}",
                region=region,
                details={"AwsIamAccessKey": {k: v for k, v in principal.items() if v}},
            )
        )
    for bucket in resource.s3_bucket_details or []:
        if not isinstance(bucket, dict):
            continue
        name = bucket.get("name") or str(bucket.get("arn", "")).rsplit(":", 1)[-1]
        if name:
            found.append(
                FindingResource(
                    type="AwsS3Bucket",
                    id=bucket.get("arn") or f"arn:{partition}:s3:::{name}",
                    region=region,
                    tags=tag_map(bucket.get("tags")),
                )
            )
    for kind, details, arn_key in (
        ("AwsEksCluster", resource.eks_cluster_details, "arn"),
        ("AwsLambdaFunction", resource.lambda_details, "functionArn"),
        ("AwsRdsDbInstance", resource.rds_db_instance_details, "dbInstanceArn"),
        ("AwsEcsCluster", resource.ecs_cluster_details, "arn"),
    ):
        if details and details.get(arn_key):
            found.append(
                FindingResource(
                    type=kind, id=str(details[arn_key]), region=region, tags=tag_map(details.get("tags"))
                )
            )
    if not found:
        found.append(FindingResource(type="Other", id=f"{resource.resource_type}:{detail.id}", region=region))
    return tuple(found)


def _remote_ip(action: dict[str, Any] | None) -> str | None:
    if not action:
        return None
    details = []
    for name in (
        "networkConnectionAction",
        "awsApiCallAction",
        "kubernetesApiCallAction",
        "rdsLoginAttemptAction",
    ):
        block = action.get(name) or {}
        details.append(block.get("remoteIpDetails") or {})
    probe = action.get("portProbeAction") or {}
    for item in probe.get("portProbeDetails") or []:
        details.append((item or {}).get("remoteIpDetails") or {})
    for remote in details:
        address = remote.get("ipAddressV4") or remote.get("ipAddressV6")
        if address:
            return str(address)
    return None


def normalize_guardduty(detail: dict[str, Any]) -> NormalizedFinding:
    try:
        parsed = GuardDutyDetail.model_validate(detail)
    except ValidationError as exc:
        raise NormalizationError(f"not a GuardDuty finding: {first_error(exc)}") from exc
    service = parsed.service
    additional = service.additional_info or {}
    region = parsed.region
    console = (
        f"{console_base_url(region)}/guardduty/home?region={region}#/findings?macros=current&fId={parsed.id}"
    )
    remote_ip = _remote_ip(service.action)
    fields = {
        "secauto/guardduty/service/serviceName": service.service_name or "guardduty",
        "secauto/guardduty/service/resourceRole": service.resource_role or "",
        "secauto/guardduty/service/count": str(service.count),
        "secauto/guardduty/service/archived": str(service.archived).lower(),
        "secauto/RemoteIp": remote_ip or "",
    }
    return NormalizedFinding(
        source=FindingSource.GUARDDUTY,
        native_id=parsed.id,
        arn=parsed.arn,
        account_id=parsed.account_id,
        region=region,
        type=parsed.type,
        title=parsed.title or parsed.type,
        description=parsed.description or parsed.title or parsed.type,
        severity=severity_label(parsed.severity),
        severity_original=f"{parsed.severity:g}",
        created_at=parsed.created_at,
        updated_at=parsed.updated_at,
        first_seen=service.event_first_seen,
        last_seen=service.event_last_seen,
        count=service.count,
        sample=str(additional.get("sample", "")).lower() == "true",
        archived=service.archived,
        generator_id=f"arn:{parsed.partition}:guardduty:{region}:{parsed.account_id}:detector/{service.detector_id}"
        if service.detector_id
        else f"guardduty/{parsed.type}",
        types=threat_types(parsed.type),
        resources=_resources(parsed),
        console_url=console,
        product_fields={k: v for k, v in fields.items() if v},
        remote_ip=remote_ip,
    )
