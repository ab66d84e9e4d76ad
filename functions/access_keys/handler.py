"""Lambda entry point for the scheduled access-key audit (rule `access_keys.scheduled_audit`).

Parse or reject (see `secauto_core.intake`): only a schedule tick (with a 12-digit account, the
audit's findings are filed under it) starts an audit; anything else is parked in the DLQ and
answered with a rejection, never raised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from access_keys.service import AccessKeyService
from secauto_core.eventbridge import ScheduledEvent
from secauto_core.idempotency import run_once
from secauto_core.intake import Rejection, parse_or_reject
from secauto_core.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["lambda_handler"]


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = parse_or_reject(ScheduledEvent.model_validate, event, expected="a scheduled event")
    if isinstance(parsed, Rejection):
        return parsed.as_dict()
    service = AccessKeyService.from_environment(account=parsed.account)
    # A re-delivered schedule tick (same event id) does not audit twice.
    return run_once(lambda _: service.run(), event, name="access_keys.audit", context=context)
