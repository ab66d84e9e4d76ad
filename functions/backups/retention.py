"""Which of our backups to delete: pure planning over an inventory, no AWS.

Backups are grouped once by (plan, source, Region, kind, original or copy) and each group is
sorted once, newest first, so 100,000 snapshots plan in well under a second. Within a group a
*generation* is what one run made (an instance's crash-consistent set of snapshots is one
generation; so is one AMI). A generation is deleted when it is expired (`expires-at` before
now, so a missed run is caught up by the next one) or beyond the plan's `retain_count`, except
that the newest `min_keep` usable generations always stay. Failed backups are deleted (they hold
nothing restorable); backups still in progress are never deleted.

Never considered at all: anything without `managed-by` = secauto and a plan tag, anything whose
(Region, id) is not in `recorded` (the ids secauto recorded when it created them, `backups.ledger`:
tags can be forged or copied, so tags alone never make a backup deletable), anything of a plan
that is not configured, and snapshots that belong to one of our AMIs (the AMI is pruned, with its
snapshots, instead). What is tagged ours but not recorded is kept and listed in `unrecorded`; it
counts for nothing either (neither toward `min_keep` nor toward `retain_count`), so forged
backups can never push a real one out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from backups.model import TagKeys, format_time

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence, Set
    from datetime import datetime

    from backups.model import Backup
    from backups.settings import BackupPlan

__all__ = ["UNRECORDED", "RetentionPlan", "Rules", "plan_retention", "rules_for"]

UNRECORDED = "tagged as secauto's but not recorded by secauto when it was created: kept, never pruned"


@dataclass(frozen=True)
class Rules:
    retain_count: int | None
    retain_days: int | None
    min_keep: int


def rules_for(plan: BackupPlan, *, copy: bool) -> Rules:
    """The rules for a plan's own backups, or for its copies in `copy_to.region`."""
    if copy and plan.copy_to is not None:
        return Rules(plan.copy_to.retain_count, plan.copy_to.retain_days, plan.min_keep)
    return Rules(plan.retain_count, plan.retain_days, plan.min_keep)


@dataclass
class RetentionPlan:
    delete: list[Backup] = field(default_factory=list)
    keep: list[Backup] = field(default_factory=list)
    #: Why, per backup id (for every backup in `delete`, and for notable keeps).
    reasons: dict[str, str] = field(default_factory=dict)
    #: Tagged ours but not recorded by secauto: kept, never pruned (also in `keep`).
    unrecorded: list[Backup] = field(default_factory=list)

    def _keep(self, backup: Backup, reason: str | None = None) -> None:
        self.keep.append(backup)
        if reason:
            self.reasons[backup.id] = reason

    def _delete(self, backup: Backup, reason: str) -> None:
        self.delete.append(backup)
        self.reasons[backup.id] = reason


def plan_retention(
    backups: Sequence[Backup],
    plans: Iterable[BackupPlan] | Mapping[str, BackupPlan],
    now: datetime,
    *,
    recorded: Set[tuple[str, str]],
    keys: TagKeys | None = None,
) -> RetentionPlan:
    """Split `backups` into what to delete and what to keep, with reasons; only backups whose
    (Region, id) is in `recorded` can ever land in `delete`."""
    keys = keys or TagKeys()
    by_name = dict(plans) if isinstance(plans, Mapping) else {plan.name: plan for plan in plans}
    in_images = {sid for backup in backups if backup.kind == "image" for sid in backup.snapshot_ids}
    result = RetentionPlan()
    groups: dict[tuple[str, str, str, str, bool], list[Backup]] = defaultdict(list)
    for backup in backups:
        if not keys.is_ours(backup.tags, backup.plan):
            result._keep(backup, "not ours: no managed-by secauto and plan tag")
        elif (backup.region, backup.id) not in recorded:
            result._keep(backup, UNRECORDED)
            result.unrecorded.append(backup)
        elif backup.kind == "snapshot" and backup.id in in_images:
            result._keep(backup, "belongs to one of our AMIs (pruned with it)")
        elif backup.plan not in by_name:
            result._keep(backup, f"plan {backup.plan} is not configured")
        else:
            groups[(backup.plan, backup.source, backup.region, backup.kind, backup.is_copy)].append(backup)
    for (plan_name, *_rest, is_copy), members in groups.items():
        _decide_group(members, rules_for(by_name[plan_name], copy=is_copy), now, result)
    return result


def _decide_group(members: list[Backup], rules: Rules, now: datetime, result: RetentionPlan) -> None:
    generations: dict[tuple[str | None, datetime], list[Backup]] = defaultdict(list)
    for backup in members:
        if backup.status == "failed":
            result._delete(backup, f"failed backup (state {backup.state})")
        else:
            generations[(backup.slot, backup.created_at)].append(backup)
    ordered = sorted(generations.items(), key=lambda item: item[0][1], reverse=True)
    usable_seen = 0
    for index, (_, generation) in enumerate(ordered):
        if any(backup.status == "in_progress" for backup in generation):
            for backup in generation:
                result._keep(backup, "in progress")
            continue
        usable_seen += 1
        expiries = [backup.expires_at for backup in generation if backup.expires_at is not None]
        expired_at = min(expiries) if expiries else None
        reason = None
        if expired_at is not None and expired_at < now:
            reason = f"expired at {format_time(expired_at)}"
        elif rules.retain_count is not None and index >= rules.retain_count:
            reason = f"beyond retain_count {rules.retain_count} (number {index + 1}, newest first)"
        if reason is None:
            for backup in generation:
                result._keep(backup)
        elif usable_seen <= rules.min_keep:
            for backup in generation:
                result._keep(backup, f"{reason}, but kept: one of the newest min_keep {rules.min_keep}")
        else:
            for backup in generation:
                result._delete(backup, reason)
