"""Parking events that cannot be processed, with the reason, in the dead-letter queue.

A malformed event will never parse, so retrying it is pointless; dropping it would lose it.
It goes to the DLQ (whose depth alarm notifies the team) with its reason as message attributes.
Parking logs one error line with the reason and counts `InvalidEvents`; it never raises.
"""

from __future__ import annotations

import json
from typing import Any

from secauto_core import clients
from secauto_core.observability import MetricUnit, logger, metrics
from secauto_core.settings import get_settings

__all__ = ["INVALID_EVENTS_METRIC", "inert_reason", "park_event"]

#: The metric every rejected (parked) event counts in; README documents it.
INVALID_EVENTS_METRIC = "InvalidEvents"
_REASON_MAX = 1024
#: SQS takes 256 KiB per message, attributes included.
_BODY_MAX = 250_000


def inert_reason(reason: str, limit: int = _REASON_MAX) -> str:
    """`reason` cut to `limit` characters, every non-printable character as `?`.

    Reasons quote parts of the event (a field's path, a short excerpt): SQS refuses message
    attributes with control characters, and a log line should not carry them either.
    """
    cut = reason[:limit]
    return cut if cut.isprintable() else "".join(c if c.isprintable() else "?" for c in cut)


def park_event(event: Any, reason: str, *, exc_info: BaseException | None = None) -> bool:
    """Send `event` to the DLQ with `reason`; False when no DLQ is configured or sending failed.

    `exc_info` (an unexpected parsing error) goes into the same log line as the reason.
    """
    settings = get_settings()
    reason = inert_reason(reason)
    metrics.add_metric(name=INVALID_EVENTS_METRIC, unit=MetricUnit.Count, value=1)
    logger.error("Rejected an event that cannot be processed", extra={"reason": reason}, exc_info=exc_info)
    if not settings.dlq_url:
        return False
    try:
        clients.client("sqs").send_message(
            QueueUrl=settings.dlq_url,
            # ASCII JSON (json.dumps' default): any text survives SQS's character rules.
            MessageBody=json.dumps(event, default=str)[:_BODY_MAX],
            MessageAttributes={
                "reason": {"DataType": "String", "StringValue": reason or "unknown"},
                "capability": {"DataType": "String", "StringValue": settings.capability},
            },
        )
    except Exception:
        logger.exception("Could not park the rejected event in the DLQ")
        return False
    return True
