"""Lambda entry point of auto-blocking; one function, several event sources.

- CloudWatch Logs subscriptions (`awslogs`): flow-log records, or alb_logs summaries;
- rule `auto_block.flow_log_object`: a flow-log file delivered to S3;
- rule `auto_block.guardduty`: a GuardDuty finding naming a remote attacker;
- rule `auto_block.sweeper`: the schedule that removes expired blocks.

Parse or reject (see `secauto_core.intake`): each input is validated whole, by its source, before
anything is read, blocked or sent; a malformed one is parked in the DLQ and answered with a
rejection, never raised. A GuardDuty finding is checked down to the remote addresses the
detector reads: each must be one IPv4 or IPv6 address (never a range such as `0.0.0.0/0`).
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from auto_block.flowlogs import FlowLogError, LogsSubscription, decode_subscription
from auto_block.service import AutoBlocker
from secauto_core import clients
from secauto_core.eventbridge import (
    ACCOUNT_ID_PATTERN,
    EventBridgeEvent,
    JsonObject,
    ObjectCreatedEvent,
    ScheduledEvent,
)
from secauto_core.idempotency import run_once
from secauto_core.intake import MalformedEvent, Rejection, parse_or_reject
from secauto_core.log_stream import CorruptLogError
from secauto_core.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["GuardDutyFindingEvent", "lambda_handler"]

#: A flow-log object version is processed once, however often its event is delivered.
OBJECT_IDENTITY = "[detail.bucket.name, detail.object.key, detail.object.etag]"
_ACCOUNT = re.compile(ACCOUNT_ID_PATTERN)


class _GuardDutyModel(BaseModel):
    # extra="allow": fields not checked here still reach the detector as they came.
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True, defer_build=True
    )


class _RemoteIpDetails(_GuardDutyModel):
    ip_address_v4: IPv4Address | None = None
    ip_address_v6: IPv6Address | None = None


class _PortProbeDetail(_GuardDutyModel):
    remote_ip_details: _RemoteIpDetails | None = None


class _PortProbeAction(_GuardDutyModel):
    port_probe_details: list[_PortProbeDetail] | None = None


class _NetworkConnectionAction(_GuardDutyModel):
    connection_direction: str | None = None
    remote_ip_details: _RemoteIpDetails | None = None


class _Action(_GuardDutyModel):
    port_probe_action: _PortProbeAction | None = None
    network_connection_action: _NetworkConnectionAction | None = None


class _Service(_GuardDutyModel):
    action: _Action | None = None
    #: An object, or GuardDuty's `{"value": "<json>"}` form, unwrapped (its `sample` flag included).
    additional_info: JsonObject = None


class GuardDutyFinding(_GuardDutyModel):
    """What the GuardDuty detector reads of a finding, typed; the rest passes through."""

    id: str = Field(min_length=1, max_length=512)
    type: str = Field(min_length=1, max_length=256)
    severity: float = Field(ge=0, le=10)
    service: _Service | None = None

    def as_detail(self) -> dict[str, Any]:
        """The finding as the detector takes it: JSON values, GuardDuty's field names."""
        return self.model_dump(mode="json", by_alias=True)


class GuardDutyFindingEvent(EventBridgeEvent[GuardDutyFinding]):
    source: Literal["aws.guardduty"]
    detail_type: Literal["GuardDuty Finding"] = Field(alias="detail-type")


_BY_SOURCE: dict[str, type[ObjectCreatedEvent | GuardDutyFindingEvent | ScheduledEvent]] = {
    "aws.s3": ObjectCreatedEvent,
    "aws.guardduty": GuardDutyFindingEvent,
    "aws.events": ScheduledEvent,
}

AutoBlockInput = LogsSubscription | ObjectCreatedEvent | GuardDutyFindingEvent | ScheduledEvent


def _subscription_payload(event: dict[str, Any]) -> LogsSubscription:
    payload = decode_subscription(event)
    if payload.message_type == "DATA_MESSAGE" and not _ACCOUNT.fullmatch(payload.owner):
        # The owner is the account the blocks and findings are filed under.
        raise MalformedEvent("not a CloudWatch Logs subscription payload: owner is not a 12-digit account id")
    return payload


def parse_input(event: Any) -> AutoBlockInput:
    """The input `event` is, by its shape: a Logs subscription, or an event of a known source."""
    if isinstance(event, dict) and "awslogs" in event:
        return _subscription_payload(event)
    source = event.get("source") if isinstance(event, dict) else None
    model = _BY_SOURCE.get(source) if isinstance(source, str) else None
    if model is None:
        raise MalformedEvent(f"auto-blocking does not handle events from {str(source)[:60]!r}")
    return model.model_validate(event)


def _subscription(payload: LogsSubscription, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if payload.message_type != "DATA_MESSAGE":
        # CloudWatch Logs checks the destination with a CONTROL_MESSAGE: nothing to count.
        return {"status": "skipped", "reason": f"{payload.message_type} from {payload.log_group}"}
    # Lambda retries an asynchronous invocation with the same payload: the data is the identity.
    return run_once(
        lambda _: AutoBlocker.from_environment(payload.owner).subscription(payload).as_dict(),
        event,
        name="auto_block.subscription",
        key_jmespath="awslogs.data",
        context=context,
    )


def _flow_log_object(
    parsed: ObjectCreatedEvent, event: dict[str, Any], context: LambdaContext
) -> dict[str, Any]:
    bucket, key = parsed.detail.bucket.name, parsed.detail.object.key

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
    parsed = parse_or_reject(
        parse_input, event, expected="an event auto-blocking handles", errors=(FlowLogError,)
    )
    if isinstance(parsed, Rejection):
        return parsed.as_dict()
    if isinstance(parsed, LogsSubscription):
        return _subscription(parsed, event, context)
    if isinstance(parsed, ObjectCreatedEvent):
        return _flow_log_object(parsed, event, context)
    if isinstance(parsed, GuardDutyFindingEvent):
        finding = parsed
        return run_once(
            lambda _: (
                AutoBlocker.from_environment(finding.account).guardduty(finding.detail.as_detail()).as_dict()
            ),
            event,
            name="auto_block.guardduty",
            context=context,
        )
    tick = parsed
    return run_once(
        lambda _: AutoBlocker.from_environment(tick.account).sweep().as_dict(),
        event,
        name="auto_block.sweep",
        context=context,
    )
