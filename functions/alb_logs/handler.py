"""Lambda entry point for new ALB access-log objects (rule `alb_logs.object_created`).

Parse or reject (see `secauto_core.intake`): the whole S3 "Object Created" event is validated
(bucket name, key, account) before the object is read; a malformed one is parked in the DLQ
and answered with a rejection, never raised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alb_logs.model import ObjectCreatedEvent
from alb_logs.service import process_object
from secauto_core.idempotency import run_once
from secauto_core.intake import Rejection, parse_or_reject
from secauto_core.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["lambda_handler"]

#: One object version is reported once, however often its event is delivered (or replayed).
OBJECT_IDENTITY = "[detail.bucket.name, detail.object.key, detail.object.etag]"


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = parse_or_reject(ObjectCreatedEvent.model_validate, event, expected="an S3 Object Created event")
    if isinstance(parsed, Rejection):
        return parsed.as_dict()
    logger.append_keys(bucket=parsed.detail.bucket.name, key=parsed.detail.object.key)
    return run_once(
        lambda _: process_object(parsed.detail, parsed.account),
        event,
        name="alb_logs.object",
        key_jmespath=OBJECT_IDENTITY,
        context=context,
    )
