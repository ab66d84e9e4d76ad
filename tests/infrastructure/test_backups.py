"""Scheduled backups: one named schedule rule per plan -> the backups function, whose role may only
create what it tags as its own, tag only while creating, and delete only what carries its tag.

Three apps: the session's `default` (no plan: no stack) and `full` (eu-west-1 with an account:
instance snapshots copied to eu-central-1, weekly AMIs), plus `volumes` built here (us-east-1,
no account, only backups on: volume snapshots, and AMIs copied to us-west-2).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from infra_testlib import (
    BACKUPS,
    CORE,
    SKIP_BUNDLING,
    XRAY_ACTIONS,
    Synthesized,
    as_list,
    core_stack,
    expected_grants,
    role_grants,
    statements,
)

from backups.handler import RULE_PREFIX as HANDLER_RULE_PREFIX
from backups.handler import ScheduledEvent, plan_name
from backups.permissions import (
    COPY_PERMISSIONS,
    PERMISSIONS,
    REFERENCE_ACTIONS,
    STATE_ACTIONS,
    STATE_CONDITIONS,
    TAG_CONDITIONS,
)
from backups.settings import BackupPlan, BackupSettings
from secauto_cli.rule_matcher import pattern_matches
from secauto_core.permissions import CORE_PERMISSIONS, CoreResource, Permission
from secauto_infra.app_builder import app_config, build_app, cdk_json_context
from secauto_infra.backups import (
    CREATE_ACTIONS,
    MANAGED_BY_TAG_KEY,
    MANAGED_BY_TAG_VALUE,
    RULE_SPEC,
    BackupsStack,
    apply_tag_conditions,
    check_backups_rules,
    role_permissions,
    scheduled_pattern,
)
from secauto_infra.config import (
    BACKUPS_RULE_PREFIX,
    BackupPlanConfig,
    BackupsConfig,
    ConfigError,
    backups_rule_name,
    parse_config,
)
from secauto_infra.core_stack import NAMED_RULE_PREFIX
from secauto_infra.event_rules import scheduled_event_pattern
from secauto_infra.function import UNSCOPED_ACTIONS
from secauto_infra.rule_catalog import RuleCatalogError, RuleSpec, rules_for

BACKUPS_RULES = rules_for("backups")
ACCOUNT = "123456789012"
DESCRIBE = frozenset(
    {
        "ec2:DescribeInstances",
        "ec2:DescribeVolumes",
        "ec2:DescribeSnapshots",
        "ec2:DescribeImages",
        # What still launches from an AMI, before it is deregistered.
        "ec2:DescribeImageReferences",
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeLaunchTemplateVersions",
        "autoscaling:DescribeLaunchConfigurations",
    }
)
VOLUMES_CONFIG: dict[str, Any] = {
    "homeRegion": "us-east-1",
    "regions": ["us-east-1"],
    "capabilities": {
        "rootActivity": {"enabled": False},
        "findings": {"enabled": False},
        "accessKeys": {"enabled": False},
        "albLogs": {"enabled": False},
        "autoBlock": {"enabled": False},
        "backups": {
            "plans": [
                {
                    "name": "hourly-data",
                    "resourceType": "volume",
                    "selectTag": {"key": "Backup", "value": "hourly"},
                    "schedule": "rate(1 hour)",
                    "periodHours": 1,
                    "retainCount": 48,
                    "retainDays": 3,
                    "minKeep": 6,
                },
                {
                    "name": "nightly-ami",
                    "resourceType": "instance",
                    "selectTag": {"key": "Backup", "value": "ami"},
                    "mode": "ami",
                    "schedule": "cron(15 2 * * ? *)",
                    "retainDays": 14,
                    "copyTo": {"region": "us-west-2", "retainCount": 3},
                },
            ]
        },
    },
}

#: What the Service Authorization Reference for EC2 lists, per action and resource type, among
#: the condition keys the role uses: a condition on a key AWS does not evaluate there would deny
#: every call. `aws:RequestTag` is listed for the snapshots and images created, not for the
#: instance or volume read; `ec2:CreateAction` (and `aws:RequestTag`) for CreateTags.
SAR_CONDITION_KEYS: dict[tuple[str, str], frozenset[str]] = {
    **{
        (f"ec2:{action}", kind): frozenset({"aws:RequestTag/${TagKey}", "aws:TagKeys"})
        for action, kinds in {
            "CreateSnapshot": ("snapshot",),
            "CreateSnapshots": ("snapshot",),
            "CreateImage": ("image", "snapshot"),
            "CopySnapshot": ("snapshot",),
            "CopyImage": ("image", "snapshot"),
        }.items()
        for kind in kinds
    },
    **{
        (f"ec2:{action}", kind): frozenset({"aws:ResourceTag/${TagKey}", "ec2:ResourceTag/${TagKey}"})
        for action, kind in (
            ("CreateSnapshot", "volume"),
            ("CreateSnapshots", "instance"),
            ("CreateSnapshots", "volume"),
            ("CreateImage", "instance"),
        )
    },
    ("ec2:DeleteSnapshot", "snapshot"): frozenset({"aws:ResourceTag/${TagKey}", "ec2:ResourceTag/${TagKey}"}),
    ("ec2:DeregisterImage", "image"): frozenset({"aws:ResourceTag/${TagKey}", "ec2:ResourceTag/${TagKey}"}),
    **{
        ("ec2:CreateTags", kind): frozenset(
            {"aws:RequestTag/${TagKey}", "aws:ResourceTag/${TagKey}", "aws:TagKeys", "ec2:CreateAction"}
        )
        for kind in ("snapshot", "image")
    },
    # The state table: DynamoDB lists dynamodb:LeadingKeys for each item action on a table.
    **{
        (f"dynamodb:{action}", "table"): frozenset({"dynamodb:LeadingKeys"})
        for action in ("Query", "GetItem", "PutItem", "DeleteItem")
    },
}


def _synthesize(outdir: Path, secauto: dict[str, Any]) -> Synthesized:
    app = build_app({**SKIP_BUNDLING, "secauto": secauto}, outdir=str(outdir))
    app.synth()  # raises if cdk-nag (or CDK) reports a violation
    return Synthesized(app=app, outdir=outdir, config=app_config(app))


@pytest.fixture(scope="module")
def volumes_synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return _synthesize(tmp_path_factory.mktemp("cdk-backups-volumes"), VOLUMES_CONFIG)


@pytest.fixture(params=["full", "volumes"])
def bk_synth(request: pytest.FixtureRequest) -> Synthesized:
    """Every app with a backups stack."""
    fixture: Synthesized = request.getfixturevalue(f"{request.param}_synth")
    return fixture


def _stack(synth: Synthesized) -> BackupsStack:
    stack = synth.stacks[BACKUPS]
    assert isinstance(stack, BackupsStack)
    return stack


def _settings(synth: Synthesized) -> BackupsConfig:
    return synth.config.capabilities.backups


def _tick(rule_arn: str, **changes: Any) -> dict[str, Any]:
    """What a schedule rule sends: its ARN as the one resource, an empty detail."""
    _, _, _, region, account, _ = rule_arn.split(":", 5)
    event: dict[str, Any] = {
        "version": "0",
        "id": "7c1f0e52-3b9a-4d6e-8f21-5a0d9c4b7e13",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": "2026-03-15T03:00:00Z",
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }
    event.update(changes)
    return event


def _rule_arn(name: str, region: str = "us-east-1", account: str = ACCOUNT) -> str:
    return f"arn:aws:events:{region}:{account}:rule/{name}"


def _aws_wildcard(pattern: str, value: str) -> bool:
    """EventBridge's documented `wildcard`: `*` matches zero or more characters."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), value, flags=re.DOTALL) is not None


# ---------------------------------------------------------------- the rule file


def test_the_rule_file_is_the_pattern_of_every_plans_rule_events() -> None:
    (spec,) = BACKUPS_RULES
    assert spec.name == RULE_SPEC
    assert spec.pattern == scheduled_pattern()
    assert check_backups_rules(BACKUPS_RULES) == spec
    assert spec.handler == "backups.handler.lambda_handler"


def test_the_rule_prefix_is_the_handlers_and_the_dead_letter_queues() -> None:
    # The handler reads the plan from the rule's name; the core DLQ admits rules named `secauto-*`.
    assert BACKUPS_RULE_PREFIX == HANDLER_RULE_PREFIX
    assert BACKUPS_RULE_PREFIX.startswith(NAMED_RULE_PREFIX)


PLAN_NAMES = ["daily", "weekly-ami", "a", "0", "x" * 40, "audit"]
NOT_OURS = [
    pytest.param(f"{NAMED_RULE_PREFIX}access-keys-audit", id="access-keys-audit"),
    pytest.param(f"{NAMED_RULE_PREFIX}auto-block-sweeper", id="sweeper"),
    pytest.param("secauto-backups", id="prefix-without-dash"),
    pytest.param("xsecauto-backups-daily", id="longer-prefix"),
    pytest.param("nightly-backups", id="another-tool"),
    pytest.param("custom-bus/secauto-backups-daily", id="rule-on-a-custom-bus"),
    pytest.param("SecautoFindings-NightlyRule1A2B3C", id="cloudformation-named"),
]


@pytest.mark.parametrize("plan", PLAN_NAMES)
@pytest.mark.parametrize(("region", "partition"), [("us-east-1", "aws"), ("cn-north-1", "aws-cn")])
def test_the_rule_file_matches_each_plans_ticks(plan: str, region: str, partition: str) -> None:
    arn = f"arn:{partition}:events:{region}:{ACCOUNT}:rule/{backups_rule_name(plan)}"
    event = _tick(arn)
    assert pattern_matches(scheduled_pattern(), event)
    # ...and the handler finds the plan from the same event
    assert plan_name(ScheduledEvent.model_validate(event)) == plan


@pytest.mark.parametrize("name", NOT_OURS)
def test_the_rule_file_ignores_other_rules_ticks(name: str) -> None:
    event = _tick(_rule_arn(name))
    assert not pattern_matches(scheduled_pattern(), event)
    if "/" not in name:  # (the handler reads the last segment; only our rules may invoke it anyway)
        assert plan_name(ScheduledEvent.model_validate(event)) is None


def test_the_rule_file_ignores_other_sources() -> None:
    arn = _rule_arn(backups_rule_name("daily"))
    assert not pattern_matches(scheduled_pattern(), _tick(arn, source="custom.scheduler"))
    assert not pattern_matches(
        scheduled_pattern(), _tick(arn, **{"detail-type": "EBS Snapshot Notification"})
    )


@pytest.mark.parametrize(
    "name", [*(backups_rule_name(plan) for plan in PLAN_NAMES), *(param.values[0] for param in NOT_OURS)]
)
def test_the_wildcard_means_the_same_in_aws_and_in_the_local_engine(name: str) -> None:
    # LocalStack's `*` needs at least one character, AWS's none: both stars always cover some
    # (the ARN's head, a non-empty plan name). The one difference, an empty plan name, the
    # configuration refuses (see the configuration tests).
    (condition,) = scheduled_pattern()["resources"]
    arn = _rule_arn(name)
    assert _aws_wildcard(condition["wildcard"], arn) == pattern_matches(scheduled_pattern(), _tick(arn))


def test_the_other_schedule_rule_files_do_not_take_backup_ticks() -> None:
    tick = _tick(_rule_arn(backups_rule_name("daily")))
    for spec in (*rules_for("access_keys"), *rules_for("auto_block")):
        assert not pattern_matches(spec.pattern, tick), spec.name


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([], "schedule rules only"),
        (
            [
                *BACKUPS_RULES,
                RuleSpec("backups.snapshot_event", "backups", {"source": ["aws.ec2"]}, Path("b.json")),
            ],
            "schedule rules only",
        ),
        (
            [
                RuleSpec(
                    RULE_SPEC, "backups", scheduled_event_pattern("secauto-backups-daily"), Path("a.json")
                )
            ],
            "must be the pattern",
        ),
        (
            [
                RuleSpec(
                    RULE_SPEC,
                    "backups",
                    {"source": ["aws.events"], "detail-type": ["Scheduled Event"]},  # every schedule
                    Path("a.json"),
                )
            ],
            "must be the pattern",
        ),
    ],
    ids=["none", "extra", "one-plan-only", "any-schedule"],
)
def test_builder_refuses_rule_files_that_describe_other_events(specs: list[RuleSpec], message: str) -> None:
    with pytest.raises(RuleCatalogError, match=message):
        check_backups_rules(specs)


def test_builder_refuses_a_plan_whose_rule_the_file_would_not_match() -> None:
    # The configuration never produces one; the check holds should it ever change.
    plan = BackupPlanConfig.model_construct(name="")
    with pytest.raises(RuleCatalogError, match="empty plan name"):
        check_backups_rules(BACKUPS_RULES, [plan])
    plan = BackupPlanConfig.model_construct(name="daily backups")
    with pytest.raises(RuleCatalogError, match="not matched"):
        check_backups_rules(BACKUPS_RULES, [plan])


# ---------------------------------------------------------------- the stack and its rules


def test_no_plan_no_stack(default_synth: Synthesized) -> None:
    assert _settings(default_synth).enabled
    assert _settings(default_synth).plans == ()
    assert BACKUPS not in default_synth.stacks


def test_disabled_means_no_stack_even_with_plans() -> None:
    secauto = json.loads(json.dumps(VOLUMES_CONFIG))
    secauto["capabilities"]["backups"]["enabled"] = False
    app = build_app({**SKIP_BUNDLING, "secauto": secauto})
    assert BACKUPS not in {child.node.id for child in app.node.children}


def _rules(synth: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        logical_id: rule["Properties"]
        for logical_id, rule in synth.resources(BACKUPS, "AWS::Events::Rule").items()
    }


def test_one_schedule_rule_per_plan(bk_synth: Synthesized) -> None:
    stack, settings = _stack(bk_synth), _settings(bk_synth)
    rules = _rules(bk_synth)
    assert len(rules) == len(settings.plans) == len(stack.rules)
    for plan in settings.plans:
        props = rules[bk_synth.ref(stack.rules[plan.name])]
        assert props["Name"] == plan.rule_name == f"secauto-backups-{plan.name}"
        assert props["ScheduleExpression"] == plan.schedule
        assert props["State"] == "ENABLED"
        assert "EventPattern" not in props
        assert "EventBusName" not in props  # the default bus: the rule's ARN is `rule/<name>`
        arn = _rule_arn(props["Name"], bk_synth.config.home_region, bk_synth.config.account or ACCOUNT)
        assert pattern_matches(scheduled_pattern(), _tick(arn))


def test_full_config_schedules(full_synth: Synthesized) -> None:
    schedules = {props["Name"]: props["ScheduleExpression"] for props in _rules(full_synth).values()}
    assert schedules == {
        "secauto-backups-daily-snapshots": "cron(0 3 * * ? *)",
        "secauto-backups-weekly-ami": "rate(7 days)",
    }


def test_every_rule_invokes_the_function_with_dead_letters_and_retries(bk_synth: Synthesized) -> None:
    function_id = bk_synth.ref(_stack(bk_synth).function.function)
    permissions = {
        p["Properties"]["SourceArn"]["Fn::GetAtt"][0]: p["Properties"]
        for p in bk_synth.resources(BACKUPS, "AWS::Lambda::Permission").values()
    }
    for logical_id, props in _rules(bk_synth).items():
        (target,) = props["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
        assert (
            bk_synth.canonical(BACKUPS, target["DeadLetterConfig"]["Arn"])
            == bk_synth.logical_id(core_stack(bk_synth).dlq) + ".Arn"
        )
        assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 6 * 3600, "MaximumRetryAttempts": 10}
        assert "Input" not in target  # the handler reads the rule's ARN from the event itself
        assert "InputTransformer" not in target
        assert permissions.pop(logical_id) == {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [logical_id, "Arn"]},
        }
    assert permissions == {}  # no rule but the plans' may invoke the function


def test_the_stack_depends_on_the_core_stack(bk_synth: Synthesized) -> None:
    manifest = json.loads((bk_synth.outdir / "manifest.json").read_text(encoding="utf-8"))
    assert CORE in manifest["artifacts"][BACKUPS]["dependencies"]


# ---------------------------------------------------------------- the function


def _environment(synth: Synthesized) -> dict[str, Any]:
    env: dict[str, Any] = synth.resource_of(_stack(synth).function.function)["Properties"]["Environment"][
        "Variables"
    ]
    return env


def test_function_handler_size_and_concurrency(bk_synth: Synthesized) -> None:
    function = bk_synth.resource_of(_stack(bk_synth).function.function)["Properties"]
    settings = _settings(bk_synth)
    assert function["Handler"] == "backups.handler.lambda_handler"
    assert (function["Timeout"], function["MemorySize"]) == (settings.timeout_seconds, settings.memory_size)
    # Plans run in parallel; a second tick of the same slot creates nothing new (the handler's slots).
    assert "ReservedConcurrentExecutions" not in function


def test_function_environment_parses_into_the_handler_settings(bk_synth: Synthesized) -> None:
    env = _environment(bk_synth)
    assert env["SECAUTO_CAPABILITY"] == "backups"
    assert env["POWERTOOLS_SERVICE_NAME"] == "secauto-backups"
    backups_env = {k: v for k, v in env.items() if k.startswith(BackupSettings.env_prefix)}
    assert set(backups_env) == {"SECAUTO_BACKUPS_DRY_RUN", "SECAUTO_BACKUPS_PLANS"}
    settings = BackupSettings.from_environ(backups_env)
    wanted = _settings(bk_synth)
    assert settings.dry_run == wanted.dry_run
    assert [plan.model_dump() for plan in settings.plans] == [plan.as_env() for plan in wanted.plans]


# ---------------------------------------------------------------- the role


def _role(synth: Synthesized) -> dict[str, Any]:
    return synth.resource_of(_stack(synth).function.role)


def _conditioned_grants(synth: Synthesized) -> set[tuple[str, str, str]]:
    """(action, canonical resource, JSON of the statement's condition or "") the role allows."""
    grants = set()
    for policy in _role(synth)["Properties"]["Policies"]:
        for statement in statements(policy["PolicyDocument"]):
            assert statement["Effect"] == "Allow"
            condition = json.dumps(statement.get("Condition", ""), sort_keys=True)
            for action in as_list(statement["Action"]):
                for resource in as_list(statement["Resource"]):
                    grants.add((action, synth.canonical(BACKUPS, resource), condition))
    return grants


def _kind(resource: str) -> str:
    match = re.match(r"^arn:aws:ec2:[^:]*:[^:]*:([a-z-]+)/\*$", resource)
    return match[1] if match else ""


def test_role_grants_exactly_the_declared_permissions(bk_synth: Synthesized) -> None:
    fn = _stack(bk_synth).function
    platform = {
        ("logs:CreateLogStream", bk_synth.logical_id(fn.log_group) + ".Arn"),
        ("logs:PutLogEvents", bk_synth.logical_id(fn.log_group) + ".Arn"),
        *((action, "*") for action in XRAY_ACTIONS),
        ("sqs:SendMessage", bk_synth.logical_id(core_stack(bk_synth).dlq) + ".Arn"),
    }
    declared = CORE_PERMISSIONS + role_permissions(_settings(bk_synth).copy_regions)
    grants = role_grants(bk_synth, BACKUPS, _role(bk_synth))
    assert grants == expected_grants(bk_synth, declared) | platform
    assert {action for action, resource in grants if resource == "*"} == set(XRAY_ACTIONS) | DESCRIBE
    assert DESCRIBE <= UNSCOPED_ACTIONS
    assert _role(bk_synth)["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
    ]


def test_the_role_works_in_the_home_region_and_each_copy_region_only(bk_synth: Synthesized) -> None:
    home, copies = bk_synth.config.home_region, _settings(bk_synth).copy_regions
    regions = {
        resource.split(":")[3]
        for action, resource in role_grants(bk_synth, BACKUPS, _role(bk_synth))
        if action.startswith("ec2:") and resource != "*"
    }
    assert regions == {home, *copies}
    assert home not in copies
    copy_grants = {
        (action, _kind(resource))
        for action, resource in role_grants(bk_synth, BACKUPS, _role(bk_synth))
        if resource.startswith("arn:") and resource.split(":")[3] in copies
    }
    # In a copy Region: copy in, tag the copies as they are made, prune them; nothing else.
    assert copy_grants == {
        ("ec2:CopySnapshot", "snapshot"),
        ("ec2:CopyImage", "image"),
        ("ec2:CopyImage", "snapshot"),
        ("ec2:CreateTags", "snapshot"),
        ("ec2:CreateTags", "image"),
        ("ec2:DeleteSnapshot", "snapshot"),
        ("ec2:DeregisterImage", "image"),
    }


def test_deleting_needs_our_managed_by_tag(bk_synth: Synthesized) -> None:
    ours = json.dumps({"StringEquals": {f"aws:ResourceTag/{MANAGED_BY_TAG_KEY}": MANAGED_BY_TAG_VALUE}})
    deletes = {
        (action, resource, condition)
        for action, resource, condition in _conditioned_grants(bk_synth)
        if action in ("ec2:DeleteSnapshot", "ec2:DeregisterImage")
    }
    assert deletes
    assert {condition for _, _, condition in deletes} == {ours}
    assert {(action, _kind(resource)) for action, resource, _ in deletes} == {
        ("ec2:DeleteSnapshot", "snapshot"),
        ("ec2:DeregisterImage", "image"),
    }
    assert (MANAGED_BY_TAG_KEY, MANAGED_BY_TAG_VALUE) == ("secauto:managed-by", "secauto")


def test_tagging_only_while_creating(bk_synth: Synthesized) -> None:
    tagging = {
        (resource, condition)
        for action, resource, condition in _conditioned_grants(bk_synth)
        if action == "ec2:CreateTags"
    }
    assert {_kind(resource) for resource, _ in tagging} == {"snapshot", "image"}
    for _, condition in tagging:
        equals = json.loads(condition)["StringEquals"]
        assert sorted(equals["ec2:CreateAction"]) == sorted(CREATE_ACTIONS)
        assert (
            equals.get(f"aws:RequestTag/{MANAGED_BY_TAG_KEY}", MANAGED_BY_TAG_VALUE) == MANAGED_BY_TAG_VALUE
        )
    assert set(CREATE_ACTIONS) == {
        "CreateSnapshot",
        "CreateSnapshots",
        "CreateImage",
        "CopySnapshot",
        "CopyImage",
    }


def test_creating_needs_the_request_to_tag_what_it_creates(bk_synth: Synthesized) -> None:
    ours = json.dumps({"StringEquals": {f"aws:RequestTag/{MANAGED_BY_TAG_KEY}": MANAGED_BY_TAG_VALUE}})
    creates = {f"ec2:{action}" for action in CREATE_ACTIONS}
    seen = set()
    for action, resource, condition in _conditioned_grants(bk_synth):
        if action not in creates:
            continue
        seen.add(action)
        if _kind(resource) in ("snapshot", "image"):
            assert condition == ours, (action, resource)
        else:  # the instance or volume read: AWS evaluates no aws:RequestTag there
            assert _kind(resource) in ("instance", "volume"), (action, resource)
            assert condition == '""', (action, resource)
    assert seen == creates


def test_every_condition_key_is_one_aws_evaluates_for_its_action(bk_synth: Synthesized) -> None:
    for action, resource, condition in _conditioned_grants(bk_synth):
        if not condition.strip('"'):
            continue
        keys = {
            re.sub(r"Tag/.*$", "Tag/${TagKey}", key)
            for operator in json.loads(condition).values()
            for key in operator
        }
        kind = "table" if action.startswith("dynamodb:") else _kind(resource)
        assert keys <= SAR_CONDITION_KEYS[(action, kind)], (action, resource, keys)


def test_every_ec2_change_is_conditioned_or_reads_a_source(bk_synth: Synthesized) -> None:
    for action, resource, condition in _conditioned_grants(bk_synth):
        if action.startswith("ec2:") and action not in DESCRIBE and condition == '""':
            assert _kind(resource) in ("instance", "volume"), (action, resource)
            assert action in ("ec2:CreateSnapshot", "ec2:CreateSnapshots", "ec2:CreateImage"), action


def test_the_declared_conditions_are_the_reviewed_tag_conditions() -> None:
    creates = {f"ec2:{action}" for action in CREATE_ACTIONS}
    request = {"StringEquals": {f"aws:RequestTag/{MANAGED_BY_TAG_KEY}": MANAGED_BY_TAG_VALUE}}
    resource = {"StringEquals": {f"aws:ResourceTag/{MANAGED_BY_TAG_KEY}": MANAGED_BY_TAG_VALUE}}
    assert {action: TAG_CONDITIONS[action] for action in creates} == dict.fromkeys(creates, request)
    assert TAG_CONDITIONS["ec2:DeleteSnapshot"] == TAG_CONDITIONS["ec2:DeregisterImage"] == resource
    # What the capability declares passes the construct's check unchanged.
    assert apply_tag_conditions(PERMISSIONS) == list(PERMISSIONS)


def test_the_state_table_is_reachable_in_the_backups_partitions_only(bk_synth: Synthesized) -> None:
    table = bk_synth.logical_id(core_stack(bk_synth).resources.state_table) + ".Arn"
    on_table = {
        (action, condition)
        for action, resource, condition in _conditioned_grants(bk_synth)
        if resource == table
    }
    leading = json.dumps({"ForAllValues:StringLike": {"dynamodb:LeadingKeys": "backups#*"}}, sort_keys=True)
    assert on_table == {(action, leading) for action in STATE_ACTIONS}
    # Recorded at creation, re-checked before a delete, dropped after; read by one query per plan.
    assert set(STATE_ACTIONS) == {
        "dynamodb:Query",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
    }
    assert set(REFERENCE_ACTIONS) <= DESCRIBE


def test_copy_permissions_are_granted_once_per_copy_region() -> None:
    assert role_permissions(()) == tuple(PERMISSIONS)
    two = role_permissions(("us-west-2", "eu-central-1"))
    copies = two[len(PERMISSIONS) :]
    assert len(copies) == 2 * len(COPY_PERMISSIONS)
    assert all("{copy_region}" not in str(permission.resource) for permission in two)
    assert {str(p.resource).split(":")[3] for p in copies} == {"us-west-2", "eu-central-1"}


SNAPSHOTS = "arn:{partition}:ec2:{region}::snapshot/*"
INSTANCES = "arn:{partition}:ec2:{region}:{account}:instance/*"


def test_a_missing_condition_is_applied() -> None:
    (table,) = apply_tag_conditions([Permission(STATE_ACTIONS, CoreResource.STATE_TABLE)])
    assert table == Permission(STATE_ACTIONS, CoreResource.STATE_TABLE, STATE_CONDITIONS)
    (granted,) = apply_tag_conditions([Permission(("ec2:DeleteSnapshot",), SNAPSHOTS)])
    assert granted == Permission(("ec2:DeleteSnapshot",), SNAPSHOTS, TAG_CONDITIONS["ec2:DeleteSnapshot"])
    split = apply_tag_conditions([Permission(("ec2:CreateSnapshots", "ec2:DeleteSnapshot"), SNAPSHOTS)])
    assert {(p.actions, json.dumps(p.conditions, sort_keys=True)) for p in split} == {
        (("ec2:CreateSnapshots",), json.dumps(TAG_CONDITIONS["ec2:CreateSnapshots"], sort_keys=True)),
        (("ec2:DeleteSnapshot",), json.dumps(TAG_CONDITIONS["ec2:DeleteSnapshot"], sort_keys=True)),
    }


@pytest.mark.parametrize(
    ("permission", "message"),
    [
        (
            Permission(("ec2:DeleteSnapshot",), SNAPSHOTS, {"StringLike": {"aws:ResourceTag/x": "*"}}),
            "declared under",
        ),
        (
            Permission(("ec2:CreateImage",), INSTANCES, TAG_CONDITIONS["ec2:CreateImage"]),
            "declared under",  # AWS evaluates no aws:RequestTag on the instance: it would deny every call
        ),
        (Permission(("ec2:DeleteSnapshot",), "*"), "nobody has reviewed"),
        (
            Permission(("ec2:DeleteVolume",), "arn:{partition}:ec2:{region}:{account}:volume/*"),
            "nobody has reviewed",
        ),
        (Permission(("ec2:ModifySnapshotAttribute",), SNAPSHOTS), "nobody has reviewed"),
        (Permission(("ec2:CreateTags",), INSTANCES), "nobody has reviewed"),
        (Permission(STATE_ACTIONS, CoreResource.STATE_TABLE, {"StringLike": {"x": "*"}}), "declared under"),
        (Permission(("dynamodb:Scan",), CoreResource.STATE_TABLE), "nobody has reviewed"),
        (Permission(("dynamodb:GetItem",), "*"), "nobody has reviewed"),
    ],
    ids=[
        "other-condition",
        "request-tag-on-instance",
        "delete-anything",
        "delete-volume",
        "share",
        "tag-instance",
        "state-table-other-condition",
        "state-table-scan",
        "dynamodb-anywhere",
    ],
)
def test_grants_outside_the_reviewed_conditions_fail_the_synthesis(
    permission: Permission, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        apply_tag_conditions([permission])


# ---------------------------------------------------------------- cdk-nag


def test_nag_acknowledgments_are_the_reviewed_ones(volumes_synth: Synthesized) -> None:
    # Synthesized with cdk-nag (the fixture would have failed on a violation).
    found: set[tuple[str, str]] = set()
    for metadata_file in volumes_synth.outdir.glob("*.metadata.json"):
        for path, entries in json.loads(metadata_file.read_text()).items():
            for entry in entries:
                if entry["type"] == "aws:cdk:acknowledged-rules" and path.strip("/").startswith(BACKUPS):
                    found.update((path.strip("/"), rule_id) for rule_id in entry["data"])
    role, function = f"{BACKUPS}/Function/Role", f"{BACKUPS}/Function/Function"

    def iam5(resource: str) -> tuple[str, str]:
        return (role, f"AwsSolutions::AwsSolutions-IAM5[Resource::{resource}]")

    assert found == {
        iam5("*"),  # X-Ray and the Describe* calls
        (function, "AwsSolutions::AwsSolutions-L1"),
        *(
            iam5(f"arn:aws:ec2:{region}::{kind}/*")
            for region in ("us-east-1", "us-west-2")
            for kind in ("snapshot", "image")
        ),
        *(iam5(f"arn:aws:ec2:us-east-1:<AWS::AccountId>:{kind}/*") for kind in ("instance", "volume")),
    }


# ---------------------------------------------------------------- configuration


def _plan(**changes: Any) -> dict[str, Any]:
    plan = {
        "name": "daily",
        "resourceType": "instance",
        "selectTag": {"key": "secauto:backup", "value": "daily"},
        "retainDays": 7,
    }
    plan.update(changes)
    return {key: value for key, value in plan.items() if value is not None}


def _backups(*plans: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {
        "homeRegion": "eu-west-1",
        "regions": ["eu-west-1", "us-east-1"],
        "capabilities": {"backups": {"plans": list(plans), **settings}},
    }


def test_backups_defaults() -> None:
    backups = parse_config(None).capabilities.backups
    assert backups.enabled
    assert (backups.dry_run, backups.plans) == (False, ())
    assert (backups.memory_size, backups.timeout_seconds) == (512, 900)
    assert backups.environment() == {"SECAUTO_BACKUPS_DRY_RUN": "false", "SECAUTO_BACKUPS_PLANS": "[]"}


def test_plan_defaults() -> None:
    (plan,) = parse_config(_backups(_plan())).capabilities.backups.plans
    assert (plan.mode, plan.schedule, plan.period_hours, plan.min_keep) == ("snapshots", "rate(1 day)", 24, 1)
    assert (plan.no_reboot, plan.exclude_boot_volume, plan.copy_tags) == (True, False, True)
    assert (plan.retain_count, plan.copy_to) == (None, None)
    assert plan.rule_name == "secauto-backups-daily"


def test_cdk_json_lists_every_backups_key_with_its_default() -> None:
    configured = cdk_json_context()["secauto"]["capabilities"]["backups"]
    assert configured == json.loads(json.dumps(BackupsConfig().model_dump(by_alias=True)))


def test_plan_keys_mirror_the_handlers_plan() -> None:
    # One key per field of the handler's plan (plus the schedule, which is the rule's), with the
    # handler's defaults where it has one.
    assert set(BackupPlanConfig.model_fields) - {"schedule"} == set(BackupPlan.model_fields)
    for name, field in BackupPlan.model_fields.items():
        if not field.is_required():
            assert BackupPlanConfig.model_fields[name].default == field.default, name


def test_full_plans_parse_back_into_the_handler_settings() -> None:
    for raw in (
        VOLUMES_CONFIG,
        _backups(_plan(copyTo={"region": "us-west-2", "retainDays": 14, "retainCount": 2})),
    ):
        backups = parse_config(raw).capabilities.backups
        settings = BackupSettings.from_environ(backups.environment())
        assert [plan.model_dump() for plan in settings.plans] == [plan.as_env() for plan in backups.plans]


@pytest.mark.parametrize(
    "schedule",
    [
        "rate(1 hour)",
        "rate(2 hours)",
        "rate(1 day)",
        "rate(7 days)",
        "cron(0 3 * * ? *)",
        "cron(30 */6 ? * MON-FRI *)",
    ],
)
def test_schedules_eventbridge_accepts(schedule: str) -> None:
    plan = _plan(schedule=schedule, periodHours=168)
    assert parse_config(_backups(plan)).capabilities.backups.plans[0].schedule == schedule


def test_copy_regions_once_each_in_plan_order() -> None:
    raw = _backups(
        _plan(name="a", copyTo={"region": "us-west-2", "retainDays": 3}),
        _plan(name="b"),
        _plan(name="c", copyTo={"region": "eu-central-1", "retainCount": 3}),
        _plan(name="d", copyTo={"region": "us-west-2", "retainCount": 9}),
    )
    assert parse_config(raw).capabilities.backups.copy_regions == ("us-west-2", "eu-central-1")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (_backups(_plan(name="Daily")), "lowercase letters"),
        (_backups(_plan(name="")), "lowercase letters"),
        (_backups(_plan(name="x" * 41)), "lowercase letters"),
        (_backups(_plan(), _plan(selectTag={"key": "b", "value": "c"})), "unique"),
        (_backups(_plan(resourceType="volume", mode="ami")), "mode 'ami' backs up instances"),
        (_backups(_plan(resourceType="snapshot")), "resourceType"),
        (_backups(_plan(mode="copy")), "mode"),
        (_backups(_plan(resourceType="volume", excludeBootVolume=True)), "excludeBootVolume"),
        (_backups(_plan(mode="ami", excludeBootVolume=True)), "excludeBootVolume"),
        (_backups(_plan(noReboot=False)), "noReboot applies to AMIs"),
        (_backups(_plan(retainDays=None)), "retainCount or retainDays"),
        (_backups(_plan(retainCount=3, minKeep=4)), "minKeep"),
        (_backups(_plan(retainCount=0)), "retainCount"),
        (_backups(_plan(retainCount=1001)), "retainCount"),
        (_backups(_plan(retainDays=3651)), "retainDays"),
        (_backups(_plan(minKeep=0)), "minKeep"),
        (_backups(_plan(periodHours=0)), "periodHours"),
        (_backups(_plan(schedule="rate(7 days)")), "periodHours \\(24\\) is shorter"),
        (_backups(_plan(schedule="rate(2 hours)", periodHours=1)), "periodHours \\(1\\) is shorter"),
        (_backups(_plan(schedule="rate(30 minutes)")), "at most every 60 minutes"),
        (_backups(_plan(schedule="cron(*/5 * * * ? *)")), "at most every 60 minutes"),
        (_backups(_plan(schedule="cron(0,30 * * * ? *)")), "at most every 60 minutes"),
        (_backups(_plan(schedule="rate(2 day)")), "plural"),
        (_backups(_plan(schedule="daily")), "rate"),
        (_backups(_plan(selectTag={"key": "aws:cloudformation:stack-name", "value": "x"})), "aws:"),
        (
            _backups(_plan(selectTag={"key": "secauto:managed-by", "value": "secauto"})),
            "secauto's own backups",
        ),
        (_backups(_plan(selectTag={"key": "", "value": "x"})), "tag key"),
        (_backups(_plan(selectTag={"key": "backup", "value": "x" * 257})), "tag value"),
        (_backups(_plan(selectTag={"key": "backup"})), "value"),
        (_backups(_plan(copyTo={"region": "eu-west-1", "retainDays": 7})), "home Region"),
        (_backups(_plan(copyTo={"region": "Frankfurt", "retainDays": 7})), "not an AWS Region"),
        (_backups(_plan(copyTo={"region": "us-west-2"})), "copies without a retention"),
        (_backups(_plan(copyTo={"region": "us-west-2", "retainCount": 0})), "retainCount"),
        (_backups(_plan(retainDay=7)), "retainDay"),
        (_backups(*(_plan(name=f"p{i}") for i in range(41))), "at most 40"),
        (_backups(memorySize=64), "memorySize"),
        (_backups(timeoutSeconds=901), "timeoutSeconds"),
    ],
)
def test_bad_backups_config_is_a_clear_error(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


def test_copy_to_the_home_region_is_fine_when_backups_are_off() -> None:
    raw = _backups(_plan(copyTo={"region": "eu-west-1", "retainDays": 7}), enabled=False)
    assert not parse_config(raw).capabilities.backups.enabled
