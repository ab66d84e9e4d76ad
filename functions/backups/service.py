"""A scheduled run end to end: run the plan, tell people, record findings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backups.ledger import ledger_for
from backups.reporting import protection_finding, summary_alert
from backups.runner import BackupRunner
from backups.settings import BackupSettings
from backups.state import ProtectionStates
from secauto_core import clients
from secauto_core.notifier import Notifier, default_notifier
from secauto_core.securityhub import FindingsImporter, default_importer
from secauto_core.settings import RuntimeSettings, get_settings

if TYPE_CHECKING:
    from datetime import datetime

    from backups.deadline import Deadline
    from backups.runner import RunResult
    from backups.settings import BackupPlan

__all__ = ["BackupService"]


@dataclass
class BackupService:
    settings: RuntimeSettings
    runner: BackupRunner
    states: ProtectionStates
    notifier: Notifier
    importer: FindingsImporter | None
    account: str

    @classmethod
    def from_environment(cls, account: str, deadline: Deadline) -> BackupService:
        settings = get_settings()
        return cls(
            settings=settings,
            runner=BackupRunner(
                BackupSettings.current(),
                clients.current_region(),
                deadline,
                ledger=ledger_for(settings.state_table, account),
            ),
            states=ProtectionStates(settings.state_table, account),
            notifier=default_notifier(settings),
            importer=default_importer(settings),
            account=account,
        )

    def run(self, plan: BackupPlan, event_time: datetime) -> dict[str, Any]:
        result = self.runner.run(plan, event_time)
        notifications = []
        alert = summary_alert(result, self.account, self.settings.account_alias)
        if alert is not None:
            notifications.append(self.notifier.notify(alert).as_dict())
        return {
            **result.as_dict(),
            "notifications": notifications,
            "securityhub": self._record_findings(result),
        }

    def _record_findings(self, result: RunResult) -> dict[str, Any] | None:
        """Open a finding per unprotected source; archive those backed up again or no longer selected.

        Not in a dry run (nothing was backed up, so nothing is known), nor when the selection
        could not be read (a finding is never archived on missing data).
        """
        if self.importer is None or result.dry_run or result.sources is None:
            return None
        plan, now = result.plan, result.run_at
        opened = self.states.load_open(plan.name)
        unprotected = {source.id for source in result.unprotected}
        findings = []
        changes: list[tuple[str, datetime | None]] = []  # None: close
        for source in result.unprotected:
            since = opened.get(source.id, now)
            findings.append(
                protection_finding(
                    plan,
                    source.id,
                    account=self.account,
                    region=result.region,
                    opened_at=since,
                    now=now,
                    last_backup=result.last_backup.get(source.id),
                    active=True,
                    name=source.name,
                )
            )
            if source.id not in opened:
                changes.append((source.id, since))
        for source_id, since in opened.items():
            if source_id in unprotected:
                continue
            findings.append(
                protection_finding(
                    plan,
                    source_id,
                    account=self.account,
                    region=result.region,
                    opened_at=since,
                    now=now,
                    last_backup=result.last_backup.get(source_id),
                    active=False,
                )
            )
            changes.append((source_id, None))
        if not findings:
            return None
        report = self.importer.import_findings(findings)
        for source_id, opened_at in changes:
            if opened_at is None:
                self.states.close(plan.name, source_id)
            else:
                self.states.open(plan.name, source_id, opened_at)
        return report.as_dict()
