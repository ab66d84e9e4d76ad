"""Root-activity alerts end to end: handler → SNS (moto), Slack (loopback HTTP), Security Hub (moto)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from secauto_core import clients
from secauto_core.asff_validator import REQUIRED, AsffValidationError, validate_finding
from secauto_core.slack_format import inert_problems
from tests.conftest import load_event

CAPABILITY = "root_activity"

CASES = [
    ("root_console_signin_success_no_mfa.json", "CRITICAL", "console-signin"),
    ("root_console_signin_success_mfa.json", "HIGH", "console-signin"),
    ("root_console_signin_failure.json", "MEDIUM", "console-signin-failure"),
    ("root_api_call_iam_create_access_key.json", "HIGH", "api-call"),
    ("root_api_call_break_glass_s3_put_bucket_policy.json", "HIGH", "api-call"),
    ("root_api_call_assume_root_session.json", "MEDIUM", "assumed-root-api-call"),
]


def root_event(name: str) -> dict[str, Any]:
    return load_event(f"root_activity/{name}")


@pytest.mark.parametrize(("name", "severity", "kind"), CASES)
def test_each_root_event_alerts_on_slack_sns_and_security_hub(
    make_account, invoke, slack, name, severity, kind
):
    # Given a root event delivered by EventBridge
    event = root_event(name)
    with make_account(CAPABILITY) as account:
        # When the handler runs
        invocation = invoke(CAPABILITY, event)

        # Then the result names the classification
        assert invocation.result["status"] == "alerted"
        assert (invocation.result["severity"], invocation.result["kind"]) == (severity, kind)

        # SNS: one readable message whose attributes let subscribers filter
        [message] = account.sns_messages()
        assert message["attributes"] == {
            "severity": severity,
            "capability": CAPABILITY,
            "account": "123456789012",
            "region": event["detail"]["awsRegion"],
        }
        assert message["subject"].startswith(f"[{severity}] secauto:")
        assert event["detail"]["eventID"] in message["message"]
        assert "Console: https://" in message["message"]

        # Slack: one Block Kit post received by the loopback server
        [payload] = slack.received()
        header = payload["blocks"][0]
        assert header["type"] == "header" and header["text"]["text"].startswith(f"[{severity}]")
        buttons = [b for b in payload["blocks"] if b["type"] == "actions"]
        assert buttons[0]["elements"][0]["url"].startswith("https://")
        assert "cloudtrail" in buttons[0]["elements"][0]["url"]

        # Security Hub: one finding with every required field, within every limit
        [finding] = account.securityhub_findings()
        assert [field for field in REQUIRED if not finding.get(field)] == []
        assert validate_finding(finding) == []
        assert finding["Severity"]["Label"] == severity
        assert finding["FindingProviderFields"]["Severity"]["Label"] == severity
        assert finding["AwsAccountId"] == "123456789012"
        assert (
            finding["ProductArn"] == "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
        )
        assert finding["Resources"][0]["Type"] == "AwsAccount"
        assert finding["Id"] == invocation.result["securityhub"]["finding_id"]
        assert finding["CreatedAt"].startswith(event["detail"]["eventTime"][:19])


def test_sign_in_without_mfa_is_typed_as_a_best_practice_violation(make_account, invoke):
    with make_account(CAPABILITY) as account:
        invoke(CAPABILITY, root_event("root_console_signin_success_no_mfa.json"))
        [finding] = account.securityhub_findings()
    assert any("Root Sign-In Without MFA" in t for t in finding["Types"])
    assert finding["Network"]["Direction"] == "IN"


def test_duplicate_delivery_alerts_once(make_account, invoke, slack):
    event = root_event("root_console_signin_success_no_mfa.json")
    with make_account(CAPABILITY) as account:
        first = invoke(CAPABILITY, event)
        second = invoke(CAPABILITY, copy.deepcopy(event))
        assert not first.result.get("duplicate")
        assert second.result["duplicate"] is True
        assert second.metrics.get("DuplicateEventsSkipped") == 1
        assert len(account.sns_messages()) == 1
        assert len(slack.received()) == 1
        assert len(account.securityhub_findings()) == 1


def test_slack_failing_still_sends_sns_and_the_failure_is_visible(make_account, invoke, slack):
    slack.respond_with(500, "internal error")
    before = slack.requests_seen
    with make_account(CAPABILITY) as account:
        invocation = invoke(CAPABILITY, root_event("root_api_call_iam_create_access_key.json"))
        assert invocation.result["delivery"] == {"slack": "failed", "sns": "sent"}
        assert len(account.sns_messages()) == 1
        assert len(account.securityhub_findings()) == 1
    # slack_sdk retried the 5xx before giving up
    assert slack.requests_seen - before == 3
    assert "Slack delivery failed" in invocation.log_messages("ERROR")
    assert invocation.metrics.get("SlackDeliveryFailed") == 1


def test_slack_webhook_secret_never_appears_in_logs(make_account, invoke, slack):
    slack.respond_with(500)
    with make_account(CAPABILITY):
        invocation = invoke(CAPABILITY, root_event("root_console_signin_failure.json"))
    text = json.dumps(invocation.logs)
    assert slack.url not in text
    assert "/services/" not in text


def test_an_unreachable_slack_is_reported_and_sns_still_sent(make_account, invoke):
    with make_account(CAPABILITY) as account:
        account.set_slack_webhook("http://127.0.0.1:9/services/T0/B0/closed")
        invocation = invoke(CAPABILITY, root_event("root_console_signin_failure.json"))
        assert invocation.result["delivery"] == {"slack": "failed", "sns": "sent"}
        assert len(account.sns_messages()) == 1


def test_attacker_markup_in_the_user_agent_is_inert_in_slack(make_account, invoke, slack):
    event = root_event("root_console_signin_slack_markup_user_agent.json")
    with make_account(CAPABILITY):
        invoke(CAPABILITY, event)
    [payload] = slack.received()
    body = json.dumps(payload)
    assert "<!channel>" not in body and "<@" not in body and "<https://" not in body
    fields = [f for block in payload["blocks"] for f in block.get("fields", [])]
    user_agent = next(f for f in fields if f["text"].startswith("User agent:"))
    assert user_agent["type"] == "plain_text" and user_agent["emoji"] is False
    assert "&lt;!channel&gt;" in user_agent["text"]


def test_failed_sign_in_burst_is_raised_to_high(make_account, invoke):
    base = root_event("root_console_signin_failure.json")
    start = datetime(2026, 3, 15, 2, 17, 9, tzinfo=UTC)
    severities = []
    with make_account(CAPABILITY, SECAUTO_ROOT_FAILURE_BURST_THRESHOLD="3") as account:
        for index in range(4):
            event = copy.deepcopy(base)
            event["id"] = f"burst-{index}"
            event["detail"]["eventID"] = f"burst-event-{index}"
            event["detail"]["eventTime"] = (start + timedelta(minutes=2 * index)).isoformat()
            severities.append(invoke(CAPABILITY, event).result["severity"])
        # a failure long after the window counts alone again
        late = copy.deepcopy(base)
        late["id"], late["detail"]["eventID"] = "late", "late-event"
        late["detail"]["eventTime"] = (start + timedelta(hours=3)).isoformat()
        late_result = invoke(CAPABILITY, late).result
        assert len(account.sns_messages()) == 5
    assert severities == ["MEDIUM", "MEDIUM", "HIGH", "HIGH"]
    assert late_result["severity"] == "MEDIUM"


def test_expected_source_is_labelled_and_lowered_never_dropped(make_account, invoke):
    event = root_event("root_api_call_break_glass_s3_put_bucket_policy.json")
    with make_account(CAPABILITY, SECAUTO_ROOT_EXPECTED_SOURCE_CIDRS='["198.51.100.0/24"]') as account:
        result = invoke(CAPABILITY, event).result
        [message] = account.sns_messages()
    assert result["severity"] == "MEDIUM"
    assert any(
        label.startswith("expected: expected source network 198.51.100.0/24") for label in result["labels"]
    )
    assert "Label: expected" in message["message"]


def test_break_glass_window_is_labelled_and_lowered(make_account, invoke):
    event = root_event("root_console_signin_success_no_mfa.json")
    moment = datetime.fromisoformat(event["detail"]["eventTime"].replace("Z", "+00:00"))
    window = [
        {
            "start": (moment - timedelta(hours=1)).isoformat(),
            "end": (moment + timedelta(hours=1)).isoformat(),
            "reason": "CHG-1234 root MFA reset",
        }
    ]
    with make_account(CAPABILITY, SECAUTO_ROOT_BREAK_GLASS_WINDOWS=json.dumps(window)):
        result = invoke(CAPABILITY, event).result
    assert result["severity"] == "HIGH"
    assert "expected: break-glass window: CHG-1234 root MFA reset" in result["labels"]


def test_assume_root_session_is_labelled_not_a_password_login(make_account, invoke):
    with make_account(CAPABILITY):
        result = invoke(CAPABILITY, root_event("root_api_call_assume_root_session.json")).result
    assert result["kind"] == "assumed-root-api-call"
    assert "AssumeRoot session (centralized root access)" in result["labels"]


def _reject_first_imports(times: int):
    """Make moto's Security Hub reject the next `times` imports (a finding without resources)."""
    remaining = {"count": times}

    def strip_resources(params: dict[str, Any], **_: Any) -> None:
        if remaining["count"] > 0:
            remaining["count"] -= 1
            params["Findings"] = [{**finding, "Resources": []} for finding in params["Findings"]]

    clients.securityhub().meta.events.register(
        "before-parameter-build.securityhub.BatchImportFindings", strip_resources
    )


def test_security_hub_rejected_findings_are_reported_not_dropped(make_account, invoke):
    # (Retrying transient FailedFindings and throttling is covered with botocore's Stubber in
    # tests/unit/test_securityhub_importer.py: moto only ever rejects with InvalidInput.)
    with make_account(CAPABILITY) as account:
        _reject_first_imports(100)
        invocation = invoke(CAPABILITY, root_event("root_console_signin_failure.json"))
        failed = invocation.result["securityhub"]["failed"]
        assert len(failed) == 1 and failed[0]["error_code"] == "InvalidInput"
        # an invalid finding is not resent: another attempt cannot fix it
        assert invocation.result["securityhub"]["calls"] == 1
        assert "Security Hub did not accept some findings" in invocation.log_messages("ERROR")
        assert invocation.metrics.get("FindingsImportFailed") == 1
        # the alert itself still went out
        assert len(account.sns_messages()) == 1


def test_sns_failure_raises_so_lambda_retries_and_slack_was_still_tried(make_account, invoke, slack):
    with make_account(CAPABILITY) as account:
        account.client("sns").delete_topic(TopicArn=account.topic_arn)
        with pytest.raises(Exception, match="NotFound"):
            invoke(CAPABILITY, root_event("root_console_signin_failure.json"))
    assert len(slack.received()) == 1


def test_malformed_event_is_rejected_with_a_reason_and_parked_in_the_dlq(make_account, invoke):
    event = root_event("root_console_signin_failure.json")
    del event["detail"]["userIdentity"]
    with make_account(CAPABILITY) as account:
        invocation = invoke(CAPABILITY, event)
        parked = account.dlq_messages()
        assert account.sns_messages() == []
    assert invocation.result["status"] == "rejected"
    assert "userIdentity" in invocation.result["reason"]
    assert invocation.result["parked"] is True
    assert parked == [event]
    assert "Rejected an event that cannot be processed" in invocation.log_messages("ERROR")
    assert invocation.metrics.get("InvalidEvents") == 1


def test_a_non_root_event_is_rejected_not_alerted(make_account, invoke):
    with make_account(CAPABILITY) as account:
        invocation = invoke(CAPABILITY, load_event("root_activity/iam_user_console_signin.json"))
        assert invocation.result["status"] == "rejected"
        assert "not 'Root'" in invocation.result["reason"]
        assert account.sns_messages() == []
        assert len(account.dlq_messages()) == 1


# Validated before anything is sent (the fuzzing of every handler is in test_fuzz_handlers.py)


@pytest.mark.parametrize(
    ("where", "value", "reason"),
    [
        (("account",), "not-an-account", "account: String should match pattern"),
        (("account",), "١٢٣٤٥٦٧٨٩٠١٢", "account: String should match pattern"),
        (("region",), "us-east-1\u202e", "region: String should match pattern"),
        (("detail", "awsRegion"), "Mars", "detail.awsRegion: String should match pattern"),
        (("detail", "eventTime"), "9999-12-31T23:00:00-05:00", "detail.eventTime: Value error"),
        (("detail", "eventTime"), "0001-01-01T00:00:00Z", "detail.eventTime: Value error"),
        (("detail", "eventID"), "x" * 5000, "detail.eventID: String should match pattern"),
    ],
)
def test_an_event_no_finding_could_be_made_of_is_rejected_before_anything_is_sent(
    make_account, invoke, slack, where, value, reason
):
    # Given a root event whose account, Region, time or id ASFF, SNS or DynamoDB would refuse
    event = root_event("root_console_signin_success_no_mfa.json")
    target = event
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    with make_account(CAPABILITY) as account:
        # When the handler runs
        invocation = invoke(CAPABILITY, event)
        # Then it is rejected and parked, and nothing went anywhere
        assert invocation.result["status"] == "rejected"
        assert invocation.result["reason"].startswith(f"not a root CloudTrail event: {reason}")
        assert len(account.dlq_messages()) == 1
        assert account.sns_messages() == [] and account.securityhub_findings() == []
    assert slack.received() == []


def test_the_finding_is_built_before_anything_is_sent(make_account, invoke, slack, monkeypatch):
    # Given a finding that cannot be built (a rule the parsing would not know about)
    from root_activity import service

    def refuse(_spec: Any) -> dict[str, Any]:
        raise AsffValidationError(["Title: a rule added later"])

    monkeypatch.setattr(service, "build_finding", refuse)
    with make_account(CAPABILITY) as account:
        # When the handler runs, it fails (Lambda retries, then parks the event)...
        with pytest.raises(AsffValidationError):
            invoke(CAPABILITY, root_event("root_console_signin_success_no_mfa.json"))
        # ...and no alert went out that a retry would send again
        assert account.sns_messages() == [] and account.securityhub_findings() == []
    assert slack.received() == []


def test_invisible_characters_in_the_user_agent_are_shown_not_passed_to_slack(make_account, invoke, slack):
    event = root_event("root_console_signin_failure.json")
    event["detail"]["userAgent"] = "Mozilla/5.0 \u202egnp.exe\u202c @here \u200b\u200b<!channel>"
    with make_account(CAPABILITY):
        assert invoke(CAPABILITY, event).result["status"] == "alerted"
    [payload] = slack.received()
    fields = [f["text"] for block in payload["blocks"] for f in block.get("fields", [])]
    user_agent = next(text for text in fields if text.startswith("User agent:"))
    assert user_agent == "User agent: Mozilla/5.0 \ufffdgnp.exe\ufffd ＠here \ufffd&lt;!channel&gt;"
    assert inert_problems(payload) == []
