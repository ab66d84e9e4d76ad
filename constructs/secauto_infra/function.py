"""`SecautoFunction`: the one way secauto deploys a Lambda function.

Each function gets its own role whose inline policies grant exactly what its capability
declares in `functions/<capability>/permissions.py` (plus `CORE_PERMISSIONS`), each action on its
own resource, and what the Lambda platform needs (its log group, X-Ray, the dead-letter queue,
and, for a function fed by an SQS queue, polling that queue and decrypting its messages).
A literal `"*"` resource is accepted only for the actions of `UNSCOPED_ACTIONS`, which AWS
documents without resource-level permissions; any other action on `"*"` fails the synthesis.
A wildcard inside an ARN is refused for the actions of `EXACT_RESOURCE_ACTIONS` (they name each
resource), and allowed for those of `OWNER_SCOPED_ACTIONS` only under a condition naming the
accounts or organization that own the resource (`check_scope`).
A resource may also be an ARN of this app itself (a CDK token such as an `attr_arn`), granted as is.
A permission with `conditions` gets a statement of its own carrying them (one per resource and
condition block), never merged with an unconditional grant of the same resource.
The role is handed to Lambda as immutable, so no CDK grant can widen it behind our back: that
is also why the queue's event source mapping is built here, with its grants spelled out, rather
than by `SqsEventSource` (whose grants an immutable role silently drops).
"""

from __future__ import annotations

import json
import string
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_cdk import Duration, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs

from constructs import Construct
from secauto_core.permissions import CORE_PERMISSIONS, CoreResource, Permission
from secauto_infra.alarms import alarm_to_topic
from secauto_infra.bundling import functions_code
from secauto_infra.nag import acknowledge

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

    from aws_cdk import aws_sqs as sqs

    from secauto_infra.config import SecautoConfig
    from secauto_infra.core_stack import CoreResources

__all__ = [
    "EXACT_RESOURCE_ACTIONS",
    "OWNER_CONDITION_KEYS",
    "OWNER_SCOPED_ACTIONS",
    "POWERTOOLS_LAYER_ACCOUNT",
    "QUEUE_CONSUMER_ACTIONS",
    "RETENTION",
    "STACK_PLACEHOLDERS",
    "UNSCOPED_ACTIONS",
    "XRAY_ACTIONS",
    "QueueSource",
    "SecautoFunction",
    "check_scope",
    "powertools_layer_arn",
    "resource_arn",
]

POWERTOOLS_LAYER_ACCOUNT = "017000801446"

#: CloudWatch Logs retention periods by days (`config.LOG_RETENTION_DAYS` lists the same days).
RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}

#: Placeholders every ARN template may use, filled from the function's stack.
STACK_PLACEHOLDERS = frozenset({"partition", "region", "account"})
#: What the X-Ray SDK and Lambda's active tracing do with the function's role.
XRAY_ACTIONS = frozenset({"xray:PutTelemetryRecords", "xray:PutTraceSegments"})
#: The only actions ever granted on a literal `"*"` resource: the Service Authorization Reference
#: lists no resource type for them, so a policy cannot scope them (IAM would deny them on any
#: narrower resource). Reviewed additions only: everything else must name its resource.
UNSCOPED_ACTIONS = XRAY_ACTIONS | frozenset(
    {
        # The account's credential report and its summary are account-wide by nature.
        "iam:GenerateCredentialReport",
        "iam:GetCredentialReport",
        "iam:GetAccountSummary",
        "iam:ListUsers",
        # Auto-blocking reads the configured network ACLs (its reserved rule windows) and the VPCs'
        # ranges (never block our own addresses): EC2's Describe* calls support no resource scope.
        "ec2:DescribeNetworkAcls",
        "ec2:DescribeVpcs",
        # Backups find the tagged instances and volumes and their own snapshots and images (to
        # prune them): these Describe* calls support no resource scope either (their filters do
        # the selecting; what the function may change is scoped by tag conditions).
        "ec2:DescribeInstances",
        "ec2:DescribeVolumes",
        "ec2:DescribeSnapshots",
        "ec2:DescribeImages",
        # Before deregistering an AMI, backups look for what still launches from it: launch
        # templates (and their versions), launch configurations, image references.
        "ec2:DescribeImageReferences",
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeLaunchTemplateVersions",
        "autoscaling:DescribeLaunchConfigurations",
    }
)
#: Writes that must name each resource exactly: no wildcard anywhere in their ARN (the auto-block
#: function updates the IP sets its stack creates, and no other).
EXACT_RESOURCE_ACTIONS = frozenset({"wafv2:UpdateIPSet"})
#: Actions whose ARN may hold a wildcard (the account of a cross-account role) only under a
#: `StringEquals` condition on one of `OWNER_CONDITION_KEYS`, which IAM checks against the owner
#: of the resource: never the same role in every AWS account.
OWNER_SCOPED_ACTIONS = frozenset({"sts:AssumeRole"})
OWNER_CONDITION_KEYS = frozenset({"aws:ResourceOrgID", "aws:ResourceAccount"})
#: What Lambda's SQS poller does with the function's role (AWSLambdaSQSQueueExecutionRole).
QUEUE_CONSUMER_ACTIONS = frozenset({"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"})

_ARCHITECTURES = {"x86_64": lambda_.Architecture.X86_64, "arm64": lambda_.Architecture.ARM_64}
_APP_LOG_LEVELS = {
    "DEBUG": lambda_.ApplicationLogLevel.DEBUG,
    "INFO": lambda_.ApplicationLogLevel.INFO,
    "WARNING": lambda_.ApplicationLogLevel.WARN,
    "ERROR": lambda_.ApplicationLogLevel.ERROR,
}


def powertools_layer_arn(region: str, *, runtime: str, architecture: str, version: int) -> str:
    """The public Powertools for AWS Lambda (Python) v3 layer for one runtime and architecture."""
    python = runtime.replace(".", "")  # python3.13 -> python313
    return (
        f"arn:aws:lambda:{region}:{POWERTOOLS_LAYER_ACCOUNT}:layer:"
        f"AWSLambdaPowertoolsPythonV3-{python}-{architecture}:{version}"
    )


@dataclass(frozen=True)
class QueueSource:
    """An SQS queue the function consumes in batches, reporting failed records one by one."""

    queue: sqs.IQueue
    batch_size: int
    max_batching_window: Duration
    max_concurrency: int


class SecautoFunction(Construct):
    """A capability's Lambda function, its role, log group and errors alarm.

    `template_values` fill the placeholders of the declared ARN templates beyond `{partition}`,
    `{region}` and `{account}` (e.g. `{role_name}`); `queue_source` adds an SQS event source;
    `reserved_concurrent_executions` caps (and reserves) the function's concurrency.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        capability: str,
        config: SecautoConfig,
        core: CoreResources,
        permissions: Sequence[Permission] = (),
        environment: Mapping[str, str] | None = None,
        timeout: Duration | None = None,
        memory_size: int = 256,
        template_values: Mapping[str, str] | None = None,
        queue_source: QueueSource | None = None,
        reserved_concurrent_executions: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.capability = capability
        self.permissions: tuple[Permission, ...] = (*CORE_PERMISSIONS, *permissions)
        self.template_values: dict[str, str] = dict(template_values or {})
        self.queue_source = queue_source

        self.log_group = logs.LogGroup(
            self, "LogGroup", retention=RETENTION[config.log_retention_days], encryption_key=core.key
        )
        declared = self._declared_grants(core, stack)
        conditional = self._conditional_statements(core, stack)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"secauto {capability}: exactly the permissions its code declares",
            inline_policies={
                "platform": _policy(self._platform_grants(core), minus=declared),
                "capability": _policy(declared, conditional=conditional),
            },
        )
        unscoped = sorted(XRAY_ACTIONS | declared.get("*", set()))
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            f"{', '.join(unscoped)} support no resource-level permissions (AWS documents '*' as "
            "their only resource); every other statement names its resource.",
        )
        layer = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "Powertools",
            powertools_layer_arn(
                stack.region,
                runtime=config.lambda_runtime,
                architecture=config.architecture,
                version=config.powertools_layer_version,
            ),
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description=f"secauto {capability}",
            runtime=lambda_.Runtime(config.lambda_runtime, lambda_.RuntimeFamily.PYTHON),
            architecture=_ARCHITECTURES[config.architecture],
            handler=f"{capability}.handler.lambda_handler",
            code=functions_code(architecture=config.architecture, python_version=config.python_version),
            layers=[layer],
            role=self.role.without_policy_updates(),
            timeout=timeout or Duration.seconds(30),
            memory_size=memory_size,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=_APP_LOG_LEVELS[config.log_level],
            system_log_level_v2=lambda_.SystemLogLevel.INFO,
            dead_letter_queue=core.dlq,
            environment=self._environment(capability, config, core, environment or {}),
            reserved_concurrent_executions=reserved_concurrent_executions,
        )
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            f"{config.lambda_runtime} on purpose: the public Powertools layer is published only up to "
            "python3.13, and the bundled wheels are built for the same version.",
        )
        self.event_source_mapping: lambda_.EventSourceMapping | None = None
        if queue_source is not None:
            # The role's inline policies (above) already let Lambda poll the queue, and the
            # mapping's function depends on the role: CloudFormation creates them in that order.
            self.event_source_mapping = lambda_.EventSourceMapping(
                self,
                "QueueSource",
                target=self.function,
                event_source_arn=queue_source.queue.queue_arn,
                batch_size=queue_source.batch_size,
                max_batching_window=queue_source.max_batching_window,
                max_concurrency=queue_source.max_concurrency,
                report_batch_item_failures=True,
            )
        self.errors_alarm = alarm_to_topic(
            self,
            "ErrorsAlarm",
            metric=self.function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
            topic=core.topic,
            description=f"secauto {capability}: the function failed",
        )

    def _platform_grants(self, core: CoreResources) -> dict[str, set[str]]:
        """What Lambda itself does with the role: write logs, send traces, dead-letter events,
        and poll the source queue (receive, delete, read attributes; decrypt what it receives)."""
        grants: dict[str, set[str]] = {
            self.log_group.log_group_arn: {"logs:CreateLogStream", "logs:PutLogEvents"},
            "*": set(XRAY_ACTIONS),
            core.dlq.queue_arn: {"sqs:SendMessage"},
        }
        if self.queue_source is not None:
            queue = self.queue_source.queue
            grants.setdefault(queue.queue_arn, set()).update(QUEUE_CONSUMER_ACTIONS)
            if queue.encryption_master_key is not None:
                grants.setdefault(queue.encryption_master_key.key_arn, set()).add("kms:Decrypt")
        return grants

    def _declared_grants(self, core: CoreResources, stack: Stack) -> dict[str, set[str]]:
        """The declared unconditional actions, by resource ARN."""
        grants: dict[str, set[str]] = defaultdict(set)
        for permission in self.permissions:
            if permission.conditions is None:
                arn = resource_arn(
                    permission.resource, core, stack, actions=permission.actions, **self.template_values
                )
                check_scope(permission, arn)
                grants[arn].update(permission.actions)
        return grants

    def _conditional_statements(self, core: CoreResources, stack: Stack) -> list[iam.PolicyStatement]:
        """One statement per resource ARN and condition block, with the actions declared under it."""
        grants: dict[tuple[str, str], set[str]] = defaultdict(set)
        for permission in self.permissions:
            if permission.conditions is None:
                continue
            if not permission.conditions or not all(permission.conditions.values()):
                raise ValueError(f"{permission}: empty conditions (None is an unconditional grant)")
            arn = resource_arn(
                permission.resource, core, stack, actions=permission.actions, **self.template_values
            )
            check_scope(permission, arn)
            # Canonical JSON (tuples become lists): equal condition blocks share a statement.
            grants[(arn, json.dumps(permission.conditions, sort_keys=True))].update(permission.actions)
        return [
            iam.PolicyStatement(actions=sorted(actions), resources=[arn], conditions=json.loads(conditions))
            for (arn, conditions), actions in grants.items()
        ]

    @staticmethod
    def _environment(
        capability: str, config: SecautoConfig, core: CoreResources, extra: Mapping[str, str]
    ) -> dict[str, str]:
        env = {
            "SECAUTO_CAPABILITY": capability,
            "SECAUTO_TOPIC_ARN": core.topic.topic_arn,
            "SECAUTO_SLACK_SECRET_NAME": core.slack_secret_ref,
            "SECAUTO_IDEMPOTENCY_TABLE": core.idempotency_table.table_name,
            "SECAUTO_STATE_TABLE": core.state_table.table_name,
            "SECAUTO_DLQ_URL": core.dlq.queue_url,
            "SECAUTO_SECURITYHUB_IMPORT": json.dumps(config.security_hub_import),
            "POWERTOOLS_SERVICE_NAME": f"secauto-{capability}",
            "POWERTOOLS_METRICS_NAMESPACE": "secauto",
            "POWERTOOLS_LOG_LEVEL": config.log_level,
            # We use no pydantic plugins; skipping their entry-point scan shortens cold starts.
            "PYDANTIC_DISABLE_PLUGINS": "__all__",
        }
        if config.account_alias:
            env["SECAUTO_ACCOUNT_ALIAS"] = config.account_alias
        return {**env, **extra}


def _policy(
    grants: Mapping[str, set[str]],
    *,
    minus: Mapping[str, set[str]] | None = None,
    conditional: Sequence[iam.PolicyStatement] = (),
) -> iam.PolicyDocument:
    """One statement per resource, with exactly its actions (less those `minus` already grants),
    then the `conditional` statements."""
    minus = minus or {}
    statements = [
        iam.PolicyStatement(actions=sorted(actions - minus.get(resource, set())), resources=[resource])
        for resource, actions in grants.items()
        if actions - minus.get(resource, set())
    ]
    return iam.PolicyDocument(statements=[*statements, *conditional])


def check_scope(permission: Permission, arn: str) -> None:
    """Refuse a wildcard ARN for `EXACT_RESOURCE_ACTIONS`, and for `OWNER_SCOPED_ACTIONS` unless
    the permission's conditions pin the resource's owner (`StringEquals` on `OWNER_CONDITION_KEYS`)."""
    if arn == "*" or not ("*" in arn or "?" in arn):
        return  # "*" itself is resource_arn's to judge (UNSCOPED_ACTIONS)
    actions = set(permission.actions)
    exact = sorted(actions & EXACT_RESOURCE_ACTIONS)
    if exact:
        raise ValueError(f"{exact} must name each resource exactly, not {arn!r}")
    owned = sorted(actions & OWNER_SCOPED_ACTIONS)
    pinned = OWNER_CONDITION_KEYS & set((permission.conditions or {}).get("StringEquals", {}))
    if owned and not pinned:
        raise ValueError(
            f"{owned} on {arn!r} needs a StringEquals condition on one of {sorted(OWNER_CONDITION_KEYS)}"
        )


def resource_arn(
    resource: CoreResource | str,
    core: CoreResources,
    stack: Stack,
    *,
    actions: Collection[str] = (),
    **values: str,
) -> str:
    """Resolve a declared resource: a core resource, an ARN of this app (a CDK token, as it is), an
    ARN template for this stack's account, or a literal `"*"` for `actions` that are all in
    `UNSCOPED_ACTIONS`.

    `{partition}`, `{region}` and `{account}` are the stack's; any other placeholder (such as
    `{role_name}`) must be given in `values`, and must not be a wildcard or empty.
    """
    if isinstance(resource, CoreResource):
        return core.arn_of(resource)
    if Token.is_unresolved(resource):
        return resource
    if resource == "*":
        scoped = sorted(set(actions) - UNSCOPED_ACTIONS)
        if not actions or scoped:
            raise ValueError(
                f"'*' is a permission resource only for actions without resource-level permissions "
                f"(UNSCOPED_ACTIONS); name the resource of {scoped or 'these actions'}"
            )
        return resource
    if not resource.startswith("arn:"):
        raise ValueError(f"a permission resource must be a CoreResource or an ARN template: {resource!r}")
    fields = {name for _, name, _, _ in string.Formatter().parse(resource) if name is not None}
    if not all(name.isidentifier() for name in fields):
        raise ValueError(f"{resource!r}: placeholders must be plain names")
    if STACK_PLACEHOLDERS & set(values):
        raise ValueError(f"{sorted(STACK_PLACEHOLDERS & set(values))} come from the stack, not from values")
    missing = fields - STACK_PLACEHOLDERS - set(values)
    if missing:
        raise ValueError(f"{resource!r}: no value for {sorted(missing)}")
    for name in fields - STACK_PLACEHOLDERS:
        if not values[name] or "*" in values[name] or "?" in values[name]:
            raise ValueError(f"{resource!r}: {name} must be a concrete name, not {values[name]!r}")
    return resource.format(partition=stack.partition, region=stack.region, account=stack.account, **values)
