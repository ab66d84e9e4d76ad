"""Dispatching an EventBridge finding event to its source's normalizer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from findings.guardduty import normalize_guardduty
from findings.inspector import normalize_inspector
from findings.macie import normalize_macie
from findings.model import NormalizationError, NormalizedFinding
from findings.parsing import first_error
from secauto_core.eventbridge import EventBridgeEvent

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["FINDING_DETAIL_TYPES", "normalize_event"]

#: (source, detail-type) of the events each normalizer takes: the same as rules/findings.*.json.
FINDING_DETAIL_TYPES: dict[tuple[str, str], Callable[[dict[str, Any], str], NormalizedFinding]] = {
    ("aws.guardduty", "GuardDuty Finding"): lambda detail, _region: normalize_guardduty(detail),
    ("aws.macie", "Macie Finding"): lambda detail, _region: normalize_macie(detail),
    ("aws.inspector2", "Inspector2 Finding"): normalize_inspector,
}

FindingEvent = EventBridgeEvent[dict[str, Any]]


def normalize_event(event: Any) -> NormalizedFinding:
    """The finding `event` carries; raise `NormalizationError` with the reason if none."""
    try:
        envelope = FindingEvent.model_validate(event)
    except ValidationError as exc:
        raise NormalizationError(f"not an EventBridge event: {first_error(exc)}") from exc
    normalizer = FINDING_DETAIL_TYPES.get((envelope.source, envelope.detail_type))
    if normalizer is None:
        raise NormalizationError(f"no normalizer for {envelope.source!r} / {envelope.detail_type!r}")
    try:
        return normalizer(envelope.detail, envelope.region)
    except NormalizationError:
        raise
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        # A value of an unexpected shape deep in an optional block: reject the event with the
        # reason rather than fail the batch; the tests fuzz this path.
        raise NormalizationError(f"malformed {envelope.source} finding: {type(exc).__name__}: {exc}") from exc
