"""Lambda entry point for root-activity alerts (rules `root_activity.*`).

Parse or reject (see `secauto_core.intake`): the whole event is validated before anything is
sent; a malformed one is parked in the DLQ and answered with a rejection, never raised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from root_activity.models import RootActivityEvent
from root_activity.service import RootActivityService
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
    parsed = parse_or_reject(RootActivityEvent.model_validate, event, expected="a root CloudTrail event")
    if isinstance(parsed, Rejection):
        return parsed.as_dict()
    service = RootActivityService.from_environment()
    return run_once(lambda _: service.handle(parsed), event, name="root_activity.handle", context=context)
