"""IAM access-key expiry: a scheduled audit of every access key, in the home Region.

IAM is global, so one stack in the home Region covers the account: a schedule rule named
`AUDIT_RULE_NAME` invokes the `access_keys` function (`schedule`, daily by default), which reads
the credential report (or lists users when no report comes), decides per key (warn, deactivate,
delete, per the configured policy; a dry run unless `enforce` is on), and reports on Slack, SNS
and Security Hub. Events EventBridge cannot deliver go to the core dead-letter queue.

A schedule rule has no event pattern, yet `rules/` is the single description of what each handler
receives, and the local replay matches sample events against it. So
`rules/access_keys.scheduled_audit.json` holds the pattern of the events this rule sends (the
`aws.events` "Scheduled Event" whose resource is the rule's ARN); it is why the rule has an
explicit name. The builder checks that file is exactly that pattern, and builds the schedule rule
itself, never an event-pattern rule from the file.

IAM is the second line behind the code's exemptions: the role carries an explicit Deny of
`iam:UpdateAccessKey` / `iam:DeleteAccessKey` on any user tagged with `exemptTagKey`
(`EXEMPTION_GUARD_SID`), so even a bug in the audit cannot change an exempt user's keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk import Duration, Environment, Stack, Token
from aws_cdk import aws_iam as iam

from access_keys.permissions import PERMISSIONS
from secauto_infra.core_stack import NAMED_RULE_PREFIX
from secauto_infra.event_rules import (
    allow_rule_to_invoke,
    lambda_target,
    schedule_rule,
    scheduled_event_pattern,
)
from secauto_infra.function import SecautoFunction
from secauto_infra.nag import acknowledge
from secauto_infra.rule_catalog import RuleCatalogError, rules_for

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aws_cdk import App

    from constructs import Construct
    from secauto_infra.config import SecautoConfig
    from secauto_infra.core_stack import CoreResources
    from secauto_infra.rule_catalog import RuleSpec

__all__ = [
    "AUDIT_RULE_NAME",
    "AUDIT_RULE_SPEC",
    "CAPABILITY",
    "EXEMPTION_GUARD_ACTIONS",
    "EXEMPTION_GUARD_SID",
    "FUNCTION_MEMORY_MB",
    "FUNCTION_TIMEOUT",
    "RESERVED_CONCURRENCY",
    "AccessKeysStack",
    "add_access_keys",
    "check_access_keys_rules",
]

CAPABILITY = "access_keys"
#: The schedule rule's name: its events carry `arn:...:rule/<name>`, which the rule file matches.
AUDIT_RULE_NAME = f"{NAMED_RULE_PREFIX}access-keys-audit"
#: The rule file describing the schedule rule's events.
AUDIT_RULE_SPEC = f"{CAPABILITY}.scheduled_audit"
#: A large account's credential report, or the fallback listing of every user, takes minutes.
FUNCTION_TIMEOUT = Duration.seconds(900)
FUNCTION_MEMORY_MB = 512
#: One audit at a time (see `AccessKeysStack`).
RESERVED_CONCURRENCY = 1
#: The explicit Deny on users carrying the exemption tag, and what it denies: every change the
#: capability can make to a key.
EXEMPTION_GUARD_SID = "DenyKeyChangesOnExemptUsers"
EXEMPTION_GUARD_ACTIONS = ("iam:DeleteAccessKey", "iam:UpdateAccessKey")


def check_access_keys_rules(specs: Sequence[RuleSpec]) -> RuleSpec:
    """The one rule file of the capability, which must describe the schedule rule's events.

    The capability has no event-pattern rule: a file here that is not exactly
    `scheduled_event_pattern(AUDIT_RULE_NAME)` would describe events no deployed rule sends.
    """
    names = sorted(spec.name for spec in specs)
    if names != [AUDIT_RULE_SPEC]:
        raise RuleCatalogError(
            f"{CAPABILITY} is fed by its schedule rule only: expected rules/{AUDIT_RULE_SPEC}.json "
            f"alone, found {names}"
        )
    (spec,) = specs
    expected = scheduled_event_pattern(AUDIT_RULE_NAME)
    if spec.pattern != expected:
        raise RuleCatalogError(
            f"{spec.path.name}: must be the pattern of the events schedule rule {AUDIT_RULE_NAME!r} "
            f"sends, {expected}"
        )
    if spec.handler != f"{CAPABILITY}.handler.lambda_handler":
        raise RuleCatalogError(f"{spec.path.name}: feeds {spec.handler}")
    return spec


class AccessKeysStack(Stack):
    """The audit function and the schedule rule that invokes it."""

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
        settings = config.capabilities.access_keys
        self.function = SecautoFunction(
            self,
            "Function",
            capability=CAPABILITY,
            config=config,
            core=core,
            permissions=PERMISSIONS,
            environment=settings.environment(),
            timeout=FUNCTION_TIMEOUT,
            memory_size=FUNCTION_MEMORY_MB,
            # A single writer: two audits at once (a schedule tick while a slow run is still going,
            # or a manual invocation) would race on the same keys and their reminder state, and
            # could announce or deactivate a key twice. With one reserved execution the second
            # invocation is throttled, and Lambda's asynchronous queue retries it after the first.
            # Reserving it needs 11 of the account's Lambda concurrency (10 stay unreserved):
            # fine with the default quota of 1,000, not in a new account still limited to 10.
            reserved_concurrent_executions=RESERVED_CONCURRENCY,
        )
        self._acknowledge_every_user()
        self.exemption_guard = self._guard_exempt_users(settings.exempt_tag_key)
        # The core DLQ's policy admits our rules by name (`secauto-*` for the named ones).
        target = lambda_target(
            self.function.function,
            dead_letter_queue_arn=core.dlq.queue_arn,
            max_event_age=Duration.hours(6),
            retry_attempts=10,
        )
        self.rule = schedule_rule(
            self,
            "ScheduledAuditRule",
            rule_name=AUDIT_RULE_NAME,
            schedule_expression=settings.schedule,
            targets=[target],
            description=f"secauto: audit of every IAM access key (rules/{AUDIT_RULE_SPEC}.json)",
        )
        allow_rule_to_invoke(self.function.function, self.rule)

    def _guard_exempt_users(self, exempt_tag_key: str) -> iam.Policy:
        """Deny key changes on any user carrying the exemption tag, whatever the code decides.

        The access-key actions authorize against the user's ARN, so `iam:ResourceTag/<key>` is
        the tag of the key's user; `Null: false` matches when the tag is present, whatever its
        value. IAM cannot compare the `<reason>|<YYYY-MM-DD>` expiry, so an expired or malformed
        tag still blocks changes (the audit says so in its report: renew or remove the tag).
        Exemption by group (`exemptGroups`) has no IAM counterpart: no condition key tests a
        user's group membership, and IAM groups carry no tags; the code alone enforces it.
        A policy of its own, since the function construct's inline policies hold Allow grants
        only; the function depends on it, so it never runs without the guard.
        """
        statement = iam.PolicyStatement(
            sid=EXEMPTION_GUARD_SID,
            effect=iam.Effect.DENY,
            actions=list(EXEMPTION_GUARD_ACTIONS),
            resources=[f"arn:{self.partition}:iam::{self.account}:user/*"],
            conditions={"Null": {f"iam:ResourceTag/{exempt_tag_key}": "false"}},
        )
        policy = iam.Policy(self, "ExemptionGuard", statements=[statement], roles=[self.function.role])
        self.function.function.node.add_dependency(policy)
        return policy

    def _acknowledge_every_user(self) -> None:
        """The audit reads (and, enforcing, changes) the keys of every user of this account."""
        partition = "<AWS::Partition>" if Token.is_unresolved(self.partition) else self.partition
        account = "<AWS::AccountId>" if Token.is_unresolved(self.account) else self.account
        reasons = {
            "user/*": "The audit covers every access key of every IAM user of this account, and users "
            "come and go: the user name is the wildcard, the account is this one, and the actions are "
            "the key-level ones the capability declares (list/read keys, tags; update/delete a key).",
            "group/*": "Exemptions by group (exemptGroups) read the members of the configured groups, "
            "which the operator may name freely: the group name is the wildcard, the account is this "
            "one, and the only action is iam:GetGroup.",
        }
        for resource, reason in reasons.items():
            acknowledge(
                self.function.role,
                f"AwsSolutions-IAM5[Resource::arn:{partition}:iam::{account}:{resource}]",
                reason,
            )


def add_access_keys(app: App, config: SecautoConfig, core: CoreResources) -> list[Stack]:
    """The home-Region stack (IAM is global: one audit covers the account)."""
    check_access_keys_rules(rules_for(CAPABILITY))
    return [
        AccessKeysStack(
            app,
            "SecautoAccessKeys",
            config=config,
            core=core,
            env=Environment(account=config.account, region=config.home_region),
            description="secauto: scheduled IAM access-key expiry audit (warn, deactivate, delete)",
        )
    ]
