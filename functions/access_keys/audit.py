"""One audit run: inventory every key, plan per key, carry the plan out, report.

The plan is the same object in dry run and enforcement: a dry run stops before changing keys.
Every key planned for an action is re-checked live first (its id, status and last use), so a
key rotated or used since the credential report is never touched on stale data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from access_keys.exemptions import parse_exemption_tag
from access_keys.inventory import Inventory, fetch_inventory, list_keys
from access_keys.model import Action, KeyPlan, KeyRecord
from access_keys.policy import decide
from access_keys.state import KeyState, KeyStateStore
from secauto_core import clients
from secauto_core.observability import MetricUnit, logger, metrics

if TYPE_CHECKING:
    from collections.abc import Callable

    from access_keys.settings import AccessKeySettings

__all__ = ["AccessKeyAudit", "AuditResult"]

_ACTIONABLE = (Action.WARN, Action.DEACTIVATE, Action.DELETE)


@dataclass
class AuditResult:
    run_at: datetime
    source: str
    enforce: bool
    plans: list[KeyPlan]
    #: Findings to archive: keys that were non-compliant and now are compliant or gone.
    resolved: list[KeyState] = field(default_factory=list)
    #: Each key's remembered state as this run found it (read once per run).
    states: dict[str, KeyState] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def count(self, action: Action) -> int:
        return sum(plan.action is action for plan in self.plans)

    @property
    def failures(self) -> list[KeyPlan]:
        return [plan for plan in self.plans if plan.outcome.startswith("failed")]

    @property
    def announced(self) -> list[KeyPlan]:
        return [plan for plan in self.plans if plan.announce and (plan.non_compliant or plan.warnings)]


@dataclass
class AccessKeyAudit:
    settings: AccessKeySettings
    states: KeyStateStore
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], None] = time.sleep
    _tags: dict[str, dict[str, str]] = field(default_factory=dict)

    def run(self) -> AuditResult:
        now = self.now()
        inventory: Inventory = fetch_inventory(self.settings.report_wait_seconds, now, self.sleep)
        exempt_members = self._exempt_group_members()
        states = self.states.load_all()
        plans = []
        for key in inventory.keys:
            state = states.get(key.identity) or KeyState(key.identity)
            plan = decide(key, self.settings, now, inactive_since=state.inactive_since)
            if plan.action in _ACTIONABLE:
                plan = self._refine(plan, state, now, exempt_members)
            plans.append(plan)
        result = AuditResult(now, inventory.source, self.settings.enforce, plans, states=states)
        for plan in plans:
            if (
                self.settings.enforce
                and plan.action in (Action.DEACTIVATE, Action.DELETE)
                and plan.outcome == "planned"
            ):
                self._carry_out(plan)
            plan.announce = self._announce(plan, states.get(plan.key.identity), now)
        seen = {plan.key.identity for plan in plans}
        result.resolved = [s for s in states.values() if s.finding_id and s.identity not in seen]
        metrics.add_metric(name="AccessKeysAudited", unit=MetricUnit.Count, value=len(plans))
        for action in (Action.WARN, Action.DEACTIVATE, Action.DELETE, Action.REPORT):
            if result.count(action):
                metrics.add_metric(
                    name=f"AccessKeys.{action.value}", unit=MetricUnit.Count, value=result.count(action)
                )
        if result.failures:
            metrics.add_metric(
                name="AccessKeyActionsFailed", unit=MetricUnit.Count, value=len(result.failures)
            )
        return result

    def _exempt_group_members(self) -> dict[str, str]:
        members: dict[str, str] = {}
        iam = clients.client("iam")
        for group in self.settings.exempt_groups:
            try:
                for page in iam.get_paginator("get_group").paginate(GroupName=group):
                    for user in page["Users"]:
                        members.setdefault(user["UserName"], group)
            except iam.exceptions.NoSuchEntityException:
                logger.warning("Exempt group does not exist", extra={"group": group})
        return members

    def _user_tags(self, user: str) -> dict[str, str]:
        if user not in self._tags:
            pages = clients.client("iam").get_paginator("list_user_tags").paginate(UserName=user)
            self._tags[user] = {tag["Key"]: tag["Value"] for page in pages for tag in page["Tags"]}
        return self._tags[user]

    def _refine(
        self, plan: KeyPlan, state: KeyState, now: datetime, exempt_members: dict[str, str]
    ) -> KeyPlan:
        """Owner, exemption, and a live re-check of the key before anything is done to it."""
        key = plan.key
        warnings: list[str] = []
        tags = self._user_tags(key.user)
        exemption = None
        if key.user in exempt_members:
            exemption = f"member of group {exempt_members[key.user]}"
        elif self.settings.exempt_tag_key in tags:
            parsed = parse_exemption_tag(tags[self.settings.exempt_tag_key], now)
            exemption = parsed.reason
            if parsed.problem:
                warnings.append(f"{key.user}: {parsed.problem}; the exemption is ignored")
        live = self._live(key)
        if live is None:
            skipped = replace(plan, owner=tags.get(self.settings.owner_tag_key), warnings=warnings)
            skipped.outcome = "skipped: the key was rotated or deleted after the report was generated"
            return skipped
        refined = decide(live, self.settings, now, inactive_since=state.inactive_since, exemption=exemption)
        refined.owner = tags.get(self.settings.owner_tag_key)
        refined.warnings = warnings
        refined.outcome = "planned" if self.settings.enforce else "planned (dry run)"
        return refined

    @staticmethod
    def _live(key: KeyRecord) -> KeyRecord | None:
        """The same key (same creation second), as IAM has it now; None if it is gone."""
        for candidate in list_keys(key.user, key.user_arn):
            if abs((candidate.created_at - key.created_at).total_seconds()) < 1:
                return replace(candidate, slot=key.slot)
        return None

    def _carry_out(self, plan: KeyPlan) -> None:
        key = plan.key
        iam = clients.client("iam")
        try:
            if plan.action is Action.DEACTIVATE:
                iam.update_access_key(UserName=key.user, AccessKeyId=key.key_id, Status="Inactive")
            else:
                iam.delete_access_key(UserName=key.user, AccessKeyId=key.key_id)
        except Exception as exc:  # after botocore's retries: report it, never skip it silently
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            plan.outcome = f"failed: {code}"
            logger.error(
                "Access key action failed",
                extra={"user": key.user, "key": key.key_id, "action": plan.action.value, "error": code},
            )
            return
        plan.outcome = "done"
        logger.info(
            "Access key changed", extra={"user": key.user, "key": key.key_id, "action": plan.action.value}
        )

    def _announce(self, plan: KeyPlan, state: KeyState | None, now: datetime) -> bool:
        """Announce a plan unless the same one was announced within the reminder cadence."""
        if plan.outcome == "done" or plan.outcome.startswith("failed"):
            return True
        if not plan.non_compliant:
            return False
        if state is None or state.last_announced is None or state.announced_action != plan.action.value:
            return True
        return (now - state.last_announced).days >= self.settings.reminder_days


def summary_counts(result: AuditResult) -> dict[str, Any]:
    return {
        "keys": len(result.plans),
        **{action.value: result.count(action) for action in Action if action is not Action.NONE},
        "failed": len(result.failures),
    }
