"""Lambda entry point of scheduled backups: one schedule rule per plan, `secauto-backups-<plan>`.

The plan comes from the rule's name (the event's one resource, the rule's ARN). An event that
is not such a tick, or names a plan that is not configured, is rejected and parked in the DLQ
(parse or reject, see `secauto_core.intake`: all of it is checked before anything is created).
A re-delivered tick (same event id) runs once; a second tick for the same slot creates nothing
new either (see `backups.slots`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backups.deadline import Deadline
from backups.service import BackupService
from backups.settings import BackupSettings
from secauto_core.eventbridge import EventBridgeEvent
from secauto_core.idempotency import run_once
from secauto_core.intake import MalformedEvent, Rejection, parse_or_reject
from secauto_core.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from backups.settings import BackupPlan

__all__ = ["RULE_PREFIX", "lambda_handler", "plan_name"]

#: Every plan's schedule rule is named this plus the plan's name.
RULE_PREFIX = "secauto-backups-"

ScheduledEvent = EventBridgeEvent[dict[str, Any]]


def plan_name(event: ScheduledEvent) -> str | None:
    """The plan a schedule tick is for, from its rule's ARN; None if it is not one of ours."""
    if event.source != "aws.events" or event.detail_type != "Scheduled Event" or len(event.resources) != 1:
        return None
    arn = event.resources[0]
    if ":rule/" not in arn:
        return None
    rule = arn.rsplit("/", 1)[-1]
    name = rule.removeprefix(RULE_PREFIX)
    return name if rule.startswith(RULE_PREFIX) and name else None


def _tick_of_a_plan(event: Any, settings: BackupSettings) -> tuple[ScheduledEvent, BackupPlan]:
    """The tick and the configured plan it is for; `MalformedEvent` if it is no such tick."""
    parsed = ScheduledEvent.model_validate(event)
    name = plan_name(parsed)
    if name is None:
        raise MalformedEvent(f"not a tick of a {RULE_PREFIX}<plan> schedule rule: {parsed.resources}")
    plan = settings.plan(name)
    if plan is None:
        configured = ", ".join(p.name for p in settings.plans) or "none"
        raise MalformedEvent(f"unknown backup plan {name!r} (configured: {configured})")
    return parsed, plan


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = BackupSettings.current()
    deadline = Deadline.start(context, settings.max_runtime_seconds)
    parsed = parse_or_reject(lambda e: _tick_of_a_plan(e, settings), event, expected="a scheduled event")
    if isinstance(parsed, Rejection):
        return parsed.as_dict()
    tick, plan = parsed
    logger.append_keys(plan=plan.name)
    service = BackupService.from_environment(account=tick.account, deadline=deadline)
    # A re-delivered tick (same event id) returns the stored result and backs up nothing again.
    return run_once(lambda _: service.run(plan, tick.time), event, name="backups.run", context=context)
