"""An audit run end to end: audit, notify, record findings, remember."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from access_keys.audit import AccessKeyAudit, AuditResult, summary_counts
from access_keys.last_key import DESTRUCTIVE, working
from access_keys.model import Action, KeyPlan
from access_keys.reporting import archived_finding, key_finding, owner_alerts, summary_alert
from access_keys.settings import AccessKeySettings
from access_keys.state import KeyState, KeyStateStore
from secauto_core import clients
from secauto_core.notifier import Notifier, default_notifier
from secauto_core.securityhub import FindingsImporter, default_importer
from secauto_core.settings import RuntimeSettings, get_settings

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["AccessKeyService"]


@dataclass
class AccessKeyService:
    settings: RuntimeSettings
    audit: AccessKeyAudit
    states: KeyStateStore
    notifier: Notifier
    importer: FindingsImporter | None
    account: str
    region: str

    @classmethod
    def from_environment(cls, account: str) -> AccessKeyService:
        settings = get_settings()
        states = KeyStateStore(settings.state_table, account)
        return cls(
            settings=settings,
            audit=AccessKeyAudit(AccessKeySettings.current(), states),
            states=states,
            notifier=default_notifier(settings),
            importer=default_importer(settings),
            account=account,
            region=clients.current_region(),
        )

    def run(self) -> dict[str, Any]:
        result = self.audit.run()
        alias = self.settings.account_alias
        delivered = []
        summary = summary_alert(result, self.account, self.region, alias)
        if summary is not None:
            delivered.append(self.notifier.notify(summary).as_dict())
        for alert in owner_alerts(result, self.account, self.region, alias):
            delivered.append(self.notifier.notify(alert, slack=False).as_dict())
        imported = self._record_findings(result)
        self._remember(result)
        return {
            "status": "audited",
            "source": result.source,
            "enforce": result.enforce,
            "counts": summary_counts(result),
            "plan": [_plan_row(plan) for plan in result.plans if plan.action is not Action.NONE],
            "notifications": delivered,
            "securityhub": imported,
        }

    def _record_findings(self, result: AuditResult) -> dict[str, Any] | None:
        if self.importer is None:
            return None
        states = result.states
        findings = []
        for plan in result.plans:
            had_finding = bool(states.get(plan.key.identity, KeyState("")).finding_id)
            if plan.non_compliant or had_finding:
                findings.append(key_finding(plan, self.account, self.region, result.run_at))
        findings += [
            archived_finding(state, self.account, self.region, result.run_at) for state in result.resolved
        ]
        return self.importer.import_findings(findings).as_dict() if findings else None

    def _remember(self, result: AuditResult) -> None:
        states = result.states
        now = result.run_at
        for plan in result.plans:
            before = states.get(plan.key.identity) or KeyState(plan.key.identity)
            after = _next_state(before, plan, now, enforce=result.enforce)
            if after != before:
                self.states.save(after, now)
        for state in result.resolved:
            self.states.save(replace(state.with_event(now, "no longer present"), finding_id=None), now)


def _next_state(state: KeyState, plan: KeyPlan, now: datetime, *, enforce: bool) -> KeyState:
    key = plan.key
    if not key.active and state.inactive_since is None:
        state = replace(state, inactive_since=now).with_event(now, "seen inactive")
    if plan.outcome == "done":
        verb = "deactivated" if plan.action is Action.DEACTIVATE else "deleted"
        state = state.with_event(now, f"{verb}: {', '.join(plan.reasons)}")
        if plan.action is Action.DEACTIVATE:
            state = replace(state, inactive_since=now)
    elif plan.outcome.startswith("failed"):
        state = state.with_event(now, f"{plan.action.value} {plan.outcome}")
    state = _grace(state, plan, now, enforce=enforce)
    if plan.announce and plan.non_compliant:
        state = replace(state, last_announced=now, announced_action=plan.announcement)
        if plan.outcome != "done":
            state = state.with_event(
                now, f"announced {plan.action.value} ({plan.outcome}): {', '.join(plan.reasons)}"
            )
    open_finding = plan.non_compliant and plan.outcome != "done"
    finding = plan.key.identity if open_finding else None
    return replace(state, finding_id=finding)


def _grace(state: KeyState, plan: KeyPlan, now: datetime, *, enforce: bool) -> KeyState:
    """A spared key's grace starts at the first enforcing run that spares it (a dry run changes
    nothing, so it starts no clock) and is kept while the key is due or inactive; an active key
    compliant or exempt again gets a fresh grace the next time it is spared."""
    if plan.spared_until is not None:
        if enforce and state.spared_since is None:
            until = plan.spared_until.strftime("%Y-%m-%d")
            return replace(state, spared_since=now).with_event(
                now, f"spared as the last working key of {plan.key.user} until {until}"
            )
        return state
    if state.spared_since is not None and working(plan) and plan.action not in DESTRUCTIVE:
        return replace(state, spared_since=None)
    return state


def _plan_row(plan: KeyPlan) -> dict[str, Any]:
    return {
        "user": plan.key.user,
        "key": plan.key.key_id or f"slot {plan.key.slot}",
        "action": plan.action.value,
        "outcome": plan.outcome,
        "reasons": list(plan.reasons),
        "owner": plan.owner,
        "announced": plan.announce,
        "warnings": plan.warnings,
        "spared_until": plan.spared_until.date().isoformat() if plan.spared_until else None,
    }
