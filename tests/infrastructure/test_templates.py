"""Template assertions on both synthesized apps (see conftest for the two configurations)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from infra_testlib import (
    ACCESS_KEYS,
    ALB_LOGS,
    AUTO_BLOCK,
    BACKUPS,
    CORE,
    FINDINGS,
    HOME,
    XRAY_ACTIONS,
    Synthesized,
    as_list,
    core_stack,
    expected_grants,
    role_grants,
    statements,
)

from root_activity.permissions import PERMISSIONS
from root_activity.settings import RootActivitySettings
from secauto_core.permissions import CORE_PERMISSIONS
from secauto_core.settings import RuntimeSettings
from secauto_infra.alb_logs import AlbLogsStack, log_object_prefix
from secauto_infra.auto_block import flow_log_object_prefix
from secauto_infra.bundling import FUNCTIONS_DIR
from secauto_infra.core_stack import DEFAULT_SLACK_SECRET_NAME, RULE_NAME_PREFIX
from secauto_infra.event_rules import ALL_MANAGEMENT_EVENTS, occurs_in
from secauto_infra.function import UNSCOPED_ACTIONS, powertools_layer_arn
from secauto_infra.root_activity import CIS_ROOT_USAGE_PATTERN, RootActivityStack
from secauto_infra.rule_catalog import RuleSpec, rules_for

ROOT_RULES = rules_for("root_activity")


# ---------------------------------------------------------------- stacks and Regions


def test_stacks_per_region(synth: Synthesized) -> None:
    config = synth.config
    expected = {
        CORE: config.home_region,
        HOME: config.home_region,
        FINDINGS: config.home_region,
        ACCESS_KEYS: config.home_region,
        ALB_LOGS: config.home_region,
        AUTO_BLOCK: config.home_region,
    }
    if config.capabilities.backups.plans:  # no plan, no backups stack
        expected[BACKUPS] = config.home_region
    for region in config.other_regions:
        expected[f"{HOME}-{region}"] = region
    assert {stack_id: stack.region for stack_id, stack in synth.stacks.items()} == expected
    for stack in synth.stacks.values():
        # The core DLQ policy admits rules named `Secauto*`, i.e. rules of our stacks.
        assert stack.stack_name.startswith(RULE_NAME_PREFIX)
        if config.account:
            assert stack.account == config.account


def test_forwarders_put_events_on_the_home_bus(full_synth: Synthesized) -> None:
    config = full_synth.config
    home_bus = f"arn:aws:events:{config.home_region}:{config.account}:event-bus/default"
    for region in config.other_regions:
        stack_id = f"{HOME}-{region}"
        rules = full_synth.resources(stack_id, "AWS::Events::Rule")
        # sign-ins only where AWS records them (us-east-1), API calls everywhere
        expected = [spec.pattern for spec in ROOT_RULES if occurs_in(spec, region)]
        assert sorted(map(repr, (r["Properties"]["EventPattern"] for r in rules.values()))) == sorted(
            map(repr, expected)
        )
        ((role_id, role),) = full_synth.resources(stack_id, "AWS::IAM::Role").items()
        assert role_grants(full_synth, stack_id, role) == {("events:PutEvents", home_bus)}
        assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
            "Service": "events.amazonaws.com"
        }
        ((queue_id, _queue),) = full_synth.resources(stack_id, "AWS::SQS::Queue").items()
        for rule in rules.values():
            (target,) = rule["Properties"]["Targets"]
            assert full_synth.canonical(stack_id, target["Arn"]) == home_bus
            assert target["RoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}
            assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    us_east_1 = full_synth.resources(f"{HOME}-us-east-1", "AWS::Events::Rule")
    sydney = full_synth.resources(f"{HOME}-ap-southeast-2", "AWS::Events::Rule")
    assert len(us_east_1) == len(ROOT_RULES)
    assert len(sydney) == len([s for s in ROOT_RULES if s.pattern.get("source") != ["aws.signin"]])


def test_default_config_deploys_no_forwarder_when_it_has_one_region(default_synth: Synthesized) -> None:
    forwarders = [stack_id for stack_id in default_synth.stacks if stack_id.startswith(f"{HOME}-")]
    assert len(forwarders) == len(default_synth.config.other_regions)


# ---------------------------------------------------------------- rules


def _home_rule(synth: Synthesized, spec: RuleSpec) -> tuple[str, dict[str, Any]]:
    matches = [
        (logical_id, rule)
        for logical_id, rule in synth.resources(HOME, "AWS::Events::Rule").items()
        if rule["Properties"]["EventPattern"] == spec.pattern
    ]
    assert len(matches) == 1, f"{spec.path.name}: expected one home rule with exactly its pattern"
    return matches[0]


def test_rule_files_exist() -> None:
    assert {spec.name for spec in ROOT_RULES} >= {"root_activity.console_signin", "root_activity.api_call"}


@pytest.mark.parametrize("spec", ROOT_RULES, ids=lambda spec: spec.name)
def test_home_rule_pattern_is_the_rule_file(synth: Synthesized, spec: RuleSpec) -> None:
    logical_id, rule = _home_rule(synth, spec)
    props = rule["Properties"]
    assert "EventBusName" not in props  # the default bus
    reads_api_calls = "AWS API Call via CloudTrail" in spec.pattern.get("detail-type", [])
    assert props["State"] == (ALL_MANAGEMENT_EVENTS if reads_api_calls else "ENABLED")
    (target,) = props["Targets"]
    (function_id,) = synth.resources(HOME, "AWS::Lambda::Function")
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert (
        synth.canonical(HOME, target["DeadLetterConfig"]["Arn"])
        == synth.logical_id(core_stack(synth).dlq) + ".Arn"
    )
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] >= 3600
    Template.from_json(synth.template(HOME)).has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "Principal": "events.amazonaws.com",
            "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
            "SourceArn": {"Fn::GetAtt": [logical_id, "Arn"]},
        },
    )


def test_home_has_one_rule_per_file(synth: Synthesized) -> None:
    assert len(synth.resources(HOME, "AWS::Events::Rule")) == len(ROOT_RULES)


# ---------------------------------------------------------------- functions


def test_every_function_is_configured_the_secauto_way(synth: Synthesized) -> None:
    config = synth.config
    functions = synth.all_resources("AWS::Lambda::Function")
    assert functions
    for stack_id, _logical_id, function in functions:
        props = function["Properties"]
        stack = synth.stacks[stack_id]
        assert props["Runtime"] == config.lambda_runtime
        assert props["Architectures"] == [config.architecture]
        assert props["Layers"] == [
            powertools_layer_arn(
                stack.region,
                runtime=config.lambda_runtime,
                architecture=config.architecture,
                version=config.powertools_layer_version,
            )
        ]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert (
            synth.canonical(stack_id, props["DeadLetterConfig"]["TargetArn"])
            == synth.logical_id(core_stack(synth).dlq) + ".Arn"
        )
        logging = props["LoggingConfig"]
        assert logging["LogFormat"] == "JSON"
        log_group = synth.template(stack_id)["Resources"][logging["LogGroup"]["Ref"]]
        assert log_group["Type"] == "AWS::Logs::LogGroup"
        assert log_group["Properties"]["RetentionInDays"] == config.log_retention_days
        assert (
            synth.canonical(stack_id, log_group["Properties"]["KmsKeyId"])
            == synth.logical_id(core_stack(synth).key) + ".Arn"
        )
        capability, _, rest = props["Handler"].partition(".")
        assert rest == "handler.lambda_handler"
        assert (FUNCTIONS_DIR / capability / "handler.py").is_file()


def test_function_environment_is_what_the_handlers_read(synth: Synthesized) -> None:
    config = synth.config
    (function,) = synth.resources(HOME, "AWS::Lambda::Function").values()
    env: dict[str, Any] = function["Properties"]["Environment"]["Variables"]
    assert env["SECAUTO_CAPABILITY"] == "root_activity"
    assert env["POWERTOOLS_SERVICE_NAME"] == "secauto-root_activity"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "secauto"
    assert env["POWERTOOLS_LOG_LEVEL"] == config.log_level
    assert env["SECAUTO_SECURITYHUB_IMPORT"] == ("true" if config.security_hub_import else "false")
    core = core_stack(synth).resources
    assert synth.canonical(HOME, env["SECAUTO_TOPIC_ARN"]) == synth.logical_id(core.topic)
    assert synth.canonical(HOME, env["SECAUTO_IDEMPOTENCY_TABLE"]) == synth.logical_id(core.idempotency_table)
    assert synth.canonical(HOME, env["SECAUTO_STATE_TABLE"]) == synth.logical_id(core.state_table)
    assert synth.canonical(HOME, env["SECAUTO_DLQ_URL"]) == synth.logical_id(core.dlq)
    expected_secret = config.slack_webhook_secret_name or synth.logical_id(core.slack_secret)
    assert synth.canonical(HOME, env["SECAUTO_SLACK_SECRET_NAME"]) == expected_secret
    assert env.get("SECAUTO_ACCOUNT_ALIAS") == config.account_alias

    # Every SECAUTO_ variable is a setting the runtime declares, and parses there.
    runtime = {k: v for k, v in env.items() if k.startswith("SECAUTO_") and not k.startswith("SECAUTO_ROOT_")}
    assert {k.removeprefix("SECAUTO_").lower() for k in runtime} <= set(RuntimeSettings.model_fields)
    settings = RuntimeSettings.from_environ(
        {k: v if isinstance(v, str) else "token" for k, v in runtime.items()}
    )
    assert settings.securityhub_import is config.security_hub_import
    root_env = {k: v for k, v in env.items() if k.startswith("SECAUTO_ROOT_")}
    assert {k.removeprefix("SECAUTO_ROOT_").lower() for k in root_env} <= set(
        RootActivitySettings.model_fields
    )
    root = RootActivitySettings.from_environ(root_env)
    wanted = config.capabilities.root_activity
    assert [str(net) for net in root.expected_source_cidrs] == list(wanted.expected_source_cidrs)
    assert [(w.start, w.end, w.reason) for w in root.break_glass_windows] == [
        (w.start, w.end, w.reason) for w in wanted.break_glass_windows
    ]
    assert root.failure_burst_threshold == wanted.failure_burst_threshold
    assert root.failure_burst_window_minutes == wanted.failure_burst_window_minutes


# ---------------------------------------------------------------- IAM


def test_function_role_grants_exactly_the_declared_permissions(synth: Synthesized) -> None:
    home = synth.stacks[HOME]
    assert isinstance(home, RootActivityStack)
    fn = home.function
    role = synth.template(HOME)["Resources"][synth.logical_id(fn.role).split(":")[1]]
    platform = {
        ("logs:CreateLogStream", synth.logical_id(fn.log_group) + ".Arn"),
        ("logs:PutLogEvents", synth.logical_id(fn.log_group) + ".Arn"),
        *((action, "*") for action in XRAY_ACTIONS),
        ("sqs:SendMessage", synth.logical_id(core_stack(synth).dlq) + ".Arn"),
    }
    assert role_grants(synth, HOME, role) == expected_grants(synth, CORE_PERMISSIONS + PERMISSIONS) | platform
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
    ]


def test_no_managed_policies_and_no_star_resources_but_the_reviewed_ones(synth: Synthesized) -> None:
    # A literal "*" only for actions AWS cannot scope (X-Ray; the IAM credential report).
    # The other wildcards: the findings function assumes the configured import role in any
    # account of the configured organization (aws:ResourceOrgID; only when `crossAccountRoleName`
    # is set without `memberAccountIds`); the access-key audit covers every user of this account
    # and reads the exempt groups.
    # The ALB-log function reads every new log file of this account under the log bucket's prefix.
    # The auto-block function reads every new flow-log file of this account under the flow-log
    # bucket's prefix (only when a bucket is configured); it describes ACLs and VPCs. (Its IP sets
    # are granted by their exact ARNs.)
    # The backups function creates (and copies, deletes) snapshots and images, whose ids EC2
    # generates, from the instances and volumes its plans select by tag at run time (under tag
    # conditions, see test_backups); it describes instances, volumes, snapshots and images.
    findings = synth.config.capabilities.findings
    role_name = findings.cross_account_role_name
    any_member_account = bool(role_name) and not findings.member_account_ids
    auto_block = synth.config.capabilities.auto_block
    flow_log_prefix = flow_log_object_prefix(auto_block.flow_log_key_prefix, synth.account)
    users = f"arn:aws:iam::{synth.account}:user/*"
    alb_logs = synth.stacks[ALB_LOGS]
    assert isinstance(alb_logs, AlbLogsStack)
    log_bucket = synth.logical_id(alb_logs.bucket) if alb_logs.bucket else alb_logs.bucket_name
    log_prefix = log_object_prefix(synth.config.capabilities.alb_logs.key_prefix, synth.account)
    wildcards = {
        (FINDINGS, "sts:AssumeRole", f"arn:aws:iam::*:role/{role_name}") if any_member_account else None,
        *(
            (ACCESS_KEYS, action, users)
            for action in (
                "iam:ListUsers",
                "iam:ListAccessKeys",
                "iam:GetAccessKeyLastUsed",
                "iam:ListUserTags",
                "iam:UpdateAccessKey",
                "iam:DeleteAccessKey",
            )
        ),
        (ACCESS_KEYS, "iam:GetGroup", f"arn:aws:iam::{synth.account}:group/*"),
        (ALB_LOGS, "s3:GetObject", f"arn:aws:s3:::{log_bucket}/{log_prefix}*"),
        (
            (AUTO_BLOCK, "s3:GetObject", f"arn:aws:s3:::{auto_block.flow_log_bucket_name}/{flow_log_prefix}*")
            if auto_block.flow_log_bucket_name
            else None
        ),
        *_backup_wildcards(synth),
    }
    credential_report = {
        "iam:GenerateCredentialReport",
        "iam:GetCredentialReport",
        "iam:GetAccountSummary",
        "iam:ListUsers",
    }
    unscoped = {stack_id: set(XRAY_ACTIONS) for stack_id in synth.stacks}
    unscoped[ACCESS_KEYS] |= credential_report
    ec2_describe = {"ec2:DescribeNetworkAcls", "ec2:DescribeVpcs"}
    unscoped[AUTO_BLOCK] |= ec2_describe
    backup_describe = {
        "ec2:DescribeInstances",
        "ec2:DescribeVolumes",
        "ec2:DescribeSnapshots",
        "ec2:DescribeImages",
        # What still launches from an AMI before it is deregistered.
        "ec2:DescribeImageReferences",
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeLaunchTemplateVersions",
        "autoscaling:DescribeLaunchConfigurations",
    }
    unscoped[BACKUPS] = unscoped.get(BACKUPS, set()) | backup_describe
    assert XRAY_ACTIONS | credential_report | ec2_describe | backup_describe <= UNSCOPED_ACTIONS
    assert not synth.all_resources("AWS::IAM::ManagedPolicy")
    for stack_id, _, role in synth.all_resources("AWS::IAM::Role"):
        assert "ManagedPolicyArns" not in role["Properties"]
        for action, resource in role_grants(synth, stack_id, role):
            if resource == "*":
                assert action in unscoped[stack_id], (stack_id, action)
            elif "*" in resource:
                assert (stack_id, action, resource) in wildcards, (stack_id, action, resource)
    for stack_id, _, policy in synth.all_resources("AWS::IAM::Policy"):
        for statement in statements(policy["Properties"]["PolicyDocument"]):
            assert "*" not in as_list(statement["Resource"]), (stack_id, statement)


def _backup_wildcards(synth: Synthesized) -> set[tuple[str, str, str]]:
    """The backups role's wildcard grants: new snapshots and images (home and copy Regions), and
    the instances and volumes they are made from (home Region)."""
    backups = synth.config.capabilities.backups
    if not (backups.enabled and backups.plans):
        return set()
    home = synth.config.home_region
    regions = (home, *backups.copy_regions)
    created = {
        "ec2:CreateSnapshot": ("snapshot",),
        "ec2:CreateSnapshots": ("snapshot",),
        "ec2:CreateImage": ("image", "snapshot"),
        "ec2:CopySnapshot": ("snapshot",),
        "ec2:CopyImage": ("image", "snapshot"),
        "ec2:CreateTags": ("image", "snapshot"),
        "ec2:DeleteSnapshot": ("snapshot",),
        "ec2:DeregisterImage": ("image",),
    }
    read = {
        "ec2:CreateSnapshot": ("volume",),
        "ec2:CreateSnapshots": ("instance", "volume"),
        "ec2:CreateImage": ("instance",),
    }
    return {
        *(
            (BACKUPS, action, f"arn:aws:ec2:{region}::{kind}/*")
            for action, kinds in created.items()
            for kind in kinds
            for region in regions
        ),
        *(
            (BACKUPS, action, f"arn:aws:ec2:{home}:{synth.account}:{kind}/*")
            for action, kinds in read.items()
            for kind in kinds
        ),
    }


# ---------------------------------------------------------------- core resources


def test_topic_is_encrypted_and_tls_only(synth: Synthesized) -> None:
    template = Template.from_json(synth.template(CORE))
    key_arn = {"Fn::GetAtt": [synth.logical_id(core_stack(synth).key).split(":")[1], "Arn"]}
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": key_arn})
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                        ),
                        Match.object_like(
                            {"Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"}}
                        ),
                        Match.object_like(
                            {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}}
                        ),
                    ]
                )
            }
        },
    )


def test_key_rotates_and_lets_alarms_and_eventbridge_use_it(synth: Synthesized) -> None:
    # (The conditions on each service's statement: test_iam_guards.)
    (key,) = synth.resources(CORE, "AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True
    services = {
        statement["Principal"].get("Service"): set(as_list(statement["Action"]))
        for statement in statements(key["Properties"]["KeyPolicy"])
    }
    for service in ("cloudwatch.amazonaws.com", "events.amazonaws.com"):
        assert {"kms:Decrypt", "kms:GenerateDataKey"} <= services[service]
    (logs_statement,) = [
        s
        for s in statements(key["Properties"]["KeyPolicy"])
        if s["Principal"].get("Service") == f"logs.{synth.config.home_region}.amazonaws.com"
    ]
    log_groups = logs_statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert synth.canonical(CORE, log_groups) == (
        f"arn:aws:logs:{synth.config.home_region}:{synth.account}:log-group:Secauto*"
    )


def test_every_queue_is_encrypted_and_tls_only(synth: Synthesized) -> None:
    queues = synth.all_resources("AWS::SQS::Queue")
    # the core DLQ, the findings queue, and one DLQ per forwarder stack
    assert len(queues) == 2 + len(synth.config.other_regions)
    for stack_id, logical_id, queue in queues:
        props = queue["Properties"]
        assert props.get("KmsMasterKeyId") or props.get("SqsManagedSseEnabled") is True
        (policy,) = [
            p
            for p in synth.resources(stack_id, "AWS::SQS::QueuePolicy").values()
            if p["Properties"]["Queues"] == [{"Ref": logical_id}]
        ]
        assert any(
            s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements(policy["Properties"]["PolicyDocument"])
        ), stack_id
    core_dlq = synth.template(CORE)["Resources"][synth.logical_id(core_stack(synth).dlq).split(":")[1]]
    assert (
        synth.canonical(CORE, core_dlq["Properties"]["KmsMasterKeyId"])
        == synth.logical_id(core_stack(synth).key) + ".Arn"
    )


@pytest.mark.parametrize(
    ("attribute", "keys", "ttl"),
    [
        ("idempotency_table", [("id", "HASH")], "expiration"),
        ("state_table", [("pk", "HASH"), ("sk", "RANGE")], "ttl"),
    ],
)
def test_tables(synth: Synthesized, attribute: str, keys: list[tuple[str, str]], ttl: str) -> None:
    core = core_stack(synth)
    logical_id = synth.logical_id(getattr(core.resources, attribute)).split(":")[1]
    props = synth.template(CORE)["Resources"][logical_id]["Properties"]
    assert [(k["AttributeName"], k["KeyType"]) for k in props["KeySchema"]] == keys
    assert all(a["AttributeType"] == "S" for a in props["AttributeDefinitions"])
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": ttl, "Enabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["SSESpecification"]["SSEType"] == "KMS"
    assert (
        synth.canonical(CORE, props["SSESpecification"]["KMSMasterKeyId"])
        == synth.logical_id(core.key) + ".Arn"
    )


def test_slack_secret_created_empty_unless_configured(synth: Synthesized) -> None:
    secrets = synth.resources(CORE, "AWS::SecretsManager::Secret")
    if synth.config.slack_webhook_secret_name:
        assert secrets == {}
        return
    (secret,) = secrets.values()
    props = secret["Properties"]
    assert props["Name"] == DEFAULT_SLACK_SECRET_NAME
    assert "GenerateSecretString" not in props
    assert "SecretString" not in props
    assert synth.canonical(CORE, props["KmsKeyId"]) == synth.logical_id(core_stack(synth).key) + ".Arn"


# ---------------------------------------------------------------- alarms


def test_every_alarm_notifies_the_topic(synth: Synthesized) -> None:
    topic = synth.logical_id(core_stack(synth).resources.topic)
    alarms = synth.all_resources("AWS::CloudWatch::Alarm")
    for stack_id, logical_id, alarm in alarms:
        actions = [synth.canonical(stack_id, action) for action in alarm["Properties"]["AlarmActions"]]
        assert actions == [topic], (stack_id, logical_id)
    metrics = {(a["Properties"]["Namespace"], a["Properties"]["MetricName"]) for _, _, a in alarms}
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in metrics
    assert ("AWS/Lambda", "Errors") in metrics
    template = Template.from_json(synth.template(CORE))
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
        },
    )
    (function_id,) = synth.resources(HOME, "AWS::Lambda::Function")
    Template.from_json(synth.template(HOME)).has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "Errors",
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
            "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": function_id}}],
        },
    )


def test_cis_metric_filter_and_alarm_when_enabled(synth: Synthesized) -> None:
    cis = synth.config.capabilities.root_activity.cis_alarm
    filters = synth.resources(HOME, "AWS::Logs::MetricFilter")
    if not cis.enabled:
        assert filters == {}
        return
    (metric_filter,) = filters.values()
    props = metric_filter["Properties"]
    assert props["FilterPattern"] == CIS_ROOT_USAGE_PATTERN
    assert props["LogGroupName"] == cis.cloud_trail_log_group_name
    (transformation,) = props["MetricTransformations"]
    Template.from_json(synth.template(HOME)).has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": transformation["MetricNamespace"],
            "MetricName": transformation["MetricName"],
            "Statistic": "Sum",
            "Period": 300,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        },
    )
