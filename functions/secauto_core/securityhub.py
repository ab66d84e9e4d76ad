"""Importing ASFF findings into Security Hub without losing any.

BatchImportFindings takes at most 100 findings and 6 MB per call, is rate limited (about 10
calls/s per account and Region) and answers HTTP 200 with a `FailedFindings` list for rejects.
`FindingsImporter` batches within both limits, paces its calls, lets botocore's adaptive retry
mode back off on throttling, retries the rejected findings with jittered backoff, and returns an
`ImportReport` that names every finding that still failed: nothing is dropped silently.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from secauto_core import clients
from secauto_core.asff_validator import MAX_FINDING_BYTES
from secauto_core.observability import MetricUnit, logger, metrics

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from mypy_boto3_securityhub import SecurityHubClient

    from secauto_core.settings import RuntimeSettings

__all__ = ["FailedFinding", "FindingsImporter", "ImportReport", "batches", "default_importer"]

MAX_BATCH_FINDINGS = 100
MAX_BATCH_BYTES = 6 * 1024 * 1024
# Room for the request envelope around the findings list.
_ENVELOPE_BYTES = 1024
# Rejections that another attempt cannot fix; everything else (throttling, internal errors,
# unknown codes) is retried with backoff.
_PERMANENT_ERROR_CODES = frozenset(
    {
        "InvalidInput",
        "InvalidInputException",
        "InvalidAccessException",
        "AccessDeniedException",
        "ValidationException",
    }
)


@dataclass(frozen=True)
class FailedFinding:
    id: str
    error_code: str
    error_message: str


@dataclass
class ImportReport:
    imported: int = 0
    calls: int = 0
    failed: list[FailedFinding] = field(default_factory=list)
    retried: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "calls": self.calls,
            "retried": self.retried,
            "failed": [f.__dict__ for f in self.failed],
        }


def _size(finding: dict[str, Any]) -> int:
    """Bytes `finding` takes in the request body: botocore's REST-JSON serializer uses
    `json.dumps` defaults (spaces after separators, non-ASCII escaped as \\uXXXX)."""
    return len(json.dumps(finding, default=str))


def batches(findings: Sequence[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Consecutive batches of at most 100 findings and 6 MB each (findings must fit alone)."""
    batch: list[dict[str, Any]] = []
    batch_bytes = _ENVELOPE_BYTES
    for finding in findings:
        size = _size(finding) + 2  # ", " between findings
        if batch and (len(batch) == MAX_BATCH_FINDINGS or batch_bytes + size > MAX_BATCH_BYTES):
            yield batch
            batch, batch_bytes = [], _ENVELOPE_BYTES
        batch.append(finding)
        batch_bytes += size
    if batch:
        yield batch


class FindingsImporter:
    """Imports findings; see the module docstring for the guarantees."""

    def __init__(
        self,
        client: Callable[[], SecurityHubClient] = clients.securityhub,
        *,
        max_attempts: int = 4,
        base_delay_seconds: float = 0.5,
        min_call_interval_seconds: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._max_attempts = max_attempts
        self._base_delay = base_delay_seconds
        self._min_interval = min_call_interval_seconds
        self._sleep = sleep
        self._last_call = 0.0

    def import_findings(self, findings: Sequence[dict[str, Any]]) -> ImportReport:
        report = ImportReport()
        sendable = []
        for finding in findings:
            problem = self._unsendable(finding)
            if problem is None:
                sendable.append(finding)
            else:
                report.failed.append(FailedFinding(str(finding.get("Id")), *problem))
        for batch in batches(sendable):
            self._import_batch(batch, report)
        self._report(report)
        return report

    def _unsendable(self, finding: dict[str, Any]) -> tuple[str, str] | None:
        """Why `finding` cannot be sent at all, checked alone so it cannot sink its batch."""
        size = _size(finding)
        if size > MAX_FINDING_BYTES:
            return "FindingTooLarge", f"{size} bytes > {MAX_FINDING_BYTES}"
        from botocore.validate import ParamValidator

        shape = self._client().meta.service_model.operation_model("BatchImportFindings").input_shape
        if shape is None:
            return None
        report = ParamValidator().validate({"Findings": [finding]}, shape)
        if report.has_errors():
            return "InvalidInput", report.generate_report()[:1000]
        return None

    def _import_batch(self, batch: list[dict[str, Any]], report: ImportReport) -> None:
        pending = batch
        for attempt in range(1, self._max_attempts + 1):
            if attempt > 1:
                report.retried += len(pending)
                self._sleep(self._base_delay * 2 ** (attempt - 2) * (0.5 + random.random()))
            failed = self._call(pending, report)
            report.imported += len(pending) - len(failed)
            final = attempt == self._max_attempts
            retry_ids = set()
            for failure in failed:
                if final or failure.error_code in _PERMANENT_ERROR_CODES:
                    report.failed.append(failure)
                else:
                    retry_ids.add(failure.id)
            pending = [f for f in pending if f["Id"] in retry_ids]
            if not pending:
                return

    def _call(self, batch: list[dict[str, Any]], report: ImportReport) -> list[FailedFinding]:
        """The findings of `batch` Security Hub did not take (all of them if the call failed)."""
        wait = self._min_interval - (time.monotonic() - self._last_call)
        if wait > 0:
            self._sleep(wait)
        self._last_call = time.monotonic()
        report.calls += 1
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client().batch_import_findings(Findings=batch)  # type: ignore[arg-type]
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = error.get("Code", "ClientError"), error.get("Message", str(exc))
            return [FailedFinding(str(f["Id"]), code, message) for f in batch]
        except BotoCoreError as exc:
            return [FailedFinding(str(f["Id"]), "InternalException", type(exc).__name__) for f in batch]
        return [
            FailedFinding(item.get("Id", "?"), item.get("ErrorCode", "?"), item.get("ErrorMessage", ""))
            for item in response.get("FailedFindings", [])
        ]

    @staticmethod
    def _report(report: ImportReport) -> None:
        if report.imported:
            metrics.add_metric(name="FindingsImported", unit=MetricUnit.Count, value=report.imported)
        if report.failed:
            metrics.add_metric(name="FindingsImportFailed", unit=MetricUnit.Count, value=len(report.failed))
            logger.error(
                "Security Hub did not accept some findings",
                extra={"failed_findings": [f.__dict__ for f in report.failed]},
            )


def default_importer(settings: RuntimeSettings) -> FindingsImporter | None:
    """The importer the deployed functions use, or None when Security Hub import is off."""
    if not settings.securityhub_import:
        return None
    return FindingsImporter(base_delay_seconds=settings.securityhub_retry_base_seconds)
