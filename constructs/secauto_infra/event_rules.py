"""EventBridge rules built from `rules/*.json`, with the pattern copied verbatim.

We use the L1 `CfnRule`: the L2 `EventPattern` types `source` and `detail-type` as lists of
strings, so a file using content filters there (`{"anything-but": [...]}`) could only be
rebuilt through `Match` helpers, i.e. restated in Python. With the L1 the template's
`EventPattern` is the file, byte for byte, and targets are wired here explicitly: the Lambda
invoke permission, the queue policy of an SQS target, the forwarding role, and the dead-letter
queue policy.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam

from secauto_infra.config import SIGNIN_REGION
from secauto_infra.rule_catalog import RuleCatalogError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_sqs as sqs

    from constructs import Construct
    from secauto_infra.rule_catalog import RuleSpec

__all__ = [
    "ALL_MANAGEMENT_EVENTS",
    "OBJECT_CREATED",
    "S3_SOURCE",
    "allow_rule_to_invoke",
    "allow_rules_to_send",
    "bus_target",
    "check_object_created_rule",
    "lambda_target",
    "occurs_in",
    "queue_target",
    "reads_cloudtrail_api_calls",
    "rule_from_spec",
    "rule_regions",
    "schedule_rule",
    "scheduled_event_pattern",
]

#: Rule state that also matches read-only (Describe/Get/List) CloudTrail management events.
ALL_MANAGEMENT_EVENTS = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"

#: Event sources AWS records in one Region only (global services).
_SINGLE_REGION_SOURCES = {"aws.signin": SIGNIN_REGION}


def reads_cloudtrail_api_calls(spec: RuleSpec) -> bool:
    """Whether the rule matches CloudTrail API-call events (which include read-only ones)."""
    detail_types = spec.pattern.get("detail-type", [])
    return isinstance(detail_types, list) and "AWS API Call via CloudTrail" in detail_types


def rule_regions(spec: RuleSpec) -> frozenset[str] | None:
    """The only Regions where the rule's events occur, or None for every Region."""
    sources = spec.pattern.get("source")
    if (
        isinstance(sources, list)
        and sources
        and all(isinstance(source, str) and source in _SINGLE_REGION_SOURCES for source in sources)
    ):
        return frozenset(_SINGLE_REGION_SOURCES[source] for source in sources)
    return None


def occurs_in(spec: RuleSpec, region: str) -> bool:
    """Whether the rule's events can be recorded in `region` (so a forwarder there needs it)."""
    regions = rule_regions(spec)
    return regions is None or region in regions


def _construct_id(spec: RuleSpec) -> str:
    rule = spec.name.partition(".")[2]
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", rule) if part) + "Rule"


def rule_from_spec(
    scope: Construct,
    spec: RuleSpec,
    *,
    targets: Sequence[events.CfnRule.TargetProperty],
    description: str,
) -> events.CfnRule:
    """A rule on the default bus for one rule file.

    Rules on CloudTrail API calls get the state that also delivers read-only calls: for the root
    user, a `Describe*` or `Get*` is as alarming as a change.
    """
    return events.CfnRule(
        scope,
        _construct_id(spec),
        description=f"{description} ({spec.path.name})"[:512],
        event_pattern=spec.pattern,
        state=ALL_MANAGEMENT_EVENTS if reads_cloudtrail_api_calls(spec) else "ENABLED",
        targets=list(targets),
    )


def scheduled_event_pattern(rule_name: str) -> dict[str, Any]:
    """The pattern of the events a schedule rule named `rule_name` (default bus) sends.

    A schedule rule has no pattern of its own; this is what its events look like (source
    `aws.events`, detail type `Scheduled Event`, the rule's ARN as the one resource), so that a
    `rules/` file can describe them for the tests and the local replay.
    """
    return {
        "source": ["aws.events"],
        "detail-type": ["Scheduled Event"],
        "resources": [{"suffix": f":rule/{rule_name}"}],
    }


def schedule_rule(
    scope: Construct,
    construct_id: str,
    *,
    rule_name: str,
    schedule_expression: str,
    targets: Sequence[events.CfnRule.TargetProperty],
    description: str,
) -> events.CfnRule:
    """A schedule rule on the default bus with an explicit name.

    The name is fixed because the events the rule sends carry its ARN, which is how
    `scheduled_event_pattern(rule_name)` (and the `rules/` file written from it) recognises them.
    """
    return events.CfnRule(
        scope,
        construct_id,
        name=rule_name,
        description=description[:512],
        schedule_expression=schedule_expression,
        state="ENABLED",
        targets=list(targets),
    )


def lambda_target(
    function: lambda_.IFunction,
    *,
    dead_letter_queue_arn: str,
    max_event_age: Duration,
    retry_attempts: int,
) -> events.CfnRule.TargetProperty:
    """Invoke `function` with the whole event; undeliverable events go to the dead-letter queue."""
    return events.CfnRule.TargetProperty(
        id="Function",
        arn=function.function_arn,
        dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=dead_letter_queue_arn),
        retry_policy=events.CfnRule.RetryPolicyProperty(
            maximum_event_age_in_seconds=int(max_event_age.to_seconds()),
            maximum_retry_attempts=retry_attempts,
        ),
    )


def queue_target(
    queue: sqs.IQueue,
    *,
    dead_letter_queue_arn: str,
    max_event_age: Duration,
    retry_attempts: int,
) -> events.CfnRule.TargetProperty:
    """Send the whole event to `queue`; undeliverable events go to the dead-letter queue."""
    return events.CfnRule.TargetProperty(
        id="Queue",
        arn=queue.queue_arn,
        dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=dead_letter_queue_arn),
        retry_policy=events.CfnRule.RetryPolicyProperty(
            maximum_event_age_in_seconds=int(max_event_age.to_seconds()),
            maximum_retry_attempts=retry_attempts,
        ),
    )


def allow_rules_to_send(queue: sqs.IQueue, rules: Sequence[events.CfnRule]) -> None:
    """The queue policy statement that lets exactly these rules (and no one else) send to it."""
    if not rules:
        raise ValueError("no rules to allow")
    queue.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowSecautoRulesToSend",
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sqs:SendMessage"],
            resources=[queue.queue_arn],
            conditions={"ArnEquals": {"aws:SourceArn": [rule.attr_arn for rule in rules]}},
        )
    )


def allow_rule_to_invoke(function: lambda_.IFunction, rule: events.CfnRule) -> None:
    """The function's resource policy statement that lets this one rule invoke it."""
    function.add_permission(
        f"Invoke{rule.node.id}",
        principal=iam.ServicePrincipal("events.amazonaws.com"),
        source_arn=rule.attr_arn,
    )


def bus_target(bus_arn: str, *, role: iam.IRole, dead_letter_queue_arn: str) -> events.CfnRule.TargetProperty:
    """Put the event on another event bus (cross-Region targets need a role)."""
    return events.CfnRule.TargetProperty(
        id="HomeBus",
        arn=bus_arn,
        role_arn=role.role_arn,
        dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=dead_letter_queue_arn),
    )


#: S3's EventBridge notifications of new objects.
S3_SOURCE = "aws.s3"
OBJECT_CREATED = "Object Created"


def check_object_created_rule(spec: RuleSpec, *, keys: str, bucket: str) -> None:
    """A rule file for new log objects: S3 "Object Created", a key filter, and no bucket.

    The stack adds the configured bucket (`detail.bucket.name`) when it deploys the rule; a
    bucket written into the shared file would be one deployment's setting, silently overridden.
    `keys` and `bucket` name what the key filter selects and which bucket the stack adds.
    """
    where = spec.path.name
    if spec.pattern.get("source") != [S3_SOURCE] or spec.pattern.get("detail-type") != [OBJECT_CREATED]:
        raise RuleCatalogError(
            f"{where}: must match source [{S3_SOURCE!r}] and detail-type [{OBJECT_CREATED!r}] exactly"
        )
    detail = spec.pattern.get("detail")
    if not isinstance(detail, dict):
        raise RuleCatalogError(f"{where}: must filter on detail.object.key ({keys})")
    if "bucket" in detail:
        raise RuleCatalogError(
            f"{where}: must not name a bucket (detail.bucket): the stack adds the {bucket}"
        )
    obj = detail.get("object")
    key_filter = obj.get("key") if isinstance(obj, dict) else None
    if not (isinstance(key_filter, list) and key_filter):
        raise RuleCatalogError(f"{where}: must filter on detail.object.key ({keys})")
