"""Lambda entry point of scheduled backups: one schedule rule per plan, `secauto-backups-<plan>`.

The plan comes from the rule's name (the event's one resource, the rule's ARN). An event that
is not such a tick, or names a plan that is not configured, is rejected and parked in the DLQ.
A re-delivered tick (same event id) runs once; a second tick for the same slot creates nothing
new either (see `backups.slots`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from backups.deadline import Deadline
from backups.service import BackupService
from backups.settings import BackupSettings
from secauto_core.dead_letters import park_event
from secauto_core.eventbridge import EventBridgeEvent
from secauto_core.idempotency import run_once
from secauto_core.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

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


def _reject(event: Any, reason: str) -> dict[str, Any]:
    return {"status": "rejected", "reason": reason, "parked": park_event(event, reason)}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = BackupSettings.current()
    deadline = Deadline.start(context, settings.max_runtime_seconds)
    try:
        parsed = ScheduledEvent.model_validate(event)
    except ValidationError as exc:
        return _reject(event, f"not a scheduled event: {exc.errors()[0]['msg']}")
    name = plan_name(parsed)
    if name is None:
        return _reject(event, f"not a tick of a {RULE_PREFIX}<plan> schedule rule: {parsed.resources}")
    plan = settings.plan(name)
    if plan is None:
        configured = ", ".join(p.name for p in settings.plans) or "none"
        return _reject(event, f"unknown backup plan {name!r} (configured: {configured})")
    logger.append_keys(plan=plan.name)
    service = BackupService.from_environment(account=parsed.account, deadline=deadline)
    # A re-delivered tick (same event id) returns the stored result and backs up nothing again.
    return run_once(lambda _: service.run(plan, parsed.time), event, name="backups.run", context=context)
