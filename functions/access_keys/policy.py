"""The expiry policy, decided per key (never per user) and pure: no AWS, no clock.

- a root access key: CRITICAL (Security Hub IAM.4), reported, never changed;
- an inactive key deactivated `delete_inactive_days` ago or more: deleted (opt-in);
- an active key never used and younger than the grace period: left alone; after it, its age
  counts as unused time;
- an active key at `deactivate_age_days` of age or unused `deactivate_unused_days`: deactivated
  (IAM.3 / IAM.22); at the warn thresholds: warned;
- a valid exemption turns any of these into EXEMPT (root keys are never exempt).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from access_keys.model import Action, KeyPlan, KeyRecord
from secauto_core.severity import Severity

if TYPE_CHECKING:
    from datetime import datetime

    from access_keys.settings import AccessKeySettings

__all__ = ["decide"]


def _days(since: datetime, now: datetime) -> int:
    return max(0, (now - since).days)


def decide(
    key: KeyRecord,
    settings: AccessKeySettings,
    now: datetime,
    *,
    inactive_since: datetime | None = None,
    exemption: str | None = None,
) -> KeyPlan:
    """The plan for `key`; `inactive_since` from the key's timeline, `exemption` if one is valid."""
    age = _days(key.created_at, now)
    if key.is_root:
        state = "active" if key.active else "inactive"
        # Slot 0: known from the account summary only (no credential report): age unknown.
        age_text = f" ({age} days old)" if key.slot else ""
        return KeyPlan(
            key,
            Action.REPORT,
            (f"the root user has an {state} access key{age_text}",),
            Severity.CRITICAL,
            controls=("IAM.4",),
        )
    if not key.active:
        if settings.delete_inactive_days is not None and inactive_since is not None:
            inactive = _days(inactive_since, now)
            if inactive >= settings.delete_inactive_days:
                plan = KeyPlan(
                    key, Action.DELETE, (f"inactive for {inactive} days",), Severity.LOW, ("IAM.22",)
                )
                return _exempted(plan, exemption)
        return KeyPlan(key, Action.NONE, ("inactive",), Severity.INFORMATIONAL)
    if key.last_used_at is None and age < settings.never_used_grace_days:
        return KeyPlan(
            key,
            Action.NONE,
            (f"never used, within the {settings.never_used_grace_days}-day grace",),
            Severity.INFORMATIONAL,
        )
    unused = _days(key.last_used_at, now) if key.last_used_at else age
    unused_text = f"unused for {unused} days" if key.last_used_at else f"never used in {age} days"
    for action, severity, age_limit, unused_limit in (
        (Action.DEACTIVATE, Severity.MEDIUM, settings.deactivate_age_days, settings.deactivate_unused_days),
        (Action.WARN, Severity.LOW, settings.warn_age_days, settings.warn_unused_days),
    ):
        reasons: list[str] = []
        controls: list[str] = []
        if age >= age_limit:
            reasons.append(f"{age} days old")
            controls.append("IAM.3")
        if unused >= unused_limit:
            reasons.append(unused_text)
            controls.append("IAM.22")
        if reasons:
            return _exempted(KeyPlan(key, action, tuple(reasons), severity, tuple(controls)), exemption)
    return KeyPlan(key, Action.NONE, ("compliant",), Severity.INFORMATIONAL)


def _exempted(plan: KeyPlan, exemption: str | None) -> KeyPlan:
    if exemption is None:
        return plan
    reasons = (*plan.reasons, f"would {plan.action.value}, but exempt: {exemption}")
    return KeyPlan(
        plan.key, Action.EXEMPT, reasons, Severity.INFORMATIONAL, plan.controls, exemption=exemption
    )
