"""The findings rules (GuardDuty, Macie, Inspector) and their event corpus in events/findings/.

The rules key on source + detail-type only: every finding, archived, sample, closed or foreign,
reaches the handler, which decides. They must never consume Security Hub's own events (an import
loop), nor other events of the same services, nor look-alikes from a custom source.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rules_testlib import EventCase, event_cases

from secauto_cli.rule_matcher import matching_rules
from secauto_infra.rule_catalog import RuleSpec, load_rules

RULES = load_rules()
FINDINGS_RULES = [spec for spec in RULES if spec.capability == "findings"]
CASES = {case.stem: case for case in event_cases() if case.capability == "findings"}

# The documented (source, detail-type) of each service's finding events.
FINDING_EVENTS = {
    "findings.guardduty": ("aws.guardduty", "GuardDuty Finding"),
    "findings.macie": ("aws.macie", "Macie Finding"),
    "findings.inspector": ("aws.inspector2", "Inspector2 Finding"),
}
IMPORTED = "Security Hub Findings - Imported"


def _load(stem: str) -> dict[str, Any]:
    return dict(CASES[stem].load())


def _matched(event: dict[str, Any]) -> set[str]:
    return {spec.name for spec in matching_rules(event, RULES)}


def _positives() -> list[EventCase]:
    return [case for case in CASES.values() if case.expected_rules]


# --- the rules themselves ---------------------------------------------------------------------------


def test_each_service_has_exactly_its_rule() -> None:
    assert {spec.name for spec in FINDINGS_RULES} == set(FINDING_EVENTS)


@pytest.mark.parametrize("spec", FINDINGS_RULES, ids=lambda spec: spec.name)
def test_rule_is_source_and_detail_type_only(spec: RuleSpec) -> None:
    # Nothing under detail: filtering archived/sample/closed findings is the handler's decision,
    # where it is logged and tested, not a silent drop on the bus.
    source, detail_type = FINDING_EVENTS[spec.name]
    assert spec.pattern == {"source": [source], "detail-type": [detail_type]}


@pytest.mark.parametrize("spec", FINDINGS_RULES, ids=lambda spec: spec.name)
def test_rule_never_names_security_hub(spec: RuleSpec) -> None:
    text = json.dumps(spec.pattern)
    assert "securityhub" not in text.lower()
    assert "Imported" not in text


# --- the import-loop guard ------------------------------------------------------------------------


def test_imported_event_reaches_no_rule_even_relabelled() -> None:
    event = _load("securityhub_imported_guardduty_finding")
    assert _matched(event) == set()
    for _, detail_type in FINDING_EVENTS.values():
        assert _matched({**event, "detail-type": detail_type}) == set()  # source still aws.securityhub


@pytest.mark.parametrize("case", _positives(), ids=lambda case: case.stem)
def test_a_finding_republished_by_security_hub_matches_no_findings_rule(case: EventCase) -> None:
    event = case.load()
    for detail_type in (IMPORTED, event["detail-type"]):
        relabelled = {**event, "source": "aws.securityhub", "detail-type": detail_type}
        assert not {name for name in _matched(relabelled) if name.startswith("findings.")}


# --- negatives are near misses: changing the one guarded field makes them match ------------------

NEAR_MISSES = [
    pytest.param(
        "guardduty_malware_protection_object_scan_result",
        {"detail-type": "GuardDuty Finding"},
        {"findings.guardduty"},
        id="scan-result-as-finding",
    ),
    pytest.param(
        "guardduty_archive_findings_api_call_via_cloudtrail",
        {"detail-type": "GuardDuty Finding"},
        {"findings.guardduty"},
        id="cloudtrail-call-as-finding",
    ),
    pytest.param(
        "macie_finding_spoofed_custom_source", {"source": "aws.macie"}, {"findings.macie"}, id="spoof-as-aws"
    ),
    pytest.param(
        "inspector2_scan_initial_scan_complete",
        {"detail-type": "Inspector2 Finding"},
        {"findings.inspector"},
        id="scan-as-finding",
    ),
    pytest.param(
        "inspector2_coverage_unmanaged_instance",
        {"detail-type": "Inspector2 Finding"},
        {"findings.inspector"},
        id="coverage-as-finding",
    ),
]


@pytest.mark.parametrize(("stem", "changes", "expected"), NEAR_MISSES)
def test_near_miss(stem: str, changes: dict[str, str], expected: set[str]) -> None:
    event = _load(stem)
    assert _matched(event) == set()
    assert _matched({**event, **changes}) == expected


@pytest.mark.parametrize(
    "detail_type",
    [
        "GuardDuty Findings",
        "guardduty finding",
        "GuardDuty Finding ",
        "Macie Alert",  # Macie Classic
        "Macie Finding Updated",
        "Inspector Finding",  # Inspector Classic wording
        "Inspector2 finding",
        "Inspector2 Scan",
        IMPORTED,
        "Findings Imported V2",
    ],
)
def test_look_alike_detail_types_match_nothing(detail_type: str) -> None:
    for case in _positives():
        assert _matched({**case.load(), "detail-type": detail_type}) == set(), case.stem


@pytest.mark.parametrize(
    "source", ["custom.guardduty", "aws.inspector", "aws.macie2", "AWS.GUARDDUTY", "aws.guardduty "]
)
def test_look_alike_sources_match_nothing(source: str) -> None:
    for case in _positives():
        assert _matched({**case.load(), "source": source}) == set(), case.stem


# --- the rules ignore detail: any damage there still reaches the handler ---------------------------

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@SETTINGS
@given(st.sampled_from(sorted(case.stem for case in _positives())), st.data())
def test_positives_match_their_rule_whatever_the_detail(stem: str, data: st.DataObject) -> None:
    event = copy.deepcopy(_load(stem))
    keys = sorted(event["detail"])
    for key in data.draw(st.lists(st.sampled_from(keys), max_size=4, unique=True)):
        if data.draw(st.booleans()):
            del event["detail"][key]
        else:
            event["detail"][key] = data.draw(json_values)
    # Only the findings rules: auto_block.guardduty keys on `detail.type`, which this test varies.
    findings_rules = {name for name in CASES[stem].expected_rules if name.startswith("findings.")}
    assert {name for name in _matched(event) if name.startswith("findings.")} == findings_rules


# --- the corpus covers the drift the handler must survive ------------------------------------------


def _details(prefix: str) -> dict[str, dict[str, Any]]:
    return {
        stem: case.load()["detail"]
        for stem, case in CASES.items()
        if stem.startswith(prefix) and case.expected_rules
    }


def test_redelivered_guardduty_finding_sorts_after_the_first_and_updates_it() -> None:
    stems = sorted(stem for stem in CASES if stem.startswith("guardduty_ssh_brute_force_"))
    assert len(stems) == 2
    first, second = (_load(stem) for stem in stems)
    assert first["detail"]["id"] == second["detail"]["id"]
    assert first["detail"]["arn"] == second["detail"]["arn"]
    assert first["id"] != second["id"]  # a new EventBridge event
    assert second["time"] > first["time"]
    assert second["detail"]["updatedAt"] > first["detail"]["updatedAt"]
    assert second["detail"]["service"]["count"] > first["detail"]["service"]["count"]


def test_guardduty_corpus_covers_the_known_drift() -> None:
    details = _details("guardduty_")
    infos = [d["service"].get("additionalInfo") for d in details.values()]
    value_form = [i for i in infos if isinstance(i, dict) and set(i) == {"value", "type"}]
    assert value_form and all(isinstance(json.loads(i["value"]), dict) for i in value_form)
    assert any(isinstance(i, dict) and "value" not in i for i in infos)  # the free-form object
    assert any(isinstance(d["severity"], str) for d in details.values())
    assert any(isinstance(d["service"]["count"], str) for d in details.values())
    assert any(d["service"].get("additionalInfo", {}).get("sample") is True for d in details.values())
    assert any(d["service"]["archived"] is True for d in details.values())
    assert any(d["resource"]["resourceType"] == "AccessKey" for d in details.values())
    assert any(d["accountId"] != "123456789012" for d in details.values())


def test_macie_corpus_covers_both_categories_samples_and_archive() -> None:
    details = _details("macie_")
    assert {d["category"] for d in details.values()} == {"CLASSIFICATION", "POLICY"}
    assert any(d["sample"] is True for d in details.values())
    assert any(d["archived"] is True for d in details.values())


def test_inspector_corpus_covers_timestamp_styles_types_and_status() -> None:
    details = _details("inspector_")
    stamps = [d["firstObservedAt"] for d in details.values()]
    assert any(s[:4].isdigit() and "T" in s for s in stamps), "ISO 8601"
    assert any(s.endswith(" UTC 2026") for s in stamps), "'Wed Sep 04 16:59:44.356 UTC 2024' style"
    assert any(s.endswith(" PM") or s.endswith(" AM") for s in stamps), "'Dec 3, 2021, 6:02:30 PM' style"
    assert {d["type"] for d in details.values()} >= {"PACKAGE_VULNERABILITY", "NETWORK_REACHABILITY"}
    assert {r["type"] for d in details.values() for r in d["resources"]} >= {
        "AWS_EC2_INSTANCE",
        "AWS_ECR_CONTAINER_IMAGE",
        "AWS_LAMBDA_FUNCTION",
    }
    assert "CLOSED" in {d["status"] for d in details.values()}
    assert any(value is None for d in details.values() for value in d.values())
