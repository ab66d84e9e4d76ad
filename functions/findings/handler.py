"""Lambda entry point for the findings fan-out (rules `findings.*`).

Deployed, the rules feed an SQS queue and the function receives batches of up to 100 events
(`Records`): each record is processed on its own (a bad one never fails its neighbours), then
the batch's findings are imported together, and records whose import failed are reported as
`batchItemFailures` so SQS delivers them again. Invoked with a single EventBridge event (the
local replay, a manual test) it processes that one event.

Parse or reject (see `secauto_core.intake`), per record: the finding is normalized and its ASFF
form built and validated before its state is claimed or anything is sent. A malformed record is
parked in the DLQ and counts as processed (retrying cannot fix it); the rest of the batch goes
on. A record that parsed but failed afterwards (an SNS or DynamoDB error) is reported as a batch
item failure, so SQS delivers it again.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from findings.asff_mapping import to_asff
from findings.model import NormalizationError, NormalizedFinding
from findings.normalize import normalize_event
from findings.service import FindingsService
from secauto_core.asff_validator import AsffValidationError
from secauto_core.intake import MalformedEvent, Rejection, parse_or_reject
from secauto_core.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["SqsBatch", "lambda_handler", "parse_finding"]

_SINGLE_EVENT_KEY = "event"
_EXPECTED = "a GuardDuty, Macie or Inspector finding event"


class _SqsRecord(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    message_id: str = Field(alias="messageId", min_length=1)
    body: str


class SqsBatch(BaseModel):
    """The SQS event Lambda hands the function: what the batch processor relies on."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    records: list[_SqsRecord] = Field(alias="Records")


def _account_of(context: LambdaContext) -> str:
    """The function's own account, from its ARN (arn:aws:lambda:region:account:function:name)."""
    return context.invoked_function_arn.split(":")[4]


def parse_finding(event: Any, home_region: str) -> NormalizedFinding:
    """The finding `event` carries, proven importable (its ASFF built and validated)."""
    finding = normalize_event(event)
    try:
        to_asff(finding, home_region)
    except AsffValidationError as exc:
        raise MalformedEvent(f"{finding.source.value} finding cannot be imported: {exc}") from exc
    return finding


def _parse_body(body: str, home_region: str) -> NormalizedFinding:
    try:
        event = json.loads(body)
    except json.JSONDecodeError as exc:
        raise MalformedEvent(f"the SQS message body is not JSON: {exc.msg} (char {exc.pos})") from exc
    return parse_finding(event, home_region)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    service = FindingsService.from_environment(own_account=_account_of(context))
    if isinstance(event, dict) and "Records" in event:
        return _handle_batch(event, context, service)
    return _handle_event(event, service)


def _handle_event(event: Any, service: FindingsService) -> dict[str, Any]:
    parsed = parse_or_reject(
        lambda e: parse_finding(e, service.home_region),
        event,
        expected=_EXPECTED,
        errors=(NormalizationError,),
    )
    if isinstance(parsed, Rejection):
        return parsed.as_dict()
    outcome = service.process(event)
    result: dict[str, Any] = {"status": "processed", **outcome.as_dict()}
    if outcome.asff is not None:
        imported = service.import_findings([(_SINGLE_EVENT_KEY, outcome.asff)])
        result["securityhub"] = {account: report.as_dict() for account, report in imported.reports.items()}
        result["import_failed"] = bool(imported.failed_keys)
        result["import_skipped_accounts"] = sorted(imported.skipped_accounts)
    return result


def _handle_batch(event: dict[str, Any], context: LambdaContext, service: FindingsService) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    batch = parse_or_reject(SqsBatch.model_validate, event, expected="an SQS batch")
    if isinstance(batch, Rejection):
        # No record can be told apart: the whole event is parked, so none is lost.
        return {**batch.as_dict(), "batchItemFailures": []}
    pending: list[tuple[str, dict[str, Any]]] = []

    def record_handler(record: SQSRecord) -> None:
        parsed = parse_or_reject(
            lambda body: _parse_body(body, service.home_region),
            record.body,
            expected=_EXPECTED,
            errors=(NormalizationError,),
        )
        if isinstance(parsed, Rejection):
            return  # parked: retrying cannot fix it, and its neighbours go on
        outcome = service.process(json.loads(record.body))
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
