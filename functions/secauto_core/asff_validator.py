"""A strict check of ASFF findings against Security Hub's rules.

moto's Security Hub accepts anything, so our tests (and `build_finding`) use this instead. It
checks the required fields, the limits botocore does not check, the Types taxonomy, severity
labels, ISO 8601 times and the product ARN form. It returns problems rather than raising, so a
caller can report all of them at once.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

__all__ = ["MAX_FINDING_BYTES", "AsffValidationError", "validate_finding"]

MAX_FINDING_BYTES = 240 * 1024
REQUIRED = (
    "SchemaVersion",
    "Id",
    "ProductArn",
    "GeneratorId",
    "AwsAccountId",
    "CreatedAt",
    "UpdatedAt",
    "Title",
    "Description",
    "Resources",
    "Severity",
    "Types",
)
TYPE_NAMESPACES = frozenset(
    {
        "Software and Configuration Checks",
        "TTPs",
        "Effects",
        "Unusual Behaviors",
        "Sensitive Data Identifications",
    }
)
SEVERITY_LABELS = frozenset({"INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"})
_PRODUCT_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:securityhub:[a-z0-9-]+:(\d{12})?:product/[\w.-]+/[\w.-]+$")
_ACCOUNT = re.compile(r"^\d{12}$")
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
_LIMITS = {"Id": 512, "GeneratorId": 512, "Title": 256, "Description": 1024, "SourceUrl": 2048}
_TIMES = ("CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt")


class AsffValidationError(ValueError):
    """A finding breaks one or more of Security Hub's rules."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _valid_time(value: Any) -> bool:
    if not isinstance(value, str) or not _ISO_TIME.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _check_types(types: Any, where: str) -> list[str]:
    if not isinstance(types, list) or not types or len(types) > 50:
        return [f"{where}: 1 to 50 types required"]
    problems = []
    for entry in types:
        parts = entry.split("/") if isinstance(entry, str) else []
        if not parts or parts[0] not in TYPE_NAMESPACES or len(parts) > 3 or not all(parts):
            problems.append(f"{where}: {entry!r} is not namespace[/category[/classifier]] of the taxonomy")
    return problems


def _check_severity(severity: Any, where: str) -> list[str]:
    if not isinstance(severity, dict) or severity.get("Label") not in SEVERITY_LABELS:
        return [f"{where}.Label must be one of {sorted(SEVERITY_LABELS)}"]
    return []


_STRINGS = ("SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId", "Title", "Description")


def validate_finding(finding: dict[str, Any]) -> list[str]:
    """Every rule `finding` breaks; an empty list means Security Hub should accept it."""
    problems = [f"{name}: required" for name in REQUIRED if finding.get(name) in (None, "", [], {})]
    problems += [
        f"{name}: must be a string"
        for name in _STRINGS
        if name in finding and not isinstance(finding[name], str)
    ]
    if finding.get("SchemaVersion") not in (None, "2018-10-08"):
        problems.append("SchemaVersion must be 2018-10-08")
    for name, limit in _LIMITS.items():
        value = finding.get(name)
        if isinstance(value, str) and len(value) > limit:
            problems.append(f"{name}: {len(value)} characters, limit {limit}")
    if finding.get("ProductArn") and not _PRODUCT_ARN.match(str(finding["ProductArn"])):
        problems.append(f"ProductArn: {finding['ProductArn']!r} is not a Security Hub product ARN")
    if finding.get("AwsAccountId") and not _ACCOUNT.match(str(finding["AwsAccountId"])):
        problems.append("AwsAccountId: 12 digits required")
    problems += [
        f"{name}: not an ISO 8601 time"
        for name in _TIMES
        if name in finding and not _valid_time(finding[name])
    ]
    if "Types" in finding:
        problems += _check_types(finding["Types"], "Types")
    if "Severity" in finding:
        problems += _check_severity(finding["Severity"], "Severity")
    provider = finding.get("FindingProviderFields") or {}
    if "Types" in provider:
        problems += _check_types(provider["Types"], "FindingProviderFields.Types")
    if "Severity" in provider:
        problems += _check_severity(provider["Severity"], "FindingProviderFields.Severity")
    resources = finding.get("Resources")
    if resources is not None and not isinstance(resources, list):
        problems.append("Resources: must be a list")
    if isinstance(resources, list):
        if not 1 <= len(resources) <= 32:
            problems.append(f"Resources: {len(resources)} given, 1 to 32 allowed")
        for index, resource in enumerate(resources):
            if not isinstance(resource, dict) or not resource.get("Type") or not resource.get("Id"):
                problems.append(f"Resources[{index}]: Type and Id required")
            elif len(str(resource["Id"])) > 512:
                problems.append(f"Resources[{index}].Id: longer than 512 characters")
    fields = finding.get("ProductFields") or {}
    if len(fields) > 50:
        problems.append(f"ProductFields: {len(fields)} keys, limit 50")
    problems += [
        f"ProductFields[{key!r}]: value longer than 2048 characters"
        for key, value in fields.items()
        if len(str(value)) > 2048
    ]
    if finding.get("RecordState") not in (None, "ACTIVE", "ARCHIVED"):
        problems.append("RecordState must be ACTIVE or ARCHIVED")
    # Measured as botocore sends it: json.dumps defaults (non-ASCII escaped).
    size = len(json.dumps(finding, default=str))
    if size > MAX_FINDING_BYTES:
        problems.append(f"finding is {size} bytes, limit {MAX_FINDING_BYTES}")
    return problems
