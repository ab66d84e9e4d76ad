"""The inventory as the planner sees it: our backups, the resources a plan selects, our tag keys.

Ownership lives in tags set when a backup is created (never afterwards): `managed-by`, `plan`,
`source`, `created-at`, `expires-at` (absent when a plan keeps by count only), `slot` (which
scheduled run made it) and, on cross-Region copies, `copied-from`. Tags alone never make a
backup deletable: only backups carrying `managed-by` = `secauto` and their plan's tag whose ids
secauto recorded when it created them (`backups.ledger`) are ever deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["MANAGED_BY", "Backup", "BackupKind", "Source", "TagKeys", "format_time", "parse_time"]

#: The value of the `managed-by` tag on everything secauto creates.
MANAGED_BY = "secauto"

BackupKind = Literal["snapshot", "image"]
#: What a backup's state means for retention.
Status = Literal["usable", "in_progress", "failed"]

_SNAPSHOT_STATUS: dict[str, Status] = {"completed": "usable", "error": "failed"}
_IMAGE_STATUS: dict[str, Status] = {
    "available": "usable",
    "disabled": "usable",
    "failed": "failed",
    "error": "failed",
    "invalid": "failed",
}


def format_time(moment: datetime) -> str:
    """The tag form of a time: ISO 8601 in UTC, to the second, with a `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object) -> datetime | None:
    """A tag's or API field's time as an aware UTC datetime, None when it is not one."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class TagKeys:
    """The names of secauto's ownership tags under a prefix (default `secauto:`)."""

    prefix: str = "secauto:"

    @property
    def managed_by(self) -> str:
        return f"{self.prefix}managed-by"

    @property
    def plan(self) -> str:
        return f"{self.prefix}plan"

    @property
    def source(self) -> str:
        return f"{self.prefix}source"

    @property
    def created_at(self) -> str:
        return f"{self.prefix}created-at"

    @property
    def expires_at(self) -> str:
        return f"{self.prefix}expires-at"

    @property
    def slot(self) -> str:
        return f"{self.prefix}slot"

    @property
    def copied_from(self) -> str:
        return f"{self.prefix}copied-from"

    def is_ours(self, tags: Mapping[str, str], plan: str | None = None) -> bool:
        """Tagged managed-by secauto, with a plan tag (equal to `plan` when given)."""
        if tags.get(self.managed_by) != MANAGED_BY:
            return False
        tagged_plan = tags.get(self.plan)
        return bool(tagged_plan) and (plan is None or tagged_plan == plan)

    def is_own_key(self, key: str) -> bool:
        return key.startswith(self.prefix)


@dataclass(frozen=True, slots=True)
class Backup:
    """One of our snapshots or images (AMIs), in one Region."""

    kind: BackupKind
    id: str
    plan: str
    #: The instance or volume it is a backup of (for copies: of the original).
    source: str
    created_at: datetime
    expires_at: datetime | None
    region: str
    tags: Mapping[str, str] = field(default_factory=dict)
    #: The snapshots an image is made of.
    snapshot_ids: tuple[str, ...] = ()
    #: EC2's state: snapshots pending/completed/error, images pending/available/failed/...
    state: str = "completed"
    slot: str | None = None
    #: On a cross-Region copy: the id of the backup it was copied from.
    copied_from: str | None = None
    volume_id: str | None = None

    @property
    def is_copy(self) -> bool:
        return self.copied_from is not None

    @property
    def key(self) -> tuple[str, str]:
        """(Region, id): how the ledger knows it."""
        return (self.region, self.id)

    @property
    def status(self) -> Status:
        table = _SNAPSHOT_STATUS if self.kind == "snapshot" else _IMAGE_STATUS
        return table.get(self.state, "in_progress")

    @classmethod
    def from_tags(
        cls,
        keys: TagKeys,
        *,
        kind: BackupKind,
        backup_id: str,
        region: str,
        tags: Mapping[str, str],
        state: str,
        started: object,
        snapshot_ids: tuple[str, ...] = (),
        volume_id: str | None = None,
    ) -> Backup | None:
        """The backup these tags describe, or None when it is not one of ours."""
        if not keys.is_ours(tags):
            return None
        created = parse_time(tags.get(keys.created_at)) or parse_time(started)
        if created is None:
            return None
        return cls(
            kind=kind,
            id=backup_id,
            plan=tags[keys.plan],
            source=tags.get(keys.source) or volume_id or "unknown",
            created_at=created,
            expires_at=parse_time(tags.get(keys.expires_at)),
            region=region,
            tags=dict(tags),
            snapshot_ids=snapshot_ids,
            state=state,
            slot=tags.get(keys.slot),
            copied_from=tags.get(keys.copied_from),
            volume_id=volume_id,
        )


@dataclass(frozen=True)
class Source:
    """An instance or volume a plan selects."""

    kind: Literal["instance", "volume"]
    id: str
    region: str
    tags: Mapping[str, str] = field(default_factory=dict)
    #: An instance's attached EBS volumes.
    volume_ids: tuple[str, ...] = ()

    @property
    def name(self) -> str | None:
        return self.tags.get("Name")

    @property
    def label(self) -> str:
        return f"{self.id} ({self.name})" if self.name else self.id
