"""Handling one root event end to end: classify, build the alert and its finding, then send.

The ASFF finding is built (and validated) before anything is sent: an event that cannot make a
valid finding fails before a notification, never after one, so Lambda's retry of a failed
event can neither page twice nor page without the finding. The handler's parsing already
guarantees what `build_finding` checks; building first is what keeps it so if either changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from root_activity.alerts import build_alert, build_finding_spec
from root_activity.classify import classify, is_console_signin, signin_failed
from root_activity.settings import RootActivitySettings
from root_activity.signin_failures import SigninFailureCounter
from secauto_core import clients
from secauto_core.asff import build_finding
from secauto_core.notifier import Notifier, default_notifier
from secauto_core.observability import MetricUnit, logger, metrics
from secauto_core.securityhub import FindingsImporter, default_importer
from secauto_core.settings import RuntimeSettings, get_settings

if TYPE_CHECKING:
    from root_activity.models import RootActivityEvent

__all__ = ["RootActivityService"]


@dataclass
class RootActivityService:
    settings: RuntimeSettings
    root_settings: RootActivitySettings
    notifier: Notifier
    importer: FindingsImporter | None
    failures: SigninFailureCounter
    home_region: str

    @classmethod
    def from_environment(cls) -> RootActivityService:
        settings = get_settings()
        root_settings = RootActivitySettings.current()
        return cls(
            settings=settings,
            root_settings=root_settings,
            notifier=default_notifier(settings),
            importer=default_importer(settings),
            failures=SigninFailureCounter(
                settings.state_table, timedelta(minutes=root_settings.failure_burst_window_minutes)
            ),
            home_region=clients.current_region(),
        )

    def handle(self, event: RootActivityEvent) -> dict[str, Any]:
        detail = event.detail
        recent_failures = 0
        if is_console_signin(detail) and signin_failed(detail):
            recent_failures = self.failures.record_and_count(
                event.account, detail.event_id, detail.event_time
            )
        classification = classify(detail, self.root_settings, recent_failures)
        alert = build_alert(event, classification, self.settings.account_alias)
        finding = build_finding(build_finding_spec(event, classification, alert, self.home_region))
        logger.info(
            "Root activity",
            extra={
                "kind": classification.kind.value,
                "severity": classification.severity.value,
                "event_id": detail.event_id,
                "labels": list(classification.labels),
            },
        )
        metrics.add_metric(name=f"RootActivity.{classification.kind.value}", unit=MetricUnit.Count, value=1)
        delivery = self.notifier.notify(alert)
        result: dict[str, Any] = {
            "status": "alerted",
            "event_id": detail.event_id,
            "kind": classification.kind.value,
            "severity": classification.severity.value,
            "labels": list(classification.labels),
            "delivery": delivery.as_dict(),
        }
        if self.importer is not None:
            report = self.importer.import_findings([finding])
            result["securityhub"] = {"finding_id": finding["Id"], **report.as_dict()}
        return result
