"""ALB access-log parsing: each log file the load balancers deliver is read and summarised.

The flow, in the home Region: Application Load Balancers deliver a gzip file per node every five
minutes to the log bucket, under `<keyPrefix>AWSLogs/<account>/elasticloadbalancing/...`. The
bucket sends its "Object Created" events to EventBridge (S3's EventBridge notifications, not a
bucket notification configuration), and the rule of `rules/alb_logs.object_created.json` invokes
the `alb_logs` function with each one; it streams the file (`s3:GetObject` on the log keys of
this account, nothing else) and reports. Events EventBridge cannot deliver go to the core
dead-letter queue, like every other capability's.

Why EventBridge rather than an S3 bucket notification: the pattern then lives in `rules/` like
every other trigger (the tests and the local replay match sample events against the same file),
and attaching to an existing bucket needs no custom resource rewriting its notification
configuration. The rule file is generic (any bucket, any prefix, any account: ELB's key layout);
the one deployment-specific addition is `detail.bucket.name`, set here to the log bucket
(`deployed_pattern`).

The log bucket is either created here (`bucketName` unset) or an existing one. A created bucket:
SSE-S3 (ALB access logs support only S3-managed keys, not KMS), TLS only, every public access
blocked, ACLs disabled (bucket owner enforced), logs expiring after `logExpirationDays`,
EventBridge notifications on (the CloudFormation property itself, no custom resource), retained
when the stack is deleted, and a bucket policy letting Elastic Load Balancing deliver under
`<keyPrefix>AWSLogs/<account>/` only. An existing bucket is left as it is: its prerequisites
(EventBridge notifications on, same Region and account, ELB allowed to write) are listed on
`config.AlbLogsConfig`.

ALBs write only to a bucket in their own Region, so this covers the home Region's load balancers.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import TYPE_CHECKING, Any, cast

from aws_cdk import CfnOutput, Duration, Environment, RemovalPolicy, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from alb_logs.permissions import PERMISSIONS
from secauto_infra.event_rules import (
    allow_rule_to_invoke,
    check_object_created_rule,
    lambda_target,
    rule_from_spec,
)
from secauto_infra.function import SecautoFunction
from secauto_infra.nag import acknowledge
from secauto_infra.rule_catalog import RuleCatalogError, rules_for

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aws_cdk import App

    from constructs import Construct
    from secauto_infra.config import AlbLogsConfig, SecautoConfig
    from secauto_infra.core_stack import CoreResources
    from secauto_infra.rule_catalog import RuleSpec

__all__ = [
    "CAPABILITY",
    "ELB_LOG_DELIVERY_PRINCIPAL",
    "RULE_SPEC",
    "AlbLogsStack",
    "add_alb_logs",
    "check_alb_logs_rules",
    "deployed_pattern",
    "log_delivery_prefix",
    "log_object_prefix",
]

CAPABILITY = "alb_logs"
#: The rule file: S3 "Object Created" events of ELB access-log keys.
RULE_SPEC = f"{CAPABILITY}.object_created"
#: Who writes the logs. AWS now documents this service principal for every Region; the older
#: per-Region ELB account ids (RegionInfo's ELBV2_ACCOUNT fact) are a "legacy policy, still
#: supported", which AWS recommends replacing, and Regions opened since August 2022 never had one.
ELB_LOG_DELIVERY_PRINCIPAL = "logdelivery.elasticloadbalancing.amazonaws.com"


def log_delivery_prefix(key_prefix: str, account: str) -> str:
    """Where ELB writes for this account: `<keyPrefix>AWSLogs/<account>/` (its test file included)."""
    return f"{key_prefix}AWSLogs/{account}/"


def log_object_prefix(key_prefix: str, account: str) -> str:
    """Where the access-log files are: the function may read these keys and no others."""
    return f"{log_delivery_prefix(key_prefix, account)}elasticloadbalancing/"


def check_alb_logs_rules(specs: Sequence[RuleSpec]) -> RuleSpec:
    """The capability's one rule file, which must be a generic S3 "Object Created" pattern.

    Generic: it names the event source and type and filters on the object key, but no bucket;
    `deployed_pattern` adds the configured bucket. A file naming a bucket would be a deployment's
    setting written into the shared pattern (and the stack would silently override it).
    """
    names = sorted(spec.name for spec in specs)
    if names != [RULE_SPEC]:
        raise RuleCatalogError(
            f"{CAPABILITY} is fed by S3 'Object Created' events only: expected rules/{RULE_SPEC}.json "
            f"alone, found {names}"
        )
    (spec,) = specs
    where = spec.path.name
    if spec.handler != f"{CAPABILITY}.handler.lambda_handler":
        raise RuleCatalogError(f"{where}: feeds {spec.handler}")
    check_object_created_rule(spec, keys="ELB's log keys", bucket="configured log bucket")
    return spec


def deployed_pattern(pattern: dict[str, Any], bucket_name: str) -> dict[str, Any]:
    """The rule file's pattern narrowed to one bucket: `detail.bucket.name` is its only addition."""
    deployed = copy.deepcopy(pattern)
    detail = deployed.setdefault("detail", {})
    if "bucket" in detail:
        raise RuleCatalogError("the rule file must not name a bucket: the stack adds it")
    detail["bucket"] = {"name": [bucket_name]}
    return deployed


class AlbLogsStack(Stack):
    """The log bucket (unless an existing one is configured), the function, and the rule."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: SecautoConfig,
        core: CoreResources,
        spec: RuleSpec,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        settings = config.capabilities.alb_logs
        self.bucket: s3.Bucket | None = None
        if settings.bucket_name is None:
            self.bucket = self._build_bucket(settings)
            bucket_name = self.bucket.bucket_name
        else:
            bucket_name = settings.bucket_name
        self.bucket_name = bucket_name
        self.function = SecautoFunction(
            self,
            "Function",
            capability=CAPABILITY,
            config=config,
            core=core,
            permissions=PERMISSIONS,
            template_values={
                "log_bucket": bucket_name,
                "log_key_prefix": log_object_prefix(settings.key_prefix, self.account),
            },
            environment=settings.environment(),
            timeout=Duration.seconds(settings.timeout_seconds),
            memory_size=settings.memory_size,
        )
        self._acknowledge_log_objects(settings.key_prefix)
        # As for every capability, the core DLQ's policy admits our rules by their `Secauto*` name.
        target = lambda_target(
            self.function.function,
            dead_letter_queue_arn=core.dlq.queue_arn,
            max_event_age=Duration.hours(6),
            retry_attempts=10,
        )
        self.rule = rule_from_spec(
            self,
            dataclasses.replace(spec, pattern=deployed_pattern(spec.pattern, bucket_name)),
            targets=[target],
            description="secauto: new ALB access-log files",
        )
        allow_rule_to_invoke(self.function.function, self.rule)
        elb_prefix = settings.key_prefix.removesuffix("/")
        CfnOutput(
            self,
            "LogBucketName",
            value=bucket_name,
            description=(
                "point the load balancers' access logs here (access_logs.s3.bucket), "
                + (f"with access_logs.s3.prefix {elb_prefix!r}" if elb_prefix else "with no prefix")
            ),
        )

    def _build_bucket(self, settings: AlbLogsConfig) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "LogBucket",
            # ALB access logs support only SSE-S3 (S3-managed keys): ELB cannot deliver to a bucket
            # whose default encryption is SSE-KMS, so the core KMS key is not an option here.
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireAccessLogs",
                    expiration=Duration.days(settings.log_expiration_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            # The logs are evidence: deleting the stack must not delete them (they still expire).
            removal_policy=RemovalPolicy.RETAIN,
        )
        # S3 -> EventBridge is a plain property of AWS::S3::Bucket. The L2's `event_bridge_enabled`
        # would instead deploy CDK's bucket-notifications custom resource (a Lambda function with a
        # managed policy and `s3:PutBucketNotification` on "*"), which we do not want.
        cfn_bucket = cast("s3.CfnBucket", bucket.node.default_child)
        cfn_bucket.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(
                event_bridge_enabled=True
            )
        )
        # Elastic Load Balancing delivers with its log-delivery service principal (see
        # ELB_LOG_DELIVERY_PRINCIPAL), only under this account's `AWSLogs/<account>/` of the
        # configured prefix: AWS's own advice, so only load balancers of this account write here.
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowElbAccessLogDelivery",
                principals=[iam.ServicePrincipal(ELB_LOG_DELIVERY_PRINCIPAL)],
                actions=["s3:PutObject"],
                resources=[
                    bucket.arn_for_objects(f"{log_delivery_prefix(settings.key_prefix, self.account)}*")
                ],
            )
        )
        acknowledge(
            bucket,
            "AwsSolutions-S1",
            "This bucket holds the load balancers' access logs themselves, written only by Elastic Load "
            "Balancing and read only by the alb_logs function; server access logs of it would need one "
            "more bucket (and that one its own). Object-level auditing belongs to CloudTrail data events.",
        )
        return bucket

    def _acknowledge_log_objects(self, key_prefix: str) -> None:
        """`s3:GetObject` on the log files of this account: new files arrive under new names."""
        partition = "<AWS::Partition>" if Token.is_unresolved(self.partition) else self.partition
        account = "<AWS::AccountId>" if Token.is_unresolved(self.account) else self.account
        if self.bucket is not None:
            bucket = f"<{self.get_logical_id(cast('s3.CfnBucket', self.bucket.node.default_child))}>"
        else:
            bucket = self.bucket_name
        objects = f"arn:{partition}:s3:::{bucket}/{log_object_prefix(key_prefix, account)}*"
        acknowledge(
            self.function.role,
            f"AwsSolutions-IAM5[Resource::{objects}]",
            "Elastic Load Balancing writes a new access-log file per node every five minutes under a new "
            "key: the function reads (s3:GetObject only) the keys under this account's "
            "AWSLogs/<account>/elasticloadbalancing/ of the configured prefix in the log bucket, and "
            "nothing else.",
        )


def add_alb_logs(app: App, config: SecautoConfig, core: CoreResources) -> list[Stack]:
    """The home-Region stack (S3 sends a bucket's events to its own Region's default bus)."""
    spec = check_alb_logs_rules(rules_for(CAPABILITY))
    return [
        AlbLogsStack(
            app,
            "SecautoAlbLogs",
            config=config,
            core=core,
            spec=spec,
            env=Environment(account=config.account, region=config.home_region),
            description="secauto: ALB access-log parsing (S3 Object Created events to the alb_logs function)",
        )
    ]
