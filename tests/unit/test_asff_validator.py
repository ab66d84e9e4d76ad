"""validate_finding catches each kind of problem Security Hub would reject (moto accepts anything)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from unit_factories import make_finding

from secauto_core.asff_validator import MAX_FINDING_BYTES, REQUIRED, AsffValidationError, validate_finding

Mutation = Callable[[dict[str, Any]], None]


def mutated(mutation: Mutation) -> dict[str, Any]:
    finding = copy.deepcopy(make_finding())
    mutation(finding)
    return finding


def test_a_built_finding_is_valid():
    assert validate_finding(make_finding()) == []


@pytest.mark.parametrize("name", REQUIRED)
@pytest.mark.parametrize("empty", ["missing", None, "", []])
def test_each_required_field_missing_or_empty(name, empty):
    def mutation(finding):
        if empty == "missing":
            del finding[name]
        else:
            finding[name] = empty

    problems = validate_finding(mutated(mutation))
    assert f"{name}: required" in problems


def _set(path: str, value: Any) -> Mutation:
    def mutation(finding: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = finding
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutation


CASES: list[tuple[str, Mutation, str]] = [
    ("schema version", _set("SchemaVersion", "2020-01-01"), "SchemaVersion must be 2018-10-08"),
    ("long Id", _set("Id", "i" * 513), "Id: 513 characters, limit 512"),
    ("long GeneratorId", _set("GeneratorId", "g" * 513), "GeneratorId: 513 characters"),
    ("long Title", _set("Title", "t" * 257), "Title: 257 characters, limit 256"),
    ("long Description", _set("Description", "d" * 1025), "Description: 1025 characters, limit 1024"),
    ("long SourceUrl", _set("SourceUrl", "https://x/" + "u" * 2048), "SourceUrl: 2058 characters"),
    ("product ARN", _set("ProductArn", "arn:aws:sns:us-east-1:123456789012:topic"), "ProductArn:"),
    (
        "product ARN partition",
        _set("ProductArn", "arn:aws-xx:securityhub:us-east-1::product/a/b"),
        "ProductArn:",
    ),
    ("account", _set("AwsAccountId", "12345"), "AwsAccountId: 12 digits required"),
    ("account letters", _set("AwsAccountId", "12345678901a"), "AwsAccountId: 12 digits required"),
    ("CreatedAt", _set("CreatedAt", "yesterday"), "CreatedAt: not an ISO 8601 time"),
    ("UpdatedAt no zone", _set("UpdatedAt", "2024-05-01T12:00:00"), "UpdatedAt: not an ISO 8601 time"),
    (
        "impossible date",
        _set("FirstObservedAt", "2024-02-30T12:00:00Z"),
        "FirstObservedAt: not an ISO 8601 time",
    ),
    ("LastObservedAt type", _set("LastObservedAt", 1714560000), "LastObservedAt: not an ISO 8601 time"),
    ("Types namespace", _set("Types", ["Malware/Trojan"]), "Types: 'Malware/Trojan' is not"),
    ("Types depth", _set("Types", ["TTPs/a/b/c"]), "Types: 'TTPs/a/b/c' is not"),
    ("Types empty part", _set("Types", ["TTPs//x"]), "Types: 'TTPs//x' is not"),
    ("Types not strings", _set("Types", [42]), "Types: 42 is not"),
    ("Types too many", _set("Types", ["TTPs/Discovery"] * 51), "Types: 1 to 50 types required"),
    ("Types not a list", _set("Types", "TTPs/Discovery"), "Types: 1 to 50 types required"),
    ("Severity label", _set("Severity", {"Label": "SEVERE"}), "Severity.Label must be one of"),
    ("Severity shape", _set("Severity", "HIGH"), "Severity.Label must be one of"),
    (
        "provider severity",
        _set("FindingProviderFields.Severity", {"Label": "high"}),
        "FindingProviderFields.Severity",
    ),
    (
        "provider types",
        _set("FindingProviderFields.Types", ["Nope/x"]),
        "FindingProviderFields.Types: 'Nope/x'",
    ),
    ("provider types empty", _set("FindingProviderFields.Types", []), "FindingProviderFields.Types: 1 to 50"),
    (
        "too many resources",
        lambda f: f.update(Resources=f["Resources"] * 33),
        "Resources: 33 given, 1 to 32 allowed",
    ),
    ("resource without Id", _set("Resources.0", {"Type": "Other"}), "Resources[0]: Type and Id required"),
    ("resource without Type", _set("Resources.0", {"Id": "x"}), "Resources[0]: Type and Id required"),
    ("resource not an object", _set("Resources.0", "arn:aws:s3:::b"), "Resources[0]: Type and Id required"),
    ("long resource Id", _set("Resources.0.Id", "r" * 513), "Resources[0].Id: longer than 512"),
    (
        "51 product fields",
        _set("ProductFields", {f"k{i}": "v" for i in range(51)}),
        "ProductFields: 51 keys, limit 50",
    ),
    (
        "long product field",
        _set("ProductFields", {"k": "v" * 2049}),
        "ProductFields['k']: value longer than 2048",
    ),
    ("record state", _set("RecordState", "DELETED"), "RecordState must be ACTIVE or ARCHIVED"),
    (
        "size",
        _set("Resources.0.Details", {"Other": {"Blob": "x" * MAX_FINDING_BYTES}}),
        "bytes, limit 245760",
    ),
]


@pytest.mark.parametrize(("mutation", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_kind_of_problem_is_reported(mutation, expected):
    problems = validate_finding(mutated(mutation))
    assert any(expected in problem for problem in problems), problems


def test_all_problems_are_reported_at_once():
    finding = mutated(_set("Title", "t" * 300))
    finding["AwsAccountId"] = "x"
    finding["RecordState"] = "GONE"
    del finding["Types"]
    assert len(validate_finding(finding)) == 4


@pytest.mark.parametrize(
    "moment",
    [
        "2024-05-01T12:00:00Z",
        "2024-05-01T12:00:00.1Z",
        "2024-05-01T12:00:00.123456Z",
        "2024-05-01T14:00:00+02:00",
    ],
)
def test_valid_times(moment):
    assert validate_finding(mutated(_set("CreatedAt", moment))) == []


def test_optional_values_that_are_allowed():
    finding = mutated(_set("RecordState", "ARCHIVED"))
    finding["Types"] = [
        "Sensitive Data Identifications",
        "Unusual Behaviors/User/Odd",
        "Effects/Data Exposure",
    ]
    finding["FindingProviderFields"]["Types"] = list(finding["Types"])
    finding["ProductFields"] = {f"k{i}": "v" * 2048 for i in range(50)}
    finding["ProductArn"] = "arn:aws-us-gov:securityhub:us-gov-west-1::product/aws/guardduty"
    assert validate_finding(finding) == []


def test_validation_error_carries_every_problem():
    error = AsffValidationError(["a: bad", "b: worse"])
    assert error.problems == ["a: bad", "b: worse"]
    assert str(error) == "a: bad; b: worse"
    assert isinstance(error, ValueError)


@pytest.mark.parametrize(
    "mutation",
    [_set("Resources", {"Type": "Other", "Id": "x"}), _set("Title", 12345)],
    ids=["resources-object", "numeric-title"],
)
def test_wrongly_typed_fields_are_reported(mutation):
    assert validate_finding(mutated(mutation)) != []
