"""One audit run: inventory every key, plan per key, then per user, carry the plan out, report.

The plan is the same object in dry run and enforcement: a dry run stops before changing keys.
When any key of a user is planned for an action, every key of that user is re-checked live
first (ids, status, last use): a key rotated or used since the credential report is never
touched on stale data, and the per-user step (`last_key.plan_user`) judges the user's keys as
IAM has them now, so a stale report cannot make it believe a sibling still works. Only what that
step returns is carried out, right after the user's re-check and before the next user's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from access_keys.exemptions import parse_exemption_tag
from access_keys.inventory import Inventory, fetch_inventory, list_keys
from access_keys.last_key import DESTRUCTIVE, UserPlan, plan_user
from access_keys.model import Action, KeyPlan, KeyRecord
from access_keys.policy import decide
from access_keys.state import KeyState, KeyStateStore
from secauto_core import clients
from secauto_core.observability import MetricUnit, logger, metrics

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from access_keys.settings import AccessKeySettings

__all__ = ["AccessKeyAudit", "AuditResult"]

_ACTIONABLE = (Action.WARN, Action.DEACTIVATE, Action.DELETE)
_GONE = "skipped: the key was rotated or deleted after the report was generated"
_UNLISTED = "skipped: created after the report; decided at the next run"


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
    def spared(self) -> list[KeyPlan]:
        """Last working keys warned instead of deactivated (`last_key.plan_user`)."""
        return [plan for plan in self.plans if plan.spared_until is not None]

    @property
    def announced(self) -> list[KeyPlan]:
        return [plan for plan in self.plans if plan.announce and (plan.non_compliant or plan.warnings)]


@dataclass(frozen=True)
class _Run:
    """What every user's audit in one run shares."""

    now: datetime
    states: dict[str, KeyState]
    exempt_members: dict[str, str]
    #: Key identity -> the first run that spared it as its user's last working key.
    spared_since: dict[str, datetime]

    def state(self, key: KeyRecord) -> KeyState:
        return self.states.get(key.identity) or KeyState(key.identity)


def _by_user(keys: Iterable[KeyRecord]) -> list[list[KeyRecord]]:
    """The keys grouped per user, users in inventory order."""
    users: dict[str, list[KeyRecord]] = {}
    for key in keys:
        users.setdefault(key.user, []).append(key)
    return list(users.values())


def _take_same_key(key: KeyRecord, candidates: list[KeyRecord]) -> KeyRecord | None:
    """Remove and return the live key that is `key`: same id, or (the report has no ids) same
    creation second."""
    for index, candidate in enumerate(candidates):
        if (key.key_id is not None and candidate.key_id == key.key_id) or (
            key.key_id is None and abs((candidate.created_at - key.created_at).total_seconds()) < 1
        ):
            return candidates.pop(index)
    return None


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
        states = self.states.load_all()
        run = _Run(
            now,
            states,
            self._exempt_group_members(),
            {identity: s.spared_since for identity, s in states.items() if s.spared_since is not None},
        )
        plans = [plan for keys in _by_user(inventory.keys) for plan in self._audit_user(keys, run)]
        result = AuditResult(now, inventory.source, self.settings.enforce, plans, states=states)
        for plan in plans:
            plan.announce = self._announce(plan, states.get(plan.key.identity), now)
        seen = {plan.key.identity for plan in plans}
        result.resolved = [s for s in states.values() if s.finding_id and s.identity not in seen]
        self._measure(result)
        return result

    def _audit_user(self, keys: list[KeyRecord], run: _Run) -> list[KeyPlan]:
        """One user: each key per the policy; when any needs action, the user's keys re-checked
        live and passed through the per-user step, whose plan alone is carried out (enforcing)."""
        plans = [
            decide(key, self.settings, run.now, inactive_since=run.state(key).inactive_since) for key in keys
        ]
        if not any(plan.action in _ACTIONABLE for plan in plans):
            return plans
        user_plan = plan_user(
            self._recheck(plans, run), self.settings, run.now, spared_since=run.spared_since
        )
        if self.settings.enforce:
            self._carry_out(user_plan)
        return list(user_plan.plans)

    def _measure(self, result: AuditResult) -> None:
        metrics.add_metric(name="AccessKeysAudited", unit=MetricUnit.Count, value=len(result.plans))
        for action in (Action.WARN, Action.DEACTIVATE, Action.DELETE, Action.REPORT):
            if result.count(action):
                metrics.add_metric(
                    name=f"AccessKeys.{action.value}", unit=MetricUnit.Count, value=result.count(action)
                )
        if result.spared:
            metrics.add_metric(name="AccessKeysSpared", unit=MetricUnit.Count, value=len(result.spared))
        if result.failures:
            metrics.add_metric(
                name="AccessKeyActionsFailed", unit=MetricUnit.Count, value=len(result.failures)
            )

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

    def _exemption(
        self, user: str, tags: dict[str, str], now: datetime, members: dict[str, str]
    ) -> tuple[str | None, list[str]]:
        """The user's valid exemption, if any, and why a present tag was not honoured."""
        if user in members:
            return f"member of group {members[user]}", []
        if self.settings.exempt_tag_key not in tags:
            return None, []
        parsed = parse_exemption_tag(tags[self.settings.exempt_tag_key], now)
        if parsed.problem:
            # The role's IAM guard denies key changes on any user carrying the tag, valid or not.
            return None, [
                f"{user}: {parsed.problem}; the exemption is ignored, but while the tag is present "
                "IAM denies secauto any change to this user's keys: renew or remove it"
            ]
        return parsed.reason, []

    def _recheck(self, plans: list[KeyPlan], run: _Run) -> list[KeyPlan]:
        """Every key of the user as IAM has it now, decided again with its owner and exemption.

        A key of the report that is gone is skipped (never acted on, not a working key); a key
        created since the report is decided too, so it counts as working, but is not acted on.
        """
        user, user_arn = plans[0].key.user, plans[0].key.user_arn
        tags = self._user_tags(user)
        owner = tags.get(self.settings.owner_tag_key)
        exemption, warnings = self._exemption(user, tags, run.now, run.exempt_members)
        unmatched = list_keys(user, user_arn)
        rechecked = []
        for plan in plans:
            live = _take_same_key(plan.key, unmatched)
            if live is None:
                gone = replace(
                    plan, owner=owner, warnings=list(warnings) if plan.action in _ACTIONABLE else []
                )
                gone.outcome = _GONE
                rechecked.append(gone)
            else:
                rechecked.append(
                    self._decide_live(replace(live, slot=plan.key.slot), run, owner, exemption, warnings)
                )
        for live in unmatched:
            fresh = self._decide_live(live, run, owner, exemption, warnings)
            if fresh.action in DESTRUCTIVE:
                fresh.outcome = _UNLISTED
            rechecked.append(fresh)
        return rechecked

    def _decide_live(
        self, key: KeyRecord, run: _Run, owner: str | None, exemption: str | None, warnings: list[str]
    ) -> KeyPlan:
        plan = decide(
            key, self.settings, run.now, inactive_since=run.state(key).inactive_since, exemption=exemption
        )
        plan.owner = owner
        plan.warnings = list(warnings) if plan.action in _ACTIONABLE else []
        plan.outcome = "planned" if self.settings.enforce else "planned (dry run)"
        return plan

    def _carry_out(self, user_plan: UserPlan) -> None:
        """Only a `UserPlan` is carried out: every change has been through the per-user step."""
        for plan in user_plan.plans:
            if plan.action in DESTRUCTIVE and plan.outcome == "planned":
                self._change(plan)

    def _change(self, plan: KeyPlan) -> None:
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
        if state is None or state.last_announced is None or state.announced_action != plan.announcement:
            return True
        return (now - state.last_announced).days >= self.settings.reminder_days


def summary_counts(result: AuditResult) -> dict[str, Any]:
    return {
        "keys": len(result.plans),
        **{action.value: result.count(action) for action in Action if action is not Action.NONE},
        "failed": len(result.failures),
        "spared": len(result.spared),
    }
