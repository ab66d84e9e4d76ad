"""Findings fan-out end to end against moto (SNS, DynamoDB, Security Hub) and a loopback Slack."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secauto_cli.demo import expected_rules, sample_events
from secauto_core.asff_validator import validate_finding
from tests.conftest import load_event

CAPABILITY = "findings"
IMPORT = {"SECAUTO_FINDINGS_INTEGRATION_MODE": "import"}
NATIVE = {"SECAUTO_FINDINGS_INTEGRATION_MODE": "native"}
FINDING_EVENTS = sorted(
    path.stem for path in sample_events() if path.parent.name == CAPABILITY and expected_rules(path)
)


def finding_event(stem: str) -> dict[str, Any]:
    return load_event(f"findings/{stem}.json")


def asff_by_id(account) -> dict[str, dict[str, Any]]:
    return {finding["Id"]: finding for finding in account.securityhub_findings()}


def sqs_batch(events: list[Any]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"msg-{index}",
                "receiptHandle": f"rh-{index}",
                "body": event if isinstance(event, str) else json.dumps(event),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:secauto-findings",
                "awsRegion": "us-east-1",
            }
            for index, event in enumerate(events)
        ]
    }


# --- each source, field by field ---------------------------------------------------------------


def test_guardduty_mapping_field_by_field(make_account, invoke):
    event = finding_event("guardduty_ssh_brute_force_1_first_delivery")
    detail = event["detail"]
    with make_account(CAPABILITY, **IMPORT) as account:
        invoke(CAPABILITY, event)
        finding = asff_by_id(account)[detail["arn"]]
    assert (
        finding["GeneratorId"]
        == f"arn:aws:guardduty:eu-west-1:123456789012:detector/{detail['service']['detectorId']}"
    )
    assert finding["Types"] == ["TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce"]
    assert finding["Severity"] == {"Label": "HIGH", "Original": "8"}
    assert finding["FindingProviderFields"]["Severity"] == finding["Severity"]
    assert finding["CreatedAt"].startswith(detail["createdAt"][:19])
    assert finding["UpdatedAt"].startswith(detail["updatedAt"][:19])
    assert finding["FirstObservedAt"].startswith(detail["service"]["eventFirstSeen"][:19])
    [resource] = finding["Resources"]
    instance_id = detail["resource"]["instanceDetails"]["instanceId"]
    assert resource["Type"] == "AwsEc2Instance"
    assert resource["Id"] == f"arn:aws:ec2:eu-west-1:123456789012:instance/{instance_id}"
    assert resource["Region"] == "eu-west-1"
    assert resource["Tags"]["Name"] == "build-runner-07"
    assert resource["Details"]["AwsEc2Instance"]["Type"] == "c6i.large"
    assert finding["SourceUrl"].startswith("https://eu-west-1.console.aws.amazon.com/guardduty/home")
    assert detail["id"] in finding["SourceUrl"]
    assert finding["ProductFields"]["secauto/Count"] == "3"
    assert finding["ProductFields"]["secauto/NativeType"] == "UnauthorizedAccess:EC2/SSHBruteForce"
    assert finding["Network"]["Direction"] == "IN"
    assert finding["RecordState"] == "ACTIVE"
    assert not any(key.startswith("aws/") for key in finding["ProductFields"])  # reserved for AWS


def test_guardduty_access_key_finding_with_additional_info_as_a_json_string(make_account, invoke):
    event = finding_event("guardduty_instance_credential_exfiltration_access_key")
    with make_account(CAPABILITY, **IMPORT) as account:
        invoke(CAPABILITY, event)
        finding = asff_by_id(account)[event["detail"]["arn"]]
    key_id = event["detail"]["resource"]["accessKeyDetails"]["accessKeyId"]
    assert finding["Resources"][0]["Type"] == "AwsIamAccessKey"
    assert finding["Resources"][0]["Id"] == f"AWS::IAM::AccessKey:{key_id}"
    assert finding["Types"][0].startswith("Effects/Data Exfiltration/")


def test_macie_mapping_field_by_field(make_account, invoke):
    event = finding_event("macie_sensitive_data_personal_high")
    detail = event["detail"]
    arn = f"arn:aws:macie2:eu-west-1:123456789012:finding/{detail['id']}"
    with make_account(CAPABILITY, **IMPORT) as account:
        invoke(CAPABILITY, event)
        finding = asff_by_id(account)[arn]
    assert finding["Types"] == ["Sensitive Data Identifications/PII/SensitiveData:S3Object-Personal"]
    assert finding["Severity"] == {"Label": "HIGH", "Original": "High"}
    bucket, obj = finding["Resources"]
    assert (bucket["Type"], bucket["Id"]) == ("AwsS3Bucket", "arn:aws:s3:::example-crm-exports")
    key = detail["resourcesAffected"]["s3Object"]["key"]
    assert (obj["Type"], obj["Id"]) == ("AwsS3Object", f"arn:aws:s3:::example-crm-exports/{key}")
    assert finding["SourceUrl"].startswith("https://eu-west-1.console.aws.amazon.com/macie/")
    assert finding["ProductFields"]["secauto/macie/category"] == "CLASSIFICATION"


def test_inspector_mapping_with_non_iso_timestamps(make_account, invoke):
    event = finding_event("inspector_ecr_image_package_vulnerability_high")
    detail = event["detail"]
    with make_account(CAPABILITY, **IMPORT) as account:
        invoke(CAPABILITY, event)
        finding = asff_by_id(account)[detail["findingArn"]]
    assert finding["GeneratorId"] == "AWSInspector"
    assert finding["Types"] == ["Software and Configuration Checks/Vulnerabilities/CVE"]
    assert finding["Severity"] == {"Label": "HIGH", "Original": "7.5"}
    assert finding["CreatedAt"] == "2026-03-11T14:47:05.000Z"  # from "Mar 11, 2026, 2:47:05 PM"
    assert finding["Resources"][0]["Type"] == "AwsEcrContainerImage"
    assert finding["ProductFields"]["secauto/inspector/vulnerabilityId"] == "CVE-2023-44487"


def test_a_closed_inspector_finding_is_archived_and_resolved(make_account, invoke):
    event = finding_event("inspector_lambda_package_vulnerability_closed")
    with make_account(CAPABILITY, **IMPORT) as account:
        result = invoke(CAPABILITY, event).result
        finding = asff_by_id(account)[event["detail"]["findingArn"]]
        assert account.sns_messages() == []
    assert (finding["RecordState"], finding["Workflow"]) == ("ARCHIVED", {"Status": "RESOLVED"})
    assert result["reason"] == "archived finding"


@pytest.mark.parametrize("stem", FINDING_EVENTS)
def test_every_finding_we_import_passes_the_strict_validator(make_account, invoke, stem):
    with make_account(CAPABILITY, **IMPORT) as account:
        result = invoke(CAPABILITY, finding_event(stem)).result
        stored = account.securityhub_findings()
    assert result["status"] == "processed"
    for finding in stored:
        assert validate_finding(finding) == [], finding["Id"]


# --- notification policy -------------------------------------------------------------------------


def test_redelivery_and_count_growth_notify_once(make_account, invoke, slack):
    first = finding_event("guardduty_ssh_brute_force_1_first_delivery")
    grown = finding_event("guardduty_ssh_brute_force_2_redelivered_count_12")
    with make_account(CAPABILITY, **IMPORT) as account:
        results = [invoke(CAPABILITY, event).result for event in (first, copy.deepcopy(first), grown, grown)]
        messages = account.sns_messages()
        [finding] = account.securityhub_findings()
    assert [r["notified"] for r in results] == [True, False, False, False]
    assert len(messages) == 1 and len(slack.received()) == 1
    assert finding["ProductFields"]["secauto/Count"] == "12"  # the update replaced the finding


def test_a_count_jump_by_the_factor_notifies_again(make_account, invoke):
    first = finding_event("guardduty_ssh_brute_force_1_first_delivery")
    jumped = finding_event("guardduty_ssh_brute_force_2_redelivered_count_12")
    jumped["detail"]["service"]["count"] = 30
    with make_account(CAPABILITY, **IMPORT, SECAUTO_FINDINGS_COUNT_JUMP_FACTOR="10") as account:
        invoke(CAPABILITY, first)
        result = invoke(CAPABILITY, jumped).result
        assert len(account.sns_messages()) == 2
    assert result["reason"] == "count grew from 3 to 30"


def test_severity_escalation_notifies_again(make_account, invoke):
    first = finding_event("guardduty_ssh_brute_force_1_first_delivery")
    escalated = finding_event("guardduty_ssh_brute_force_2_redelivered_count_12")
    escalated["detail"]["severity"] = 9.5
    with make_account(CAPABILITY, **IMPORT) as account:
        invoke(CAPABILITY, first)
        result = invoke(CAPABILITY, escalated).result
        [_, second] = account.sns_messages()
    assert result["reason"] == "severity rose from HIGH to CRITICAL"
    assert second["attributes"]["severity"] == "CRITICAL"


def test_an_older_update_never_overwrites_a_newer_one(make_account, invoke):
    first = finding_event("guardduty_ssh_brute_force_1_first_delivery")
    newer = finding_event("guardduty_ssh_brute_force_2_redelivered_count_12")
    with make_account(CAPABILITY, **IMPORT) as account:
        invoke(CAPABILITY, newer)
        stale = invoke(CAPABILITY, first).result
        [finding] = account.securityhub_findings()
    assert stale["reason"].startswith("stale") and stale["import"] is False
    assert finding["ProductFields"]["secauto/Count"] == "12"


def test_suppression_rule_hit_means_no_notification_and_a_log_line(make_account, invoke):
    event = finding_event("guardduty_honeypot_port_probe_elasticsearch")
    with make_account(CAPABILITY, **IMPORT) as account:
        invocation = invoke(CAPABILITY, event)
        assert account.sns_messages() == []
        assert len(account.securityhub_findings()) == 1  # still recorded
    assert invocation.result["notified"] is False
    assert invocation.result["reason"].startswith("suppressed by rule honeypot-recon")
    suppressed = [r for r in invocation.logs if r["message"] == "Finding suppressed"]
    assert suppressed and suppressed[0]["rule"] == "honeypot-recon"
    assert invocation.metrics.get("FindingsSuppressed") == 1


@pytest.mark.parametrize(
    ("stem", "reason"),
    [
        ("guardduty_sample_finding", "sample finding"),
        ("macie_sample_finding", "sample finding"),
        ("guardduty_archived_finding", "archived finding"),
        ("guardduty_low_severity_numbers_as_strings", "below the minimum severity MEDIUM for guardduty"),
    ],
)
def test_quiet_findings_are_not_notified(make_account, invoke, stem, reason):
    with make_account(CAPABILITY, **IMPORT) as account:
        result = invoke(CAPABILITY, finding_event(stem)).result
        assert account.sns_messages() == []
    assert result["reason"] == reason


def test_samples_are_notified_when_configured(make_account, invoke):
    with make_account(CAPABILITY, **IMPORT, SECAUTO_FINDINGS_NOTIFY_SAMPLES="true") as account:
        invoke(CAPABILITY, finding_event("guardduty_sample_finding"))
        assert len(account.sns_messages()) == 1


def test_the_message_shows_what_a_responder_needs(make_account, invoke, slack):
    event = finding_event("guardduty_ssh_brute_force_1_first_delivery")
    with make_account(CAPABILITY, **IMPORT) as account:
        invoke(CAPABILITY, event)
        [message] = account.sns_messages()
    body = message["message"]
    for expected in (
        "Account: 123456789012",
        "Region: eu-west-1",
        "Type: UnauthorizedAccess:EC2/SSHBruteForce",
        "Resource: AwsEc2Instance arn:aws:ec2:eu-west-1",
        "First seen:",
        "Last seen:",
        "Count: 3",
        "Why notified: first sight",
        "Console: https://eu-west-1.console.aws.amazon.com/guardduty",
    ):
        assert expected in body
    assert message["attributes"] == {
        "severity": "HIGH",
        "capability": "findings",
        "account": "123456789012",
        "region": "eu-west-1",
    }
    [payload] = slack.received()
    assert payload["blocks"][0]["text"]["text"].startswith("[HIGH] GuardDuty:")


# --- integration modes and accounts ------------------------------------------------------------


def test_native_mode_notifies_and_links_to_aws_copy_without_importing(make_account, invoke):
    event = finding_event("guardduty_ssh_brute_force_1_first_delivery")
    with make_account(CAPABILITY, **NATIVE) as account:
        result = invoke(CAPABILITY, event).result
        [message] = account.sns_messages()
        assert account.securityhub_findings() == []
    assert result["notified"] is True and result["import"] is False
    assert "(aws/guardduty)" in message["message"] and "securityhub/home" in message["message"]


def test_another_accounts_finding_without_a_role_is_skipped_with_a_log_line(make_account, invoke):
    event = finding_event("guardduty_member_account_finding_in_delegated_admin")
    with make_account(CAPABILITY, **IMPORT) as account:
        invocation = invoke(CAPABILITY, event)
        assert account.securityhub_findings() == []
    assert invocation.result["import_skipped_accounts"] == ["111122223333"]
    warnings = [r for r in invocation.logs if r["level"] == "WARNING"]
    assert any("no crossAccountRoleName" in r["message"] for r in warnings)


def test_an_account_outside_member_account_ids_is_skipped_not_assumed(make_account, invoke):
    """IAM grants the role only in memberAccountIds: another account is skipped, never retried."""
    event = finding_event("guardduty_member_account_finding_in_delegated_admin")
    with make_account(
        CAPABILITY,
        **IMPORT,
        SECAUTO_FINDINGS_CROSS_ACCOUNT_ROLE_NAME="secauto-import",
        SECAUTO_FINDINGS_MEMBER_ACCOUNT_IDS='["444455556666"]',
    ) as account:
        invocation = invoke(CAPABILITY, event)
        assert account.securityhub_findings() == []
    assert invocation.result["import_skipped_accounts"] == ["111122223333"]
    warnings = [r["message"] for r in invocation.logs if r["level"] == "WARNING"]
    assert any("not one of memberAccountIds" in message for message in warnings)


def test_another_accounts_finding_is_imported_with_the_configured_role(make_account, invoke):
    event = finding_event("guardduty_member_account_finding_in_delegated_admin")
    with make_account(
        CAPABILITY, **IMPORT, SECAUTO_FINDINGS_CROSS_ACCOUNT_ROLE_NAME="secauto-import"
    ) as account:
        result = invoke(CAPABILITY, event).result
        import boto3

        member = boto3.client("sts", region_name="us-east-1").assume_role(
            RoleArn="arn:aws:iam::111122223333:role/secauto-import", RoleSessionName="check"
        )["Credentials"]
        member_hub = boto3.client(
            "securityhub",
            region_name="us-east-1",
            aws_access_key_id=member["AccessKeyId"],
            aws_secret_access_key=member["SecretAccessKey"],
            aws_session_token=member["SessionToken"],
        )
        imported = member_hub.get_findings()["Findings"]
        assert account.securityhub_findings() == []  # not in the administrator's own hub
    assert result["securityhub"]["111122223333"]["imported"] == 1
    assert [f["AwsAccountId"] for f in imported] == ["111122223333"]
    assert (
        imported[0]["ProductArn"] == "arn:aws:securityhub:us-east-1:111122223333:product/111122223333/default"
    )


# --- batches, failures and bad input ---------------------------------------------------------------


def test_a_batch_of_250_findings_is_imported_in_3_calls(make_account, invoke):
    base = finding_event("inspector_ec2_package_vulnerability_critical")
    events = []
    for index in range(250):
        event = copy.deepcopy(base)
        event["id"] = f"evt-{index}"
        event["detail"]["findingArn"] = f"arn:aws:inspector2:eu-west-1:123456789012:finding/{index:032x}"
        events.append(event)
    from secauto_core import clients

    calls: list[str] = []
    observer = lambda operation, _params: calls.append(operation)  # noqa: E731
    with make_account(CAPABILITY, **IMPORT) as account:
        clients.add_call_observer(observer)
        try:
            response = invoke(CAPABILITY, sqs_batch(events)).result
        finally:
            clients.remove_call_observer(observer)
        assert len(account.securityhub_findings()) == 250
    assert response == {"batchItemFailures": []}
    assert calls.count("securityhub:BatchImportFindings") == 3


def test_a_bad_record_is_parked_and_never_fails_its_neighbours(make_account, invoke):
    good = finding_event("guardduty_ssh_brute_force_1_first_delivery")
    broken = finding_event("macie_sensitive_data_personal_high")
    del broken["detail"]["accountId"]
    with make_account(CAPABILITY, **IMPORT) as account:
        invocation = invoke(CAPABILITY, sqs_batch([good, "{not json", broken]))
        parked = account.dlq_messages()
        assert len(account.securityhub_findings()) == 1
        assert len(account.sns_messages()) == 1
    assert invocation.result == {"batchItemFailures": []}
    assert len(parked) == 2
    assert invocation.metrics.get("InvalidEvents") == 2
    reasons = [
        r["reason"] for r in invocation.logs if r["message"] == "Rejected an event that cannot be processed"
    ]
    assert any("accountId" in reason for reason in reasons)


def test_records_whose_import_failed_are_returned_for_redelivery(make_account, invoke):
    events = [
        finding_event("guardduty_ssh_brute_force_1_first_delivery"),
        finding_event("macie_sensitive_data_personal_high"),
    ]
    from secauto_core import clients

    def reject_macie(params: dict[str, Any], **_: Any) -> None:
        params["Findings"] = [
            {**f, "Resources": []} if "macie2" in f["Id"] else f for f in params["Findings"]
        ]

    with make_account(CAPABILITY, **IMPORT):
        clients.securityhub().meta.events.register(
            "before-parameter-build.securityhub.BatchImportFindings", reject_macie
        )
        response = invoke(CAPABILITY, sqs_batch(events)).result
    assert response == {"batchItemFailures": [{"itemIdentifier": "msg-1"}]}


def test_slack_failure_does_not_fail_the_record_and_sns_still_goes(make_account, invoke, slack):
    slack.respond_with(503)
    with make_account(CAPABILITY, **IMPORT) as account:
        response = invoke(CAPABILITY, sqs_batch([finding_event("macie_sensitive_data_personal_high")])).result
        assert len(account.sns_messages()) == 1
    assert response == {"batchItemFailures": []}


def test_sns_failure_fails_the_record_and_gives_the_notification_back(make_account, invoke):
    event = finding_event("macie_sensitive_data_personal_high")
    with make_account(CAPABILITY, **IMPORT) as account:
        topic = account.topic_arn
        account.client("sns").delete_topic(TopicArn=topic)
        # Every record of the batch failed: Powertools raises, so Lambda hands the batch back to SQS.
        with pytest.raises(BatchProcessingError, match="All records failed"):
            invoke(CAPABILITY, sqs_batch([event]))
        account.client("sns").create_topic(Name=topic.rsplit(":", 1)[-1])
        account.client("sns").subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=account.client("sqs").get_queue_attributes(
                QueueUrl=account.sns_capture_queue_url, AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"],
        )
        retried = invoke(CAPABILITY, sqs_batch([event])).result
        assert retried == {"batchItemFailures": []}
        assert len(account.sns_messages()) == 1  # the redelivery notified: nothing lost


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    return found


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), stem=st.sampled_from(FINDING_EVENTS))
def test_mutated_findings_never_raise(make_account, invoke, data, stem):
    event = finding_event(stem)
    paths = _paths(event["detail"])
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        path = data.draw(st.sampled_from(paths))
        target = event["detail"]
        for key in path[:-1]:
            target = target.get(key) if isinstance(target, dict) else None
        if isinstance(target, dict):
            if data.draw(st.booleans()):
                target.pop(path[-1], None)
            else:
                target[path[-1]] = data.draw(_JSON)
    with make_account(CAPABILITY, **IMPORT) as account:
        result = invoke(CAPABILITY, event).result
        if result["status"] == "rejected":
            assert result["reason"] and result["parked"] is True
            assert len(account.dlq_messages()) == 1
        else:
            assert result["status"] == "processed"
            for finding in account.securityhub_findings():
                assert validate_finding(finding) == []
