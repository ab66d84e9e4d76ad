"""Building AWS Security Finding Format (ASFF) findings that Security Hub accepts.

`build_finding` fills the fields Security Hub requires, cuts text to AWS's limits with a
visible marker instead of failing, derives a deterministic `Id` from what the finding is about
(so a re-delivered event updates the same finding instead of creating another), and checks the
result with `asff_validator.validate_finding`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import IPv4Address, ip_address
from typing import TYPE_CHECKING, Any, Literal

from secauto_core.asff_validator import MAX_FINDING_BYTES, AsffValidationError, validate_finding
from secauto_core.console_links import partition_of

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from secauto_core.severity import Severity

__all__ = [
    "AsffResource",
    "FindingSpec",
    "asff_time",
    "build_finding",
    "default_product_arn",
    "finding_id",
    "inbound_network",
    "truncate",
]

SCHEMA_VERSION = "2018-10-08"
TRUNCATION_MARKER = "…[truncated]"
TITLE_MAX = 256
DESCRIPTION_MAX = 1024
ID_MAX = 512
RESOURCES_MAX = 32
TYPES_MAX = 50
PRODUCT_FIELDS_MAX = 50
PRODUCT_FIELD_KEY_MAX = 128
PRODUCT_FIELD_VALUE_MAX = 2048
SOURCE_URL_MAX = 2048


@dataclass(frozen=True)
class AsffResource:
    type: str
    id: str
    region: str | None = None
    details: Mapping[str, Any] | None = None
    tags: Mapping[str, str] | None = None


@dataclass(frozen=True)
class FindingSpec:
    """What a capability knows about a finding; `build_finding` turns it into ASFF."""

    capability: str
    #: Stable identity of the finding's subject (e.g. a CloudTrail event id or an access key id).
    natural_key: str
    generator_id: str
    account_id: str
    region: str
    title: str
    description: str
    severity: Severity
    types: Sequence[str]
    resources: Sequence[AsffResource]
    created_at: datetime
    updated_at: datetime
    first_observed_at: datetime | None = None
    last_observed_at: datetime | None = None
    severity_original: str | None = None
    source_url: str | None = None
    product_fields: Mapping[str, str] = field(default_factory=dict)
    network: Mapping[str, Any] | None = None
    record_state: Literal["ACTIVE", "ARCHIVED"] = "ACTIVE"
    #: Defaults to the account's own default product (`product/{account}/default`).
    product_arn: str | None = None
    #: An explicit Id (e.g. the native finding ARN, as AWS's own integrations use); by default
    #: a digest of `natural_key`.
    id: str | None = None
    #: ASFF `Workflow.Status` (NEW, NOTIFIED, SUPPRESSED, RESOLVED); omitted when None.
    workflow_status: str | None = None


def inbound_network(source_ip: str | None) -> dict[str, str] | None:
    """The ASFF `Network` block of inbound traffic from `source_ip` (None if not an address)."""
    try:
        address = ip_address(source_ip or "")
    except ValueError:  # e.g. "AWS Internal" or a service name
        return None
    return {
        "Direction": "IN",
        "SourceIpV4" if isinstance(address, IPv4Address) else "SourceIpV6": str(address),
    }


def truncate(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, ending in a visible marker when cut."""
    if len(text) <= limit:
        return text
    return text[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


def asff_time(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a `Z`, the form Security Hub shows."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def default_product_arn(account_id: str, region: str) -> str:
    partition = partition_of(region)
    return f"arn:{partition}:securityhub:{region}:{account_id}:product/{account_id}/default"


def finding_id(capability: str, account_id: str, region: str, natural_key: str) -> str:
    """A deterministic finding Id: the same subject always maps to the same Id."""
    digest = hashlib.sha256(f"{capability}\x1f{account_id}\x1f{region}\x1f{natural_key}".encode()).hexdigest()
    return f"secauto/{capability}/{account_id}/{region}/{digest[:40]}"


def _product_fields(spec: FindingSpec) -> dict[str, str]:
    fields: dict[str, str] = {}
    items = [(str(k), str(v)) for k, v in spec.product_fields.items() if v is not None and str(v) != ""]
    keep = PRODUCT_FIELDS_MAX - 2 if len(items) > PRODUCT_FIELDS_MAX - 1 else PRODUCT_FIELDS_MAX - 1
    for key, value in items[:keep]:
        fields[truncate(key, PRODUCT_FIELD_KEY_MAX)] = truncate(value, PRODUCT_FIELD_VALUE_MAX)
    if len(items) > keep:
        fields["secauto/DroppedProductFields"] = str(len(items) - keep)
    fields["secauto/Capability"] = spec.capability
    return fields


def _resource(resource: AsffResource, spec: FindingSpec) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Type": truncate(resource.type, 256),
        "Id": truncate(resource.id, ID_MAX),
        "Partition": partition_of(spec.region),
        "Region": resource.region or spec.region,
    }
    if resource.details:
        out["Details"] = dict(resource.details)
    if resource.tags:
        out["Tags"] = {truncate(k, 128): truncate(v, 256) for k, v in list(resource.tags.items())[:50]}
    return out


def build_finding(spec: FindingSpec) -> dict[str, Any]:
    """The ASFF finding for `spec`; raises `AsffValidationError` if it still breaks a rule."""
    if not spec.resources:
        raise AsffValidationError(["Resources: at least one resource is required"])
    severity = {
        "Label": spec.severity.value,
        "Original": truncate(spec.severity_original or spec.severity.value, 256),
    }
    types = [truncate(t, 256) for t in spec.types][:TYPES_MAX]
    finding: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": truncate(spec.id, ID_MAX)
        if spec.id
        else finding_id(spec.capability, spec.account_id, spec.region, spec.natural_key),
        "ProductArn": spec.product_arn or default_product_arn(spec.account_id, spec.region),
        "ProductName": "secauto",
        "CompanyName": "secauto",
        "GeneratorId": truncate(spec.generator_id, 512),
        "AwsAccountId": spec.account_id,
        "Region": spec.region,
        "Types": types,
        "CreatedAt": asff_time(spec.created_at),
        "UpdatedAt": asff_time(spec.updated_at),
        "Severity": severity,
        "Title": truncate(spec.title, TITLE_MAX),
        "Description": truncate(spec.description, DESCRIPTION_MAX),
        "Resources": [_resource(r, spec) for r in spec.resources[:RESOURCES_MAX]],
        "ProductFields": _product_fields(spec),
        "RecordState": spec.record_state,
        "FindingProviderFields": {"Severity": dict(severity), "Types": list(types)},
    }
    if spec.first_observed_at:
        finding["FirstObservedAt"] = asff_time(spec.first_observed_at)
    if spec.last_observed_at:
        finding["LastObservedAt"] = asff_time(spec.last_observed_at)
    if spec.source_url:
        finding["SourceUrl"] = spec.source_url[:SOURCE_URL_MAX]
    if spec.network:
        finding["Network"] = dict(spec.network)
    if spec.workflow_status:
        finding["Workflow"] = {"Status": spec.workflow_status}
    _fit_size(finding)
    problems = validate_finding(finding)
    if problems:
        raise AsffValidationError(problems)
    return finding


def _size(finding: dict[str, Any]) -> int:
    return len(json.dumps(finding, default=str))


def _fit_size(finding: dict[str, Any]) -> None:
    """Shrink `finding` in place below Security Hub's 240 KB, least important parts first."""
    if _size(finding) <= MAX_FINDING_BYTES:
        return
    fields = finding["ProductFields"]
    for key in fields:
        fields[key] = truncate(fields[key], 256)
    if _size(finding) > MAX_FINDING_BYTES:
        kept = dict(list(fields.items())[:10])
        kept["secauto/DroppedProductFields"] = str(len(fields) - len(kept))
        finding["ProductFields"] = kept
    for resource in finding["Resources"]:
        if _size(finding) <= MAX_FINDING_BYTES:
            break
        if resource.pop("Details", None) is not None:
            resource["Tags"] = {**resource.get("Tags", {}), "secauto:DetailsDropped": "size"}
