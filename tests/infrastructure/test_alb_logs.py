"""The ALB access-log capability: S3 "Object Created" events of log files -> the alb_logs function.

Four apps: the session's `default` and `full` (both create the log bucket, no key prefix), plus two
built here once per module with only this capability on: `existing` (an existing bucket and a
key prefix) and `prefixed` (a created bucket with a key prefix).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from infra_testlib import (
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

from alb_logs.permissions import PERMISSIONS
from alb_logs.settings import AlbLogSettings
from secauto_cli.rule_matcher import pattern_matches
from secauto_core.permissions import CORE_PERMISSIONS
from secauto_core.settings import RuntimeSettings
from secauto_infra.alb_logs import (
    ELB_LOG_DELIVERY_PRINCIPAL,
    RULE_SPEC,
    AlbLogsStack,
    check_alb_logs_rules,
    deployed_pattern,
    log_object_prefix,
)
from secauto_infra.app_builder import app_config, build_app, cdk_json_context
from secauto_infra.config import (
    ALB_LOGS_MAX_TIMEOUT_SECONDS,
    AlbLogsConfig,
    ConfigError,
    parse_config,
)
from secauto_infra.rule_catalog import RuleCatalogError, RuleSpec, rules_for

ALB_LOGS = "SecautoAlbLogs"
ALB_LOGS_RULES = rules_for("alb_logs")
EXISTING_BUCKET = "team-alb-logs"
ACCOUNT = "123456789012"
ONLY_ALB_LOGS = {
    "rootActivity": {"enabled": False},
    "findings": {"enabled": False},
    "accessKeys": {"enabled": False},
}
EXISTING_CONFIG: dict[str, Any] = {
    "homeRegion": "eu-west-1",
    "account": ACCOUNT,
    "regions": ["eu-west-1"],
    "capabilities": {
        **ONLY_ALB_LOGS,
        "albLogs": {
            "bucketName": EXISTING_BUCKET,
            "keyPrefix": "alb/prod/",
            "topN": 25,
            "sampleSize": 0,
            "badLineSamples": 100,
            "workers": 1,
            "memorySize": 3008,
            "timeoutSeconds": 600,
        },
    },
}
PREFIXED_CONFIG: dict[str, Any] = {
    "capabilities": {**ONLY_ALB_LOGS, "albLogs": {"keyPrefix": "alb/", "logExpirationDays": 30}}
}
#: What the load balancers of account 123456789012 in us-east-1 write (the key after the prefix).
LOG_FILE = (
    f"AWSLogs/{ACCOUNT}/elasticloadbalancing/us-east-1/2026/11/24/"
    f"{ACCOUNT}_elasticloadbalancing_us-east-1_app.prod-web.50dc6c495c0c9188_20261124T1005Z_10.0.1.23_5tz5yp4b.log.gz"
)


def _synthesize(outdir: Path, secauto: dict[str, Any]) -> Synthesized:
    app = build_app({**SKIP_BUNDLING, "secauto": secauto}, outdir=str(outdir))
    app.synth()  # raises if cdk-nag (or CDK) reports a violation
    return Synthesized(app=app, outdir=outdir, config=app_config(app))


@pytest.fixture(scope="module")
def existing_synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return _synthesize(tmp_path_factory.mktemp("cdk-alb-existing"), EXISTING_CONFIG)


@pytest.fixture(scope="module")
def prefixed_synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return _synthesize(tmp_path_factory.mktemp("cdk-alb-prefixed"), PREFIXED_CONFIG)


@pytest.fixture(params=["default", "full", "existing", "prefixed"])
def alb_synth(request: pytest.FixtureRequest) -> Synthesized:
    """Every app with the capability, both bucket modes."""
    fixture: Synthesized = request.getfixturevalue(f"{request.param}_synth")
    return fixture


@pytest.fixture(params=["default", "full", "prefixed"])
def created_synth(request: pytest.FixtureRequest) -> Synthesized:
    """The apps whose stack creates the log bucket."""
    fixture: Synthesized = request.getfixturevalue(f"{request.param}_synth")
    return fixture


def _stack(synth: Synthesized) -> AlbLogsStack:
    stack = synth.stacks[ALB_LOGS]
    assert isinstance(stack, AlbLogsStack)
    return stack


def _settings(synth: Synthesized) -> AlbLogsConfig:
    return synth.config.capabilities.alb_logs


def _bucket_ref(synth: Synthesized) -> Any:
    """The bucket name as the template holds it: a Ref to the created bucket, or the literal name."""
    stack = _stack(synth)
    return {"Ref": synth.ref(stack.bucket)} if stack.bucket is not None else EXISTING_BUCKET


def _s3_event(key: str, *, bucket: str = EXISTING_BUCKET, **changes: Any) -> dict[str, Any]:
    """An S3 "Object Created" event as EventBridge delivers it."""
    event: dict[str, Any] = {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": "2026-11-24T10:05:41Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": 48213, "etag": "b1946ac92492d2347c6235b4d2611184"},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "logdelivery.elasticloadbalancing.amazonaws.com",
            "reason": "PutObject",
        },
    }
    event.update(changes)
    return event


# ---------------------------------------------------------------- the rule file


def test_the_rule_file_is_a_generic_s3_object_created_pattern() -> None:
    (spec,) = ALB_LOGS_RULES
    assert spec.name == RULE_SPEC
    assert check_alb_logs_rules(ALB_LOGS_RULES) == spec
    assert spec.handler == "alb_logs.handler.lambda_handler"
    assert spec.pattern["source"] == ["aws.s3"]
    assert spec.pattern["detail-type"] == ["Object Created"]
    assert "bucket" not in spec.pattern["detail"]  # the stack adds the configured bucket


LOG_KEYS = [
    pytest.param(LOG_FILE, id="no-prefix"),
    pytest.param(f"alb/{LOG_FILE}", id="prefix"),
    pytest.param(f"team/alb/prod/{LOG_FILE}", id="deep-prefix"),
    pytest.param(
        "alb/AWSLogs/210987654321/elasticloadbalancing/ap-southeast-2/2026/01/02/210987654321_"
        "elasticloadbalancing_ap-southeast-2_app.k8s-default-web-0f1e2d3c4b.0123456789abcdef_"
        "20260102T2355Z_198.51.100.7_2a9xk3lq.log.gz",
        id="other-account-and-region",
    ),
]
OTHER_KEYS = [
    # The file ELB writes when access logging is turned on, to check the bucket policy.
    pytest.param(f"AWSLogs/{ACCOUNT}/ELBAccessLogTestFile", id="elb-test-file"),
    pytest.param(LOG_FILE.replace("_app.", "_net."), id="network-load-balancer"),
    pytest.param(
        f"AWSLogs/{ACCOUNT}/elasticloadbalancing/us-east-1/2026/11/24/{ACCOUNT}_elasticloadbalancing_"
        "us-east-1_my-classic-lb_20261124T1005Z_10.0.1.23_5tz5yp4b.log",
        id="classic-load-balancer",
    ),
    pytest.param(LOG_FILE.removesuffix(".gz"), id="not-gzip"),
    pytest.param(
        f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/11/24/{ACCOUNT}_CloudTrail_us-east-1_20261124T1005Z_"
        "app.x.json.gz",
        id="cloudtrail",
    ),
    pytest.param(
        f"AWSLogs/{ACCOUNT}/vpcflowlogs/us-east-1/2026/11/24/{ACCOUNT}_vpcflowlogs_us-east-1_fl-1_app.x.log.gz",
        id="vpc-flow-logs",
    ),
    pytest.param(LOG_FILE.replace("AWSLogs/", "logs/"), id="no-AWSLogs"),
    pytest.param(f"alb{LOG_FILE}", id="prefix-without-slash"),
]


@pytest.mark.parametrize("key", LOG_KEYS)
def test_the_rule_matches_new_alb_access_log_files(key: str) -> None:
    (spec,) = ALB_LOGS_RULES
    assert pattern_matches(spec.pattern, _s3_event(key))
    # ...whether uploaded in one part or many, or copied.
    for reason in ("CompleteMultipartUpload", "CopyObject"):
        event = _s3_event(key)
        event["detail"]["reason"] = reason
        assert pattern_matches(spec.pattern, event)


@pytest.mark.parametrize("key", OTHER_KEYS)
def test_the_rule_ignores_other_objects(key: str) -> None:
    (spec,) = ALB_LOGS_RULES
    assert not pattern_matches(spec.pattern, _s3_event(key))


def test_the_rule_ignores_other_events_about_log_files() -> None:
    (spec,) = ALB_LOGS_RULES
    for changes in ({"detail-type": "Object Deleted"}, {"detail-type": "Object Restore Completed"}):
        assert not pattern_matches(spec.pattern, _s3_event(LOG_FILE, **changes))
    assert not pattern_matches(spec.pattern, _s3_event(LOG_FILE, source="custom.s3"))


def test_connection_log_files_match_too() -> None:
    # ALB connection logs (when delivered under the same prefix) are named
    # `.../dd/conn_log.<account>_elasticloadbalancing_<region>_app....log.gz`. A wildcard cannot
    # tell them apart from access logs (`*` also spans `/`), so the handler skips them by name.
    (spec,) = ALB_LOGS_RULES
    directory, _, name = LOG_FILE.rpartition("/")
    assert pattern_matches(spec.pattern, _s3_event(f"{directory}/conn_log.{name}"))


def _aws_wildcard(pattern: str, value: str) -> bool:
    """EventBridge's documented `wildcard`: `*` matches zero or more characters."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), value, flags=re.DOTALL) is not None


def _key_wildcards() -> list[str]:
    (spec,) = ALB_LOGS_RULES
    return [condition["wildcard"] for condition in spec.pattern["detail"]["object"]["key"]]


@pytest.mark.parametrize("key", [*LOG_KEYS, *OTHER_KEYS])
def test_the_key_filter_means_the_same_in_aws_and_in_the_local_engine(key: str) -> None:
    # AWS's `*` matches zero or more characters; LocalStack's engine (the local replay, these
    # tests) one or more. So the file never relies on `*` matching nothing: the keys without a
    # prefix get a condition of their own instead of `*AWSLogs/...`.
    (spec,) = ALB_LOGS_RULES
    aws = any(_aws_wildcard(wildcard, key) for wildcard in _key_wildcards())
    assert aws == pattern_matches(spec.pattern, _s3_event(key))
    assert all(not wildcard.startswith("*AWSLogs") for wildcard in _key_wildcards())


def test_why_there_are_two_key_conditions() -> None:
    # The trap the two conditions avoid: with a single `*AWSLogs/...` the engines disagree.
    single = {"detail": {"object": {"key": [{"wildcard": "*AWSLogs/*/elasticloadbalancing/*_app.*.log.gz"}]}}}
    assert _aws_wildcard(single["detail"]["object"]["key"][0]["wildcard"], LOG_FILE)
    assert not pattern_matches(single, _s3_event(LOG_FILE))


def _spec(pattern: dict[str, Any], name: str = RULE_SPEC) -> RuleSpec:
    return RuleSpec(name, "alb_logs", pattern, Path(f"{name}.json"))


def _file_pattern(**changes: Any) -> dict[str, Any]:
    (spec,) = ALB_LOGS_RULES
    pattern = copy.deepcopy(spec.pattern)
    pattern.update(changes)
    return pattern


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([], "alone"),
        ([_spec(_file_pattern()), _spec(_file_pattern(), "alb_logs.object_deleted")], "alone"),
        (
            [_spec(_file_pattern(detail={**_file_pattern()["detail"], "bucket": {"name": ["logs"]}}))],
            "must not name a bucket",
        ),
        ([_spec(_file_pattern(source=[{"prefix": "aws."}]))], "source"),
        ([_spec(_file_pattern(source=["aws.s3", "custom.s3"]))], "source"),
        ([_spec(_file_pattern(**{"detail-type": ["Object Created", "Object Deleted"]}))], "detail-type"),
        ([_spec(_file_pattern(detail={"bucket": {"name": ["logs"]}}))], "must not name a bucket"),
        ([_spec(_file_pattern(detail={"reason": ["PutObject"]}))], "detail.object.key"),
        ([_spec({"source": ["aws.s3"], "detail-type": ["Object Created"]})], "detail.object.key"),
    ],
    ids=[
        "none",
        "extra",
        "names-a-bucket",
        "source-prefix",
        "other-source",
        "other-detail-type",
        "bucket-only",
        "no-key-filter",
        "no-detail",
    ],
)
def test_builder_refuses_rule_files_that_are_not_the_generic_pattern(
    specs: list[RuleSpec], message: str
) -> None:
    with pytest.raises(RuleCatalogError, match=message):
        check_alb_logs_rules(specs)


def test_deployed_pattern_adds_the_bucket_and_nothing_else() -> None:
    (spec,) = ALB_LOGS_RULES
    before = copy.deepcopy(spec.pattern)
    deployed = deployed_pattern(spec.pattern, "my-logs")
    assert spec.pattern == before  # the file's pattern is not modified
    assert deployed["detail"].pop("bucket") == {"name": ["my-logs"]}
    assert deployed == spec.pattern
    with pytest.raises(RuleCatalogError, match="must not name a bucket"):
        deployed_pattern({"detail": {"bucket": {"name": ["x"]}}}, "my-logs")


# ---------------------------------------------------------------- the deployed rule


def _rule(synth: Synthesized) -> dict[str, Any]:
    (rule,) = synth.resources(ALB_LOGS, "AWS::Events::Rule").values()
    props: dict[str, Any] = rule["Properties"]
    return props


def test_the_deployed_rule_is_the_file_plus_the_log_bucket(alb_synth: Synthesized) -> None:
    (spec,) = ALB_LOGS_RULES
    props = _rule(alb_synth)
    expected = copy.deepcopy(spec.pattern)
    expected["detail"]["bucket"] = {"name": [_bucket_ref(alb_synth)]}
    assert props["EventPattern"] == expected
    assert props["State"] == "ENABLED"
    assert "EventBusName" not in props  # the default bus, where S3 sends its events
    assert "Name" not in props  # CloudFormation names it `SecautoAlbLogs-...`: the core DLQ admits it


def test_the_rule_invokes_the_function_with_dead_letters_and_retries(alb_synth: Synthesized) -> None:
    stack = _stack(alb_synth)
    (target,) = _rule(alb_synth)["Targets"]
    function_id = alb_synth.ref(stack.function.function)
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert (
        alb_synth.canonical(ALB_LOGS, target["DeadLetterConfig"]["Arn"])
        == alb_synth.logical_id(core_stack(alb_synth).dlq) + ".Arn"
    )
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] >= 3600
    assert "Input" not in target
    assert "InputTransformer" not in target  # the handler reads the bucket and key from the event
    ((_, permission),) = alb_synth.resources(ALB_LOGS, "AWS::Lambda::Permission").items()
    assert permission["Properties"] == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
        "Principal": "events.amazonaws.com",
        "SourceArn": {"Fn::GetAtt": [alb_synth.ref(stack.rule), "Arn"]},
    }


def test_the_deployed_rule_takes_only_the_log_buckets_files(existing_synth: Synthesized) -> None:
    pattern = _rule(existing_synth)["EventPattern"]
    key = f"alb/prod/{LOG_FILE}"
    assert pattern_matches(pattern, _s3_event(key, bucket=EXISTING_BUCKET))
    assert not pattern_matches(pattern, _s3_event(key, bucket="someone-elses-logs"))
    assert not pattern_matches(pattern, _s3_event(f"alb/prod/AWSLogs/{ACCOUNT}/ELBAccessLogTestFile"))


# ---------------------------------------------------------------- the log bucket


def _bucket(synth: Synthesized) -> tuple[str, dict[str, Any]]:
    ((logical_id, bucket),) = synth.resources(ALB_LOGS, "AWS::S3::Bucket").items()
    stack = _stack(synth)
    assert stack.bucket is not None
    assert logical_id == synth.ref(stack.bucket)
    return logical_id, bucket


def test_created_log_bucket_is_sse_s3_private_and_expires_logs(created_synth: Synthesized) -> None:
    _, bucket = _bucket(created_synth)
    props = bucket["Properties"]
    # SSE-S3: the only default encryption ALB access-log delivery supports (not SSE-KMS).
    assert props["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == _settings(created_synth).log_expiration_days
    assert "Prefix" not in rule
    assert "Filter" not in rule  # every object of the bucket
    assert props.get("VersioningConfiguration", {}).get("Status") != "Enabled"
    assert "BucketName" not in props  # CloudFormation picks a unique name (see the stack output)
    # Logs are evidence: kept when the stack is deleted or the bucket replaced.
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_created_log_bucket_sends_its_events_to_eventbridge_without_a_custom_resource(
    created_synth: Synthesized,
) -> None:
    _, bucket = _bucket(created_synth)
    assert bucket["Properties"]["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    # CDK's `event_bridge_enabled` would deploy a notifications custom resource (a Lambda function
    # with a managed policy and s3:PutBucketNotification on "*"); none here.
    template = created_synth.template(ALB_LOGS)
    assert {resource["Type"] for resource in template["Resources"].values()}.isdisjoint(
        {"Custom::S3BucketNotifications", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}
    )
    assert len(created_synth.resources(ALB_LOGS, "AWS::Lambda::Function")) == 1


def _bucket_policy(synth: Synthesized) -> list[dict[str, Any]]:
    bucket_id, _ = _bucket(synth)
    (policy,) = synth.resources(ALB_LOGS, "AWS::S3::BucketPolicy").values()
    assert policy["Properties"]["Bucket"] == {"Ref": bucket_id}
    return statements(policy["Properties"]["PolicyDocument"])


def test_created_log_bucket_refuses_plain_http(created_synth: Synthesized) -> None:
    bucket_id, _ = _bucket(created_synth)
    (deny,) = [s for s in _bucket_policy(created_synth) if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Principal"] == {"AWS": "*"}
    assert deny["Action"] == "s3:*"
    arn = f"{ALB_LOGS}:{bucket_id}.Arn"
    assert {created_synth.canonical(ALB_LOGS, r) for r in as_list(deny["Resource"])} == {arn, f"{arn}/*"}


def test_created_log_bucket_lets_elb_deliver_this_accounts_logs_only(created_synth: Synthesized) -> None:
    bucket_id, _ = _bucket(created_synth)
    (allow,) = [s for s in _bucket_policy(created_synth) if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": ELB_LOG_DELIVERY_PRINCIPAL}
    assert as_list(allow["Action"]) == ["s3:PutObject"]
    assert "Condition" not in allow
    prefix = _settings(created_synth).key_prefix
    (resource,) = as_list(allow["Resource"])
    assert created_synth.canonical(ALB_LOGS, resource) == (
        f"{ALB_LOGS}:{bucket_id}.Arn/{prefix}AWSLogs/{created_synth.account}/*"
    )


def test_an_existing_bucket_is_left_alone(existing_synth: Synthesized) -> None:
    for resource_type in ("AWS::S3::Bucket", "AWS::S3::BucketPolicy"):
        assert existing_synth.all_resources(resource_type) == []
    assert _stack(existing_synth).bucket is None


def test_the_stack_outputs_the_bucket_to_point_the_load_balancers_at(alb_synth: Synthesized) -> None:
    output = alb_synth.template(ALB_LOGS)["Outputs"]["LogBucketName"]
    assert output["Value"] == _bucket_ref(alb_synth)
    prefix = _settings(alb_synth).key_prefix
    assert (f"access_logs.s3.prefix {prefix.removesuffix('/')!r}" if prefix else "no prefix") in (
        output["Description"]
    )


# ---------------------------------------------------------------- the function


def test_function_is_sized_for_large_log_files(alb_synth: Synthesized) -> None:
    function = alb_synth.resource_of(_stack(alb_synth).function.function)["Properties"]
    settings = _settings(alb_synth)
    assert function["Handler"] == "alb_logs.handler.lambda_handler"
    assert function["Timeout"] == settings.timeout_seconds
    assert function["MemorySize"] == settings.memory_size
    assert "ReservedConcurrentExecutions" not in function  # one invocation per file, in parallel


def test_default_function_size_gets_a_second_vcpu() -> None:
    config = AlbLogsConfig()
    assert config.memory_size >= 2 * 1769  # Lambda gives one vCPU per 1,769 MB
    assert config.timeout_seconds == ALB_LOGS_MAX_TIMEOUT_SECONDS == 900


def _log_objects(synth: Synthesized) -> str:
    stack = _stack(synth)
    bucket = synth.logical_id(stack.bucket) if stack.bucket is not None else EXISTING_BUCKET
    return f"arn:aws:s3:::{bucket}/{log_object_prefix(_settings(synth).key_prefix, synth.account)}*"


def test_role_grants_exactly_the_declared_permissions(alb_synth: Synthesized) -> None:
    fn = _stack(alb_synth).function
    role = alb_synth.resource_of(fn.role)
    platform = {
        ("logs:CreateLogStream", alb_synth.logical_id(fn.log_group) + ".Arn"),
        ("logs:PutLogEvents", alb_synth.logical_id(fn.log_group) + ".Arn"),
        *((action, "*") for action in XRAY_ACTIONS),
        ("sqs:SendMessage", alb_synth.logical_id(core_stack(alb_synth).dlq) + ".Arn"),
    }
    stack = _stack(alb_synth)
    values = {
        "log_bucket": alb_synth.logical_id(stack.bucket) if stack.bucket is not None else EXISTING_BUCKET,
        "log_key_prefix": log_object_prefix(_settings(alb_synth).key_prefix, alb_synth.account),
    }
    grants = role_grants(alb_synth, ALB_LOGS, role)
    assert grants == expected_grants(alb_synth, CORE_PERMISSIONS + PERMISSIONS, **values) | platform
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
    ]


def test_role_reads_the_log_files_and_nothing_else_in_s3(alb_synth: Synthesized) -> None:
    role = alb_synth.resource_of(_stack(alb_synth).function.role)
    s3_grants = {(a, r) for a, r in role_grants(alb_synth, ALB_LOGS, role) if a.startswith("s3:")}
    assert s3_grants == {("s3:GetObject", _log_objects(alb_synth))}


def test_existing_bucket_grant_is_the_named_bucket_and_prefix(existing_synth: Synthesized) -> None:
    role = existing_synth.resource_of(_stack(existing_synth).function.role)
    s3_grants = {(a, r) for a, r in role_grants(existing_synth, ALB_LOGS, role) if a.startswith("s3:")}
    assert s3_grants == {
        (
            "s3:GetObject",
            f"arn:aws:s3:::{EXISTING_BUCKET}/alb/prod/AWSLogs/{ACCOUNT}/elasticloadbalancing/*",
        )
    }


def test_function_environment_parses_into_the_handler_settings(alb_synth: Synthesized) -> None:
    env: dict[str, Any] = alb_synth.resource_of(_stack(alb_synth).function.function)["Properties"][
        "Environment"
    ]["Variables"]
    assert env["SECAUTO_CAPABILITY"] == "alb_logs"
    assert env["POWERTOOLS_SERVICE_NAME"] == "secauto-alb_logs"
    alb_env = {k: v for k, v in env.items() if k.startswith(AlbLogSettings.env_prefix)}
    runtime = {k: v for k, v in env.items() if k.startswith("SECAUTO_") and k not in alb_env}
    assert {k.removeprefix("SECAUTO_").lower() for k in runtime} <= set(RuntimeSettings.model_fields)
    assert {k.removeprefix(AlbLogSettings.env_prefix).lower() for k in alb_env} == set(
        AlbLogSettings.model_fields
    )
    settings = AlbLogSettings.from_environ(alb_env)
    wanted = _settings(alb_synth)
    for name in AlbLogSettings.model_fields:
        assert getattr(settings, name) == getattr(wanted, name), name


# ---------------------------------------------------------------- cdk-nag


def _acknowledged(synth: Synthesized) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for metadata_file in synth.outdir.glob("*.metadata.json"):
        for path, entries in json.loads(metadata_file.read_text()).items():
            for entry in entries:
                if entry["type"] == "aws:cdk:acknowledged-rules" and path.strip("/").startswith(ALB_LOGS):
                    found.update((path.strip("/"), rule_id) for rule_id in entry["data"])
    return found


def test_nag_acknowledgments_are_the_reviewed_ones_in_both_bucket_modes(
    existing_synth: Synthesized, prefixed_synth: Synthesized
) -> None:
    # Both synthesized with cdk-nag (the fixtures would have failed on a violation).
    role, function = f"{ALB_LOGS}/Function/Role", f"{ALB_LOGS}/Function/Function"
    common = {
        (role, "AwsSolutions::AwsSolutions-IAM5[Resource::*]"),  # X-Ray
        (function, "AwsSolutions::AwsSolutions-L1"),
    }
    assert _acknowledged(existing_synth) == common | {
        (
            role,
            "AwsSolutions::AwsSolutions-IAM5[Resource::arn:aws:s3:::"
            f"{EXISTING_BUCKET}/alb/prod/AWSLogs/{ACCOUNT}/elasticloadbalancing/*]",
        )
    }
    bucket_id = prefixed_synth.ref(_stack(prefixed_synth).bucket)
    assert _acknowledged(prefixed_synth) == common | {
        (f"{ALB_LOGS}/LogBucket", "AwsSolutions::AwsSolutions-S1"),
        (
            role,
            "AwsSolutions::AwsSolutions-IAM5[Resource::arn:aws:s3:::"
            f"<{bucket_id}>/alb/AWSLogs/<AWS::AccountId>/elasticloadbalancing/*]",
        ),
    }


# ---------------------------------------------------------------- configuration


def _alb_logs(**settings: Any) -> dict[str, Any]:
    return {"capabilities": {"albLogs": settings}}


#: The config's own keys; every other field is one of the handler's settings.
ALB_LOGS_DEPLOYMENT_FIELDS = {
    "enabled",
    "bucket_name",
    "log_expiration_days",
    "memory_size",
    "timeout_seconds",
}


def _bounds(field: Any) -> dict[str, Any]:
    return {
        name: getattr(m, name)
        for m in field.metadata
        for name in ("ge", "gt", "le", "lt")
        if getattr(m, name, None) is not None
    }


def test_alb_logs_config_has_one_key_per_handler_setting() -> None:
    fields = set(AlbLogsConfig.model_fields) - ALB_LOGS_DEPLOYMENT_FIELDS
    assert fields == set(AlbLogSettings.model_fields)
    config, handler = AlbLogsConfig(), AlbLogSettings()
    for name in fields:
        # Same defaults (cdk.json's are the handler's) and the same bounds (cdk synth refuses
        # what the handler would refuse at its first invocation).
        assert getattr(config, name) == getattr(handler, name), name
        assert _bounds(AlbLogsConfig.model_fields[name]) == _bounds(AlbLogSettings.model_fields[name]), name


def test_cdk_json_lists_every_alb_logs_key_with_its_default() -> None:
    configured = cdk_json_context()["secauto"]["capabilities"]["albLogs"]
    assert configured == AlbLogsConfig().model_dump(by_alias=True)


def test_alb_logs_defaults() -> None:
    alb = parse_config(None).capabilities.alb_logs
    assert alb.enabled
    assert alb.bucket_name is None  # the stack creates the bucket
    assert alb.key_prefix == ""
    assert alb.log_expiration_days == 90
    assert (alb.top_n, alb.sample_size, alb.bad_line_samples, alb.workers) == (10, 20, 5, 0)
    assert (alb.memory_size, alb.timeout_seconds) == (3538, 900)


@pytest.mark.parametrize("prefix", ["", "alb/", "team/alb/prod/", "alb-logs_2026/", "a.b=c/"])
def test_alb_logs_key_prefixes_elb_accepts(prefix: str) -> None:
    assert parse_config(_alb_logs(keyPrefix=prefix)).capabilities.alb_logs.key_prefix == prefix


@pytest.mark.parametrize(
    "bucket", ["team-alb-logs", "abc", "logs.example.com", "a" * 63, "123456789012-alb-logs"]
)
def test_alb_logs_bucket_names_s3_accepts(bucket: str) -> None:
    assert parse_config(_alb_logs(bucketName=bucket)).capabilities.alb_logs.bucket_name == bucket


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"keyPrefix": "/alb/"}, "do not start with '/'"),
        ({"keyPrefix": "alb"}, "must end with '/'"),
        ({"keyPrefix": "alb/prod"}, "must end with '/'"),
        ({"keyPrefix": "/"}, "do not start with '/'"),
        ({"keyPrefix": "alb//prod/"}, "empty path segment"),
        ({"keyPrefix": "alb/*/"}, "not a wildcard"),
        ({"keyPrefix": "alb?/"}, "not a wildcard"),
        ({"keyPrefix": "AWSLogs/"}, "AWSLogs"),
        ({"keyPrefix": "x/AWSLogs/y/"}, "AWSLogs"),
        ({"keyPrefix": "alb\n/"}, "control characters"),
        ({"bucketName": "Team-Logs"}, "not an S3 bucket name"),
        ({"bucketName": "team_logs"}, "not an S3 bucket name"),
        ({"bucketName": "ab"}, "not an S3 bucket name"),
        ({"bucketName": "a" * 64}, "not an S3 bucket name"),
        ({"bucketName": "-logs"}, "not an S3 bucket name"),
        ({"bucketName": "logs."}, "not an S3 bucket name"),
        ({"bucketName": "team..logs"}, "not an S3 bucket name"),
        ({"bucketName": "xn--logs"}, "not an S3 bucket name"),
        ({"bucketName": "logs-s3alias"}, "not an S3 bucket name"),
        ({"bucketName": "arn:aws:s3:::team-logs"}, "not an S3 bucket name"),
        ({"bucketName": "s3://team-logs"}, "not an S3 bucket name"),
        ({"bucketName": "192.168.5.4"}, "IP address"),
        ({"bucketName": ""}, "not an S3 bucket name"),
        ({"logExpirationDays": 0}, "logExpirationDays"),
        ({"topN": 0}, "topN"),
        ({"topN": 101}, "topN"),
        ({"sampleSize": -1}, "sampleSize"),
        ({"sampleSize": 201}, "sampleSize"),
        ({"badLineSamples": -1}, "badLineSamples"),
        ({"badLineSamples": 101}, "badLineSamples"),
        ({"workers": -1}, "workers"),
        ({"workers": 7}, "workers"),
        ({"memorySize": 127}, "memorySize"),
        ({"memorySize": 10241}, "memorySize"),
        ({"timeoutSeconds": 0}, "timeoutSeconds"),
        ({"timeoutSeconds": 901}, "timeoutSeconds"),
        ({"bucket": "team-logs"}, "bucket"),
        ({"prefix": "alb/"}, "prefix"),
    ],
)
def test_bad_alb_logs_config_is_a_clear_error(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(_alb_logs(**settings))


@pytest.mark.parametrize(
    "raw", [None, EXISTING_CONFIG, PREFIXED_CONFIG], ids=["default", "existing", "prefixed"]
)
def test_alb_logs_environment_parses_back_into_the_handler_settings(raw: Any) -> None:
    wanted = parse_config(raw).capabilities.alb_logs
    env = wanted.environment()
    assert all(key.startswith(AlbLogSettings.env_prefix) for key in env)
    assert {key.removeprefix(AlbLogSettings.env_prefix).lower() for key in env} == set(
        AlbLogSettings.model_fields
    )
    settings = AlbLogSettings.from_environ(env)
    for name in AlbLogSettings.model_fields:
        assert getattr(settings, name) == getattr(wanted, name), name


def test_alb_logs_environment_defaults_equal_the_handler_defaults() -> None:
    env = parse_config(None).capabilities.alb_logs.environment()
    assert AlbLogSettings.from_environ(env) == AlbLogSettings.from_environ({})


def test_disabled_means_no_stack() -> None:
    app = build_app({**SKIP_BUNDLING, "secauto": _alb_logs(enabled=False)})
    stack_ids = {child.node.id for child in app.node.children}
    assert ALB_LOGS not in stack_ids
    assert CORE in stack_ids
