"""`resource_arn` and `check_scope`: how declared resources become the ARNs a role grants."""

from __future__ import annotations

from typing import Any, cast

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_sqs as sqs

from findings.permissions import CROSS_ACCOUNT_PERMISSIONS
from secauto_core.permissions import SECURITYHUB_DEFAULT_PRODUCT, Permission
from secauto_infra.function import (
    EXACT_RESOURCE_ACTIONS,
    OWNER_SCOPED_ACTIONS,
    UNSCOPED_ACTIONS,
    XRAY_ACTIONS,
    check_scope,
    resource_arn,
)

#: Only string templates are resolved here, so the core resources are never consulted.
NO_CORE: Any = cast("Any", None)


@pytest.fixture(scope="module")
def stack() -> Stack:
    app = App(context={"@aws-cdk/core:enablePartitionLiterals": True})  # as cdk.json sets it
    return Stack(app, "S", env=Environment(account="123456789012", region="eu-west-1"))


def test_stack_placeholders_are_the_stacks(stack: Stack) -> None:
    assert (
        resource_arn(SECURITYHUB_DEFAULT_PRODUCT, NO_CORE, stack)
        == "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default"
    )


def test_other_placeholders_come_from_values(stack: Stack) -> None:
    (permission,) = CROSS_ACCOUNT_PERMISSIONS
    assert isinstance(permission.resource, str)
    assert (
        resource_arn(
            permission.resource,
            NO_CORE,
            stack,
            member_account="111122223333",
            role_name="security/secauto-import",
        )
        == "arn:aws:iam::111122223333:role/security/secauto-import"
    )


@pytest.mark.parametrize(
    ("template", "values", "message"),
    [
        ("arn:{partition}:iam::*:role/{role_name}", {}, "no value for"),
        ("arn:{partition}:iam::*:role/{role_name}", {"role_name": "*"}, "concrete name"),
        ("arn:{partition}:iam::*:role/{role_name}", {"role_name": "a?"}, "concrete name"),
        ("arn:{partition}:iam::*:role/{role_name}", {"role_name": ""}, "concrete name"),
        ("arn:{partition}:iam::{account}:role/x", {"account": "111111111111"}, "come from the stack"),
        ("arn:{partition}:iam::*:role/{}", {}, "plain names"),
        ("arn:{partition}:iam::*:role/{role.name}", {}, "plain names"),
        ("role/{role_name}", {"role_name": "x"}, "CoreResource or an ARN template"),
    ],
)
def test_bad_templates_and_values_are_refused(
    stack: Stack, template: str, values: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        resource_arn(template, NO_CORE, stack, **values)


def test_star_is_a_resource_only_for_actions_aws_cannot_scope(stack: Stack) -> None:
    report = ("iam:GenerateCredentialReport", "iam:GetCredentialReport", "iam:GetAccountSummary")
    assert resource_arn("*", NO_CORE, stack, actions=report) == "*"
    assert resource_arn("*", NO_CORE, stack, actions=tuple(XRAY_ACTIONS)) == "*"
    assert set(report) | XRAY_ACTIONS <= UNSCOPED_ACTIONS


@pytest.mark.parametrize(
    "actions",
    [
        (),  # "*" for nothing in particular
        ("iam:DeleteAccessKey",),
        ("iam:GetCredentialReport", "iam:UpdateAccessKey"),  # one scoped action spoils the statement
        ("s3:*",),
        ("*",),
    ],
    ids=repr,
)
def test_star_is_refused_for_every_other_action(stack: Stack, actions: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="only for actions without resource-level permissions"):
        resource_arn("*", NO_CORE, stack, actions=actions)


def test_unscoped_actions_are_an_explicit_list() -> None:
    # No wildcards in the allowlist itself: each entry is one reviewed action.
    assert all(":" in action and "*" not in action and "?" not in action for action in UNSCOPED_ACTIONS)


def test_an_arn_of_the_app_is_granted_as_it_is(stack: Stack) -> None:
    # A CDK token (here a queue's Fn::GetAtt Arn) is an exact ARN: no placeholders to fill.
    queue = sqs.Queue(stack, "Queue")
    assert resource_arn(queue.queue_arn, NO_CORE, stack, actions=("sqs:SendMessage",)) == queue.queue_arn


@pytest.mark.parametrize(
    "arn", ["arn:aws:wafv2:eu-west-1:123456789012:regional/ipset/secauto-*/*", "arn:aws:x:?"]
)
def test_exact_resource_actions_refuse_any_wildcard(arn: str) -> None:
    for action in EXACT_RESOURCE_ACTIONS:
        with pytest.raises(ValueError, match="must name each resource exactly"):
            check_scope(Permission((action, "wafv2:GetIPSet"), arn), arn)
    exact = "arn:aws:wafv2:eu-west-1:123456789012:regional/ipset/secauto-blocklist-regional-ipv4/a1b2"
    check_scope(Permission(("wafv2:UpdateIPSet",), exact), exact)


@pytest.mark.parametrize(
    ("conditions", "allowed"),
    [
        (None, False),
        ({"StringLike": {"aws:ResourceOrgID": "o-*"}}, False),
        ({"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}, False),  # the caller's, not the role's
        ({"StringEquals": {"aws:ResourceOrgID": "o-a1b2c3d4e5"}}, True),
        ({"StringEquals": {"aws:ResourceAccount": ("111122223333", "444455556666")}}, True),
    ],
)
def test_owner_scoped_actions_need_the_owner_pinned_by_a_condition(conditions: Any, allowed: bool) -> None:
    arn = "arn:aws:iam::*:role/secauto-import"
    for action in OWNER_SCOPED_ACTIONS:
        permission = Permission((action,), arn, conditions)
        if allowed:
            check_scope(permission, arn)
        else:
            with pytest.raises(ValueError, match="needs a StringEquals condition"):
                check_scope(permission, arn)
        # An exact ARN needs no condition.
        exact = "arn:aws:iam::111122223333:role/secauto-import"
        check_scope(Permission((action,), exact), exact)
