"""(e) The engine behind secauto_cli.rule_matcher implements the EventBridge semantics our rules
rely on. If a LocalStack upgrade changed any of these, every other rule test would mean less."""

from __future__ import annotations

import pytest

from secauto_cli.rule_matcher import pattern_matches

ROOT_CALL = {
    "source": "aws.iam",
    "detail-type": "AWS API Call via CloudTrail",
    "detail": {"eventType": "AwsApiCall", "userIdentity": {"type": "Root", "accountId": "123456789012"}},
}


def _with_identity(**identity) -> dict:
    return {**ROOT_CALL, "detail": {**ROOT_CALL["detail"], "userIdentity": identity}}


# --- exists: false ---------------------------------------------------------------------------------

NO_INVOKER = {"detail": {"userIdentity": {"invokedBy": [{"exists": False}]}}}


def test_exists_false_matches_a_missing_field() -> None:
    assert pattern_matches(NO_INVOKER, ROOT_CALL)


def test_exists_false_rejects_a_present_field() -> None:
    assert not pattern_matches(
        NO_INVOKER, _with_identity(type="Root", invokedBy="cloudformation.amazonaws.com")
    )
    assert not pattern_matches(NO_INVOKER, _with_identity(type="Root", invokedBy=""))  # empty still exists


def test_exists_false_matches_when_the_parent_is_missing() -> None:
    assert pattern_matches(NO_INVOKER, {"source": "aws.iam", "detail": {}})


def test_exists_true_is_the_opposite() -> None:
    pattern = {"detail": {"userIdentity": {"invokedBy": [{"exists": True}]}}}
    assert not pattern_matches(pattern, ROOT_CALL)
    assert pattern_matches(pattern, _with_identity(type="Root", invokedBy="AWS Internal"))


# --- anything-but ---------------------------------------------------------------------------------

NOT_SERVICE_EVENT = {"detail": {"eventType": [{"anything-but": ["AwsServiceEvent"]}]}}


@pytest.mark.parametrize(
    ("event_type", "matches"),
    [("AwsApiCall", True), ("AwsConsoleAction", True), ("AwsServiceEvent", False), ("awsserviceevent", True)],
)
def test_anything_but_excludes_exactly_the_listed_values(event_type: str, matches: bool) -> None:
    event = {"detail": {"eventType": event_type}}
    assert pattern_matches(NOT_SERVICE_EVENT, event) is matches


def test_anything_but_with_several_values() -> None:
    pattern = {"source": [{"anything-but": ["aws.signin", "aws.sts"]}]}
    assert pattern_matches(pattern, {"source": "aws.iam"})
    assert not pattern_matches(pattern, {"source": "aws.signin"})
    assert not pattern_matches(pattern, {"source": "aws.sts"})


# --- plain values: exact, case-sensitive, arrays as "any of" ---------------------------------------

ROOT_ONLY = {"detail": {"userIdentity": {"type": ["Root"]}}}


@pytest.mark.parametrize("value", ["root", "ROOT", "Root ", "IAMUser", "", None, 0, ["IAMUser"]])
def test_exact_match_is_case_and_type_sensitive(value) -> None:
    assert not pattern_matches(ROOT_ONLY, _with_identity(type=value))


def test_an_event_array_matches_if_any_element_matches() -> None:
    assert pattern_matches(ROOT_ONLY, _with_identity(type=["IAMUser", "Root"]))


def test_several_fields_are_and_ed_and_values_are_or_ed() -> None:
    pattern = {"source": ["aws.signin"], "detail": {"eventName": ["ConsoleLogin", "CheckMfa"]}}
    assert pattern_matches(pattern, {"source": "aws.signin", "detail": {"eventName": "CheckMfa"}})
    assert not pattern_matches(pattern, {"source": "aws.iam", "detail": {"eventName": "CheckMfa"}})
    assert not pattern_matches(pattern, {"source": "aws.signin", "detail": {"eventName": "PasswordUpdated"}})


def test_a_missing_field_never_equals_a_value() -> None:
    assert not pattern_matches(ROOT_ONLY, {"detail": {"userIdentity": {}}})
    assert not pattern_matches(ROOT_ONLY, {"detail": {}})


def test_a_pattern_leaf_does_not_match_an_object() -> None:
    assert not pattern_matches(ROOT_ONLY, _with_identity(type={"Root": "Root"}))


# --- arrays of objects (moto's matcher gets these wrong) ------------------------------------------

HIGH_OR_CRITICAL = {
    "source": ["aws.securityhub"],
    "detail-type": ["Security Hub Findings - Imported"],
    "detail": {"findings": {"Severity": {"Label": ["HIGH", "CRITICAL"]}}},
}


def _imported(*labels: str) -> dict:
    findings = [
        {
            "SchemaVersion": "2018-10-08",
            "Id": f"arn:aws:securityhub:eu-west-1:123456789012:finding/{i}",
            "Severity": {"Label": label, "Original": label},
            "Workflow": {"Status": "NEW"},
        }
        for i, label in enumerate(labels)
    ]
    return {
        "source": "aws.securityhub",
        "detail-type": "Security Hub Findings - Imported",
        "detail": {"findings": findings},
    }


def test_pattern_reaches_into_a_list_of_objects() -> None:
    assert pattern_matches(HIGH_OR_CRITICAL, _imported("HIGH"))


def test_any_element_of_the_list_can_match() -> None:
    assert pattern_matches(HIGH_OR_CRITICAL, _imported("LOW", "MEDIUM", "CRITICAL"))


def test_no_element_matching_means_no_match() -> None:
    assert not pattern_matches(HIGH_OR_CRITICAL, _imported("LOW", "INFORMATIONAL"))
    assert not pattern_matches(HIGH_OR_CRITICAL, _imported())  # empty list


def test_exists_inside_a_list_of_objects() -> None:
    pattern = {"detail": {"findings": {"Severity": {"Label": [{"exists": True}]}}}}
    assert pattern_matches(pattern, _imported("LOW"))
    assert not pattern_matches(pattern, {"detail": {"findings": [{"Id": "x"}]}})


# --- things the rules must not depend on ------------------------------------------------------------


def test_the_two_detail_type_spellings_are_different_strings() -> None:
    # Why the console rule keys on source + eventName: AWS documents both spellings.
    pattern = {"detail-type": ["AWS Console Sign In via CloudTrail"]}
    assert pattern_matches(pattern, {"detail-type": "AWS Console Sign In via CloudTrail"})
    assert not pattern_matches(pattern, {"detail-type": "AWS Console Signin via CloudTrail"})
