"""Lambda entry point for root-activity alerts (rules `root_activity.*`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from root_activity.models import RootActivityEvent
from root_activity.service import RootActivityService
from secauto_core.dead_letters import park_event
from secauto_core.idempotency import run_once
from secauto_core.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["lambda_handler"]


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        parsed = RootActivityEvent.model_validate(event)
    except ValidationError as exc:
        reason = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        parked = park_event(event, f"not a root CloudTrail event: {reason}")
        return {"status": "rejected", "reason": reason, "parked": parked}
    identity = parsed.detail.user_identity.type
    if identity != "Root":
        # The rules only send root events; anything else means a misconfigured rule.
        reason = f"userIdentity.type is {identity!r}, not 'Root'"
        return {"status": "rejected", "reason": reason, "parked": park_event(event, reason)}
    service = RootActivityService.from_environment()
    return run_once(lambda _: service.handle(parsed), event, name="root_activity.handle", context=context)
