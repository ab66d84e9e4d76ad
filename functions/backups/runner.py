"""One run of one plan: select, create, prune, copy to the copy Region and prune there, check.

Each source, each backup and each Region is handled on its own: a failure is recorded with its
AWS error and the run goes on. Before every create, copy and delete the deadline is checked;
what is left when it is reached is recorded as "not reached". In a dry run the same plan is
made and recorded as "planned", and nothing is changed.

Only what the ledger recorded is ours (`backups.ownership`): a tagged backup secauto did not
record is reported as "not recorded" and otherwise ignored. Before AMIs are deregistered, one
pass per Region looks for what still launches from them (`backups.references`); a referenced
AMI, or every AMI when that pass is incomplete, is kept with its snapshots and reported.
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from backups.actions import (
    DeletionRefusedError,
    NotRecordedError,
    copy_backup,
    create_backup,
    delete_backup,
    forget_records,
)
from backups.inventory import plan_backups, selected_sources
from backups.ledger import Ledger, MemoryLedger, recorded_keys
from backups.model import Backup, TagKeys
from backups.ownership import Owned, split_by_ledger
from backups.references import ImageReferences, find_references
from backups.retention import UNRECORDED, plan_retention
from backups.retrying import error_code, with_backoff
from backups.slots import slot_start, slot_value
from backups.tagging import expiry, ownership_tags
from secauto_core import clients
from secauto_core.observability import MetricUnit, logger, metrics

if TYPE_CHECKING:
    from collections.abc import Callable

    from backups.deadline import Deadline
    from backups.ledger import Record, RecordKey
    from backups.model import BackupKind, Source
    from backups.retention import RetentionPlan
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
    #: Prunes and copies passed over, with the reason (e.g. a snapshot an AMI uses, an AMI a
    #: launch template uses).
    skipped: list[Item] = field(default_factory=list)
    #: Tagged as secauto's but not recorded by it (forged or copied tags, a backup made before the
    #: ledger, or one whose record failed): kept, never pruned.
    unrecorded: list[Item] = field(default_factory=list)
    #: Our backups retention kept for a stated reason (min_keep, in progress, part of an AMI).
    kept: list[Item] = field(default_factory=list)
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
            "not_recorded": len(self.unrecorded),
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
        out["not_recorded"] = [asdict(item) for item in self.unrecorded[:LISTED_MAX]]
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
    #: What secauto created (`BackupService` passes the state table's; in memory by default).
    ledger: Ledger = field(default_factory=MemoryLedger)

    @property
    def keys(self) -> TagKeys:
        return TagKeys(self.settings.tag_prefix)

    @staticmethod
    def ec2(region: str) -> Any:
        return clients.client("ec2", region_name=region)

    @staticmethod
    def autoscaling(region: str) -> Any:
        return clients.client("autoscaling", region_name=region)

    def run(self, plan: BackupPlan, event_time: datetime) -> RunResult:
        start = slot_start(event_time, plan.period_hours)
        result = RunResult(
            plan, self.region, slot_value(plan.name, start), start, self.now(), self.settings.dry_run
        )
        ec2 = self.ec2(self.region)
        try:
            sources = selected_sources(ec2, plan, self.region)
            tagged = plan_backups(ec2, plan.name, self.region, self.keys)
            records = self.ledger.recorded(plan.name)
        except Exception as exc:
            self._fail(result, "inventory", self.region, self.region, exc)
            self._measure(result)
            return result
        result.sources = sources
        result.labels = {source.id: source.label for source in sources}
        home = self._split(tagged, records, self.region, result)
        backups = home.ours + self._create(ec2, plan, sources, home.ours, result)
        deleted = self._prune(ec2, plan, backups, home.unrecorded, self.region, result)
        if plan.copy_to is not None:
            self._copy(plan, [b for b in backups if b.id not in deleted], records, result)
        self._check_protection(sources, backups, result)
        self._measure(result)
        return result

    def _split(
        self, tagged: list[Backup], records: dict[RecordKey, Record], region: str, result: RunResult
    ) -> Owned:
        """Ours and not ours, by the ledger; first sightings of our AMIs' snapshots get recorded."""
        owned = split_by_ledger(tagged, records)
        if owned.new_records and not result.dry_run:
            try:
                self.ledger.record(owned.new_records)
            except Exception as exc:
                # Still kept by their AMI this run; recorded by a later one.
                self._fail(result, "record", owned.new_records[0].image_id or region, region, exc)
        return owned

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
            ledger=self.ledger,
        )
        try:
            new = with_backoff(call, deadline=self.deadline, sleep=self.sleep)
        except NotRecordedError as exc:
            self._fail(result, "record", source.id, self.region, exc)
            return []
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
        self,
        ec2: Any,
        plan: BackupPlan,
        backups: list[Backup],
        unrecorded: list[Backup],
        region: str,
        result: RunResult,
    ) -> set[str]:
        """Delete what retention says, oldest first; the ids deleted (or planned for deletion),
        a deregistered AMI's snapshots included.

        Retention sees what is not recorded too, and keeps it (`plan_retention`'s `recorded`);
        `delete_backup` checks the ledger, the tags and the AMI's references once more."""
        retention = plan_retention(
            [*backups, *unrecorded], [plan], self.now(), recorded=recorded_keys(backups), keys=self.keys
        )
        self._report_kept(retention, region, result)
        doomed = [
            backup
            for backup in sorted(retention.delete, key=lambda b: (b.created_at, b.id))
            if not backup.id.startswith(_PLANNED)
        ]
        references = self._references(ec2, region, doomed)
        deleted: set[str] = set()
        for backup in doomed:
            reason = f"{backup.kind} of {result.label(backup.source)}: {retention.reasons[backup.id]}"
            if self.deadline.reached:
                result.not_reached.append(Item("prune", backup.id, region, reason))
                continue
            blocker = _image_blocker(backup, references)
            if blocker is not None:
                logger.warning("AMI not deregistered", extra={"image": backup.id, "reason": blocker})
                result.skipped.append(
                    Item(
                        "prune",
                        backup.id,
                        region,
                        f"{reason}; not deregistered, kept with its snapshots: {blocker}",
                    )
                )
                continue
            if result.dry_run:
                deleted.update((backup.id, *backup.snapshot_ids))
                result.planned.append(Item("prune", backup.id, region, f"would delete {reason}"))
                continue
            if self._delete_one(ec2, backup, references, region, reason, result):
                # An AMI's snapshots go with it: nothing may use them (as copy sources) afterwards.
                deleted.update((backup.id, *backup.snapshot_ids))
        return deleted

    def _delete_one(
        self,
        ec2: Any,
        backup: Backup,
        references: ImageReferences | None,
        region: str,
        reason: str,
        result: RunResult,
    ) -> bool:
        call = functools.partial(
            delete_backup, ec2, self.keys, backup, ledger=self.ledger, references=references
        )
        try:
            with_backoff(call, deadline=self.deadline, sleep=self.sleep)
        except DeletionRefusedError as exc:
            logger.warning("Deletion refused", extra={"backup": backup.id, "reason": str(exc)})
            result.skipped.append(Item("prune", backup.id, region, f"deletion refused: {exc}"))
            return False
        except Exception as exc:
            code = error_code(exc)
            if code == "InvalidSnapshot.InUse":
                # E.g. someone registered an AMI from our snapshot: leave it, report it, go on.
                logger.warning("Snapshot in use by an AMI: not deleted", extra={"snapshot": backup.id})
                result.skipped.append(Item("prune", backup.id, region, f"in use by an AMI: {_message(exc)}"))
            elif code in _GONE:
                forget_records(self.ledger, backup)
                result.skipped.append(Item("prune", backup.id, region, "already deleted"))
            else:
                self._fail(result, "prune", backup.id, region, exc)
            return False
        result.pruned.append(Item("prune", backup.id, region, reason))
        return True

    def _references(self, ec2: Any, region: str, doomed: list[Backup]) -> ImageReferences | None:
        """What references the AMIs about to be deregistered: one pass over the Region."""
        images = [backup.id for backup in doomed if backup.kind == "image"]
        if not images or self.deadline.reached:
            return None
        references = find_references(ec2, self.autoscaling(region), images, region)
        if references.notes:
            logger.info("AMI reference checks not available", extra={"notes": list(references.notes)})
        if not references.complete:
            logger.warning(
                "AMI reference check incomplete: no AMI is deregistered",
                extra={"region": region, "problems": list(references.problems)},
            )
        return references

    def _report_kept(self, retention: RetentionPlan, region: str, result: RunResult) -> None:
        """What is not recorded (an AMI's snapshots go with their AMI's line), and why our own
        backups were kept where retention says why."""
        unrecorded = {backup.id for backup in retention.unrecorded}
        in_images = {sid for b in retention.unrecorded if b.kind == "image" for sid in b.snapshot_ids}
        for backup in sorted(retention.unrecorded, key=lambda b: (b.created_at, b.id)):
            if backup.id not in in_images:
                result.unrecorded.append(
                    Item(
                        "prune",
                        backup.id,
                        region,
                        f"{backup.kind} of {result.label(backup.source)}: {UNRECORDED}",
                    )
                )
        for backup in retention.keep:
            reason = retention.reasons.get(backup.id)
            if reason and backup.id not in unrecorded and not backup.id.startswith(_PLANNED):
                result.kept.append(Item("prune", backup.id, region, reason))

    # --- copying ----------------------------------------------------------------------------

    def _copy(
        self, plan: BackupPlan, home: list[Backup], records: dict[RecordKey, Record], result: RunResult
    ) -> None:
        target = plan.copy_to
        assert target is not None
        if target.region == self.region:
            result.skipped.append(
                Item("copy", target.region, target.region, "copy_to is the plan's own Region")
            )
            return
        dest = self.ec2(target.region)
        try:
            tagged = plan_backups(dest, plan.name, target.region, self.keys)
        except Exception as exc:
            self._fail(result, "inventory", target.region, target.region, exc)
            return
        there = self._split(tagged, records, target.region, result)
        copies = there.ours
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
        self._prune(dest, plan, copies, there.unrecorded, target.region, result)

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
        retention = plan_retention(
            [*copies, *prospective],
            [plan],
            self.now(),
            recorded=recorded_keys([*copies, *prospective]),
            keys=self.keys,
        )
        return {b.copied_from or "" for b in retention.keep if b.id.startswith(_PLANNED)}

    def _copy_one(
        self, dest: Any, plan: BackupPlan, backup: Backup, copies: list[Backup], result: RunResult
    ) -> None:
        assert plan.copy_to is not None
        region = plan.copy_to.region
        call = functools.partial(
            copy_backup, dest, self.keys, plan, backup, target_region=region, ledger=self.ledger
        )
        try:
            copy = with_backoff(call, deadline=self.deadline, sleep=self.sleep)
        except NotRecordedError as exc:
            self._fail(result, "record", backup.id, region, exc)
            return
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


def _image_blocker(backup: Backup, references: ImageReferences | None) -> str | None:
    """Why an AMI must stay (None for a snapshot, or an AMI nothing references)."""
    if backup.kind != "image":
        return None
    if references is None:
        return "its references were not checked"
    return references.blocker(backup.id)


def _message(exc: BaseException) -> str:
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict) and response.get("Error", {}).get("Message"):
        return str(response["Error"]["Message"])[:300]
    return str(exc)[:300]


def _day(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment else "by count only"
