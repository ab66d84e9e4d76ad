"""Whether a finding is notified: the notification policy, pure and applied alike to Slack and SNS.

In order: a finding older than the version already seen is stale (neither notified nor
imported); a suppressed, sample or archived finding, or one below its source's minimum
severity, is not notified; otherwise it is notified on first sight, when its severity rises
above what was last notified, or when its occurrence count reaches `count_jump_factor` times the
count last notified. GuardDuty re-sends a finding with a growing count; without the factor
every re-send would page the team.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from findings.suppressions import SuppressionRule, matching_rule
from secauto_core.severity import Severity

if TYPE_CHECKING:
    from datetime import datetime

    from findings.model import NormalizedFinding
    from findings.settings import FindingsSettings

__all__ = ["Decision", "NotificationState", "decide"]


@dataclass(frozen=True)
class NotificationState:
    """What we remember of a finding between deliveries (the dedupe state)."""

    updated_at: datetime
    notified_severity: Severity | None = None
    notified_count: int = 0
    version: int = 0


@dataclass(frozen=True)
class Decision:
    notify: bool
    import_finding: bool
    reason: str
    state: NotificationState
    suppressed_by: SuppressionRule | None = None
    expired_rules: tuple[SuppressionRule, ...] = ()


def decide(
    finding: NormalizedFinding,
    previous: NotificationState | None,
    settings: FindingsSettings,
    suppressions: list[SuppressionRule],
    now: datetime,
) -> Decision:
    if previous is not None and finding.updated_at < previous.updated_at:
        return Decision(False, False, "stale: an update newer than this one was already processed", previous)
    base = previous or NotificationState(updated_at=finding.updated_at)
    state = replace(base, updated_at=max(base.updated_at, finding.updated_at), version=base.version + 1)
    rule, expired = matching_rule(finding, suppressions, now)
    if rule is not None:
        return Decision(
            False, True, f"suppressed by rule {rule.id}: {rule.reason}", state, rule, tuple(expired)
        )
    quiet = _quiet_reason(finding, settings)
    if quiet:
        return Decision(False, True, quiet, state, expired_rules=tuple(expired))
    reason = _notify_reason(finding, base if previous else None, settings.count_jump_factor)
    if reason is None:
        count = f"count {base.notified_count} -> {finding.count}"
        return Decision(False, True, f"already notified ({count})", state, expired_rules=tuple(expired))
    notified = replace(state, notified_severity=finding.severity, notified_count=max(finding.count, 1))
    return Decision(True, True, reason, notified, expired_rules=tuple(expired))


def _quiet_reason(finding: NormalizedFinding, settings: FindingsSettings) -> str | None:
    if finding.sample and not settings.notify_samples:
        return "sample finding"
    if finding.archived and not settings.notify_archived:
        return "archived finding"
    minimum = settings.min_severity.get(finding.source, Severity.INFORMATIONAL)
    if finding.severity < minimum:
        return f"below the minimum severity {minimum.value} for {finding.source.value}"
    return None


def _notify_reason(
    finding: NormalizedFinding, previous: NotificationState | None, factor: float
) -> str | None:
    if previous is None or previous.notified_severity is None:
        return "first sight"
    if finding.severity > previous.notified_severity:
        return f"severity rose from {previous.notified_severity.value} to {finding.severity.value}"
    if finding.count >= previous.notified_count * factor:
        return f"count grew from {previous.notified_count} to {finding.count}"
    return None
