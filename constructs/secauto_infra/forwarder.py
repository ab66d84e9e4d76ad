"""A stack that forwards matching events from one Region's default bus to the home Region's bus.

Events about one account happen in many Regions, but secauto runs its functions, tables and
topic once, in the home Region. Rather than deploying the whole capability everywhere, each
other Region gets only rules with the same patterns whose target is the home default bus (a
cross-Region event bus target, which needs a role allowed `events:PutEvents` there). The home
rules then match the forwarded events, which keep their original `region` field.

Deliveries that still fail after EventBridge's retries land in this stack's own encrypted queue:
a rule's dead-letter queue must be in the rule's Region.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs

from secauto_infra.event_rules import bus_target, rule_from_spec
from secauto_infra.nag import acknowledge

if TYPE_CHECKING:
    from collections.abc import Sequence

    from constructs import Construct
    from secauto_infra.rule_catalog import RuleSpec

__all__ = ["EventForwarderStack"]


class EventForwarderStack(Stack):
    """Rules in this Region that put their events on the home Region's default event bus."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        specs: Sequence[RuleSpec],
        home_region: str,
        purpose: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        if not specs:
            raise ValueError(f"{construct_id}: nothing to forward")
        self.home_bus_arn = self.format_arn(
            service="events", region=home_region, resource="event-bus", resource_name="default"
        )
        role = iam.Role(
            self,
            "ForwardRole",
            assumed_by=iam.ServicePrincipal(
                "events.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": self.account}}
            ),
            description=f"secauto: forward {purpose} events to {home_region}",
            inline_policies={
                "put-events-home": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(actions=["events:PutEvents"], resources=[self.home_bus_arn])
                    ]
                )
            },
        )
        self.dlq = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            self.dlq,
            "AwsSolutions-SQS3",
            "This queue is the dead-letter queue of the forwarding rules' targets, which cdk-nag only "
            "recognises via SQS redrive policies.",
        )
        target = bus_target(self.home_bus_arn, role=role, dead_letter_queue_arn=self.dlq.queue_arn)
        self.rules = [
            rule_from_spec(
                self,
                spec,
                targets=[target],
                description=f"secauto: forward {purpose} events to {home_region}",
            )
            for spec in specs
        ]
        self.dlq.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowForwardingRulesToDeadLetter",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[self.dlq.queue_arn],
                conditions={"ArnEquals": {"aws:SourceArn": [rule.attr_arn for rule in self.rules]}},
            )
        )
