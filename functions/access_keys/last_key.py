"""No user is left without a working key in one run: the per-user step after the per-key policy.

The policy (`policy.decide`) judges each key alone. This step sees every key of one user at once,
as IAM has them now (the audit's live re-check), and is the one place the invariant is enforced;
the audit carries out only what it returns (`UserPlan`). Pure: no AWS, no clock.

- A working key is an active key the re-check found. An exempt key is never changed, so it
  keeps working; an inactive key, or one the re-check did not find, is not working.
- If the run would take away every working key of the user, the most recently used of them
  (ties: the newest; a never-used key ranks lowest) is warned instead ("spared"), with a
  deadline `last_key_grace_days` after the first run that spared it (the audit remembers that
  day, so the grace does not restart every run).
- Past its deadline the key is deactivated as usual, but only when it is the user's only working
  key: never in the same run as a sibling, even when a sibling is still active because its own
  deactivation failed, was only a dry run, or was undone by someone.
- `last_key_grace_days = 0` turns the step off: a user may then lose every key in one run.
- Root keys are reported, never changed: the step leaves them alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from access_keys.model import Action, KeyPlan

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from access_keys.settings import AccessKeySettings

__all__ = ["DESTRUCTIVE", "UserPlan", "plan_user", "takes_away", "working"]

#: The actions that take a key away from its user.
DESTRUCTIVE = (Action.DEACTIVATE, Action.DELETE)


@dataclass(frozen=True)
class UserPlan:
    """Every plan for one user's keys, after the per-user step: all that the audit may carry out."""

    user: str
    plans: tuple[KeyPlan, ...]

    @property
    def spared(self) -> tuple[KeyPlan, ...]:
        return tuple(plan for plan in self.plans if plan.spared_until is not None)


def working(plan: KeyPlan) -> bool:
    """The key works now: active, and found by the live re-check (not skipped)."""
    return plan.key.active and not plan.outcome.startswith("skipped")


def takes_away(plan: KeyPlan) -> bool:
    """Carrying the plan out would take a working key away from its user."""
    return working(plan) and plan.action in DESTRUCTIVE


def _rank(plan: KeyPlan) -> tuple[bool, datetime, datetime]:
    """Most recently used first; a tie goes to the newest key; never-used keys rank lowest."""
    key = plan.key
    return (key.last_used_at is not None, key.last_used_at or key.created_at, key.created_at)


def plan_user(
    plans: Sequence[KeyPlan],
    settings: AccessKeySettings,
    now: datetime,
    *,
    spared_since: Mapping[str, datetime],
) -> UserPlan:
    """The plans of one user's keys, with the last working key spared when the run would take
    every working key away. `spared_since` maps a key's identity to the first run that spared it.
    """
    users = {plan.key.user for plan in plans}
    if len(users) != 1:
        raise ValueError(f"plan_user takes the keys of exactly one user, got {sorted(users)}")
    (user,) = users
    unchanged = UserPlan(user, tuple(plans))
    keys_working = [plan for plan in plans if working(plan) and not plan.key.is_root]
    going = [plan for plan in keys_working if takes_away(plan)]
    if settings.last_key_grace_days == 0 or not keys_working or len(going) < len(keys_working):
        return unchanged
    last = max(keys_working, key=_rank)
    deadline = spared_since.get(last.key.identity, now) + timedelta(days=settings.last_key_grace_days)
    if deadline <= now and len(keys_working) == 1:
        return unchanged  # warned for the whole grace, and the user's only working key: it goes now
    spared = _spare(last, deadline, now)
    return UserPlan(user, tuple(spared if plan is last else plan for plan in plans))


def _spare(plan: KeyPlan, deadline: datetime, now: datetime) -> KeyPlan:
    user = plan.key.user
    day = deadline.strftime("%Y-%m-%d")
    if deadline > now:
        line = f"spared: last working key of user {user}, deactivated on {day} unless rotated"
    else:
        line = (
            f"spared: last working key of user {user}; its grace ended on {day}: deactivated at "
            "the next run, never in the same run as its sibling"
        )
    return replace(
        plan,
        action=Action.WARN,
        reasons=(line, *plan.reasons),
        warnings=list(plan.warnings),
        spared_until=deadline,
    )
