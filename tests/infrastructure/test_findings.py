"""The findings capability: rules -> encrypted queue -> batched function, and its guard rails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template
from infra_testlib import (
    FINDINGS,
    XRAY_ACTIONS,
    Synthesized,
    as_list,
    concrete_pattern,
    core_stack,
    expected_grants,
    role_grants,
    statements,
)

from findings.permissions import PERMISSIONS, cross_account_permissions
from findings.settings import FindingSource, FindingsSettings, IntegrationMode
from secauto_cli.rule_matcher import pattern_matches
from secauto_core.permissions import CORE_PERMISSIONS
from secauto_core.settings import RuntimeSettings
from secauto_core.severity import Severity
from secauto_infra.bundling import DATA_DIRS, REPO_ROOT
from secauto_infra.config import ConfigError
from secauto_infra.findings import (
    FUNCTION_MEMORY_MB,
    FUNCTION_TIMEOUT,
    MAX_RECEIVES,
    QUEUE_AGE_ALARM,
    SECURITY_HUB_IMPORTED,
    FindingsStack,
    check_findings_rules,
    check_suppressions,
)
from secauto_infra.function import QUEUE_CONSUMER_ACTIONS
from secauto_infra.rule_catalog import RuleCatalogError, RuleSpec, rules_for

FINDINGS_RULES = rules_for("findings")


def _stack(synth: Synthesized) -> FindingsStack:
    stack = synth.stacks[FINDINGS]
    assert isinstance(stack, FindingsStack)
    return stack


def _resource(synth: Synthesized, construct: Any) -> dict[str, Any]:
    logical_id = synth.logical_id(construct).split(":")[1]
    resource: dict[str, Any] = synth.template(FINDINGS)["Resources"][logical_id]
    return resource


def _ref(synth: Synthesized, construct: Any) -> str:
    return synth.logical_id(construct).split(":")[1]


# ---------------------------------------------------------------- rules


def test_findings_rule_files_exist() -> None:
    names = {spec.name for spec in FINDINGS_RULES}
    assert names >= {"findings.guardduty", "findings.macie", "findings.inspector"}


@pytest.mark.parametrize("spec", FINDINGS_RULES, ids=lambda spec: spec.name)
def test_rule_pattern_is_the_rule_file_and_targets_the_queue(synth: Synthesized, spec: RuleSpec) -> None:
    matches = [
        rule
        for rule in synth.resources(FINDINGS, "AWS::Events::Rule").values()
        if rule["Properties"]["EventPattern"] == spec.pattern
    ]
    assert len(matches) == 1, f"{spec.path.name}: expected one rule with exactly its pattern"
    props = matches[0]["Properties"]
    assert "EventBusName" not in props
    assert props["State"] == "ENABLED"
    (target,) = props["Targets"]
    stack = _stack(synth)
    assert target["Arn"] == {"Fn::GetAtt": [_ref(synth, stack.queue), "Arn"]}
    assert (
        synth.canonical(FINDINGS, target["DeadLetterConfig"]["Arn"])
        == synth.logical_id(core_stack(synth).dlq) + ".Arn"
    )
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] >= 3600
    assert "InputTransformer" not in target
    assert "Input" not in target  # the handler needs the whole event


def test_one_rule_per_file_and_none_invokes_the_function_directly(synth: Synthesized) -> None:
    assert len(synth.resources(FINDINGS, "AWS::Events::Rule")) == len(FINDINGS_RULES)
    assert synth.resources(FINDINGS, "AWS::Lambda::Permission") == {}


def _security_hub_imported(product_arn: str, generator_id: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "4f0e8c1a-7c2d-4f6e-9a55-1b2c3d4e5f60",
        "detail-type": SECURITY_HUB_IMPORTED,
        "source": "aws.securityhub",
        "account": "123456789012",
        "time": "2025-06-01T12:00:00Z",
        "region": "us-east-1",
        "resources": [f"{product_arn}/finding/0123"],
        "detail": {
            "findings": [
                {
                    "SchemaVersion": "2018-10-08",
                    "Id": "arn:aws:guardduty:us-east-1:123456789012:detector/d1/finding/0123",
                    "ProductArn": product_arn,
                    "ProductName": "GuardDuty",
                    "CompanyName": "Amazon",
                    "GeneratorId": generator_id,
                    "AwsAccountId": "123456789012",
                    "Types": ["TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort"],
                    "Severity": {"Label": "HIGH", "Original": "8"},
                    "Title": "Unprotected port on EC2 instance is being probed",
                    "Resources": [{"Type": "AwsEc2Instance", "Id": "arn:aws:ec2:us-east-1:123:instance/i-1"}],
                    "ProductFields": {"aws/guardduty/service/action/actionType": "PORT_PROBE"},
                    "Workflow": {"Status": "NEW"},
                    "RecordState": "ACTIVE",
                }
            ]
        },
    }


SECURITY_HUB_EVENTS = [
    # AWS's native GuardDuty integration, and our own import under the default product
    _security_hub_imported("arn:aws:securityhub:us-east-1::product/aws/guardduty", "arn:aws:guardduty:x"),
    _security_hub_imported(
        "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default",
        "secauto/findings/guardduty",
    ),
]


@pytest.mark.parametrize("event", SECURITY_HUB_EVENTS, ids=["native", "ours"])
def test_no_rule_in_any_stack_matches_security_hub_imports(synth: Synthesized, event: dict[str, Any]) -> None:
    # Every import fires this event: a rule on it would import our own imports again, forever.
    assert pattern_matches({"detail-type": [SECURITY_HUB_IMPORTED]}, event)  # the event is well-formed
    rules = synth.all_resources("AWS::Events::Rule")
    assert rules
    for stack_id, logical_id, rule in rules:
        props = rule["Properties"]
        if "EventPattern" not in props:  # a schedule rule: it sends its own events, matches none
            assert "ScheduleExpression" in props, (stack_id, logical_id)
            continue
        pattern = concrete_pattern(synth, stack_id, props["EventPattern"])  # e.g. a bucket's Ref
        assert not pattern_matches(pattern, event), (stack_id, logical_id)


def _spec(pattern: dict[str, Any], name: str = "findings.test") -> RuleSpec:
    return RuleSpec(name=name, capability=name.partition(".")[0], pattern=pattern, path=Path(f"{name}.json"))


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ({"detail-type": ["GuardDuty Finding"]}, "sources literally"),
        ({"source": [{"anything-but": ["aws.guardduty"]}]}, "sources literally"),
        ({"source": [{"prefix": "aws."}]}, "sources literally"),
        ({"source": ["aws.securityhub"]}, "loop"),
        ({"source": ["aws.guardduty"], "detail-type": [SECURITY_HUB_IMPORTED]}, "loop"),
    ],
)
def test_builder_refuses_rules_that_could_loop(pattern: dict[str, Any], message: str) -> None:
    with pytest.raises(RuleCatalogError, match=message):
        check_findings_rules([_spec(pattern)])


def test_builder_refuses_no_rules_and_foreign_handlers() -> None:
    with pytest.raises(RuleCatalogError, match="no rules"):
        check_findings_rules([])
    with pytest.raises(RuleCatalogError, match="unexpected handlers"):
        check_findings_rules([_spec({"source": ["aws.guardduty"]}, name="root_activity.x")])


def test_builder_accepts_the_rule_files() -> None:
    check_findings_rules(FINDINGS_RULES)


# ---------------------------------------------------------------- queue


def test_queue_is_encrypted_redriven_and_outlasts_the_function(synth: Synthesized) -> None:
    stack = _stack(synth)
    core = core_stack(synth)
    props = _resource(synth, stack.queue)["Properties"]
    assert synth.canonical(FINDINGS, props["KmsMasterKeyId"]) == synth.logical_id(core.key) + ".Arn"
    redrive = props["RedrivePolicy"]
    assert synth.canonical(FINDINGS, redrive["deadLetterTargetArn"]) == synth.logical_id(core.dlq) + ".Arn"
    assert redrive["maxReceiveCount"] == MAX_RECEIVES == 5
    function = _resource(synth, stack.function.function)["Properties"]
    window = synth.config.capabilities.findings.batching_window_seconds
    assert props["VisibilityTimeout"] >= 6 * function["Timeout"] + window
    dlq = synth.template("SecautoCore")["Resources"][synth.logical_id(core.dlq).split(":")[1]]
    assert props["MessageRetentionPeriod"] < dlq["Properties"]["MessageRetentionPeriod"]


def test_queue_policy_admits_only_the_findings_rules(synth: Synthesized) -> None:
    stack = _stack(synth)
    queue_id = _ref(synth, stack.queue)
    (policy,) = synth.resources(FINDINGS, "AWS::SQS::QueuePolicy").values()
    assert policy["Properties"]["Queues"] == [{"Ref": queue_id}]
    allows = [s for s in statements(policy["Properties"]["PolicyDocument"]) if s["Effect"] == "Allow"]
    (allow,) = allows
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Resource"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    (condition,) = allow["Condition"].items()
    assert condition[0] == "ArnEquals"
    sources = as_list(condition[1]["aws:SourceArn"])
    rules = synth.resources(FINDINGS, "AWS::Events::Rule")
    assert sorted(sources, key=repr) == sorted(
        ({"Fn::GetAtt": [rule_id, "Arn"]} for rule_id in rules), key=repr
    )


def test_queue_age_alarm_notifies_the_topic(synth: Synthesized) -> None:
    stack = _stack(synth)
    Template.from_json(synth.template(FINDINGS)).has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/SQS",
            "MetricName": "ApproximateAgeOfOldestMessage",
            "Dimensions": [
                {"Name": "QueueName", "Value": {"Fn::GetAtt": [_ref(synth, stack.queue), "QueueName"]}}
            ],
            "Statistic": "Maximum",
            "Threshold": QUEUE_AGE_ALARM.to_seconds(),
            "ComparisonOperator": "GreaterThanThreshold",
        },
    )
    alarm = _resource(synth, stack.queue_age_alarm)["Properties"]
    assert [synth.canonical(FINDINGS, a) for a in alarm["AlarmActions"]] == [
        synth.logical_id(core_stack(synth).resources.topic)
    ]


# ---------------------------------------------------------------- function


def test_function_drains_the_queue_in_security_hub_sized_batches(synth: Synthesized) -> None:
    stack = _stack(synth)
    wanted = synth.config.capabilities.findings
    function = _resource(synth, stack.function.function)["Properties"]
    assert function["Handler"] == "findings.handler.lambda_handler"
    assert function["Timeout"] == FUNCTION_TIMEOUT.to_seconds()
    assert function["MemorySize"] == FUNCTION_MEMORY_MB
    ((_, mapping),) = synth.resources(FINDINGS, "AWS::Lambda::EventSourceMapping").items()
    props = mapping["Properties"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": [_ref(synth, stack.queue), "Arn"]}
    assert props["FunctionName"] == {"Ref": _ref(synth, stack.function.function)}
    assert props["BatchSize"] == wanted.batch_size
    assert props["MaximumBatchingWindowInSeconds"] == wanted.batching_window_seconds
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["ScalingConfig"] == {"MaximumConcurrency": wanted.max_concurrency}
    assert props.get("Enabled", True) is True


def test_role_grants_exactly_the_declared_permissions_and_the_queue_polling(synth: Synthesized) -> None:
    stack = _stack(synth)
    fn = stack.function
    core = core_stack(synth)
    role = _resource(synth, fn.role)
    settings = synth.config.capabilities.findings
    declared = expected_grants(synth, CORE_PERMISSIONS + PERMISSIONS)
    if settings.cross_account_role_name:
        declared |= expected_grants(
            synth,
            cross_account_permissions(
                settings.cross_account_role_name,
                organization_id=settings.organization_id,
                account_ids=settings.member_account_ids,
            ),
        )
    platform = {
        ("logs:CreateLogStream", synth.logical_id(fn.log_group) + ".Arn"),
        ("logs:PutLogEvents", synth.logical_id(fn.log_group) + ".Arn"),
        *((action, "*") for action in XRAY_ACTIONS),
        ("sqs:SendMessage", synth.logical_id(core.dlq) + ".Arn"),
    }
    # What Lambda's SQS poller needs: receive/delete/attributes on this queue, decrypt with its key.
    event_source = {
        *((action, synth.logical_id(stack.queue) + ".Arn") for action in QUEUE_CONSUMER_ACTIONS),
        ("kms:Decrypt", synth.logical_id(core.key) + ".Arn"),
    }
    assert role_grants(synth, FINDINGS, role) == declared | platform | event_source
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"} == QUEUE_CONSUMER_ACTIONS
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
    ]


def test_cross_account_permission_only_when_a_role_is_configured(
    default_synth: Synthesized, full_synth: Synthesized
) -> None:
    # (How each grant is scoped, by organization or accounts: test_iam_guards.)
    assert default_synth.config.capabilities.findings.cross_account_role_name is None
    assert full_synth.config.capabilities.findings.cross_account_role_name is not None
    for synth in (default_synth, full_synth):
        role = _resource(synth, _stack(synth).function.role)
        assumes = {r for a, r in role_grants(synth, FINDINGS, role) if a == "sts:AssumeRole"}
        role_name = synth.config.capabilities.findings.cross_account_role_name
        assert bool(assumes) is bool(role_name)
        assert all(arn.endswith(f":role/{role_name}") for arn in assumes)


def test_function_environment_parses_into_the_handler_settings(synth: Synthesized) -> None:
    env: dict[str, Any] = _resource(synth, _stack(synth).function.function)["Properties"]["Environment"][
        "Variables"
    ]
    assert env["SECAUTO_CAPABILITY"] == "findings"
    assert env["POWERTOOLS_SERVICE_NAME"] == "secauto-findings"
    findings_env = {k: v for k, v in env.items() if k.startswith(FindingsSettings.env_prefix)}
    runtime = {k: v for k, v in env.items() if k.startswith("SECAUTO_") and k not in findings_env}
    assert {k.removeprefix("SECAUTO_").lower() for k in runtime} <= set(RuntimeSettings.model_fields)
    assert {k.removeprefix(FindingsSettings.env_prefix).lower() for k in findings_env} <= set(
        FindingsSettings.model_fields
    )
    settings = FindingsSettings.from_environ(findings_env)
    wanted = synth.config.capabilities.findings
    assert settings.integration_mode == IntegrationMode(wanted.integration_mode)
    assert settings.min_severity == {
        FindingSource(source): Severity(label) for source, label in wanted.min_severity.model_dump().items()
    }
    assert settings.cross_account_role_name == wanted.cross_account_role_name
    assert (settings.notify_samples, settings.notify_archived) == (
        wanted.notify_samples,
        wanted.notify_archived,
    )
    assert settings.count_jump_factor == wanted.count_jump_factor
    assert settings.product_cache_minutes == wanted.product_cache_minutes
    assert settings.state_ttl_days == wanted.state_ttl_days
    # The suppression file the handler opens is the repository's, shipped at the same place.
    suppressions = Path(settings.suppressions_file)
    assert not suppressions.is_absolute()
    assert any(suppressions.is_relative_to(target) for target in DATA_DIRS)
    assert (REPO_ROOT / suppressions).is_file()


# ---------------------------------------------------------------- suppressions


def test_the_suppression_file_is_valid() -> None:
    check_suppressions(REPO_ROOT / "rules" / "suppressions" / "findings.json")


def test_an_invalid_suppression_file_fails_the_synthesis(tmp_path: Path) -> None:
    bad = tmp_path / "findings.json"
    bad.write_text(json.dumps([{"id": "x", "match": {"sources": ["guardduty"]}}]))  # no reason
    with pytest.raises(ConfigError, match="suppression"):
        check_suppressions(bad)
    bad.write_text("[not json")
    with pytest.raises(ConfigError, match="suppression"):
        check_suppressions(bad)


def test_a_missing_suppression_file_means_no_suppressions(tmp_path: Path) -> None:
    check_suppressions(tmp_path / "absent.json")
