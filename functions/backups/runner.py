"""One run of one plan: select, create, prune, copy to the copy Region and prune there, check.

Each source, each backup and each Region is handled on its own: a failure is recorded with its
AWS error and the run goes on. Before every create, copy and delete the deadline is checked;
what is left when it is reached is recorded as "not reached". In a dry run the same plan is
made and recorded as "planned", and nothing is changed.
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from backups.actions import copy_backup, create_backup, delete_backup
from backups.inventory import plan_backups, selected_sources
from backups.model import Backup, TagKeys
from backups.retention import plan_retention
from backups.retrying import error_code, with_backoff
from backups.slots import slot_start, slot_value
from backups.tagging import expiry, ownership_tags
from secauto_core import clients
from secauto_core.observability import MetricUnit, logger, metrics

if TYPE_CHECKING:
    from collections.abc import Callable

    from backups.deadline import Deadline
    from backups.model import BackupKind, Source
    from backups.settings import BackupPlan, BackupSettings

__all__ = ["BackupRunner", "Item", "RunResult"]

#: Per list, at most this many items in a run's result (the idempotency record must stay small).
LISTED_MAX = 100
_GONE = {"InvalidSnapshot.NotFound", "InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"}
_SOURCE_GONE = {"InvalidInstanceID.NotFound", "InvalidVolume.NotFound", "IncorrectInstanceState"}
_PLANNED = "planned:"


@dataclass(frozen=True)
class Item:
    """One thing a run did, would do, skipped, failed at or did not reach."""

    action: str  # inventory | create | copy | prune
    target: str  # a source id, a backup id, or a Region
    region: str
    detail: str = ""


@dataclass
class RunResult:
    plan: BackupPlan
    region: str
    slot: str
    slot_start: datetime
    run_at: datetime
    dry_run: bool
    #: The selected instances or volumes; None when they could not be listed.
    sources: list[Source] | None = None
    created: list[Item] = field(default_factory=list)
    copied: list[Item] = field(default_factory=list)
    pruned: list[Item] = field(default_factory=list)
    #: Dry run: what a real run would create, copy and delete.
    planned: list[Item] = field(default_factory=list)
    #: Prunes and copies passed over, with the reason (e.g. a snapshot an AMI uses).
    skipped: list[Item] = field(default_factory=list)
    #: Sources already backed up in this slot (a re-run): nothing created.
    already: list[Item] = field(default_factory=list)
    #: Copies waiting for their source backup to complete (copied by a later run).
    waiting: list[Item] = field(default_factory=list)
    failed: list[Item] = field(default_factory=list)
    not_reached: list[Item] = field(default_factory=list)
    #: Selected sources without a usable (or in-progress) backup in this slot.
    unprotected: list[Source] = field(default_factory=list)
    #: Per selected source, when its newest usable or in-progress backup was made.
    last_backup: dict[str, datetime] = field(default_factory=dict)

    #: Selected source id -> the id with its Name tag, for messages.
    labels: dict[str, str] = field(default_factory=dict)

    def label(self, source_id: str) -> str:
        return self.labels.get(source_id, source_id)

    @property
    def status(self) -> str:
        if self.sources is None:
            return "failed"
        if self.not_reached:
            return "partial"
        return "dry-run" if self.dry_run else "done"

    @property
    def eventful(self) -> bool:
        """Anything to tell people: a change, a plan, a skip, a failure, an unprotected source."""
        changes = (self.created, self.copied, self.pruned, self.planned, self.skipped)
        return any(changes) or any((self.failed, self.not_reached, self.unprotected))

    def counts(self) -> dict[str, int]:
        return {
            "selected": len(self.sources or []),
            "created": len(self.created),
            "copied": len(self.copied),
            "pruned": len(self.pruned),
            "planned": len(self.planned),
            "skipped": len(self.skipped),
            "already_in_slot": len(self.already),
            "copies_waiting": len(self.waiting),
            "failed": len(self.failed),
            "not_reached": len(self.not_reached),
            "unprotected": len(self.unprotected),
        }

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": self.status,
            "plan": self.plan.name,
            "slot": self.slot,
            "region": self.region,
            "dry_run": self.dry_run,
            "counts": self.counts(),
        }
        for name in ("created", "copied", "pruned", "planned", "skipped", "failed", "not_reached"):
            items: list[Item] = getattr(self, name)
            out[name] = [asdict(item) for item in items[:LISTED_MAX]]
        out["unprotected"] = [source.id for source in self.unprotected[:LISTED_MAX]]
        return out


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class BackupRunner:
    settings: BackupSettings
    region: str
    deadline: Deadline
    #: Looked up at call time, so a test can move the clock (`backups.runner._now`).
    now: Callable[[], datetime] = field(default=lambda: _now())
    sleep: Callable[[float], None] = field(default=lambda seconds: time.sleep(seconds))

    @property
    def keys(self) -> TagKeys:
        return TagKeys(self.settings.tag_prefix)

    @staticmethod
    def ec2(region: str) -> Any:
        return clients.client("ec2", region_name=region)

    def run(self, plan: BackupPlan, event_time: datetime) -> RunResult:
        start = slot_start(event_time, plan.period_hours)
        result = RunResult(
            plan, self.region, slot_value(plan.name, start), start, self.now(), self.settings.dry_run
        )
        ec2 = self.ec2(self.region)
        try:
            sources = selected_sources(ec2, plan, self.region)
            backups = plan_backups(ec2, plan.name, self.region, self.keys)
        except Exception as exc:
            self._fail(result, "inventory", self.region, self.region, exc)
            self._measure(result)
            return result
        result.sources = sources
        result.labels = {source.id: source.label for source in sources}
        backups += self._create(ec2, plan, sources, backups, result)
        deleted = self._prune(ec2, plan, backups, self.region, result)
        if plan.copy_to is not None:
            self._copy(plan, [b for b in backups if b.id not in deleted], result)
        self._check_protection(sources, backups, result)
        self._measure(result)
        return result

    # --- creating ---------------------------------------------------------------------------

    def _create(
        self, ec2: Any, plan: BackupPlan, sources: list[Source], backups: list[Backup], result: RunResult
    ) -> list[Backup]:
        done = {b.source for b in backups if b.slot == result.slot and not b.is_copy and b.status != "failed"}
        made: list[Backup] = []
        for source in sources:
            if source.id in done:
                result.already.append(
                    Item("create", source.id, self.region, "already backed up in this slot")
                )
            elif self.deadline.reached:
                result.not_reached.append(Item("create", source.id, self.region))
            elif result.dry_run:
                made.append(self._placeholder(plan, source, result))
                what = "an AMI" if plan.mode == "ami" else "snapshots"
                result.planned.append(Item("create", source.id, self.region, f"would create {what}"))
            else:
                made += self._create_one(ec2, plan, source, result)
        return made

    def _create_one(self, ec2: Any, plan: BackupPlan, source: Source, result: RunResult) -> list[Backup]:
        call = functools.partial(
            create_backup,
            ec2,
            self.keys,
            plan,
            source,
            now=self.now(),
            slot=result.slot,
            slot_start=result.slot_start,
            region=self.region,
        )
        try:
            new = with_backoff(call, deadline=self.deadline, sleep=self.sleep)
        except Exception as exc:
            code = error_code(exc)
            if code == "InvalidAMIName.Duplicate":
                result.already.append(Item("create", source.id, self.region, "an AMI of this slot exists"))
            elif code in _SOURCE_GONE:
                result.skipped.append(
                    Item("create", source.id, self.region, f"source gone or unusable: {code}")
                )
            else:
                self._fail(result, "create", source.id, self.region, exc)
            return []
        if not new:
            result.skipped.append(Item("create", source.id, self.region, "no EBS volume to snapshot"))
            return []
        made = ", ".join(backup.id for backup in new)
        result.created.append(Item("create", source.id, self.region, f"{source.label}: {made}"))
        logger.info("Backup created", extra={"source": source.id, "backups": [b.id for b in new]})
        return new

    def _placeholder(self, plan: BackupPlan, source: Source, result: RunResult) -> Backup:
        """A dry run's stand-in for the backup a real run would create (in progress: never pruned)."""
        now = self.now()
        expires_at = expiry(now, plan.retain_days)
        tags = ownership_tags(
            self.keys,
            plan=plan.name,
            source=source.id,
            created_at=now,
            expires_at=expires_at,
            slot=result.slot,
        )
        kind: BackupKind = "image" if plan.mode == "ami" else "snapshot"
        return Backup(
            kind=kind,
            id=f"{_PLANNED}{source.id}",
            plan=plan.name,
            source=source.id,
            created_at=now,
            expires_at=expires_at,
            region=self.region,
            tags=tags,
            state="pending",
            slot=result.slot,
        )

    # --- pruning ----------------------------------------------------------------------------

    def _prune(
        self, ec2: Any, plan: BackupPlan, backups: list[Backup], region: str, result: RunResult
    ) -> set[str]:
        """Delete what retention says, oldest first; the ids deleted (or planned for deletion)."""
        retention = plan_retention(backups, [plan], self.now(), keys=self.keys)
        deleted: set[str] = set()
        for backup in sorted(retention.delete, key=lambda b: (b.created_at, b.id)):
            reason = f"{backup.kind} of {result.label(backup.source)}: {retention.reasons[backup.id]}"
            if backup.id.startswith(_PLANNED):
                continue
            if self.deadline.reached:
                result.not_reached.append(Item("prune", backup.id, region, reason))
                continue
            if result.dry_run:
                deleted.add(backup.id)
                result.planned.append(Item("prune", backup.id, region, f"would delete {reason}"))
                continue
            try:
                with_backoff(
                    functools.partial(delete_backup, ec2, backup), deadline=self.deadline, sleep=self.sleep
                )
            except Exception as exc:
                code = error_code(exc)
                if code == "InvalidSnapshot.InUse":
                    # E.g. someone registered an AMI from our snapshot: leave it, report it, go on.
                    logger.warning("Snapshot in use by an AMI: not deleted", extra={"snapshot": backup.id})
                    result.skipped.append(
                        Item("prune", backup.id, region, f"in use by an AMI: {_message(exc)}")
                    )
                elif code in _GONE:
                    result.skipped.append(Item("prune", backup.id, region, "already deleted"))
                else:
                    self._fail(result, "prune", backup.id, region, exc)
                continue
            deleted.add(backup.id)
            result.pruned.append(Item("prune", backup.id, region, reason))
        return deleted

    # --- copying ----------------------------------------------------------------------------

    def _copy(self, plan: BackupPlan, home: list[Backup], result: RunResult) -> None:
        target = plan.copy_to
        assert target is not None
        if target.region == self.region:
            result.skipped.append(
                Item("copy", target.region, target.region, "copy_to is the plan's own Region")
            )
            return
        dest = self.ec2(target.region)
        try:
            copies = plan_backups(dest, plan.name, target.region, self.keys)
        except Exception as exc:
            self._fail(result, "inventory", target.region, target.region, exc)
            return
        have = {copy.copied_from for copy in copies}
        in_images = {sid for backup in home if backup.kind == "image" for sid in backup.snapshot_ids}
        candidates = [
            backup
            for backup in home
            if not backup.is_copy
            and backup.id not in have
            and backup.id not in in_images
            and backup.status != "failed"
            and not backup.id.startswith(_PLANNED)
        ]
        worth = self._worth_copying(plan, candidates, copies)
        for backup in sorted(candidates, key=lambda b: (b.created_at, b.id), reverse=True):
            if backup.status == "in_progress":
                result.waiting.append(Item("copy", backup.id, target.region, "source not complete yet"))
            elif backup.id not in worth:
                continue
            elif self.deadline.reached:
                result.not_reached.append(Item("copy", backup.id, target.region))
            elif result.dry_run:
                result.planned.append(
                    Item("copy", backup.id, target.region, f"would copy to {target.region}")
                )
            else:
                self._copy_one(dest, plan, backup, copies, result)
        self._prune(dest, plan, copies, target.region, result)

    def _worth_copying(self, plan: BackupPlan, candidates: list[Backup], copies: list[Backup]) -> set[str]:
        """The candidates whose copies the copy Region's retention would keep (not prune at once)."""
        assert plan.copy_to is not None
        prospective = []
        for backup in candidates:
            if backup.status != "usable":
                continue
            expires_at = expiry(backup.created_at, plan.copy_to.retain_days)
            tags = ownership_tags(
                self.keys,
                plan=plan.name,
                source=backup.source,
                created_at=backup.created_at,
                expires_at=expires_at,
                slot=backup.slot,
                copied_from=backup.id,
            )
            prospective.append(
                Backup(
                    kind=backup.kind,
                    id=f"{_PLANNED}{backup.id}",
                    plan=plan.name,
                    source=backup.source,
                    created_at=backup.created_at,
                    expires_at=expires_at,
                    region=plan.copy_to.region,
                    tags=tags,
                    slot=backup.slot,
                    copied_from=backup.id,
                )
            )
        retention = plan_retention([*copies, *prospective], [plan], self.now(), keys=self.keys)
        return {b.copied_from or "" for b in retention.keep if b.id.startswith(_PLANNED)}

    def _copy_one(
        self, dest: Any, plan: BackupPlan, backup: Backup, copies: list[Backup], result: RunResult
    ) -> None:
        assert plan.copy_to is not None
        region = plan.copy_to.region
        call = functools.partial(copy_backup, dest, self.keys, plan, backup, target_region=region)
        try:
            copy = with_backoff(call, deadline=self.deadline, sleep=self.sleep)
        except Exception as exc:
            if error_code(exc) == "InvalidAMIName.Duplicate":
                result.skipped.append(Item("copy", backup.id, region, "a copy of this AMI exists"))
            else:
                self._fail(result, "copy", backup.id, region, exc)
            return
        copies.append(copy)
        result.copied.append(Item("copy", backup.id, region, f"{copy.id} (expires {_day(copy.expires_at)})"))

    # --- checking and reporting -------------------------------------------------------------

    def _check_protection(self, sources: list[Source], backups: list[Backup], result: RunResult) -> None:
        """A source is protected when it has a usable or in-progress backup made in this slot."""
        for backup in backups:
            if backup.is_copy or backup.status == "failed" or backup.region != self.region:
                continue
            last = result.last_backup.get(backup.source)
            if last is None or backup.created_at > last:
                result.last_backup[backup.source] = backup.created_at
        result.unprotected = [
            source
            for source in sources
            if result.last_backup.get(source.id) is None or result.last_backup[source.id] < result.slot_start
        ]

    @staticmethod
    def _fail(result: RunResult, action: str, target: str, region: str, exc: BaseException) -> None:
        detail = f"{error_code(exc)}: {_message(exc)}"
        result.failed.append(Item(action, target, region, detail))
        logger.error(
            "Backup action failed",
            extra={"action": action, "target": target, "region": region, "reason": detail},
        )

    @staticmethod
    def _measure(result: RunResult) -> None:
        for name, value in (
            ("BackupsCreated", len(result.created)),
            ("BackupsCopied", len(result.copied)),
            ("BackupsPruned", len(result.pruned)),
            ("BackupActionsFailed", len(result.failed)),
            ("BackupActionsNotReached", len(result.not_reached)),
            ("BackupSourcesUnprotected", len(result.unprotected)),
        ):
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def _message(exc: BaseException) -> str:
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict) and response.get("Error", {}).get("Message"):
        return str(response["Error"]["Message"])[:300]
    return str(exc)[:300]


def _day(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment else "by count only"
