"""Findings fan-out: GuardDuty, Macie and Inspector findings as ASFF into Security Hub, and notified.

The flow, all in the home Region: one rule per `rules/findings.*.json` on the default bus puts
each finding event on an encrypted SQS queue; the `findings` function takes it in batches of up
to `batchSize` (100 = one Security Hub `BatchImportFindings` call), gathered for up to
`batchingWindowSeconds`, with at most `maxConcurrency` invocations at a time, which keeps the
imports within Security Hub's ~10 calls/s however many findings GuardDuty emits at once. A record
that fails is reported alone (`ReportBatchItemFailures`) and delivered again; after
`MAX_RECEIVES` receives it moves to the core dead-letter queue. Events EventBridge cannot deliver
to the queue go there too. An alarm fires when the oldest waiting finding is older than
`QUEUE_AGE_ALARM`: the function is failing, throttled, or too slow for the inflow.

Never a rule on "Security Hub Findings - Imported": every import fires that event, so such a
rule would feed our own imports back to us (an endless loop). The builder refuses rules that
could match Security Hub's events, and a test checks every rule of every stack.

Findings of member accounts are imported with `crossAccountRoleName` in the finding's account.
IAM bounds where: `sts:AssumeRole` on that role in the `memberAccountIds` (exact ARNs), or in any
account of `organizationId` (`aws:ResourceOrgID`); a role name with neither fails `cdk synth`.

The suppression rules (`rules/suppressions/findings.json`) ship inside the code asset (see
`bundling`); the builder validates them so that a broken file fails `cdk synth`, not every
invocation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk import Duration, Environment, Stack, Token
from aws_cdk import aws_sqs as sqs

from findings.permissions import PERMISSIONS, CrossAccountScopeError, cross_account_permissions
from findings.suppressions import SuppressionError, load_suppressions
from secauto_infra.alarms import alarm_to_topic
from secauto_infra.bundling import REPO_ROOT
from secauto_infra.config import FINDINGS_SUPPRESSIONS_FILE, ConfigError
from secauto_infra.event_rules import allow_rules_to_send, queue_target, rule_from_spec
from secauto_infra.function import QueueSource, SecautoFunction
from secauto_infra.nag import acknowledge
from secauto_infra.rule_catalog import RuleCatalogError, rules_for

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from aws_cdk import App

    from constructs import Construct
    from secauto_core.permissions import Permission
    from secauto_infra.config import FindingsConfig, SecautoConfig
    from secauto_infra.core_stack import CoreResources
    from secauto_infra.rule_catalog import RuleSpec

__all__ = [
    "CAPABILITY",
    "FUNCTION_MEMORY_MB",
    "FUNCTION_TIMEOUT",
    "MAX_RECEIVES",
    "QUEUE_AGE_ALARM",
    "SECURITY_HUB_IMPORTED",
    "FindingsStack",
    "add_findings",
    "check_findings_rules",
    "check_suppressions",
    "import_role_permissions",
    "visibility_timeout",
]

CAPABILITY = "findings"
FUNCTION_TIMEOUT = Duration.seconds(120)
FUNCTION_MEMORY_MB = 512
#: Receives before a finding event moves to the core dead-letter queue.
MAX_RECEIVES = 5
#: Alarm when the oldest finding has waited longer than this.
QUEUE_AGE_ALARM = Duration.minutes(15)
#: The event Security Hub emits for every import, ours included: never a trigger.
SECURITY_HUB_IMPORTED = "Security Hub Findings - Imported"
_SECURITY_HUB_SOURCE = "aws.securityhub"


def visibility_timeout(function_timeout: Duration, batching_window_seconds: int) -> Duration:
    """AWS's advice for a queue feeding Lambda: six times the function timeout, plus the window."""
    return Duration.seconds(6 * int(function_timeout.to_seconds()) + batching_window_seconds)


def check_findings_rules(specs: Sequence[RuleSpec]) -> None:
    """Refuse findings rules that feed another handler or could match Security Hub's own events.

    Each rule must name its sources literally (`"source": ["aws.guardduty"]`), none of them
    `aws.securityhub`, and must not name the "Security Hub Findings - Imported" detail type.
    """
    if not specs:
        raise RuleCatalogError(f"no rules/{CAPABILITY}.*.json: the capability would receive no events")
    handlers = {spec.handler for spec in specs}
    if handlers != {f"{CAPABILITY}.handler.lambda_handler"}:
        raise RuleCatalogError(f"{CAPABILITY} rules name unexpected handlers: {sorted(handlers)}")
    for spec in specs:
        sources = spec.pattern.get("source")
        if not (isinstance(sources, list) and sources and all(isinstance(s, str) for s in sources)):
            raise RuleCatalogError(
                f"{spec.path.name}: a findings rule must list its sources literally, or it could match "
                f"{SECURITY_HUB_IMPORTED!r} events and import our own imports again (a loop)"
            )
        detail_types = spec.pattern.get("detail-type", [])
        if _SECURITY_HUB_SOURCE in sources or (
            isinstance(detail_types, list) and SECURITY_HUB_IMPORTED in detail_types
        ):
            raise RuleCatalogError(f"{spec.path.name}: never a rule on Security Hub's own findings (a loop)")


def check_suppressions(path: Path) -> None:
    """Fail the synthesis on a suppression file the handler could not load."""
    try:
        load_suppressions(path)
    except SuppressionError as exc:
        raise ConfigError(f"invalid suppression rules: {exc}") from exc


def import_role_permissions(settings: FindingsConfig) -> tuple[Permission, ...]:
    """`sts:AssumeRole` on the cross-account import role (none without `crossAccountRoleName`).

    A role name without `organizationId` or `memberAccountIds` fails the synthesis in one line:
    the grant would otherwise reach that role in every AWS account.
    """
    if not settings.cross_account_role_name:
        return ()
    try:
        return cross_account_permissions(
            settings.cross_account_role_name,
            organization_id=settings.organization_id,
            account_ids=settings.member_account_ids,
        )
    except CrossAccountScopeError as exc:
        raise ConfigError(str(exc)) from exc


class FindingsStack(Stack):
    """The queue, the rules that fill it, the function that drains it, and the queue's age alarm."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: SecautoConfig,
        core: CoreResources,
        specs: Sequence[RuleSpec],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        settings = config.capabilities.findings
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=core.key,
            enforce_ssl=True,
            visibility_timeout=visibility_timeout(FUNCTION_TIMEOUT, settings.batching_window_seconds),
            # Shorter than the dead-letter queue's 14 days: a moved message keeps its first
            # enqueue time, so it still has days to be looked at there.
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(queue=core.dlq, max_receive_count=MAX_RECEIVES),
        )
        self.cross_account_permissions = import_role_permissions(settings)
        self.function = SecautoFunction(
            self,
            "Function",
            capability=CAPABILITY,
            config=config,
            core=core,
            permissions=(*PERMISSIONS, *self.cross_account_permissions),
            environment=settings.environment(),
            timeout=FUNCTION_TIMEOUT,
            memory_size=FUNCTION_MEMORY_MB,
            queue_source=QueueSource(
                queue=self.queue,
                batch_size=settings.batch_size,
                max_batching_window=Duration.seconds(settings.batching_window_seconds),
                max_concurrency=settings.max_concurrency,
            ),
        )
        if settings.cross_account_role_name and settings.organization_id and not settings.member_account_ids:
            self._acknowledge_organization_role(settings.cross_account_role_name, settings.organization_id)
        # As for the functions' rules, the core DLQ's policy admits every `Secauto*` rule.
        target = queue_target(
            self.queue,
            dead_letter_queue_arn=core.dlq.queue_arn,
            max_event_age=Duration.hours(24),
            retry_attempts=185,
        )
        self.rules = [
            rule_from_spec(self, spec, targets=[target], description="secauto: security findings")
            for spec in specs
        ]
        allow_rules_to_send(self.queue, self.rules)
        self.queue_age_alarm = alarm_to_topic(
            self,
            "QueueAgeAlarm",
            metric=self.queue.metric_approximate_age_of_oldest_message(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            topic=core.topic,
            threshold=QUEUE_AGE_ALARM.to_seconds(),
            description=(
                f"secauto findings: a finding has waited over {int(QUEUE_AGE_ALARM.to_minutes())} minutes "
                "in the queue (function failing, throttled or too slow)"
            ),
        )

    def _acknowledge_organization_role(self, role_name: str, organization_id: str) -> None:
        """The role in any account of the organisation: the account is a wildcard IAM scopes by condition."""
        partition = "<AWS::Partition>" if Token.is_unresolved(self.partition) else self.partition
        acknowledge(
            self.function.role,
            f"AwsSolutions-IAM5[Resource::arn:{partition}:iam::*:role/{role_name}]",
            "Findings of member accounts (delegated administrator) are imported with the configured "
            "role in the finding's own account, and member accounts join and leave the organization: "
            f"sts:AssumeRole on that one role name, only in accounts of {organization_id} "
            "(StringEquals aws:ResourceOrgID).",
        )


def add_findings(app: App, config: SecautoConfig, core: CoreResources) -> list[Stack]:
    """The home-Region stack (findings are handled where the home Region's rules see them)."""
    specs = rules_for(CAPABILITY)
    check_findings_rules(specs)
    check_suppressions(REPO_ROOT / FINDINGS_SUPPRESSIONS_FILE)
    return [
        FindingsStack(
            app,
            "SecautoFindings",
            config=config,
            core=core,
            specs=specs,
            env=Environment(account=config.account, region=config.home_region),
            description="secauto: GuardDuty, Macie and Inspector findings to Security Hub, Slack and SNS",
        )
    ]
