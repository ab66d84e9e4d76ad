"""Alarms that page the secauto topic whenever a metric is above zero."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions

if TYPE_CHECKING:
    from aws_cdk import aws_sns as sns

    from constructs import Construct

__all__ = ["alarm_to_topic"]


def alarm_to_topic(
    scope: Construct,
    construct_id: str,
    *,
    metric: cloudwatch.IMetric,
    topic: sns.ITopic,
    description: str,
    threshold: float = 0,
    comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
) -> cloudwatch.Alarm:
    """An alarm on one evaluation period of `metric` that notifies `topic`; no data is not an alarm."""
    alarm = cloudwatch.Alarm(
        scope,
        construct_id,
        metric=metric,
        threshold=threshold,
        comparison_operator=comparison,
        evaluation_periods=1,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        alarm_description=description,
    )
    alarm.add_alarm_action(cw_actions.SnsAction(topic))
    return alarm
