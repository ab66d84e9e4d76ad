"""The core stack: what every capability shares, in the home Region.

One KMS key encrypts everything (topic, queue, tables, secret, log groups), so its key policy is
the one place that lets AWS services use it. Capabilities receive `CoreResources` and never look
inside this stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from aws_cdk import ArnFormat, CfnOutput, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs

from secauto_core.permissions import CoreResource
from secauto_infra.alarms import alarm_to_topic
from secauto_infra.nag import acknowledge

if TYPE_CHECKING:
    from constructs import Construct
    from secauto_infra.config import SecautoConfig

__all__ = [
    "DEFAULT_SLACK_SECRET_NAME",
    "NAMED_RULE_PREFIX",
    "RULE_NAME_PREFIX",
    "CoreResources",
    "CoreStack",
]

DEFAULT_SLACK_SECRET_NAME = "secauto/slack-webhook"  # noqa: S105 - a name, not a secret
#: Our stack names start with this, and so do the names CloudFormation gives their rules, alarms,
#: queues and log groups (`<stack>-<logical id>-<suffix>`).
RULE_NAME_PREFIX = "Secauto"
#: Rules we name ourselves (schedule rules, whose events carry the rule's name) start with this.
NAMED_RULE_PREFIX = "secauto-"


@dataclass(frozen=True)
class CoreResources:
    """The shared resources, as capability stacks see them."""

    key: kms.IKey
    topic: sns.ITopic
    dlq: sqs.IQueue
    slack_secret: secretsmanager.ISecret
    #: `SECAUTO_SLACK_SECRET_NAME`: the configured name, or the ARN of the created secret.
    slack_secret_ref: str
    #: The ARN to grant on: a configured name has an unknown random suffix (`-??????`).
    slack_secret_policy_arn: str
    idempotency_table: dynamodb.ITable
    state_table: dynamodb.ITable

    def arn_of(self, resource: CoreResource) -> str:
        """The IAM resource ARN of a core resource named in a capability's permissions."""
        arns = {
            CoreResource.TOPIC: self.topic.topic_arn,
            CoreResource.SLACK_SECRET: self.slack_secret_policy_arn,
            CoreResource.IDEMPOTENCY_TABLE: self.idempotency_table.table_arn,
            CoreResource.STATE_TABLE: self.state_table.table_arn,
            CoreResource.KMS_KEY: self.key.key_arn,
            CoreResource.DEAD_LETTER_QUEUE: self.dlq.queue_arn,
        }
        return arns[resource]


class CoreStack(Stack):
    """KMS key, alert topic, Slack secret, dead-letter queue, idempotency and state tables."""

    def __init__(self, scope: Construct, construct_id: str, *, config: SecautoConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.key = self._build_key()
        self.topic = self._build_topic()
        self.dlq = self._build_dlq()
        secret, secret_ref, secret_policy_arn = self._build_slack_secret(config.slack_webhook_secret_name)
        self.resources = CoreResources(
            key=self.key,
            topic=self.topic,
            dlq=self.dlq,
            slack_secret=secret,
            slack_secret_ref=secret_ref,
            slack_secret_policy_arn=secret_policy_arn,
            idempotency_table=self._build_table(
                "IdempotencyTable", partition_key="id", sort_key=None, ttl_attribute="expiration"
            ),
            state_table=self._build_table(
                "StateTable", partition_key="pk", sort_key="sk", ttl_attribute="ttl"
            ),
        )
        alarm_to_topic(
            self,
            "DlqDepthAlarm",
            metric=self.dlq.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            topic=self.topic,
            description="secauto: events or invocations failed and wait in the dead-letter queue",
        )
        # What an operator needs after `cdk deploy`: where to subscribe, what to fill, what to watch.
        CfnOutput(self, "AlertTopicArn", value=self.topic.topic_arn, description="subscribe to alerts here")
        CfnOutput(self, "SlackWebhookSecret", value=secret_ref, description="put the Slack webhook URL here")
        CfnOutput(
            self, "DeadLetterQueueUrl", value=self.dlq.queue_url, description="failed and rejected events"
        )

    def _build_key(self) -> kms.Key:
        key = kms.Key(
            self,
            "Key",
            alias="alias/secauto",
            description="secauto: alerts topic, dead-letter queue, tables, Slack secret, log groups",
            enable_key_rotation=True,
        )
        # Alarms publish to the encrypted topic, and EventBridge rules deliver to the encrypted
        # queues (findings queue, dead-letter queue), as service principals: the key policy itself
        # must let them use the key, and only on behalf of secauto's own alarms and rules of this
        # account (confused deputy). CloudFormation names both after their `Secauto*` stack.
        # No rule targets the topic: AWS documents that EventBridge's deliveries to an encrypted
        # topic carry no aws:SourceArn/aws:SourceAccount for KMS, so this statement would refuse them.
        key.add_to_resource_policy(
            self._service_key_statement(
                "AllowCloudwatchToUseTheKey", "cloudwatch.amazonaws.com", self.secauto_alarm_arns()
            )
        )
        key.add_to_resource_policy(
            self._service_key_statement(
                "AllowEventsToUseTheKey", "events.amazonaws.com", self.secauto_rule_arns()
            )
        )
        # CloudWatch Logs documents the log group in the encryption context as its condition:
        # only secauto's log groups (named after their `Secauto*` stack) of this account and Region.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": self.secauto_log_group_arns()}},
            )
        )
        return key

    def _service_key_statement(self, sid: str, service: str, source_arns: list[str]) -> iam.PolicyStatement:
        """Decrypt and GenerateDataKey for `service`, on behalf of `source_arns` of this account only."""
        return iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal(service)],
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=["*"],  # in a key policy, "*" means this key
            conditions={
                "StringEquals": {"aws:SourceAccount": self.account},
                "ArnLike": {"aws:SourceArn": source_arns},
            },
        )

    def secauto_rule_arns(self) -> list[str]:
        """secauto's rules on this Region's default bus: named by CloudFormation after their stack
        (`Secauto*`) or by us (`secauto-*`; ArnLike is case-sensitive)."""
        return [
            self.format_arn(service="events", resource="rule", resource_name=f"{prefix}*")
            for prefix in (RULE_NAME_PREFIX, NAMED_RULE_PREFIX)
        ]

    def secauto_alarm_arns(self) -> list[str]:
        """secauto's alarms in this Region, named by CloudFormation after their `Secauto*` stack."""
        return [
            self.format_arn(
                service="cloudwatch",
                resource="alarm",
                resource_name=f"{RULE_NAME_PREFIX}*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
        ]

    def secauto_log_group_arns(self) -> str:
        """secauto's log groups in this Region, named by CloudFormation after their `Secauto*` stack."""
        return self.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"{RULE_NAME_PREFIX}*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def _build_topic(self) -> sns.Topic:
        topic = sns.Topic(
            self, "AlertsTopic", display_name="secauto alerts", master_key=self.key, enforce_ssl=True
        )
        # The topic policy replaces SNS's default one, so the services that publish need a statement.
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": self.account},
                    "ArnLike": {"aws:SourceArn": self.secauto_alarm_arns()},
                },
            )
        )
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowEventBridgeToPublish",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        return topic

    def _build_dlq(self) -> sqs.Queue:
        dlq = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        # EventBridge rules of our capability stacks deliver failed events here. Granting per rule
        # (what `targets.LambdaFunction` does) would make this stack reference theirs: a cycle.
        # So the policy admits our rules by name: CloudFormation names them after their stack
        # (`Secauto*`), and the rules we name ourselves start with `secauto-` (ArnLike is
        # case-sensitive).
        dlq.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowSecautoRulesToDeadLetter",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[dlq.queue_arn],
                conditions={
                    "ArnLike": {"aws:SourceArn": self.secauto_rule_arns()},
                    "StringEquals": {"aws:SourceAccount": self.account},
                },
            )
        )
        acknowledge(
            dlq,
            "AwsSolutions-SQS3",
            "This queue is the dead-letter queue itself (of the Lambda functions' async invocations "
            "and of the EventBridge targets), which cdk-nag only recognises via SQS redrive policies.",
        )
        return dlq

    def _build_slack_secret(self, configured_name: str | None) -> tuple[secretsmanager.ISecret, str, str]:
        if configured_name:
            secret = secretsmanager.Secret.from_secret_name_v2(self, "SlackWebhook", configured_name)
            policy_arn = self.format_arn(
                service="secretsmanager",
                resource="secret",
                resource_name=f"{configured_name}-??????",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            return secret, configured_name, policy_arn
        created = secretsmanager.Secret(
            self,
            "SlackWebhook",
            secret_name=DEFAULT_SLACK_SECRET_NAME,
            description="secauto: Slack incoming-webhook URL (put the value after the first deploy)",
            encryption_key=self.key,
        )
        # Created empty: the webhook URL is a credential nobody should write into a template.
        cast("secretsmanager.CfnSecret", created.node.default_child).add_property_deletion_override(
            "GenerateSecretString"
        )
        acknowledge(
            created,
            "AwsSolutions-SMG4",
            "A Slack incoming-webhook URL cannot be rotated by a Lambda: Slack issues it by hand.",
        )
        return created, created.secret_arn, created.secret_arn

    def _build_table(
        self, construct_id: str, *, partition_key: str, sort_key: str | None, ttl_attribute: str
    ) -> dynamodb.Table:
        string = dynamodb.AttributeType.STRING
        return dynamodb.Table(
            self,
            construct_id,
            partition_key=dynamodb.Attribute(name=partition_key, type=string),
            sort_key=dynamodb.Attribute(name=sort_key, type=string) if sort_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=ttl_attribute,
        )
