"""Scheduled EBS snapshot and AMI backups of tagged instances and volumes, in the home Region.

Each configured plan gets a schedule rule named `secauto-backups-<plan>` (`BACKUPS_RULE_PREFIX`)
with the plan's schedule, invoking the `backups` function, which finds the plan from the rule's
ARN in the event, backs up the instances or volumes carrying the plan's tag (EBS snapshots, or
AMIs), copies new backups to the plan's `copyTo` Region, and prunes what the retention releases.
Events EventBridge cannot deliver go to the core dead-letter queue. With no plan there is nothing
to run, and no stack.

As for the other schedule rules, `rules/backups.scheduled.json` holds the pattern of the events
these rules send (`scheduled_pattern()`: any rule whose name starts with the prefix, since plans
are configuration), checked here, never deployed as a pattern.

The role is safe by construction, whatever the code does. The capability declares its grants
with their conditions (`backups.permissions`, `TAG_CONDITIONS`): the function may delete a
snapshot or deregister an image only when it carries the tag `secauto:managed-by` = `secauto`; it
may create snapshots and images (and copies) only when the creating call itself tags them so; and
it may tag only as part of those creating calls (`ec2:CreateAction`), so it can never tag an
existing snapshot or image into deletability. `role_permissions` applies `TAG_CONDITIONS` and
refuses a declaration that departs from them or that the Service Authorization Reference rules
out: `aws:RequestTag` is evaluated for the snapshot and image resource types of the creating
actions, not for the instance or volume they read, so those grants carry no condition (one AWS
does not evaluate there would deny every call). The grants of `COPY_PERMISSIONS` are repeated
for each distinct `copyTo` Region.

Tags are not proof of ownership, so the function also records every id it creates in the core
state table and deletes only recorded ids (`backups.ledger`); its DynamoDB grant is held to the
backups partitions (`dynamodb:LeadingKeys` `backups#*`, `STATE_CONDITIONS`), which
`role_permissions` applies like the tag conditions. Before deregistering an AMI it reads launch
templates, launch configurations and instances (`REFERENCE_ACTIONS`, Describe* calls on `*`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aws_cdk import Duration, Environment, Stack, Token

from backups.model import MANAGED_BY, TagKeys
from backups.permissions import (
    COPY_PERMISSIONS,
    CREATE_ACTIONS,
    PERMISSIONS,
    STATE_ACTIONS,
    STATE_CONDITIONS,
    TAG_CONDITIONS,
)
from secauto_core.permissions import CoreResource, Permission
from secauto_infra.auto_block import bind_template
from secauto_infra.config import BACKUPS_RULE_PREFIX
from secauto_infra.core_stack import NAMED_RULE_PREFIX
from secauto_infra.event_rules import allow_rule_to_invoke, lambda_target, schedule_rule
from secauto_infra.function import SecautoFunction
from secauto_infra.nag import acknowledge
from secauto_infra.rule_catalog import RuleCatalogError, rules_for

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from aws_cdk import App
    from aws_cdk import aws_events as events

    from constructs import Construct
    from secauto_core.permissions import Conditions
    from secauto_infra.config import BackupPlanConfig, SecautoConfig
    from secauto_infra.core_stack import CoreResources
    from secauto_infra.rule_catalog import RuleSpec

__all__ = [
    "CAPABILITY",
    "COPY_REGION",
    "CREATE_ACTIONS",
    "MANAGED_BY_TAG_KEY",
    "MANAGED_BY_TAG_VALUE",
    "RULE_SPEC",
    "BackupsStack",
    "add_backups",
    "apply_tag_conditions",
    "check_backups_rules",
    "role_permissions",
    "scheduled_pattern",
]

CAPABILITY = "backups"
#: The rule file describing the events of every plan's schedule rule.
RULE_SPEC = f"{CAPABILITY}.scheduled"
#: The placeholder of the copy Region in the declared ARN templates (one grant per copy Region).
COPY_REGION = "copy_region"
#: The tag on everything secauto creates, and the only thing it may delete.
MANAGED_BY_TAG_KEY = TagKeys().managed_by
MANAGED_BY_TAG_VALUE = MANAGED_BY
#: The EC2 resource types of the declared ARN templates (`...:snapshot/*`, `...:image/*`).
_RESOURCE_TYPE = re.compile(r"^arn:[^:]*:ec2:[^:]*:[^:]*:(?P<type>[a-z-]+)/")
#: The resource types the creating actions create (where AWS evaluates `aws:RequestTag`).
_CREATED_TYPES = frozenset({"snapshot", "image"})
#: The resource types they read (where it does not).
_SOURCE_TYPES = frozenset({"instance", "volume"})

#: Why each wildcard resource type the role names is acceptable (cdk-nag AwsSolutions-IAM5).
_WILDCARD_REASONS = {
    "snapshot": "EBS snapshot ids are generated when a snapshot is created (and snapshot ARNs have no "
    "account), so backups can only be named snapshot/*: creating or copying one is allowed only when "
    f"the call tags it {MANAGED_BY_TAG_KEY}={MANAGED_BY_TAG_VALUE} (aws:RequestTag), tagging only as "
    "part of those creating calls (ec2:CreateAction), and DeleteSnapshot only on snapshots carrying "
    "that tag (aws:ResourceTag): the function can never delete a snapshot it did not create.",
    "image": "AMI ids are generated when an image is created (and image ARNs have no account), so "
    "backups can only be named image/*: creating or copying one is allowed only when the call tags it "
    f"{MANAGED_BY_TAG_KEY}={MANAGED_BY_TAG_VALUE} (aws:RequestTag), tagging only as part of those "
    "creating calls (ec2:CreateAction), and DeregisterImage only on images carrying that tag "
    "(aws:ResourceTag): the function can never deregister an image it did not create.",
    "instance": "Plans select instances by tag when they run, so they are not known at deploy time: "
    "CreateSnapshots and CreateImage may read any instance of this account in the home Region; they "
    "create backups of it and change nothing on it, and what they create must carry the managed-by tag.",
    "volume": "Plans select volumes by tag when they run, and an instance's snapshot set covers each of "
    "its attached volumes: CreateSnapshot and CreateSnapshots may read any volume of this account in "
    "the home Region; they change nothing on it, and the snapshots must carry the managed-by tag.",
}


def scheduled_pattern() -> dict[str, Any]:
    """The pattern of the events the plans' schedule rules send (on the default bus).

    `*` in a `wildcard` matches zero or more characters in AWS and one or more in the local
    engine: both stars here always cover at least one character (the ARN before `:rule/`, and a
    plan name, never empty), so both agree.
    """
    return {
        "source": ["aws.events"],
        "detail-type": ["Scheduled Event"],
        "resources": [{"wildcard": f"*:rule/{BACKUPS_RULE_PREFIX}*"}],
    }


def check_backups_rules(specs: Sequence[RuleSpec], plans: Sequence[BackupPlanConfig] = ()) -> RuleSpec:
    """The capability's one rule file, which must describe the events of every plan's rule."""
    names = sorted(spec.name for spec in specs)
    if names != [RULE_SPEC]:
        raise RuleCatalogError(
            f"{CAPABILITY} is fed by its plans' schedule rules only: expected rules/{RULE_SPEC}.json "
            f"alone, found {names}"
        )
    (spec,) = specs
    expected = scheduled_pattern()
    if spec.pattern != expected:
        raise RuleCatalogError(
            f"{spec.path.name}: must be the pattern of the events of the schedule rules named "
            f"{BACKUPS_RULE_PREFIX}<plan>, {expected}"
        )
    if spec.handler != f"{CAPABILITY}.handler.lambda_handler":
        raise RuleCatalogError(f"{spec.path.name}: feeds {spec.handler}")
    for plan in plans:
        # The pattern takes `...:rule/<prefix><one or more characters>`: the rule's name must be
        # the prefix and a non-empty plan name, a rule name EventBridge accepts.
        name = plan.rule_name
        if not (name.startswith(BACKUPS_RULE_PREFIX) and re.fullmatch(r"[.\-_A-Za-z0-9]{1,64}", name)):
            raise RuleCatalogError(
                f"plan {plan.name!r}: rule name {name!r} is not matched by {spec.path.name}"
            )
        if name == BACKUPS_RULE_PREFIX:
            raise RuleCatalogError(f"plan {plan.name!r}: an empty plan name")
    return spec


def _resource_type(resource: str) -> str | None:
    match = _RESOURCE_TYPE.match(resource)
    return match["type"] if match else None


def _expected_conditions(action: str, resource: str) -> Conditions | None:
    """The condition `action` on `resource` must be granted under (see the module)."""
    kind = _resource_type(resource)
    if resource == CoreResource.STATE_TABLE:
        if action in STATE_ACTIONS:
            return STATE_CONDITIONS
    elif action in TAG_CONDITIONS:
        if kind in _CREATED_TYPES:
            return TAG_CONDITIONS[action]
        if kind in _SOURCE_TYPES and action.removeprefix("ec2:") in CREATE_ACTIONS:
            return None
    elif resource == "*" and not action.startswith("dynamodb:"):  # Describe*
        return None
    raise ValueError(f"{action} on {resource}: a grant nobody has reviewed for the backups role")


def apply_tag_conditions(permissions: Iterable[Permission]) -> list[Permission]:
    """Each permission under `TAG_CONDITIONS`, or `STATE_CONDITIONS` on the state table (split
    by condition where its actions differ)."""
    granted: list[Permission] = []
    for permission in permissions:
        groups: dict[str, tuple[Conditions | None, list[str]]] = {}
        for action in permission.actions:
            expected = _expected_conditions(action, str(permission.resource))
            if permission.conditions is not None and permission.conditions != expected:
                raise ValueError(
                    f"{action} on {permission.resource}: declared under {permission.conditions}, "
                    f"TAG_CONDITIONS say {expected}"
                )
            groups.setdefault(repr(expected), (expected, []))[1].append(action)
        granted.extend(
            Permission(tuple(actions), permission.resource, cond) for cond, actions in groups.values()
        )
    return granted


def role_permissions(copy_regions: Sequence[str]) -> tuple[Permission, ...]:
    """The capability's permissions as the role grants them: `PERMISSIONS`, and `COPY_PERMISSIONS`
    once per copy Region (`{copy_region}` filled in), each under its `TAG_CONDITIONS`."""
    copies = (
        Permission(
            permission.actions,
            bind_template(str(permission.resource), **{COPY_REGION: region}),
            permission.conditions,
        )
        for region in copy_regions
        for permission in COPY_PERMISSIONS
    )
    return (*apply_tag_conditions(PERMISSIONS), *apply_tag_conditions(copies))


class BackupsStack(Stack):
    """The backups function and one schedule rule per plan."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: SecautoConfig,
        core: CoreResources,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        settings = config.capabilities.backups
        self.permissions = role_permissions(settings.copy_regions)
        self.function = SecautoFunction(
            self,
            "Function",
            capability=CAPABILITY,
            config=config,
            core=core,
            permissions=self.permissions,
            environment=settings.environment(),
            timeout=Duration.seconds(settings.timeout_seconds),
            memory_size=settings.memory_size,
        )
        self._acknowledge_wildcards()
        # The core DLQ's policy admits our rules by name (`secauto-*` for the named ones).
        self.rules: dict[str, events.CfnRule] = {}
        for plan in settings.plans:
            rule = schedule_rule(
                self,
                f"Plan-{plan.name}",
                rule_name=plan.rule_name,
                schedule_expression=plan.schedule,
                targets=[
                    lambda_target(
                        self.function.function,
                        dead_letter_queue_arn=core.dlq.queue_arn,
                        max_event_age=Duration.hours(6),
                        retry_attempts=10,
                    )
                ],
                description=f"secauto: backup plan {plan.name} (rules/{RULE_SPEC}.json)",
            )
            allow_rule_to_invoke(self.function.function, rule)
            self.rules[plan.name] = rule

    def _acknowledge_wildcards(self) -> None:
        """One reviewed reason per granted resource with a wildcard, as cdk-nag renders it."""
        stack = {
            "partition": "<AWS::Partition>" if Token.is_unresolved(self.partition) else self.partition,
            "region": "<AWS::Region>" if Token.is_unresolved(self.region) else self.region,
            "account": "<AWS::AccountId>" if Token.is_unresolved(self.account) else self.account,
        }
        resources = {str(permission.resource) for permission in self.permissions}
        for resource in sorted(resources - {"*"}):
            arn = resource.format(**stack) if resource.startswith("arn:") else resource
            if "*" not in arn:
                continue
            reason = _WILDCARD_REASONS.get(_resource_type(resource) or "")
            if reason is None:
                raise ValueError(f"{resource}: a wildcard resource nobody has reviewed (add a reason)")
            acknowledge(self.function.role, f"AwsSolutions-IAM5[Resource::{arn}]", reason)


def add_backups(app: App, config: SecautoConfig, core: CoreResources) -> list[Stack]:
    """The home-Region stack, when there is at least one plan (EBS and AMIs are per Region: the
    home Region's resources are the ones backed up; `copyTo` copies them elsewhere)."""
    settings = config.capabilities.backups
    check_backups_rules(rules_for(CAPABILITY), settings.plans)
    if not BACKUPS_RULE_PREFIX.startswith(NAMED_RULE_PREFIX):
        raise ValueError(
            f"{BACKUPS_RULE_PREFIX}: the core dead-letter queue admits rules named {NAMED_RULE_PREFIX}*"
        )
    if not settings.plans:
        return []
    return [
        BackupsStack(
            app,
            "SecautoBackups",
            config=config,
            core=core,
            env=Environment(account=config.account, region=config.home_region),
            description="secauto: scheduled EBS snapshot and AMI backups of tagged instances and volumes",
        )
    ]
