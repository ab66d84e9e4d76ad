"""The auto-blocking capability: flow logs (CloudWatch Logs, S3), GuardDuty, ALB top talkers and the
sweeper -> the auto_block function, which blocks in WAF (IP sets + rule group) and network ACLs.

Four apps: the session's `default` (REGIONAL only, no inputs but GuardDuty) and `full` (eu-west-1:
a log group, a bucket, a network ACL, ALB top talkers), plus two built here once per module with
few capabilities on: `cloudfront` (us-east-1, both WAF scopes, every input, three ACL windows) and
`nacl_only` (eu-west-1, no account: no WAF scope, no GuardDuty, a bucket without prefix).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from infra_testlib import (
    ALB_LOGS,
    AUTO_BLOCK,
    CORE,
    SKIP_BUNDLING,
    XRAY_ACTIONS,
    Synthesized,
    concrete_pattern,
    core_stack,
    expected_grants,
    role_grants,
)

from auto_block.flowlogs import DEFAULT_FIELDS, parse_format
from auto_block.model import NaclWindow, WafIpSetRef
from auto_block.permissions import (
    IP_SET_ACTIONS,
    NACL_PERMISSIONS,
    PERMISSIONS,
    S3_FLOW_LOG_PERMISSIONS,
    ip_set_permissions,
)
from auto_block.settings import AutoBlockSettings
from secauto_cli.rule_matcher import pattern_matches
from secauto_core.permissions import CORE_PERMISSIONS
from secauto_core.settings import RuntimeSettings
from secauto_infra.alb_logs import AlbLogsStack
from secauto_infra.app_builder import CAPABILITIES, app_config, build_app, cdk_json_context
from secauto_infra.auto_block import (
    ALB_SUMMARY_FILTER_PATTERN,
    ALL_RECORDS,
    FLOW_LOG_RULE_SPEC,
    GUARDDUTY_FINDING_TYPES,
    GUARDDUTY_RULE_SPEC,
    LOGS_PRINCIPAL,
    RULE_GROUP_CAPACITY,
    SUBSCRIPTION_FILTER_NAME,
    SWEEPER_RULE_NAME,
    SWEEPER_RULE_SPEC,
    AutoBlockStack,
    bind_template,
    check_auto_block_rules,
    deployed_flow_log_pattern,
    flow_log_object_prefix,
)
from secauto_infra.bundling import FUNCTIONS_DIR
from secauto_infra.config import (
    DEFAULT_FLOW_LOG_FORMAT,
    AutoBlockConfig,
    CapabilitiesConfig,
    ConfigError,
    parse_config,
    waf_ip_set_name,
    waf_rule_group_name,
)
from secauto_infra.core_stack import NAMED_RULE_PREFIX
from secauto_infra.event_rules import scheduled_event_pattern
from secauto_infra.function import UNSCOPED_ACTIONS
from secauto_infra.rule_catalog import RuleCatalogError, RuleSpec, rules_for

AUTO_BLOCK_RULES = rules_for("auto_block")
ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
ACL_A = "acl-0123456789abcdef0"
ACL_B = "acl-89abcdef"
FLOW_BUCKET = "team-flow-logs"
ONLY: dict[str, Any] = {
    "rootActivity": {"enabled": False},
    "findings": {"enabled": False},
    "accessKeys": {"enabled": False},
}
CLOUDFRONT_CONFIG: dict[str, Any] = {
    "homeRegion": "us-east-1",
    "account": ACCOUNT,
    "regions": ["us-east-1"],
    "capabilities": {
        **ONLY,
        "albLogs": {"enabled": True},
        "autoBlock": {
            "enforce": True,
            "wafScopes": ["REGIONAL", "CLOUDFRONT"],
            "flowLogGroupNames": ["/vpc/prod/flow-logs", "vpc#flows.test"],
            "flowLogBucketName": FLOW_BUCKET,
            "flowLogKeyPrefix": "flow/prod/",
            "networkAcls": [
                {"aclId": ACL_A, "firstRule": 10, "size": 10},
                {"aclId": ACL_A, "firstRule": 30, "size": 5},
                {"aclId": ACL_B, "firstRule": 100, "size": 30, "quota": 40},
            ],
            "albTopTalkersEnabled": True,
            "allowCidrs": ["203.0.113.0/24", "2001:db8::/32"],
            "allowOwnVpcs": False,
            "allowAwsRanges": True,
            "windowSeconds": 600,
            "portScanPorts": 30,
            "hostSweepHosts": 40,
            "rejectFloodRejects": 1000,
            "albRequestsPerFile": 50_000,
            "blockMinutes": 15,
            "escalation": 2.5,
            "maxBlockMinutes": 1440,
            "historyDays": 7,
            "maxNewBlocksPerRun": 500,
            "logFormat": "${version} ${vpc-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} "
            "${action} ${log-status} ${pkt-srcaddr} ${flow-direction}",
            "sweeperSchedule": "rate(1 minute)",
            "memorySize": 2048,
            "timeoutSeconds": 600,
        },
    },
}
NACL_ONLY_CONFIG: dict[str, Any] = {
    "homeRegion": "eu-west-1",
    "regions": ["eu-west-1"],
    "capabilities": {
        **ONLY,
        "albLogs": {"enabled": False},
        "autoBlock": {
            "enforce": True,
            "wafScopes": [],
            "guarddutyEnabled": False,
            "flowLogBucketName": "flow-logs-eu",
            "networkAcls": [{"aclId": ACL_B, "firstRule": 1, "size": 19}],
            "sweeperSchedule": "cron(*/10 * * * ? *)",
        },
    },
}


def _synthesize(outdir: Path, secauto: dict[str, Any]) -> Synthesized:
    app = build_app({**SKIP_BUNDLING, "secauto": secauto}, outdir=str(outdir))
    app.synth()  # raises if cdk-nag (or CDK) reports a violation
    return Synthesized(app=app, outdir=outdir, config=app_config(app))


@pytest.fixture(scope="module")
def cloudfront_synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return _synthesize(tmp_path_factory.mktemp("cdk-auto-block-cloudfront"), CLOUDFRONT_CONFIG)


@pytest.fixture(scope="module")
def nacl_only_synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return _synthesize(tmp_path_factory.mktemp("cdk-auto-block-nacl-only"), NACL_ONLY_CONFIG)


@pytest.fixture(params=["default", "full", "cloudfront", "nacl_only"])
def ab_synth(request: pytest.FixtureRequest) -> Synthesized:
    """Every app with the capability."""
    fixture: Synthesized = request.getfixturevalue(f"{request.param}_synth")
    return fixture


def _stack(synth: Synthesized) -> AutoBlockStack:
    stack = synth.stacks[AUTO_BLOCK]
    assert isinstance(stack, AutoBlockStack)
    return stack


def _settings(synth: Synthesized) -> AutoBlockConfig:
    return synth.config.capabilities.auto_block


def _spec(name: str) -> RuleSpec:
    (spec,) = [spec for spec in AUTO_BLOCK_RULES if spec.name == name]
    return spec


def _envelope(source: str, detail_type: str, detail: dict[str, Any], **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": "2026-11-24T10:05:41Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }
    event.update(changes)
    return event


def _s3_event(key: str, *, bucket: str = FLOW_BUCKET) -> dict[str, Any]:
    """An S3 "Object Created" event as EventBridge delivers it."""
    return _envelope(
        "aws.s3",
        "Object Created",
        {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": 4821, "etag": "b1946ac92492d2347c6235b4d2611184"},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "delivery.logs.amazonaws.com",
            "reason": "PutObject",
        },
        resources=[f"arn:aws:s3:::{bucket}"],
    )


def _guardduty_event(finding_type: str, **changes: Any) -> dict[str, Any]:
    event = _envelope(
        "aws.guardduty",
        "GuardDuty Finding",
        {"schemaVersion": "2.0", "type": finding_type, "severity": 5, "service": {"action": {}}},
    )
    event.update(changes)
    return event


def _scheduled_event(rule_name: str, account: str = ACCOUNT) -> dict[str, Any]:
    return _envelope(
        "aws.events",
        "Scheduled Event",
        {},
        resources=[f"arn:aws:events:us-east-1:{account}:rule/{rule_name}"],
    )


def _flow_key(account: str = ACCOUNT, prefix: str = "", region: str = "us-east-1") -> str:
    """What VPC Flow Logs writes for `account` (the key after the bucket)."""
    return (
        f"{prefix}AWSLogs/{account}/vpcflowlogs/{region}/2026/11/24/"
        f"{account}_vpcflowlogs_{region}_fl-0a1b2c3d4e5f60718_20261124T1005Z_5f0e2c1b.log.gz"
    )


# ---------------------------------------------------------------- the rule files


def test_the_rule_files_are_what_the_stack_deploys() -> None:
    rules = check_auto_block_rules(AUTO_BLOCK_RULES)
    assert {spec.name for spec in AUTO_BLOCK_RULES} == {
        FLOW_LOG_RULE_SPEC,
        GUARDDUTY_RULE_SPEC,
        SWEEPER_RULE_SPEC,
    }
    assert all(spec.handler == "auto_block.handler.lambda_handler" for spec in AUTO_BLOCK_RULES)
    assert rules.sweeper.pattern == scheduled_event_pattern(SWEEPER_RULE_NAME)
    assert rules.guardduty.pattern == {
        "source": ["aws.guardduty"],
        "detail-type": ["GuardDuty Finding"],
        "detail": {"type": list(GUARDDUTY_FINDING_TYPES)},
    }
    flow = rules.flow_log_object.pattern
    assert (flow["source"], flow["detail-type"]) == (["aws.s3"], ["Object Created"])
    assert "bucket" not in flow["detail"]  # the stack adds the configured bucket


FLOW_KEYS = [
    pytest.param(_flow_key(), id="no-prefix"),
    pytest.param(_flow_key(prefix="flow/"), id="prefix"),
    pytest.param(_flow_key(prefix="team/flow/prod/"), id="deep-prefix"),
    pytest.param(_flow_key(OTHER_ACCOUNT, "flow/", "ap-southeast-2"), id="other-account-and-region"),
    pytest.param(_flow_key().replace("/24/", "/24/10/"), id="per-hour-partitions"),
]
OTHER_KEYS = [
    pytest.param(_flow_key().removesuffix(".gz"), id="not-gzip"),
    pytest.param(_flow_key().replace(".log.gz", ".log.parquet"), id="parquet"),
    pytest.param(
        f"AWSLogs/aws-account-id={ACCOUNT}/aws-service=vpcflowlogs/aws-region=us-east-1/year=2026/month=11/"
        f"day=24/{ACCOUNT}_vpcflowlogs_us-east-1_fl-1_20261124T1005Z_5f0e2c1b.log.gz",
        id="hive-compatible",
    ),
    pytest.param(
        f"AWSLogs/{ACCOUNT}/elasticloadbalancing/us-east-1/2026/11/24/{ACCOUNT}_elasticloadbalancing_"
        "us-east-1_app.web.50dc6c495c0c9188_20261124T1005Z_10.0.1.23_5tz5yp4b.log.gz",
        id="alb-access-log",
    ),
    pytest.param(
        f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/11/24/{ACCOUNT}_CloudTrail_us-east-1_x.json.gz",
        id="cloudtrail",
    ),
    pytest.param(_flow_key().replace("AWSLogs/", "logs/"), id="no-AWSLogs"),
    pytest.param(_flow_key(prefix="flow"), id="prefix-without-slash"),
]


@pytest.mark.parametrize("key", FLOW_KEYS)
def test_the_flow_log_rule_matches_new_flow_log_files(key: str) -> None:
    assert pattern_matches(_spec(FLOW_LOG_RULE_SPEC).pattern, _s3_event(key))


@pytest.mark.parametrize("key", OTHER_KEYS)
def test_the_flow_log_rule_ignores_other_objects(key: str) -> None:
    assert not pattern_matches(_spec(FLOW_LOG_RULE_SPEC).pattern, _s3_event(key))


def _aws_wildcard(pattern: str, value: str) -> bool:
    """EventBridge's documented `wildcard`: `*` matches zero or more characters, `\\*` a star."""
    parts = re.split(r"(?<!\\)\*", pattern)
    regex = ".*".join(re.escape(part.replace("\\*", "*").replace("\\\\", "\\")) for part in parts)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def _key_wildcards(pattern: dict[str, Any]) -> list[str]:
    return [condition["wildcard"] for condition in pattern["detail"]["object"]["key"]]


@pytest.mark.parametrize("key", [*FLOW_KEYS, *OTHER_KEYS])
def test_the_key_filter_means_the_same_in_aws_and_in_the_local_engine(key: str) -> None:
    # LocalStack's `*` needs at least one character, AWS's none: the file never relies on `*`
    # matching nothing (keys without a prefix have a condition of their own).
    pattern = _spec(FLOW_LOG_RULE_SPEC).pattern
    aws = any(_aws_wildcard(wildcard, key) for wildcard in _key_wildcards(pattern))
    assert aws == pattern_matches(pattern, _s3_event(key))
    assert all(not wildcard.startswith("*AWSLogs") for wildcard in _key_wildcards(pattern))


@pytest.mark.parametrize("finding_type", GUARDDUTY_FINDING_TYPES)
def test_the_guardduty_rule_matches_probes_and_brute_force(finding_type: str) -> None:
    assert pattern_matches(_spec(GUARDDUTY_RULE_SPEC).pattern, _guardduty_event(finding_type))


@pytest.mark.parametrize(
    "event",
    [
        _guardduty_event("Recon:EC2/Portscan"),  # our instance scans others: its address is ours
        _guardduty_event("Behavior:EC2/NetworkPortUnusual"),
        _guardduty_event("UnauthorizedAccess:IAMUser/MaliciousIPCaller"),
        _guardduty_event("Recon:EC2/PortProbeUnprotectedPort", source="aws.securityhub"),
        _guardduty_event(
            "Recon:EC2/PortProbeUnprotectedPort", **{"detail-type": "Security Hub Findings - Imported"}
        ),
    ],
    ids=["portscan", "port-unusual", "iam-caller", "securityhub-source", "imported"],
)
def test_the_guardduty_rule_ignores_other_findings(event: dict[str, Any]) -> None:
    assert not pattern_matches(_spec(GUARDDUTY_RULE_SPEC).pattern, event)


def test_the_sweeper_rule_file_matches_the_sweepers_ticks_only() -> None:
    pattern = _spec(SWEEPER_RULE_SPEC).pattern
    assert SWEEPER_RULE_NAME.startswith(NAMED_RULE_PREFIX)  # the core DLQ admits it by name
    assert pattern_matches(pattern, _scheduled_event(SWEEPER_RULE_NAME))
    for other in (
        f"{NAMED_RULE_PREFIX}access-keys-audit",
        f"{SWEEPER_RULE_NAME}-staging",
        f"x{SWEEPER_RULE_NAME}",
        f"custom-bus/{SWEEPER_RULE_NAME}",
    ):
        assert not pattern_matches(pattern, _scheduled_event(other)), other
    # and the access-key audit's rule file does not take the sweeper's ticks
    (audit,) = rules_for("access_keys")
    assert not pattern_matches(audit.pattern, _scheduled_event(SWEEPER_RULE_NAME))


def _with(name: str, pattern: dict[str, Any]) -> list[RuleSpec]:
    return [
        RuleSpec(spec.name, spec.capability, pattern if spec.name == name else spec.pattern, spec.path)
        for spec in AUTO_BLOCK_RULES
    ]


def _flow_pattern(**detail: Any) -> dict[str, Any]:
    pattern = copy.deepcopy(_spec(FLOW_LOG_RULE_SPEC).pattern)
    pattern["detail"] = detail
    return pattern


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([], "expected"),
        ([s for s in AUTO_BLOCK_RULES if s.name != GUARDDUTY_RULE_SPEC], "expected"),
        (
            [
                *AUTO_BLOCK_RULES,
                RuleSpec("auto_block.extra", "auto_block", {"source": ["x"]}, Path("x.json")),
            ],
            "expected",
        ),
        (
            _with(
                FLOW_LOG_RULE_SPEC,
                _flow_pattern(bucket={"name": ["logs"]}, **_spec(FLOW_LOG_RULE_SPEC).pattern["detail"]),
            ),
            "must not name a bucket",
        ),
        (_with(FLOW_LOG_RULE_SPEC, _flow_pattern(reason=["PutObject"])), "detail.object.key"),
        (
            _with(FLOW_LOG_RULE_SPEC, {"source": ["aws.s3"], "detail-type": ["Object Created"]}),
            "detail.object.key",
        ),
        (_with(FLOW_LOG_RULE_SPEC, {**_spec(FLOW_LOG_RULE_SPEC).pattern, "source": ["custom.s3"]}), "source"),
        (
            _with(GUARDDUTY_RULE_SPEC, {"source": ["aws.guardduty"], "detail-type": ["GuardDuty Finding"]}),
            "finding types",
        ),
        (
            _with(
                GUARDDUTY_RULE_SPEC,
                {
                    "source": ["aws.guardduty"],
                    "detail-type": ["GuardDuty Finding"],
                    "detail": {"type": [*GUARDDUTY_FINDING_TYPES, "Recon:EC2/Portscan"]},
                },
            ),
            "finding types",
        ),
        (
            _with(GUARDDUTY_RULE_SPEC, {"source": ["aws.macie"], "detail-type": ["GuardDuty Finding"]}),
            "source",
        ),
        (_with(SWEEPER_RULE_SPEC, scheduled_event_pattern("secauto-other")), "must be the pattern"),
        (
            _with(SWEEPER_RULE_SPEC, {"source": ["aws.events"], "detail-type": ["Scheduled Event"]}),
            "must be the pattern",
        ),
    ],
    ids=[
        "none",
        "missing",
        "extra",
        "flow-names-a-bucket",
        "flow-no-key-filter",
        "flow-no-detail",
        "flow-other-source",
        "guardduty-every-finding",
        "guardduty-more-types",
        "guardduty-other-source",
        "sweeper-other-name",
        "sweeper-any-schedule",
    ],
)
def test_builder_refuses_rule_files_it_would_not_deploy_as_they_are(
    specs: list[RuleSpec], message: str
) -> None:
    with pytest.raises(RuleCatalogError, match=message):
        check_auto_block_rules(specs)


def test_deployed_flow_log_pattern_narrows_to_the_bucket_and_this_accounts_files() -> None:
    spec = _spec(FLOW_LOG_RULE_SPEC)
    before = copy.deepcopy(spec.pattern)
    deployed = deployed_flow_log_pattern(
        spec.pattern, bucket_name=FLOW_BUCKET, key_prefix="flow/", account=ACCOUNT
    )
    assert spec.pattern == before  # the file's pattern is not modified
    assert deployed["detail"]["bucket"] == {"name": [FLOW_BUCKET]}
    assert deployed["detail"]["object"]["key"] == [
        {"wildcard": f"flow/AWSLogs/{ACCOUNT}/vpcflowlogs/*.log.gz"}
    ]
    narrowed = copy.deepcopy(deployed)
    del narrowed["detail"]["bucket"], narrowed["detail"]["object"]
    assert narrowed == {**spec.pattern, "detail": {}}  # nothing else changes
    with pytest.raises(RuleCatalogError, match="must not name a bucket"):
        deployed_flow_log_pattern(
            {"detail": {"bucket": {"name": ["x"]}}}, bucket_name="b", key_prefix="", account="1"
        )


@pytest.mark.parametrize("prefix", ["", "flow/", "team/flow/prod/"])
@pytest.mark.parametrize("key", [*FLOW_KEYS, *OTHER_KEYS])
def test_the_deployed_flow_log_pattern_is_narrower_than_the_file(prefix: str, key: str) -> None:
    # Whatever the deployed rule takes, the file takes too (the replay and the tests use the file),
    # and it takes exactly this account's files under the prefix: the keys the role may read.
    file_pattern = _spec(FLOW_LOG_RULE_SPEC).pattern
    deployed = deployed_flow_log_pattern(
        file_pattern, bucket_name=FLOW_BUCKET, key_prefix=prefix, account=ACCOUNT
    )
    event = _s3_event(key)
    if pattern_matches(deployed, event):
        assert pattern_matches(file_pattern, event)
    readable = key.startswith(flow_log_object_prefix(prefix, ACCOUNT))
    assert pattern_matches(deployed, event) == (readable and pattern_matches(file_pattern, event))


def test_deployed_flow_log_pattern_escapes_wildcard_characters_of_the_prefix() -> None:
    deployed = deployed_flow_log_pattern(
        _spec(FLOW_LOG_RULE_SPEC).pattern, bucket_name="b", key_prefix="a\\b/", account=ACCOUNT
    )
    (condition,) = deployed["detail"]["object"]["key"]
    assert condition == {"wildcard": f"a\\\\b/AWSLogs/{ACCOUNT}/vpcflowlogs/*.log.gz"}
    assert _aws_wildcard(condition["wildcard"], _flow_key(prefix="a\\b/"))


# ---------------------------------------------------------------- the deployed rules


def _rules(synth: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        logical_id: rule["Properties"]
        for logical_id, rule in synth.resources(AUTO_BLOCK, "AWS::Events::Rule").items()
    }


def test_the_deployed_rules_are_the_files_plus_narrowing(ab_synth: Synthesized) -> None:
    stack, settings = _stack(ab_synth), _settings(ab_synth)
    rules = _rules(ab_synth)
    expected = {ab_synth.ref(stack.sweeper_rule)}
    sweeper = rules[ab_synth.ref(stack.sweeper_rule)]
    assert (sweeper["Name"], sweeper["ScheduleExpression"]) == (SWEEPER_RULE_NAME, settings.sweeper_schedule)
    assert "EventPattern" not in sweeper
    if settings.guardduty_enabled:
        assert stack.guardduty_rule is not None
        expected.add(ab_synth.ref(stack.guardduty_rule))
        assert rules[ab_synth.ref(stack.guardduty_rule)]["EventPattern"] == _spec(GUARDDUTY_RULE_SPEC).pattern
    else:
        assert stack.guardduty_rule is None
    if settings.flow_log_bucket_name:
        assert stack.flow_log_rule is not None
        expected.add(ab_synth.ref(stack.flow_log_rule))
        pattern = rules[ab_synth.ref(stack.flow_log_rule)]["EventPattern"]
        assert concrete_pattern(ab_synth, AUTO_BLOCK, pattern) == deployed_flow_log_pattern(
            _spec(FLOW_LOG_RULE_SPEC).pattern,
            bucket_name=settings.flow_log_bucket_name,
            key_prefix=settings.flow_log_key_prefix,
            account=ab_synth.account,
        )
    else:
        assert stack.flow_log_rule is None
    assert set(rules) == expected
    for props in rules.values():
        assert props["State"] == "ENABLED"
        assert "EventBusName" not in props  # the default bus


def test_every_rule_invokes_the_function_with_dead_letters_and_retries(ab_synth: Synthesized) -> None:
    stack = _stack(ab_synth)
    function_id = ab_synth.ref(stack.function.function)
    permissions = {
        p["Properties"]["SourceArn"]["Fn::GetAtt"][0]: p["Properties"]
        for p in ab_synth.resources(AUTO_BLOCK, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "events.amazonaws.com"
    }
    for logical_id, props in _rules(ab_synth).items():
        (target,) = props["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
        assert (
            ab_synth.canonical(AUTO_BLOCK, target["DeadLetterConfig"]["Arn"])
            == ab_synth.logical_id(core_stack(ab_synth).dlq) + ".Arn"
        )
        assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 6 * 3600, "MaximumRetryAttempts": 10}
        assert "Input" not in target
        assert "InputTransformer" not in target
        assert permissions.pop(logical_id) == {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [logical_id, "Arn"]},
        }
    assert permissions == {}  # no rule but ours may invoke the function


def test_the_deployed_flow_log_rule_takes_this_accounts_files_of_the_bucket_only(
    cloudfront_synth: Synthesized,
) -> None:
    stack = _stack(cloudfront_synth)
    assert stack.flow_log_rule is not None
    pattern = _rules(cloudfront_synth)[cloudfront_synth.ref(stack.flow_log_rule)]["EventPattern"]
    assert pattern_matches(pattern, _s3_event(_flow_key(prefix="flow/prod/")))
    for event in (
        _s3_event(_flow_key(prefix="flow/prod/"), bucket="someone-elses-logs"),
        _s3_event(_flow_key(OTHER_ACCOUNT, prefix="flow/prod/")),  # a shared bucket: not ours to read
        _s3_event(_flow_key(prefix="flow/staging/")),
        _s3_event(_flow_key()),
    ):
        assert not pattern_matches(pattern, event), event["detail"]


# ---------------------------------------------------------------- subscriptions


def _subscriptions(synth: Synthesized) -> list[dict[str, Any]]:
    return list(synth.resources(AUTO_BLOCK, "AWS::Logs::SubscriptionFilter").values())


def _logs_permissions(synth: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        logical_id: p["Properties"]
        for logical_id, p in synth.resources(AUTO_BLOCK, "AWS::Lambda::Permission").items()
        if p["Properties"]["Principal"] == LOGS_PRINCIPAL
    }


def test_no_subscription_without_log_groups(default_synth: Synthesized, nacl_only_synth: Synthesized) -> None:
    for synth in (default_synth, nacl_only_synth):
        assert _subscriptions(synth) == []
        assert _logs_permissions(synth) == {}


def test_each_flow_log_group_sends_every_record_to_the_function(ab_synth: Synthesized) -> None:
    function_id = ab_synth.ref(_stack(ab_synth).function.function)
    region = ab_synth.config.home_region
    permissions = _logs_permissions(ab_synth)
    flow = {
        s["Properties"]["LogGroupName"]: s
        for s in ab_synth.resources(AUTO_BLOCK, "AWS::Logs::SubscriptionFilter").values()
        if isinstance(s["Properties"]["LogGroupName"], str)
    }
    assert set(flow) == set(_settings(ab_synth).flow_log_group_names)
    for name, subscription in flow.items():
        props = subscription["Properties"]
        assert props == {
            "LogGroupName": name,
            "FilterName": SUBSCRIPTION_FILTER_NAME,
            "FilterPattern": ALL_RECORDS,
            "DestinationArn": {"Fn::GetAtt": [function_id, "Arn"]},
        }
        # CloudWatch Logs checks it may invoke the function when the filter is created.
        (permission_id,) = subscription["DependsOn"]
        permission = permissions[permission_id]
        assert permission["Action"] == "lambda:InvokeFunction"
        assert permission["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
        assert ab_synth.canonical(AUTO_BLOCK, permission["SourceArn"]) == (
            f"arn:aws:logs:{region}:{ab_synth.account}:log-group:{name}:*"
        )
        assert ab_synth.canonical(AUTO_BLOCK, permission["SourceAccount"]) == ab_synth.account


def test_alb_summaries_reach_the_function_only_when_top_talkers_are_on(ab_synth: Synthesized) -> None:
    summaries = [s for s in _subscriptions(ab_synth) if not isinstance(s["Properties"]["LogGroupName"], str)]
    env = _environment(ab_synth)
    if not _settings(ab_synth).alb_top_talkers_enabled:
        assert summaries == []
        assert "SECAUTO_AUTO_BLOCK_ALB_SUMMARY_LOG_GROUPS" not in env
        return
    alb = ab_synth.stacks[ALB_LOGS]
    assert isinstance(alb, AlbLogsStack)
    log_group = ab_synth.logical_id(alb.function.log_group)
    (subscription,) = summaries
    props = subscription["Properties"]
    assert ab_synth.canonical(AUTO_BLOCK, props["LogGroupName"]) == log_group
    assert props["FilterPattern"] == ALB_SUMMARY_FILTER_PATTERN
    assert props["FilterName"] == SUBSCRIPTION_FILTER_NAME
    (permission_id,) = subscription["DependsOn"]
    permission = _logs_permissions(ab_synth)[permission_id]
    assert ab_synth.canonical(AUTO_BLOCK, permission["SourceArn"]) == f"{log_group}.Arn"
    # The handler tells summaries from flow-log records by the log group's name.
    groups = json.loads(ab_synth.canonical(AUTO_BLOCK, env["SECAUTO_AUTO_BLOCK_ALB_SUMMARY_LOG_GROUPS"]))
    assert groups == [log_group]


def test_the_summary_filter_selects_the_message_the_alb_function_logs() -> None:
    # `{ $.message = "..." }` on the Powertools JSON line the alb_logs function writes per file.
    message = re.fullmatch(r'\{ \$\.message = "(.+)" \}', ALB_SUMMARY_FILTER_PATTERN)
    assert message is not None
    assert f'logger.info("{message[1]}"' in (FUNCTIONS_DIR / "alb_logs" / "service.py").read_text(
        encoding="utf-8"
    )


def test_the_auto_block_stack_depends_on_the_alb_stack_not_the_reverse(cloudfront_synth: Synthesized) -> None:
    manifest = json.loads((cloudfront_synth.outdir / "manifest.json").read_text(encoding="utf-8"))
    artifacts = manifest["artifacts"]
    assert {CORE, ALB_LOGS} <= set(artifacts[AUTO_BLOCK]["dependencies"])
    assert AUTO_BLOCK not in artifacts[ALB_LOGS].get("dependencies", [])
    assert list(CAPABILITIES).index("alb_logs") < list(CAPABILITIES).index("auto_block")
    assert list(CapabilitiesConfig.model_fields).index("alb_logs") < list(
        CapabilitiesConfig.model_fields
    ).index("auto_block")


# ---------------------------------------------------------------- WAF


def test_ip_sets_and_rule_groups_per_scope(ab_synth: Synthesized) -> None:
    scopes = _settings(ab_synth).waf_scopes
    ip_sets = {
        (p["Properties"]["Scope"], p["Properties"]["IPAddressVersion"]): (logical_id, p["Properties"])
        for logical_id, p in ab_synth.resources(AUTO_BLOCK, "AWS::WAFv2::IPSet").items()
    }
    assert set(ip_sets) == {(scope, version) for scope in scopes for version in ("IPV4", "IPV6")}
    for (scope, version), (_, props) in ip_sets.items():
        assert (
            props["Name"]
            == waf_ip_set_name(scope, version)
            == f"secauto-blocklist-{scope.lower()}-{version.lower()}"
        )
        assert props["Addresses"] == []  # created empty: the function fills them
    groups = {
        p["Properties"]["Scope"]: p["Properties"]
        for p in ab_synth.resources(AUTO_BLOCK, "AWS::WAFv2::RuleGroup").values()
    }
    assert set(groups) == set(scopes)
    outputs = ab_synth.template(AUTO_BLOCK).get("Outputs", {})
    assert len(outputs) == len(scopes)
    for scope, group in groups.items():
        assert group["Name"] == waf_rule_group_name(scope)
        assert group["Capacity"] == RULE_GROUP_CAPACITY >= len(group["Rules"])  # 1 WCU per IP-set rule
        assert group["VisibilityConfig"] == {
            "CloudWatchMetricsEnabled": True,
            "MetricName": group["Name"],
            "SampledRequestsEnabled": True,
        }
        blocked = set()
        for rule in group["Rules"]:
            assert rule["Action"] == {"Block": {}}
            assert rule["VisibilityConfig"]["CloudWatchMetricsEnabled"] is True
            assert rule["VisibilityConfig"]["SampledRequestsEnabled"] is True
            arn = rule["Statement"]["IPSetReferenceStatement"]["Arn"]
            blocked.add(arn["Fn::GetAtt"][0])
            assert arn["Fn::GetAtt"][1] == "Arn"
        assert blocked == {ip_sets[(scope, version)][0] for version in ("IPV4", "IPV6")}
        assert len({rule["Priority"] for rule in group["Rules"]}) == len(group["Rules"])
        (output,) = [
            o for o in outputs.values() if o["Value"] == {"Fn::GetAtt": [_group_id(ab_synth, scope), "Arn"]}
        ]
        assert "web ACL" in output["Description"]


def _group_id(synth: Synthesized, scope: str) -> str:
    return synth.ref(_stack(synth).rule_groups[scope])


def test_default_blocks_in_regional_waf_only(default_synth: Synthesized) -> None:
    assert _settings(default_synth).waf_scopes == ("REGIONAL",)
    assert _settings(default_synth).network_acls == ()
    assert set(_stack(default_synth).rule_groups) == {"REGIONAL"}


def test_the_role_may_update_the_stacks_ip_sets_and_no_others(ab_synth: Synthesized) -> None:
    # Each IP set by its own ARN (Fn::GetAtt): no name pattern, so no other IP set of the account.
    role = ab_synth.resource_of(_stack(ab_synth).function.role)
    waf = {(a, r) for a, r in role_grants(ab_synth, AUTO_BLOCK, role) if a.startswith("wafv2:")}
    ip_sets = [f"{AUTO_BLOCK}:{ab_synth.ref(ip_set)}.Arn" for ip_set in _stack(ab_synth).ip_sets.values()]
    assert waf == {(action, arn) for action in IP_SET_ACTIONS for arn in ip_sets}
    assert len(ip_sets) == 2 * len(_settings(ab_synth).waf_scopes)
    assert {"wafv2:GetIPSet", "wafv2:UpdateIPSet"} == set(IP_SET_ACTIONS)


@pytest.mark.parametrize(
    "arns",
    [
        ["arn:aws:wafv2:us-east-1:123456789012:regional/ipset/secauto-blocklist-*/*"],
        ["arn:aws:wafv2:us-east-1:123456789012:global/ipset/secauto-blocklist-cloudfront-ipv?/a1"],
        ["arn:aws:wafv2:us-east-1:123456789012:regional/ipset/x/a1", ""],
    ],
)
def test_ip_set_permissions_refuse_patterns(arns: list[str]) -> None:
    with pytest.raises(ValueError, match="exact ARN"):
        ip_set_permissions(arns)


def test_the_function_gets_the_ip_sets_it_updates(ab_synth: Synthesized) -> None:
    env = _environment(ab_synth)
    refs = json.loads(ab_synth.canonical(AUTO_BLOCK, env["SECAUTO_AUTO_BLOCK_WAF_IP_SETS"]))
    expected = [
        {
            "name": waf_ip_set_name(scope, version),
            "id": f"{AUTO_BLOCK}:{ab_synth.ref(ip_set)}.Id",
            "scope": scope,
            "ip_version": version,
        }
        for (scope, version), ip_set in _stack(ab_synth).ip_sets.items()
    ]
    assert refs == expected
    assert len(refs) == 2 * len(_settings(ab_synth).waf_scopes)


# ---------------------------------------------------------------- the function


def _environment(synth: Synthesized) -> dict[str, Any]:
    env: dict[str, Any] = synth.resource_of(_stack(synth).function.function)["Properties"]["Environment"][
        "Variables"
    ]
    return env


def test_function_size_and_concurrency(ab_synth: Synthesized) -> None:
    function = ab_synth.resource_of(_stack(ab_synth).function.function)["Properties"]
    settings = _settings(ab_synth)
    assert function["Handler"] == "auto_block.handler.lambda_handler"
    assert (function["Timeout"], function["MemorySize"]) == (settings.timeout_seconds, settings.memory_size)
    # Detections and sweeps run in parallel: the writers resolve races with WAF lock tokens.
    assert "ReservedConcurrentExecutions" not in function


def _acl_grants(synth: Synthesized) -> set[tuple[str, str]]:
    return set().union(
        *(
            expected_grants(synth, NACL_PERMISSIONS, acl_id=acl_id)
            for acl_id in _settings(synth).network_acl_ids
        )
    )


def _s3_values(synth: Synthesized) -> dict[str, str]:
    settings = _settings(synth)
    if settings.flow_log_bucket_name is None:
        return {}
    return {
        "flow_log_bucket": settings.flow_log_bucket_name,
        "flow_log_key_prefix": flow_log_object_prefix(settings.flow_log_key_prefix, synth.account),
    }


def test_role_grants_exactly_the_declared_permissions(ab_synth: Synthesized) -> None:
    fn = _stack(ab_synth).function
    role = ab_synth.resource_of(fn.role)
    platform = {
        ("logs:CreateLogStream", ab_synth.logical_id(fn.log_group) + ".Arn"),
        ("logs:PutLogEvents", ab_synth.logical_id(fn.log_group) + ".Arn"),
        *((action, "*") for action in XRAY_ACTIONS),
        ("sqs:SendMessage", ab_synth.logical_id(core_stack(ab_synth).dlq) + ".Arn"),
    }
    values = _s3_values(ab_synth)
    declared = CORE_PERMISSIONS + PERMISSIONS + (S3_FLOW_LOG_PERMISSIONS if values else ())
    waf = {
        (action, f"{AUTO_BLOCK}:{ab_synth.ref(ip_set)}.Arn")
        for action in IP_SET_ACTIONS
        for ip_set in _stack(ab_synth).ip_sets.values()
    }
    grants = role_grants(ab_synth, AUTO_BLOCK, role)
    assert grants == expected_grants(ab_synth, declared, **values) | _acl_grants(ab_synth) | platform | waf
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
    ]
    # "*" only for what AWS cannot scope.
    assert {a for a, r in grants if r == "*"} <= UNSCOPED_ACTIONS


def test_each_network_acl_is_granted_once_by_its_id(ab_synth: Synthesized) -> None:
    role = ab_synth.resource_of(_stack(ab_synth).function.role)
    writes = {(a, r) for a, r in role_grants(ab_synth, AUTO_BLOCK, role) if a.endswith("NetworkAclEntry")}
    region, account = ab_synth.config.home_region, ab_synth.account
    assert writes == {
        (f"ec2:{verb}NetworkAclEntry", f"arn:aws:ec2:{region}:{account}:network-acl/{acl_id}")
        for verb in ("Create", "Delete", "Replace")
        for acl_id in _settings(ab_synth).network_acl_ids
    }
    policies = json.dumps(role["Properties"]["Policies"])
    for acl_id in _settings(ab_synth).network_acl_ids:
        assert policies.count(f"network-acl/{acl_id}") == 1


def test_role_reads_flow_log_files_of_this_account_only_when_a_bucket_is_configured(
    ab_synth: Synthesized,
) -> None:
    role = ab_synth.resource_of(_stack(ab_synth).function.role)
    s3_grants = {(a, r) for a, r in role_grants(ab_synth, AUTO_BLOCK, role) if a.startswith("s3:")}
    settings = _settings(ab_synth)
    if settings.flow_log_bucket_name is None:
        assert s3_grants == set()
        return
    prefix = flow_log_object_prefix(settings.flow_log_key_prefix, ab_synth.account)
    assert s3_grants == {("s3:GetObject", f"arn:aws:s3:::{settings.flow_log_bucket_name}/{prefix}*")}


def test_cloudfront_config_reads_its_prefix(cloudfront_synth: Synthesized) -> None:
    role = cloudfront_synth.resource_of(_stack(cloudfront_synth).function.role)
    assert (
        "s3:GetObject",
        f"arn:aws:s3:::{FLOW_BUCKET}/flow/prod/AWSLogs/{ACCOUNT}/vpcflowlogs/*",
    ) in role_grants(cloudfront_synth, AUTO_BLOCK, role)


def _resolved(synth: Synthesized, env: dict[str, Any]) -> dict[str, str]:
    return {key: synth.canonical(AUTO_BLOCK, value) for key, value in env.items()}


def test_function_environment_parses_into_the_handler_settings(ab_synth: Synthesized) -> None:
    env = _resolved(ab_synth, _environment(ab_synth))
    assert env["SECAUTO_CAPABILITY"] == "auto_block"
    assert env["POWERTOOLS_SERVICE_NAME"] == "secauto-auto_block"
    block_env = {k: v for k, v in env.items() if k.startswith(AutoBlockSettings.env_prefix)}
    runtime = {k: v for k, v in env.items() if k.startswith("SECAUTO_") and k not in block_env}
    assert {k.removeprefix("SECAUTO_").lower() for k in runtime} <= set(RuntimeSettings.model_fields)
    wanted = _settings(ab_synth)
    expected_keys = set(AutoBlockSettings.model_fields) - (
        set() if wanted.alb_top_talkers_enabled else {"alb_summary_log_groups"}
    )
    assert {k.removeprefix(AutoBlockSettings.env_prefix).lower() for k in block_env} == expected_keys
    settings = AutoBlockSettings.from_environ(block_env)
    for name in set(AutoBlockSettings.model_fields) - {
        "waf_ip_sets",
        "network_acls",
        "alb_summary_log_groups",
    }:
        assert getattr(settings, name) == getattr(wanted, name), name
    assert settings.network_acls == tuple(
        NaclWindow(acl_id=w.acl_id, first_rule=w.first_rule, size=w.size, quota=w.quota)
        for w in wanted.network_acls
    )
    assert settings.waf_ip_sets == tuple(
        WafIpSetRef(
            name=waf_ip_set_name(scope, version),
            id=f"{AUTO_BLOCK}:{ab_synth.ref(ip_set)}.Id",
            scope=scope,
            ip_version=version,
        )
        for (scope, version), ip_set in _stack(ab_synth).ip_sets.items()
    )


# ---------------------------------------------------------------- cdk-nag


def _acknowledged(synth: Synthesized) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for metadata_file in synth.outdir.glob("*.metadata.json"):
        for path, entries in json.loads(metadata_file.read_text()).items():
            for entry in entries:
                if entry["type"] == "aws:cdk:acknowledged-rules" and path.strip("/").startswith(AUTO_BLOCK):
                    found.update((path.strip("/"), rule_id) for rule_id in entry["data"])
    return found


def test_nag_acknowledgments_are_the_reviewed_ones(
    cloudfront_synth: Synthesized, nacl_only_synth: Synthesized
) -> None:
    # Both synthesized with cdk-nag (the fixtures would have failed on a violation).
    role, function = f"{AUTO_BLOCK}/Function/Role", f"{AUTO_BLOCK}/Function/Function"

    def iam5(resource: str) -> tuple[str, str]:
        return (role, f"AwsSolutions::AwsSolutions-IAM5[Resource::{resource}]")

    # The IP sets are granted by their exact ARNs: nothing to acknowledge for WAF.
    common = {
        iam5("*"),  # X-Ray, ec2:DescribeNetworkAcls, ec2:DescribeVpcs
        (function, "AwsSolutions::AwsSolutions-L1"),
    }

    assert _acknowledged(cloudfront_synth) == common | {
        iam5(f"arn:aws:s3:::{FLOW_BUCKET}/flow/prod/AWSLogs/{ACCOUNT}/vpcflowlogs/*")
    }
    assert _acknowledged(nacl_only_synth) == common | {
        iam5("arn:aws:s3:::flow-logs-eu/AWSLogs/<AWS::AccountId>/vpcflowlogs/*")
    }


# ---------------------------------------------------------------- configuration


def _auto_block(**settings: Any) -> dict[str, Any]:
    return {"capabilities": {"autoBlock": settings}}


#: The config's own keys; every other field is one of the handler's settings.
AUTO_BLOCK_DEPLOYMENT_FIELDS = {
    "enabled",
    "flow_log_group_names",
    "flow_log_bucket_name",
    "flow_log_key_prefix",
    "waf_scopes",
    "sweeper_schedule",
    "memory_size",
    "timeout_seconds",
}
#: The handler's settings the stack derives from what it creates, not from a config key.
AUTO_BLOCK_DERIVED_SETTINGS = {"waf_ip_sets", "alb_summary_log_groups"}


def _bounds(field: Any) -> dict[str, Any]:
    return {
        name: getattr(m, name)
        for m in field.metadata
        for name in ("ge", "gt", "le", "lt")
        if getattr(m, name, None) is not None
    }


def test_auto_block_config_has_one_key_per_handler_setting() -> None:
    fields = set(AutoBlockConfig.model_fields) - AUTO_BLOCK_DEPLOYMENT_FIELDS
    assert fields == set(AutoBlockSettings.model_fields) - AUTO_BLOCK_DERIVED_SETTINGS
    config, handler = AutoBlockConfig(), AutoBlockSettings()
    for name in fields:
        # Same defaults (cdk.json's are the handler's) and the same bounds (cdk synth refuses what
        # the handler would refuse at its first invocation).
        assert getattr(config, name) == getattr(handler, name), name
        assert _bounds(AutoBlockConfig.model_fields[name]) == _bounds(AutoBlockSettings.model_fields[name]), (
            name
        )


def test_cdk_json_lists_every_auto_block_key_with_its_default() -> None:
    configured = cdk_json_context()["secauto"]["capabilities"]["autoBlock"]
    assert configured == json.loads(json.dumps(AutoBlockConfig().model_dump(by_alias=True)))


def test_auto_block_defaults() -> None:
    auto_block = parse_config(None).capabilities.auto_block
    assert auto_block.enabled
    assert auto_block.enforce is False  # a dry run until turned on
    assert auto_block.waf_scopes == ("REGIONAL",)
    assert auto_block.network_acls == ()
    assert (auto_block.flow_log_group_names, auto_block.flow_log_bucket_name) == ((), None)
    assert (auto_block.guardduty_enabled, auto_block.alb_top_talkers_enabled) == (True, False)
    assert auto_block.sweeper_schedule == "rate(5 minutes)"
    assert (auto_block.memory_size, auto_block.timeout_seconds) == (1024, 300)
    assert auto_block.log_format == DEFAULT_FLOW_LOG_FORMAT == " ".join(f"${{{f}}}" for f in DEFAULT_FIELDS)


@pytest.mark.parametrize(
    "raw", [None, CLOUDFRONT_CONFIG, NACL_ONLY_CONFIG], ids=["default", "cloudfront", "nacl-only"]
)
def test_auto_block_environment_parses_back_into_the_handler_settings(raw: Any) -> None:
    wanted = parse_config(raw).capabilities.auto_block
    env = wanted.environment()
    assert all(key.startswith(AutoBlockSettings.env_prefix) for key in env)
    assert {key.removeprefix(AutoBlockSettings.env_prefix).lower() for key in env} == (
        set(AutoBlockSettings.model_fields) - AUTO_BLOCK_DERIVED_SETTINGS
    )
    settings = AutoBlockSettings.from_environ(env)
    for name in set(AutoBlockSettings.model_fields) - AUTO_BLOCK_DERIVED_SETTINGS - {"network_acls"}:
        assert getattr(settings, name) == getattr(wanted, name), name
    assert [(w.acl_id, w.first_rule, w.size, w.quota) for w in settings.network_acls] == [
        (w.acl_id, w.first_rule, w.size, w.quota) for w in wanted.network_acls
    ]


def test_auto_block_environment_defaults_equal_the_handler_defaults() -> None:
    env = parse_config(None).capabilities.auto_block.environment()
    assert AutoBlockSettings.from_environ(env) == AutoBlockSettings.from_environ({})


@pytest.mark.parametrize(
    "log_format",
    [
        DEFAULT_FLOW_LOG_FORMAT,
        CLOUDFRONT_CONFIG["capabilities"]["autoBlock"]["logFormat"],
        "${pkt-srcaddr} ${pkt-dstaddr} ${dstport} ${action} ${log-status}",
    ],
)
def test_log_formats_the_config_accepts_are_ones_the_handler_parses(log_format: str) -> None:
    assert parse_config(_auto_block(logFormat=log_format)).capabilities.auto_block.log_format == log_format
    parse_format(log_format)


@pytest.mark.parametrize(
    "schedule", ["rate(1 minute)", "rate(5 minutes)", "rate(1 hour)", "cron(*/10 * * * ? *)"]
)
def test_sweeper_schedules_eventbridge_accepts(schedule: str) -> None:
    assert (
        parse_config(_auto_block(sweeperSchedule=schedule)).capabilities.auto_block.sweeper_schedule
        == schedule
    )


def test_network_acl_windows() -> None:
    auto_block = parse_config(CLOUDFRONT_CONFIG).capabilities.auto_block
    assert [(w.acl_id, w.first_rule, w.last_rule, w.quota) for w in auto_block.network_acls] == [
        (ACL_A, 10, 19, 20),
        (ACL_A, 30, 34, 20),
        (ACL_B, 100, 129, 40),
    ]
    assert auto_block.network_acl_ids == (ACL_A, ACL_B)
    # adjacent windows are fine; the highest rule number too
    parse_config(
        _auto_block(
            networkAcls=[
                {"aclId": ACL_B, "firstRule": 1, "size": 5},
                {"aclId": ACL_B, "firstRule": 6, "size": 5},
            ]
        )
    )
    parse_config(_auto_block(networkAcls=[{"aclId": ACL_B, "firstRule": 32757, "size": 10}]))


def test_cloudfront_needs_us_east_1_only_when_auto_block_is_on() -> None:
    assert parse_config(CLOUDFRONT_CONFIG).capabilities.auto_block.waf_scopes == ("REGIONAL", "CLOUDFRONT")
    off = {
        "homeRegion": "eu-west-1",
        "capabilities": {
            "rootActivity": {"enabled": False},
            "autoBlock": {"enabled": False, "wafScopes": ["CLOUDFRONT"]},
        },
    }
    assert not parse_config(off).capabilities.auto_block.enabled


def _acl(**changes: Any) -> dict[str, Any]:
    return {"aclId": ACL_A, "firstRule": 100, "size": 10, **changes}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {
                "homeRegion": "eu-west-1",
                "regions": ["eu-west-1"],
                "capabilities": {
                    "rootActivity": {"enabled": False},
                    "autoBlock": {"wafScopes": ["CLOUDFRONT"]},
                },
            },
            "CLOUDFRONT needs homeRegion 'us-east-1'",
        ),
        (
            {"capabilities": {"albLogs": {"enabled": False}, "autoBlock": {"albTopTalkersEnabled": True}}},
            "enable capabilities.albLogs",
        ),
        (_auto_block(wafScopes=["GLOBAL"]), "wafScopes"),
        (_auto_block(wafScopes=["regional"]), "wafScopes"),
        (_auto_block(enforce=True, wafScopes=[]), "enforce needs somewhere to block"),
        (_auto_block(networkAcls=[_acl(aclId="acl-xyz")]), "not a network ACL id"),
        (_auto_block(networkAcls=[_acl(aclId="acl-0123456")]), "not a network ACL id"),
        (_auto_block(networkAcls=[_acl(aclId="ACL-0123456789ABCDEF0")]), "not a network ACL id"),
        (_auto_block(networkAcls=[_acl(aclId="sg-01234567")]), "not a network ACL id"),
        (_auto_block(networkAcls=[_acl(firstRule=0)]), "firstRule"),
        (_auto_block(networkAcls=[_acl(firstRule=32767)]), "firstRule"),
        (_auto_block(networkAcls=[_acl(firstRule=32760, size=10)]), "go past 32766"),
        (_auto_block(networkAcls=[_acl(size=0)]), "size"),
        (_auto_block(networkAcls=[_acl(size=40, quota=40)]), "size"),
        (_auto_block(networkAcls=[_acl(size=20)]), "does not fit a quota of 20"),
        (_auto_block(networkAcls=[_acl(quota=30)]), "quota"),
        (_auto_block(networkAcls=[_acl(), _acl(firstRule=109)]), "overlap"),
        (_auto_block(networkAcls=[_acl(firstRule=200), _acl(firstRule=195)]), "overlap"),
        (_auto_block(networkAcls=[_acl(size=10), _acl(firstRule=200, size=10)]), "more rules than a quota"),
        (_auto_block(networkAcls=[_acl(), _acl(firstRule=200, quota=40)]), "one quota"),
        (_auto_block(networkAcls=[{"aclId": ACL_A, "size": 10}]), "firstRule"),
        (_auto_block(flowLogGroupNames=["bad name"]), "not CloudWatch Logs log group names"),
        (_auto_block(flowLogGroupNames=[""]), "not CloudWatch Logs log group names"),
        (_auto_block(flowLogGroupNames=[f"/vpc/{i}" for i in range(41)]), "at most 40 log groups"),
        (_auto_block(flowLogBucketName="Flow_Logs"), "flowLogBucketName: not an S3 bucket name"),
        (
            _auto_block(flowLogBucketName="flow-logs", flowLogKeyPrefix="flow"),
            "flowLogKeyPrefix 'flow': must end",
        ),
        (_auto_block(flowLogBucketName="flow-logs", flowLogKeyPrefix="/flow/"), "do not start with '/'"),
        (_auto_block(flowLogBucketName="flow-logs", flowLogKeyPrefix="x/AWSLogs/"), "VPC Flow Logs adds"),
        (_auto_block(flowLogBucketName="flow-logs", flowLogKeyPrefix="fl*w/"), "not a wildcard"),
        (_auto_block(flowLogKeyPrefix="flow/"), "flowLogBucketName, which is unset"),
        (_auto_block(allowCidrs=["203.0.113.7/24"]), "host bits"),
        (_auto_block(allowCidrs=["example.com"]), "allowCidrs"),
        (
            _auto_block(logFormat="${srcaddr} ${dstaddr} ${dstport} ${action}"),
            "lacks fields detection reads: log-status",
        ),
        (_auto_block(logFormat="${version} ${dstport} ${action} ${log-status}"), "srcaddr or pkt-srcaddr"),
        (_auto_block(logFormat="srcaddr dstaddr dstport action log-status"), "not a field"),
        (_auto_block(logFormat="${srcaddr}  ${dstaddr}"), "not a field"),
        (
            _auto_block(logFormat="${srcaddr} ${srcaddr} ${dstaddr} ${dstport} ${action} ${log-status}"),
            "twice",
        ),
        (_auto_block(sweeperSchedule="rate(0 minutes)"), "sweeperSchedule"),
        (_auto_block(sweeperSchedule="rate(1 minutes)"), "singular for 1"),
        (_auto_block(sweeperSchedule="every 5 minutes"), "sweeperSchedule"),
        (_auto_block(sweeperSchedule="cron(0/5 * * * *)"), "6 fields"),
        (_auto_block(blockMinutes=120, maxBlockMinutes=60), "maxBlockMinutes must be at least blockMinutes"),
        (_auto_block(blockMinutes=0), "blockMinutes"),
        (_auto_block(escalation=0.5), "escalation"),
        (_auto_block(windowSeconds=59), "windowSeconds"),
        (_auto_block(windowSeconds=3601), "windowSeconds"),
        (_auto_block(portScanPorts=1), "portScanPorts"),
        (_auto_block(hostSweepHosts=1), "hostSweepHosts"),
        (_auto_block(rejectFloodRejects=9), "rejectFloodRejects"),
        (_auto_block(albRequestsPerFile=99), "albRequestsPerFile"),
        (_auto_block(historyDays=0), "historyDays"),
        (_auto_block(maxNewBlocksPerRun=0), "maxNewBlocksPerRun"),
        (_auto_block(maxNewBlocksPerRun=10_001), "maxNewBlocksPerRun"),
        (_auto_block(memorySize=127), "memorySize"),
        (_auto_block(timeoutSeconds=901), "timeoutSeconds"),
        (_auto_block(guardDutyEnabled=True), "guardDutyEnabled"),
        (_auto_block(wafIpSets=[]), "wafIpSets"),
        (_auto_block(albSummaryLogGroups=["x"]), "albSummaryLogGroups"),
    ],
)
def test_bad_auto_block_config_is_a_clear_error(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(raw)


def test_bind_template_fills_only_the_named_placeholders() -> None:
    template = "arn:{partition}:ec2:{region}:{account}:network-acl/{acl_id}"
    assert (
        bind_template(template, acl_id=ACL_A)
        == f"arn:{{partition}}:ec2:{{region}}:{{account}}:network-acl/{ACL_A}"
    )
    assert bind_template("arn:x:{{literal}}/{acl_id}", acl_id=ACL_A) == f"arn:x:{{{{literal}}}}/{ACL_A}"
    for bad in ("", "acl-*", "acl-{x}", "acl-?"):
        with pytest.raises(ValueError, match="concrete name"):
            bind_template(template, acl_id=bad)


def test_disabled_means_no_stack() -> None:
    app = build_app({**SKIP_BUNDLING, "secauto": _auto_block(enabled=False)})
    stack_ids = {child.node.id for child in app.node.children}
    assert AUTO_BLOCK not in stack_ids
    assert CORE in stack_ids
