"""Lambda entry point for the scheduled access-key audit (rule `access_keys.scheduled_audit`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from access_keys.service import AccessKeyService
from secauto_core.dead_letters import park_event
from secauto_core.eventbridge import EventBridgeEvent
from secauto_core.idempotency import run_once
from secauto_core.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["lambda_handler"]

ScheduledEvent = EventBridgeEvent[dict[str, Any]]


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        parsed = ScheduledEvent.model_validate(event)
    except ValidationError as exc:
        reason = f"not a scheduled event: {exc.errors()[0]['msg']}"
        return {"status": "rejected", "reason": reason, "parked": park_event(event, reason)}
    service = AccessKeyService.from_environment(account=parsed.account)
    # A re-delivered schedule tick (same event id) does not audit twice.
    return run_once(lambda _: service.run(), event, name="access_keys.audit", context=context)
