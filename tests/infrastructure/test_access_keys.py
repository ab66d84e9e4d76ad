"""The access-key expiry capability: a named schedule rule -> the audit function, one run at a time."""

from __future__ import annotations

import copy
import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest
from infra_testlib import (
    ACCESS_KEYS,
    CORE,
    XRAY_ACTIONS,
    Synthesized,
    as_list,
    core_stack,
    expected_grants,
    role_grants,
    statements,
)

from access_keys.permissions import PERMISSIONS
from access_keys.settings import AccessKeySettings
from secauto_cli.rule_matcher import pattern_matches
from secauto_core.permissions import CORE_PERMISSIONS
from secauto_core.settings import RuntimeSettings
from secauto_infra.access_keys import (
    AUDIT_RULE_NAME,
    AUDIT_RULE_SPEC,
    EXEMPTION_GUARD_ACTIONS,
    EXEMPTION_GUARD_SID,
    FUNCTION_MEMORY_MB,
    FUNCTION_TIMEOUT,
    RESERVED_CONCURRENCY,
    AccessKeysStack,
    check_access_keys_rules,
)
from secauto_infra.app_builder import build_app
from secauto_infra.bundling import REPO_ROOT
from secauto_infra.config import ACCESS_KEYS_MIN_INTERVAL_MINUTES, AccessKeysConfig
from secauto_infra.core_stack import NAMED_RULE_PREFIX
from secauto_infra.event_rules import scheduled_event_pattern
from secauto_infra.rule_catalog import RuleCatalogError, RuleSpec, rules_for

ACCESS_KEYS_RULES = rules_for("access_keys")
SAMPLE_EVENT = REPO_ROOT / "events" / "access_keys" / "scheduled_audit.json"


def _stack(synth: Synthesized) -> AccessKeysStack:
    stack = synth.stacks[ACCESS_KEYS]
    assert isinstance(stack, AccessKeysStack)
    return stack


def _ref(synth: Synthesized, construct: Any) -> str:
    return synth.logical_id(construct).split(":")[1]


def _resource(synth: Synthesized, construct: Any) -> dict[str, Any]:
    resource: dict[str, Any] = synth.template(ACCESS_KEYS)["Resources"][_ref(synth, construct)]
    return resource


def _rule(synth: Synthesized) -> dict[str, Any]:
    (rule,) = synth.resources(ACCESS_KEYS, "AWS::Events::Rule").values()
    props: dict[str, Any] = rule["Properties"]
    return props


def _rule_arn(synth: Synthesized, name: str) -> str:
    account = synth.config.account or "123456789012"
    return f"arn:aws:events:{synth.config.home_region}:{account}:rule/{name}"


def _scheduled_event(rule_arn: str) -> dict[str, Any]:
    """What a schedule rule sends: the sample event, re-addressed to `rule_arn`."""
    event: dict[str, Any] = json.loads(SAMPLE_EVENT.read_text(encoding="utf-8"))
    _, _, region, account, _ = rule_arn.split(":", 4)
    return {**copy.deepcopy(event), "region": region, "account": account, "resources": [rule_arn]}


# ---------------------------------------------------------------- the rule file and the schedule rule


def test_the_rule_file_is_the_pattern_of_the_schedule_rules_events() -> None:
    (spec,) = ACCESS_KEYS_RULES
    assert spec.name == AUDIT_RULE_SPEC
    assert spec.pattern == scheduled_event_pattern(AUDIT_RULE_NAME)
    assert check_access_keys_rules(ACCESS_KEYS_RULES) == spec


def test_one_schedule_rule_and_no_pattern_rule(synth: Synthesized) -> None:
    # The generic "one rule per rules/ file" does not apply: the file describes this rule's events.
    props = _rule(synth)
    assert props["Name"] == AUDIT_RULE_NAME
    assert props["ScheduleExpression"] == synth.config.capabilities.access_keys.schedule
    assert props["State"] == "ENABLED"
    assert "EventPattern" not in props
    assert "EventBusName" not in props  # the default bus: its rules' ARNs are `rule/<name>`


def test_schedule_rule_invokes_the_function_with_dead_letters_and_retries(synth: Synthesized) -> None:
    stack = _stack(synth)
    (target,) = _rule(synth)["Targets"]
    function_id = _ref(synth, stack.function.function)
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert (
        synth.canonical(ACCESS_KEYS, target["DeadLetterConfig"]["Arn"])
        == synth.logical_id(core_stack(synth).dlq) + ".Arn"
    )
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] >= 3600
    assert "Input" not in target
    assert "InputTransformer" not in target  # the handler reads the event's id, account, time
    ((_, permission),) = synth.resources(ACCESS_KEYS, "AWS::Lambda::Permission").items()
    assert permission["Properties"] == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
        "Principal": "events.amazonaws.com",
        "SourceArn": {"Fn::GetAtt": [_ref(synth, stack.rule), "Arn"]},
    }


def test_the_rule_name_makes_the_rule_file_match_its_events(synth: Synthesized) -> None:
    # The schedule rule's events carry its ARN; the rule file keys on that ARN's name.
    (spec,) = ACCESS_KEYS_RULES
    name = _rule(synth)["Name"]
    assert pattern_matches(spec.pattern, _scheduled_event(_rule_arn(synth, name)))
    # ...and on nothing else: another schedule rule, a longer name, the same name on another bus.
    for arn in (
        _rule_arn(synth, "SecautoFindings-NightlyRule1A2B3C"),
        _rule_arn(synth, f"{name}-staging"),
        _rule_arn(synth, f"x{name}"),
        _rule_arn(synth, f"custom-bus/{name}"),
    ):
        assert not pattern_matches(spec.pattern, _scheduled_event(arn)), arn
    wrong_source = {**_scheduled_event(_rule_arn(synth, name)), "source": "custom.scheduler"}
    assert not pattern_matches(spec.pattern, wrong_source)


def test_the_sample_event_is_a_tick_of_the_deployed_rule() -> None:
    event = json.loads(SAMPLE_EVENT.read_text(encoding="utf-8"))
    assert event["source"] == "aws.events"
    assert event["detail-type"] == "Scheduled Event"
    assert event["detail"] == {}  # what AWS sends for a schedule
    (arn,) = event["resources"]
    assert arn == f"arn:aws:events:{event['region']}:{event['account']}:rule/{AUDIT_RULE_NAME}"


def test_the_core_dead_letter_queue_admits_the_schedule_rule(synth: Synthesized) -> None:
    assert AUDIT_RULE_NAME.startswith(NAMED_RULE_PREFIX)
    core = core_stack(synth)
    dlq_id = _ref(synth, core.dlq)
    (policy,) = [
        p
        for p in synth.resources(CORE, "AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": dlq_id}]
    ]
    (allow,) = [
        s
        for s in statements(policy["Properties"]["PolicyDocument"])
        if s["Effect"] == "Allow" and s["Principal"] == {"Service": "events.amazonaws.com"}
    ]
    account = synth.config.account or "123456789012"
    patterns = [
        synth.canonical(CORE, arn).replace("{account}", account)
        for arn in as_list(allow["Condition"]["ArnLike"]["aws:SourceArn"])
    ]
    # ArnLike: `*` and `?` wildcards, case-sensitive
    assert any(fnmatch.fnmatchcase(_rule_arn(synth, AUDIT_RULE_NAME), pattern) for pattern in patterns)
    assert not any(fnmatch.fnmatchcase(_rule_arn(synth, "other-team-rule"), pattern) for pattern in patterns)


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([], "schedule rule only"),
        (
            [
                RuleSpec(
                    AUDIT_RULE_SPEC,
                    "access_keys",
                    scheduled_event_pattern(AUDIT_RULE_NAME),
                    Path("a.json"),
                ),
                RuleSpec("access_keys.iam_change", "access_keys", {"source": ["aws.iam"]}, Path("b.json")),
            ],
            "schedule rule only",
        ),
        (
            [RuleSpec(AUDIT_RULE_SPEC, "access_keys", scheduled_event_pattern("other"), Path("a.json"))],
            "must be the pattern",
        ),
        (
            [
                RuleSpec(
                    AUDIT_RULE_SPEC,
                    "access_keys",
                    {"source": ["aws.events"], "detail-type": ["Scheduled Event"]},  # every schedule
                    Path("a.json"),
                )
            ],
            "must be the pattern",
        ),
    ],
    ids=["none", "extra", "other-name", "any-schedule"],
)
def test_builder_refuses_rule_files_that_describe_other_events(specs: list[RuleSpec], message: str) -> None:
    with pytest.raises(RuleCatalogError, match=message):
        check_access_keys_rules(specs)


# ---------------------------------------------------------------- function


def test_function_has_time_for_a_large_account_and_runs_alone(synth: Synthesized) -> None:
    function = _resource(synth, _stack(synth).function.function)["Properties"]
    assert function["Handler"] == "access_keys.handler.lambda_handler"
    assert function["Timeout"] == FUNCTION_TIMEOUT.to_seconds() == 900
    assert function["MemorySize"] == FUNCTION_MEMORY_MB == 512
    assert function["ReservedConcurrentExecutions"] == RESERVED_CONCURRENCY == 1


def test_the_timeout_fits_the_configured_limits() -> None:
    # The longest report wait leaves at least 5 minutes for the fallback listing and enforcement,
    # and the shortest schedule does not start an audit while the previous one may still run.
    longest_wait = AccessKeysConfig.model_fields["report_wait_seconds"].metadata
    (limit,) = [m.le for m in longest_wait if getattr(m, "le", None) is not None]
    assert FUNCTION_TIMEOUT.to_seconds() - limit >= 300
    assert FUNCTION_TIMEOUT.to_seconds() <= ACCESS_KEYS_MIN_INTERVAL_MINUTES * 60


def test_role_grants_exactly_the_declared_permissions(synth: Synthesized) -> None:
    fn = _stack(synth).function
    role = _resource(synth, fn.role)
    platform = {
        ("logs:CreateLogStream", synth.logical_id(fn.log_group) + ".Arn"),
        ("logs:PutLogEvents", synth.logical_id(fn.log_group) + ".Arn"),
        *((action, "*") for action in XRAY_ACTIONS),
        ("sqs:SendMessage", synth.logical_id(core_stack(synth).dlq) + ".Arn"),
    }
    grants = role_grants(synth, ACCESS_KEYS, role)
    assert grants == expected_grants(synth, CORE_PERMISSIONS + PERMISSIONS) | platform
    # The credential report cannot be scoped; the key actions are on this account's users only.
    assert ("iam:GenerateCredentialReport", "*") in grants
    for action in ("iam:UpdateAccessKey", "iam:DeleteAccessKey"):
        assert {r for a, r in grants if a == action} == {f"arn:aws:iam::{synth.account}:user/*"}
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
    ]


def test_iam_denies_key_changes_on_users_carrying_the_exemption_tag(synth: Synthesized) -> None:
    # The second line behind the code's exemption check: an explicit Deny on the role, keyed on
    # the configured tag (the default app's `secauto:key-exempt`, the full app's own key).
    stack = _stack(synth)
    guard = synth.resource_of(stack.exemption_guard)["Properties"]
    assert guard["Roles"] == [{"Ref": synth.ref(stack.function.role)}]
    (deny,) = statements(guard["PolicyDocument"])
    tag_key = synth.config.capabilities.access_keys.exempt_tag_key
    assert {k: v for k, v in deny.items() if k != "Resource"} == {
        "Sid": EXEMPTION_GUARD_SID,
        "Effect": "Deny",
        "Action": ["iam:DeleteAccessKey", "iam:UpdateAccessKey"],
        # Null false: the tag is present (whatever its value); the key is the key's user's tag.
        "Condition": {"Null": {f"iam:ResourceTag/{tag_key}": "false"}},
    }
    # The deny covers every key-changing action the role is granted, on the same users.
    users = f"arn:aws:iam::{synth.account}:user/*"
    assert synth.canonical(ACCESS_KEYS, deny["Resource"]) == users
    grants = role_grants(synth, ACCESS_KEYS, synth.resource_of(stack.function.role))
    changes = {(a, r) for a, r in grants if a.startswith(("iam:Update", "iam:Delete"))}
    assert changes == {(action, users) for action in EXEMPTION_GUARD_ACTIONS}
    # The function is created only once the guard is attached to its role.
    function = synth.resource_of(stack.function.function)
    assert synth.ref(stack.exemption_guard) in function["DependsOn"]


def test_function_environment_parses_into_the_handler_settings(synth: Synthesized) -> None:
    env: dict[str, Any] = _resource(synth, _stack(synth).function.function)["Properties"]["Environment"][
        "Variables"
    ]
    assert env["SECAUTO_CAPABILITY"] == "access_keys"
    assert env["POWERTOOLS_SERVICE_NAME"] == "secauto-access_keys"
    keys_env = {k: v for k, v in env.items() if k.startswith(AccessKeySettings.env_prefix)}
    runtime = {k: v for k, v in env.items() if k.startswith("SECAUTO_") and k not in keys_env}
    assert {k.removeprefix("SECAUTO_").lower() for k in runtime} <= set(RuntimeSettings.model_fields)
    assert {k.removeprefix(AccessKeySettings.env_prefix).lower() for k in keys_env} <= set(
        AccessKeySettings.model_fields
    )
    settings = AccessKeySettings.from_environ(keys_env)
    wanted = synth.config.capabilities.access_keys
    for name in AccessKeySettings.model_fields:
        assert getattr(settings, name) == getattr(wanted, name), name


def test_disabled_means_no_stack() -> None:
    app = build_app(
        {"aws:cdk:bundling-stacks": [], "secauto": {"capabilities": {"accessKeys": {"enabled": False}}}}
    )
    assert ACCESS_KEYS not in {child.node.id for child in app.node.children}
