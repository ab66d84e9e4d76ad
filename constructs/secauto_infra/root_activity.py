"""Root activity: alert on every console sign-in and API call made with the root user.

Where the events are:
- Root console sign-ins are recorded in us-east-1 only (`aws.signin`).
- Root API calls are recorded in the Region of the service called, so they can appear in every
  Region the account uses.

The design: one function in the home Region, fed by one rule per `rules/root_activity.*.json`
on the home default bus. Every other configured Region gets an `EventForwarderStack` whose rules
(API calls everywhere, sign-ins only in us-east-1) put the events on the home bus, where the
home rules match them too. The API-call rules use the rule state that includes read-only calls.

EventBridge alone does not satisfy CIS / Security Hub CloudWatch.1, which looks for a metric
filter and alarm on the CloudTrail log group: `cisAlarm` adds them (`RootUsageMetricAlarm`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk import Duration, Environment, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_logs as logs

from constructs import Construct
from root_activity.permissions import PERMISSIONS
from secauto_infra.alarms import alarm_to_topic
from secauto_infra.event_rules import allow_rule_to_invoke, lambda_target, occurs_in, rule_from_spec
from secauto_infra.forwarder import EventForwarderStack
from secauto_infra.function import SecautoFunction
from secauto_infra.rule_catalog import RuleCatalogError, rules_for

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aws_cdk import App
    from aws_cdk import aws_sns as sns

    from secauto_infra.config import SecautoConfig
    from secauto_infra.core_stack import CoreResources
    from secauto_infra.rule_catalog import RuleSpec

__all__ = [
    "CAPABILITY",
    "CIS_ROOT_USAGE_PATTERN",
    "RootActivityStack",
    "RootUsageMetricAlarm",
    "add_root_activity",
]

CAPABILITY = "root_activity"
CIS_ROOT_USAGE_PATTERN = (
    '{$.userIdentity.type="Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType !="AwsServiceEvent"}'
)


class RootUsageMetricAlarm(Construct):
    """CIS 1.7 / Security Hub CloudWatch.1: metric filter and alarm for root usage on the trail's logs."""

    def __init__(
        self, scope: Construct, construct_id: str, *, log_group_name: str, topic: sns.ITopic
    ) -> None:
        super().__init__(scope, construct_id)
        trail_logs = logs.LogGroup.from_log_group_name(self, "TrailLogGroup", log_group_name)
        self.metric_filter = logs.MetricFilter(
            self,
            "MetricFilter",
            log_group=trail_logs,
            filter_pattern=logs.FilterPattern.literal(CIS_ROOT_USAGE_PATTERN),
            metric_namespace="CISBenchmark",
            metric_name="RootAccountUsage",
            metric_value="1",
        )
        self.alarm = alarm_to_topic(
            self,
            "Alarm",
            metric=self.metric_filter.metric(period=Duration.minutes(5), statistic="Sum"),
            topic=topic,
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            description="secauto (CIS CloudWatch.1): the root user was used",
        )


class RootActivityStack(Stack):
    """The home-Region part: the function, its rules, and the optional CIS alarm."""

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
        settings = config.capabilities.root_activity
        self.function = SecautoFunction(
            self,
            "Function",
            capability=CAPABILITY,
            config=config,
            core=core,
            permissions=PERMISSIONS,
            environment=settings.environment(),
        )
        # The core DLQ's policy admits every secauto rule of this account, so nothing here adds
        # to it (a per-rule grant would make the core stack depend on this one: a cycle).
        target = lambda_target(
            self.function.function,
            dead_letter_queue_arn=core.dlq.queue_arn,
            max_event_age=Duration.hours(6),
            retry_attempts=10,
        )
        self.rules = [
            rule_from_spec(self, spec, targets=[target], description="secauto: root user activity")
            for spec in specs
        ]
        for rule in self.rules:
            allow_rule_to_invoke(self.function.function, rule)
        self.cis_alarm: RootUsageMetricAlarm | None = None
        if settings.cis_alarm.enabled and settings.cis_alarm.cloud_trail_log_group_name:
            self.cis_alarm = RootUsageMetricAlarm(
                self,
                "CisRootUsage",
                log_group_name=settings.cis_alarm.cloud_trail_log_group_name,
                topic=core.topic,
            )


def add_root_activity(app: App, config: SecautoConfig, core: CoreResources) -> list[Stack]:
    """The home stack plus one forwarder stack per other configured Region."""
    specs = rules_for(CAPABILITY)
    if not specs:
        raise RuleCatalogError(f"no rules/{CAPABILITY}.*.json: the capability would receive no events")
    handlers = {spec.handler for spec in specs}
    if handlers != {f"{CAPABILITY}.handler.lambda_handler"}:
        raise RuleCatalogError(f"{CAPABILITY} rules name unexpected handlers: {sorted(handlers)}")
    home = RootActivityStack(
        app,
        "SecautoRootActivity",
        config=config,
        core=core,
        specs=specs,
        env=Environment(account=config.account, region=config.home_region),
        description="secauto: alerts on root user activity",
    )
    stacks: list[Stack] = [home]
    for region in config.other_regions:
        regional = [spec for spec in specs if occurs_in(spec, region)]
        if not regional:
            continue
        forwarder = EventForwarderStack(
            app,
            f"SecautoRootActivity-{region}",
            specs=regional,
            home_region=config.home_region,
            purpose="root user activity",
            env=Environment(account=config.account, region=region),
            description=f"secauto: forwards root user activity in {region} to {config.home_region}",
        )
        forwarder.add_stack_dependency(home)
        stacks.append(forwarder)
    return stacks
