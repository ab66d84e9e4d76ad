"""Lambda entry point of auto-blocking; one function, several event sources.

- CloudWatch Logs subscriptions (`awslogs`): flow-log records, or alb_logs summaries;
- rule `auto_block.flow_log_object`: a flow-log file delivered to S3;
- rule `auto_block.guardduty`: a GuardDuty finding naming a remote attacker;
- rule `auto_block.sweeper`: the schedule that removes expired blocks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from auto_block.flowlogs import FlowLogError, decode_subscription
from auto_block.service import AutoBlocker
from secauto_core import clients
from secauto_core.dead_letters import park_event
from secauto_core.eventbridge import EventBridgeEvent
from secauto_core.idempotency import run_once
from secauto_core.log_stream import CorruptLogError
from secauto_core.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["lambda_handler"]

AnyEvent = EventBridgeEvent[dict[str, Any]]
#: A flow-log object version is processed once, however often its event is delivered.
OBJECT_IDENTITY = "[detail.bucket.name, detail.object.key, detail.object.etag]"


def _subscription(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        payload = decode_subscription(event)
    except FlowLogError as exc:
        return {"status": "rejected", "reason": str(exc), "parked": park_event(event, str(exc))}
    if payload.message_type != "DATA_MESSAGE":
        # CloudWatch Logs checks the destination with a CONTROL_MESSAGE: nothing to count.
        return {"status": "skipped", "reason": f"{payload.message_type} from {payload.log_group}"}
    account = payload.owner or "unknown"
    # Lambda retries an asynchronous invocation with the same payload: the data is the identity.
    return run_once(
        lambda _: AutoBlocker.from_environment(account).subscription(payload).as_dict(),
        event,
        name="auto_block.subscription",
        key_jmespath="awslogs.data",
        context=context,
    )


def _flow_log_object(parsed: AnyEvent, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail = parsed.detail
    bucket, key = detail["bucket"]["name"], detail["object"]["key"]

    def process(_: dict[str, Any]) -> dict[str, Any]:
        s3 = clients.client("s3")
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        except s3.exceptions.NoSuchKey:
            logger.warning("Flow-log object no longer exists: skipped", extra={"bucket": bucket, "key": key})
            return {"status": "skipped", "reason": "object no longer exists"}
        try:
            return AutoBlocker.from_environment(parsed.account).flow_log_file(body, name=key).as_dict()
        except CorruptLogError as exc:
            logger.error("Flow-log file is damaged", extra={"reason": str(exc), "key": key})
            return {"status": "failed", "reason": str(exc)}
        except FlowLogError as exc:
            logger.error("Flow-log file has no usable header", extra={"reason": str(exc), "key": key})
            return {"status": "failed", "reason": str(exc)}
        finally:
            body.close()

    return run_once(process, event, name="auto_block.object", key_jmespath=OBJECT_IDENTITY, context=context)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if isinstance(event, dict) and "awslogs" in event:
        return _subscription(event, context)
    try:
        parsed = AnyEvent.model_validate(event)
    except ValidationError as exc:
        reason = f"not an event auto-blocking handles: {exc.errors()[0]['msg']}"
        return {"status": "rejected", "reason": reason, "parked": park_event(event, reason)}
    if parsed.source == "aws.s3":
        return _flow_log_object(parsed, event, context)
    if parsed.source == "aws.guardduty":
        return run_once(
            lambda _: AutoBlocker.from_environment(parsed.account).guardduty(parsed.detail).as_dict(),
            event,
            name="auto_block.guardduty",
            context=context,
        )
    if parsed.source == "aws.events":
        return run_once(
            lambda _: AutoBlocker.from_environment(parsed.account).sweep().as_dict(),
            event,
            name="auto_block.sweep",
            context=context,
        )
    reason = f"auto-blocking does not handle events from {parsed.source}"
    return {"status": "rejected", "reason": reason, "parked": park_event(event, reason)}
