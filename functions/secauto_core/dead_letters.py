"""Parking events that cannot be processed, with the reason, in the dead-letter queue.

A malformed event will never parse, so retrying it is pointless; dropping it would lose it.
It goes to the DLQ (whose depth alarm notifies the team) with its reason as message attributes.
"""

from __future__ import annotations

import json
from typing import Any

from secauto_core import clients
from secauto_core.observability import MetricUnit, logger, metrics
from secauto_core.settings import get_settings

__all__ = ["park_event"]

_REASON_MAX = 1024


def park_event(event: Any, reason: str) -> bool:
    """Send `event` to the DLQ with `reason`; False when no DLQ is configured or sending failed."""
    settings = get_settings()
    metrics.add_metric(name="InvalidEvents", unit=MetricUnit.Count, value=1)
    logger.error("Rejected an event that cannot be processed", extra={"reason": reason[:_REASON_MAX]})
    if not settings.dlq_url:
        return False
    try:
        clients.client("sqs").send_message(
            QueueUrl=settings.dlq_url,
            MessageBody=json.dumps(event, default=str)[:250_000],
            MessageAttributes={
                "reason": {"DataType": "String", "StringValue": reason[:_REASON_MAX] or "unknown"},
                "capability": {"DataType": "String", "StringValue": settings.capability},
            },
        )
    except Exception:
        logger.exception("Could not park the rejected event in the DLQ")
        return False
    return True
