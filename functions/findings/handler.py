"""Lambda entry point for the findings fan-out (rules `findings.*`).

Deployed, the rules feed an SQS queue and the function receives batches of up to 100 events
(`Records`): each record is processed on its own (a bad one never fails its neighbours), then
the batch's findings are imported together, and records whose import failed are reported as
`batchItemFailures` so SQS delivers them again. Invoked with a single EventBridge event (the
local replay, a manual test) it processes that one event.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from findings.model import NormalizationError
from findings.service import FindingsService
from secauto_core.dead_letters import park_event
from secauto_core.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["lambda_handler"]

_SINGLE_EVENT_KEY = "event"


def _account_of(context: LambdaContext) -> str:
    """The function's own account, from its ARN (arn:aws:lambda:region:account:function:name)."""
    return context.invoked_function_arn.split(":")[4]


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    service = FindingsService.from_environment(own_account=_account_of(context))
    if isinstance(event, dict) and isinstance(event.get("Records"), list):
        return _handle_batch(event, context, service)
    return _handle_event(event, service)


def _handle_event(event: Any, service: FindingsService) -> dict[str, Any]:
    try:
        outcome = service.process(event)
    except NormalizationError as exc:
        return {"status": "rejected", "reason": str(exc), "parked": park_event(event, str(exc))}
    result: dict[str, Any] = {"status": "processed", **outcome.as_dict()}
    if outcome.asff is not None:
        imported = service.import_findings([(_SINGLE_EVENT_KEY, outcome.asff)])
        result["securityhub"] = {account: report.as_dict() for account, report in imported.reports.items()}
        result["import_failed"] = bool(imported.failed_keys)
        result["import_skipped_accounts"] = sorted(imported.skipped_accounts)
    return result


def _handle_batch(event: dict[str, Any], context: LambdaContext, service: FindingsService) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    pending: list[tuple[str, dict[str, Any]]] = []

    def record_handler(record: SQSRecord) -> None:
        try:
            body = json.loads(record.body)
            outcome = service.process(body)
        except (json.JSONDecodeError, NormalizationError) as exc:
            # It will never parse: retrying is pointless, dropping it would lose it.
            park_event(record.body, f"{type(exc).__name__}: {exc}")
            return
        if outcome.asff is not None:
            pending.append((record.message_id, outcome.asff))

    partial = process_partial_response(
        event=event,
        record_handler=record_handler,
        processor=BatchProcessor(EventType.SQS),
        context=context,
    )
    imported = service.import_findings(pending)
    failures = [{"itemIdentifier": item["itemIdentifier"]} for item in partial.get("batchItemFailures", [])]
    already = {item["itemIdentifier"] for item in failures}
    failures.extend({"itemIdentifier": key} for key in sorted(imported.failed_keys - already))
    return {"batchItemFailures": failures}
