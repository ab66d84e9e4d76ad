"""IAM as the second line of defence: conditions and exact resources on what could hurt the account.

- Cross-account findings import: `sts:AssumeRole` on the import role only in the configured
  accounts (exact ARNs) or the configured organization (`aws:ResourceOrgID`); a role name with
  neither fails the synthesis in one line.
- Auto-blocking: `wafv2:GetIPSet`/`UpdateIPSet` on exactly the IP sets the stack creates.
- The core key: CloudWatch alarms and EventBridge use it only for this account's `Secauto*` alarms
  and rules (`aws:SourceAccount`, `aws:SourceArn`), CloudWatch Logs only for `Secauto*` log groups
  (`kms:EncryptionContext:aws:logs:arn`), and nothing secauto deploys falls outside these names.

The apps: the session's `default` and `full`, plus small ones built here once per module
(findings with accounts, or accounts and organization; auto-blocking in both WAF scopes).
"""

from __future__ import annotations

import fnmatch
import re
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from infra_testlib import (
    AUTO_BLOCK,
    CORE,
    FINDINGS,
    SKIP_BUNDLING,
    Synthesized,
    as_list,
    core_stack,
    statements,
)

from auto_block.permissions import IP_SET_ACTIONS, ip_set_permissions
from findings.permissions import (
    ACCOUNT_ID,
    ASSUME_ROLE,
    ORGANIZATION_ID,
    ROLE_NAME,
    CrossAccountScopeError,
    cross_account_permissions,
)
from secauto_core.permissions import Permission
from secauto_infra.app_builder import app_config, build_app
from secauto_infra.config import ConfigError
from secauto_infra.core_stack import NAMED_RULE_PREFIX, RULE_NAME_PREFIX
from secauto_infra.function import EXACT_RESOURCE_ACTIONS, check_scope

ACCOUNT = "123456789012"
MEMBERS = ["111122223333", "444455556666"]
ORGANIZATION = "o-a1b2c3d4e5"
ROLE = "security/secauto-findings-import"
#: Only the findings capability (no us-east-1 needed without root activity).
FINDINGS_ONLY: dict[str, Any] = {
    "homeRegion": "eu-west-1",
    "account": ACCOUNT,
    "regions": ["eu-west-1"],
    "capabilities": {
        "rootActivity": {"enabled": False},
        "accessKeys": {"enabled": False},
        "albLogs": {"enabled": False},
        "autoBlock": {"enabled": False},
        "backups": {"enabled": False},
    },
}
#: Only auto-blocking, in both WAF scopes (CLOUDFRONT needs us-east-1).
AUTO_BLOCK_BOTH_SCOPES: dict[str, Any] = {
    "homeRegion": "us-east-1",
    "account": ACCOUNT,
    "regions": ["us-east-1"],
    "capabilities": {
        "rootActivity": {"enabled": False},
        "findings": {"enabled": False},
        "accessKeys": {"enabled": False},
        "albLogs": {"enabled": False},
        "backups": {"enabled": False},
        "autoBlock": {"wafScopes": ["REGIONAL", "CLOUDFRONT"]},
    },
}


def _config(base: dict[str, Any], **findings: Any) -> dict[str, Any]:
    capabilities = {
        **base["capabilities"],
        "findings": {**base["capabilities"].get("findings", {}), **findings},
    }
    return {**base, "capabilities": capabilities}


def _synthesize(outdir: Path, secauto: dict[str, Any]) -> Synthesized:
    app = build_app({**SKIP_BUNDLING, "secauto": secauto}, outdir=str(outdir))
    app.synth()  # raises if cdk-nag (or CDK) reports a violation
    return Synthesized(app=app, outdir=outdir, config=app_config(app))


@pytest.fixture(scope="module")
def accounts_synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    config = _config(FINDINGS_ONLY, crossAccountRoleName=ROLE, memberAccountIds=MEMBERS)
    return _synthesize(tmp_path_factory.mktemp("cdk-iam-accounts"), config)


@pytest.fixture(scope="module")
def accounts_and_org_synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    config = _config(
        FINDINGS_ONLY, crossAccountRoleName=ROLE, memberAccountIds=MEMBERS, organizationId=ORGANIZATION
    )
    return _synthesize(tmp_path_factory.mktemp("cdk-iam-accounts-org"), config)


@pytest.fixture(scope="module")
def both_scopes_synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return _synthesize(tmp_path_factory.mktemp("cdk-iam-waf"), AUTO_BLOCK_BOTH_SCOPES)


def _role_statements(synth: Synthesized, stack_id: str) -> list[dict[str, Any]]:
    """Every statement of every role's inline policies in one stack."""
    return [
        statement
        for role in synth.resources(stack_id, "AWS::IAM::Role").values()
        for policy in role["Properties"].get("Policies", [])
        for statement in statements(policy["PolicyDocument"])
    ]


def _assume_role_statements(synth: Synthesized) -> list[dict[str, Any]]:
    return [s for s in _role_statements(synth, FINDINGS) if ASSUME_ROLE in as_list(s["Action"])]


def _is_wildcard(resource: str) -> bool:
    return "*" in resource or "?" in resource


# ---------------------------------------------------------------- cross-account import


def test_assume_role_in_any_member_account_only_under_the_organization(full_synth: Synthesized) -> None:
    settings = full_synth.config.capabilities.findings
    assert settings.cross_account_role_name and settings.organization_id
    assert not settings.member_account_ids
    (statement,) = _assume_role_statements(full_synth)
    assert as_list(statement["Action"]) == [ASSUME_ROLE]
    assert statement["Condition"] == {"StringEquals": {"aws:ResourceOrgID": settings.organization_id}}
    assert as_list(statement["Resource"]) == [f"arn:aws:iam::*:role/{settings.cross_account_role_name}"]


def test_assume_role_in_the_configured_accounts_only(accounts_synth: Synthesized) -> None:
    (statement,) = _assume_role_statements(accounts_synth)
    assert "Condition" not in statement
    assert sorted(as_list(statement["Resource"])) == [f"arn:aws:iam::{a}:role/{ROLE}" for a in MEMBERS]


def test_accounts_and_organization_both_apply(accounts_and_org_synth: Synthesized) -> None:
    (statement,) = _assume_role_statements(accounts_and_org_synth)
    assert statement["Condition"] == {"StringEquals": {"aws:ResourceOrgID": ORGANIZATION}}
    assert sorted(as_list(statement["Resource"])) == [f"arn:aws:iam::{a}:role/{ROLE}" for a in MEMBERS]


def test_no_assume_role_without_a_role_name(default_synth: Synthesized) -> None:
    assert default_synth.config.capabilities.findings.cross_account_role_name is None
    assert _assume_role_statements(default_synth) == []


def test_a_role_name_without_organization_or_accounts_fails_the_synthesis_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        build_app(
            {**SKIP_BUNDLING, "secauto": _config(FINDINGS_ONLY, crossAccountRoleName=ROLE)}, str(tmp_path)
        )
    message = str(raised.value)
    assert "\n" not in message
    assert "crossAccountRoleName" in message
    assert "organizationId" in message
    assert "memberAccountIds" in message


@pytest.mark.parametrize(
    ("findings", "error"),
    [
        ({"organizationId": "o-short"}, "organizationId"),
        ({"organizationId": "O-A1B2C3D4E5"}, "organizationId"),
        ({"memberAccountIds": ["12345678901"]}, "memberAccountIds"),
        ({"memberAccountIds": ["*"]}, "memberAccountIds"),
    ],
)
def test_malformed_organization_or_accounts_are_config_errors(findings: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        build_app({**SKIP_BUNDLING, "secauto": _config(FINDINGS_ONLY, crossAccountRoleName=ROLE, **findings)})


_VALID_ROLE = st.from_regex(ROLE_NAME, fullmatch=True).filter(lambda name: len(name) <= 200)
_HOSTILE = st.sampled_from(["*", "?", "", "a*", "*/x", "o-*", "{account}", "12345678901*", " "])
_ROLE_NAMES = st.one_of(_VALID_ROLE, _HOSTILE, st.text(max_size=30))
_ORGANIZATIONS = st.one_of(
    st.none(), st.from_regex(ORGANIZATION_ID, fullmatch=True), _HOSTILE, st.text(max_size=20)
)
_ACCOUNTS = st.lists(
    st.one_of(st.from_regex(ACCOUNT_ID, fullmatch=True), _HOSTILE, st.text(max_size=14)), max_size=5
)


def _member_account(permission: Permission) -> str:
    """The account field of an `arn:{partition}:iam::<account>:role/...` resource."""
    assert isinstance(permission.resource, str)
    match = re.fullmatch(r"arn:\{partition\}:iam::([^:]*):role/(.+)", permission.resource)
    assert match, permission.resource
    return match.group(1)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(role_name=_ROLE_NAMES, organization_id=_ORGANIZATIONS, account_ids=_ACCOUNTS)
def test_invariant_assume_role_never_reaches_an_unnamed_account(
    role_name: str, organization_id: str | None, account_ids: list[str]
) -> None:
    # Given any configuration, hostile values included
    try:
        permissions = cross_account_permissions(
            role_name, organization_id=organization_id, account_ids=account_ids
        )
    except CrossAccountScopeError:
        # Then either it is refused (bad value, or nothing names the accounts) ...
        assert (
            not ROLE_NAME.fullmatch(role_name)
            or (organization_id is not None and not ORGANIZATION_ID.fullmatch(organization_id))
            or any(not ACCOUNT_ID.fullmatch(a) for a in account_ids)
            or (organization_id is None and not account_ids)
        )
        return
    # ... or every grant is the role in a configured account, or in any account of the organization
    assert permissions
    for permission in permissions:
        assert permission.actions == (ASSUME_ROLE,)
        assert isinstance(permission.resource, str)
        assert permission.resource.endswith(f":role/{role_name}")
        account = _member_account(permission)
        if account == "*":
            assert not account_ids
            assert permission.conditions == {"StringEquals": {"aws:ResourceOrgID": organization_id}}
        else:
            assert account in account_ids
        if organization_id:
            assert permission.conditions == {"StringEquals": {"aws:ResourceOrgID": organization_id}}
        # and the function construct accepts it (its own check would refuse an unpinned wildcard).
        check_scope(permission, permission.resource.format(partition="aws"))
    assert {_member_account(p) for p in permissions} == (set(account_ids) or {"*"})


_CONDITIONS = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(["StringEquals", "StringLike", "ArnLike", "ForAnyValue:StringEquals"]),
        st.dictionaries(
            st.sampled_from(
                ["aws:ResourceOrgID", "aws:PrincipalOrgID", "aws:ResourceAccount", "aws:SourceAccount"]
            ),
            st.text(min_size=1, max_size=12),
            min_size=1,
            max_size=2,
        ),
        min_size=1,
        max_size=2,
    ),
)
_ARNS = st.builds(
    "arn:aws:iam::{}:role/{}".format,
    st.one_of(st.from_regex(ACCOUNT_ID, fullmatch=True), st.sampled_from(["*", "?" * 12, "1234*"])),
    st.text(alphabet=string.ascii_letters + "*?/-", min_size=1, max_size=20),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arn=_ARNS, conditions=_CONDITIONS)
def test_invariant_the_function_construct_never_grants_assume_role_on_an_unpinned_wildcard(
    arn: str, conditions: dict[str, dict[str, str]] | None
) -> None:
    # Whatever a capability declares, the construct (where the policy is written) decides.
    permission = Permission((ASSUME_ROLE,), arn, conditions)
    pinned = bool(
        {"aws:ResourceOrgID", "aws:ResourceAccount"} & set((conditions or {}).get("StringEquals", {}))
    )
    if _is_wildcard(arn) and not pinned:
        with pytest.raises(ValueError, match="needs a StringEquals condition"):
            check_scope(permission, arn)
    else:
        check_scope(permission, arn)


# ---------------------------------------------------------------- auto-blocking WAF writes


def _waf_grants(synth: Synthesized, stack_id: str) -> list[tuple[str, Any]]:
    return [
        (action, resource)
        for statement in _role_statements(synth, stack_id)
        for action in as_list(statement["Action"])
        if action.startswith("wafv2:")
        for resource in as_list(statement["Resource"])
    ]


def test_no_wafv2_write_has_a_wildcard_resource(synth: Synthesized) -> None:
    for stack_id in synth.stacks:
        for action, resource in _waf_grants(synth, stack_id):
            canonical = synth.canonical(stack_id, resource)
            assert not _is_wildcard(canonical), (stack_id, action, canonical)


def _assert_waf_grants_are_the_ip_sets(app: Synthesized) -> set[str]:
    """The role's WAF grants are GetIPSet/UpdateIPSet on each IP set of the stack, by its ARN."""
    ip_sets = app.resources(AUTO_BLOCK, "AWS::WAFv2::IPSet")
    grants = {(action, app.canonical(AUTO_BLOCK, arn)) for action, arn in _waf_grants(app, AUTO_BLOCK)}
    assert grants == {
        (action, f"{AUTO_BLOCK}:{ip_set}.Arn") for action in IP_SET_ACTIONS for ip_set in ip_sets
    }
    scopes = {ip_set["Properties"]["Scope"] for ip_set in ip_sets.values()}
    assert scopes == set(app.config.capabilities.auto_block.waf_scopes)
    return scopes


def test_waf_grants_are_exactly_the_ip_sets_the_stack_creates(synth: Synthesized) -> None:
    assert _assert_waf_grants_are_the_ip_sets(synth) == {"REGIONAL"}


def test_cloudfront_ip_sets_are_granted_by_their_us_east_1_arns(both_scopes_synth: Synthesized) -> None:
    assert _assert_waf_grants_are_the_ip_sets(both_scopes_synth) == {"REGIONAL", "CLOUDFRONT"}
    # CLOUDFRONT IP sets live in us-east-1: so does the stack, and so the ARN WAF returns.
    assert both_scopes_synth.stacks[AUTO_BLOCK].region == "us-east-1"


_IP_SET_ARNS = st.lists(
    st.builds(
        "arn:aws:wafv2:us-east-1:{}:{}/ipset/{}/{}".format,
        st.sampled_from([ACCOUNT, "*", "1234?"]),
        st.sampled_from(["regional", "global", "*"]),
        st.text(alphabet=string.ascii_lowercase + "-*?", min_size=0, max_size=24),
        st.text(alphabet=string.hexdigits + "-*", min_size=0, max_size=12),
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arns=_IP_SET_ARNS)
def test_invariant_waf_writes_name_each_ip_set_exactly(arns: list[str]) -> None:
    # Given any list of IP-set ARNs (patterns included): the function construct refuses
    # UpdateIPSet on a pattern, however a capability declared it ...
    for arn in filter(_is_wildcard, arns):
        for action in EXACT_RESOURCE_ACTIONS:
            with pytest.raises(ValueError, match="exactly"):
                check_scope(Permission((action,), arn), arn)
    # ... and the auto-block permissions refuse to declare one.
    try:
        permissions = ip_set_permissions(arns)
    except ValueError:
        assert any(not arn or _is_wildcard(arn) for arn in arns)
        return
    # Otherwise each IP set is granted once, by its exact ARN, and the construct accepts it.
    assert [p.resource for p in permissions] == list(dict.fromkeys(arns))
    for permission in permissions:
        assert permission.actions == IP_SET_ACTIONS
        assert isinstance(permission.resource, str)
        assert permission.resource
        assert not _is_wildcard(permission.resource)
        check_scope(permission, permission.resource)


# ---------------------------------------------------------------- the core key


def _key_statements(synth: Synthesized) -> dict[str, dict[str, Any]]:
    """The key policy's statements for service principals, by service."""
    (key,) = synth.resources(CORE, "AWS::KMS::Key").values()
    return {
        statement["Principal"]["Service"]: statement
        for statement in statements(key["Properties"]["KeyPolicy"])
        if "Service" in statement["Principal"]
    }


def _arns(synth: Synthesized, value: Any) -> list[str]:
    return sorted(synth.canonical(CORE, item) for item in as_list(value))


def test_key_lets_alarms_use_it_only_for_secautos_alarms_of_this_account(synth: Synthesized) -> None:
    region, account = synth.config.home_region, synth.account
    statement = _key_statements(synth)["cloudwatch.amazonaws.com"]
    assert sorted(as_list(statement["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    condition = statement["Condition"]
    assert synth.canonical(CORE, condition["StringEquals"]["aws:SourceAccount"]) == account
    assert _arns(synth, condition["ArnLike"]["aws:SourceArn"]) == [
        f"arn:aws:cloudwatch:{region}:{account}:alarm:{RULE_NAME_PREFIX}*"
    ]


def test_key_lets_eventbridge_use_it_only_for_secautos_rules_of_this_account(synth: Synthesized) -> None:
    region, account = synth.config.home_region, synth.account
    statement = _key_statements(synth)["events.amazonaws.com"]
    assert sorted(as_list(statement["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    condition = statement["Condition"]
    assert synth.canonical(CORE, condition["StringEquals"]["aws:SourceAccount"]) == account
    assert _arns(synth, condition["ArnLike"]["aws:SourceArn"]) == sorted(
        f"arn:aws:events:{region}:{account}:rule/{prefix}*"
        for prefix in (RULE_NAME_PREFIX, NAMED_RULE_PREFIX)
    )


def test_key_lets_cloudwatch_logs_use_it_only_for_secautos_log_groups(synth: Synthesized) -> None:
    region, account = synth.config.home_region, synth.account
    statement = _key_statements(synth)[f"logs.{region}.amazonaws.com"]
    condition = statement["Condition"]
    assert list(condition) == ["ArnLike"]  # what CloudWatch Logs documents: the log group it encrypts
    assert _arns(synth, condition["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]) == [
        f"arn:aws:logs:{region}:{account}:log-group:{RULE_NAME_PREFIX}*"
    ]


def test_no_service_uses_the_key_unconditionally(synth: Synthesized) -> None:
    services = _key_statements(synth)
    assert set(services) == {
        "cloudwatch.amazonaws.com",
        "events.amazonaws.com",
        f"logs.{synth.config.home_region}.amazonaws.com",
    }
    assert all(statement.get("Condition") for statement in services.values())


def test_alarms_publish_to_the_topic_only_from_secautos_alarms(synth: Synthesized) -> None:
    region, account = synth.config.home_region, synth.account
    (policy,) = synth.resources(CORE, "AWS::SNS::TopicPolicy").values()
    (statement,) = [
        s
        for s in statements(policy["Properties"]["PolicyDocument"])
        if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    condition = statement["Condition"]
    assert synth.canonical(CORE, condition["StringEquals"]["aws:SourceAccount"]) == account
    assert _arns(synth, condition["ArnLike"]["aws:SourceArn"]) == [
        f"arn:aws:cloudwatch:{region}:{account}:alarm:{RULE_NAME_PREFIX}*"
    ]


# What keeps these conditions from refusing real deliveries: everything that uses the key through
# a service principal is named (by CloudFormation, `<stack>-<logical id>-<suffix>`, or by us) inside them.


def _named_within(name: str | None, stack_name: str, patterns: tuple[str, ...]) -> bool:
    """Whether a resource's name (explicit, or the one CloudFormation generates) matches a pattern."""
    actual = name if name is not None else f"{stack_name}-generated"
    return any(fnmatch.fnmatchcase(actual, pattern) for pattern in patterns)


def test_every_alarm_is_named_within_the_keys_condition(synth: Synthesized) -> None:
    for stack_id, logical_id, alarm in synth.all_resources("AWS::CloudWatch::Alarm"):
        stack_name = synth.stacks[stack_id].stack_name
        assert _named_within(alarm["Properties"].get("AlarmName"), stack_name, (f"{RULE_NAME_PREFIX}*",)), (
            stack_id,
            logical_id,
        )


def test_every_rule_delivering_to_an_encrypted_queue_is_named_within_the_keys_condition(
    synth: Synthesized,
) -> None:
    key = synth.logical_id(core_stack(synth).key) + ".Arn"
    encrypted_queues = {
        f"{stack_id}:{logical_id}.Arn"
        for stack_id, logical_id, queue in synth.all_resources("AWS::SQS::Queue")
        if "KmsMasterKeyId" in queue["Properties"]
        and synth.canonical(stack_id, queue["Properties"]["KmsMasterKeyId"]) == key
    }
    assert encrypted_queues  # the findings queue and the core dead-letter queue
    delivering = 0
    for stack_id, logical_id, rule in synth.all_resources("AWS::Events::Rule"):
        targets = rule["Properties"].get("Targets", [])
        queues = {
            synth.canonical(stack_id, arn)
            for target in targets
            for arn in (target["Arn"], target.get("DeadLetterConfig", {}).get("Arn"))
            if arn is not None
        }
        if not queues & encrypted_queues:
            continue
        delivering += 1
        name = rule["Properties"].get("Name")
        patterns = (f"{RULE_NAME_PREFIX}*", f"{NAMED_RULE_PREFIX}*")
        assert _named_within(name, synth.stacks[stack_id].stack_name, patterns), (stack_id, logical_id, name)
    assert delivering


def test_no_rule_targets_the_encrypted_topic(synth: Synthesized) -> None:
    # AWS documents aws:SourceArn/aws:SourceAccount as unsupported in a key policy for EventBridge
    # deliveries to encrypted topics: the key's EventBridge statement would refuse them.
    topic = synth.logical_id(core_stack(synth).resources.topic)
    for stack_id, logical_id, rule in synth.all_resources("AWS::Events::Rule"):
        for target in rule["Properties"].get("Targets", []):
            assert synth.canonical(stack_id, target["Arn"]) != topic, (stack_id, logical_id)


def test_every_log_group_the_key_encrypts_is_named_within_its_condition(synth: Synthesized) -> None:
    key = synth.logical_id(core_stack(synth).key) + ".Arn"
    encrypted = [
        (stack_id, logical_id, group)
        for stack_id, logical_id, group in synth.all_resources("AWS::Logs::LogGroup")
        if "KmsKeyId" in group["Properties"]
        and synth.canonical(stack_id, group["Properties"]["KmsKeyId"]) == key
    ]
    assert encrypted  # one per function
    for stack_id, logical_id, group in encrypted:
        name = group["Properties"].get("LogGroupName")
        stack_name = synth.stacks[stack_id].stack_name
        assert _named_within(name, stack_name, (f"{RULE_NAME_PREFIX}*",)), (stack_id, logical_id, name)
