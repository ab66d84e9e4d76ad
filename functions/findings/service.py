"""Handling findings end to end: normalize, decide, notify, import.

Idempotent without an idempotency record: the notification state (claimed with optimistic
locking before a message is sent) makes a re-delivered finding notify nothing new, and
Security Hub treats a re-import with the same Id and `UpdatedAt` as the same finding.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from findings.alerts import build_alert
from findings.asff_mapping import to_asff
from findings.integration import IntegrationResolver
from findings.normalize import normalize_event
from findings.policy import Decision, NotificationState, decide
from findings.settings import FindingsSettings
from findings.state import NotificationStateStore
from findings.suppressions import SuppressionRule, load_suppressions
from secauto_core import clients
from secauto_core.notifier import Notifier, default_notifier
from secauto_core.observability import MetricUnit, logger, metrics
from secauto_core.securityhub import FailedFinding, FindingsImporter, ImportReport
from secauto_core.settings import RuntimeSettings, get_settings

if TYPE_CHECKING:
    from findings.model import NormalizedFinding

__all__ = ["ConcurrentUpdateError", "FailedFinding", "FindingOutcome", "FindingsService", "ImportResult"]

_CLAIM_ATTEMPTS = 3
_suppression_cache: dict[tuple[Path, float], list[SuppressionRule]] = {}


class ConcurrentUpdateError(RuntimeError):
    """Another delivery of the same finding kept winning the state update; retry later."""


@dataclass
class FindingOutcome:
    finding: NormalizedFinding
    decision: Decision
    notified: bool
    asff: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "finding": self.finding.arn,
            "source": self.finding.source.value,
            "severity": self.finding.severity.value,
            "notified": self.notified,
            "reason": self.decision.reason,
            "import": self.asff is not None,
        }


@dataclass
class ImportResult:
    reports: dict[str, ImportReport] = field(default_factory=dict)
    #: Keys (SQS message ids, or "event") whose finding was not imported.
    failed_keys: set[str] = field(default_factory=set)
    skipped_accounts: set[str] = field(default_factory=set)


def _suppressions_path(configured: str) -> Path:
    path = Path(configured)
    if path.is_absolute():
        return path
    root = os.environ.get("LAMBDA_TASK_ROOT")
    return (Path(root) if root else Path(__file__).resolve().parents[2]) / path


def _suppressions(configured: str) -> list[SuppressionRule]:
    path = _suppressions_path(configured)
    stamp = path.stat().st_mtime if path.is_file() else 0.0
    rules = _suppression_cache.get((path, stamp))
    if rules is None:
        rules = _suppression_cache[(path, stamp)] = load_suppressions(path)
    return rules


@dataclass
class FindingsService:
    settings: RuntimeSettings
    findings_settings: FindingsSettings
    notifier: Notifier
    state: NotificationStateStore
    integrations: IntegrationResolver
    suppressions: list[SuppressionRule]
    home_region: str
    own_account: str
    retry_base_seconds: float = 0.5

    @classmethod
    def from_environment(cls, own_account: str) -> FindingsService:
        settings = get_settings()
        findings_settings = FindingsSettings.current()
        return cls(
            settings=settings,
            findings_settings=findings_settings,
            notifier=default_notifier(settings),
            state=NotificationStateStore(
                settings.state_table, timedelta(days=findings_settings.state_ttl_days)
            ),
            integrations=IntegrationResolver(
                findings_settings.integration_mode,
                settings.state_table,
                findings_settings.product_cache_minutes,
            ),
            suppressions=_suppressions(findings_settings.suppressions_file),
            home_region=clients.current_region(),
            own_account=own_account,
            retry_base_seconds=settings.securityhub_retry_base_seconds,
        )

    def process(self, event: Any, now: datetime | None = None) -> FindingOutcome:
        """Normalize, decide and notify one finding event (`NormalizationError` if it has none)."""
        finding = normalize_event(event)
        decision, previous = self._claim(finding, now or datetime.now(UTC))
        for rule in decision.expired_rules:
            logger.warning(
                "Suppression rule expired: not applied", extra={"rule": rule.id, "finding": finding.arn}
            )
        if decision.suppressed_by is not None:
            logger.info(
                "Finding suppressed", extra={"rule": decision.suppressed_by.id, "finding": finding.arn}
            )
            metrics.add_metric(name="FindingsSuppressed", unit=MetricUnit.Count, value=1)
        imported = decision.import_finding and self.integrations.imports(finding.source)
        if decision.notify:
            alias = self.settings.account_alias if finding.account_id == self.own_account else None
            try:
                self.notifier.notify(build_alert(finding, decision.reason, alias, imported))
            except Exception:
                # Give the claim back so the retry of this event notifies.
                self.state.release(finding.dedupe_key, decision.state, previous)
                raise
            metrics.add_metric(name="FindingsNotified", unit=MetricUnit.Count, value=1)
        logger.info(
            "Finding processed",
            extra={
                "finding": finding.arn,
                "severity": finding.severity.value,
                "notified": decision.notify,
                "reason": decision.reason,
                "import": imported,
            },
        )
        asff = to_asff(finding, self.home_region) if imported else None
        return FindingOutcome(finding, decision, decision.notify, asff)

    def _claim(self, finding: NormalizedFinding, now: datetime) -> tuple[Decision, NotificationState | None]:
        """Decide with the stored state and store the new one, retrying if another delivery won."""
        for _ in range(_CLAIM_ATTEMPTS):
            previous = self.state.load(finding.dedupe_key)
            decision = decide(finding, previous, self.findings_settings, self.suppressions, now)
            if decision.state is previous:  # stale: nothing to store
                return decision, previous
            if self.state.save(finding.dedupe_key, decision.state, previous.version if previous else None):
                return decision, previous
        raise ConcurrentUpdateError(f"the state of {finding.arn} kept changing; the event will be retried")

    def import_findings(self, pending: list[tuple[str, dict[str, Any]]]) -> ImportResult:
        """Import findings grouped by account; report the keys whose finding was not imported."""
        result = ImportResult()
        by_account: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for key, finding in pending:
            by_account[finding["AwsAccountId"]].append((key, finding))
        for account, items in by_account.items():
            importer = self._importer_for(account)
            if importer is None:
                result.skipped_accounts.add(account)
                logger.warning(
                    "Findings of another account not imported: " + self._why_not_imported(account),
                    extra={"account": account, "findings": len(items)},
                )
                metrics.add_metric(name="FindingsImportSkipped", unit=MetricUnit.Count, value=len(items))
                continue
            report = importer.import_findings([finding for _, finding in items])
            result.reports[account] = report
            failed_ids = {failure.id for failure in report.failed}
            result.failed_keys |= {key for key, finding in items if finding["Id"] in failed_ids}
        return result

    def _why_not_imported(self, account: str) -> str:
        """Why another account's findings are not imported ("" when they are)."""
        settings = self.findings_settings
        if not settings.cross_account_role_name:
            return "no crossAccountRoleName is configured"
        if settings.member_account_ids and account not in settings.member_account_ids:
            return "the account is not one of memberAccountIds"
        return ""

    def _importer_for(self, account: str) -> FindingsImporter | None:
        if account == self.own_account:
            return FindingsImporter(base_delay_seconds=self.retry_base_seconds)
        role_name = self.findings_settings.cross_account_role_name
        if not role_name or self._why_not_imported(account) != "":
            return None
        partition = "aws-cn" if self.home_region.startswith("cn-") else "aws"
        role_arn = f"arn:{partition}:iam::{account}:role/{role_name}"
        return FindingsImporter(
            client=lambda: clients.client_for_role("securityhub", role_arn),
            base_delay_seconds=self.retry_base_seconds,
        )
