"""The EC2 calls that change things: create a backup, copy one to another Region, delete one.

Each returns what it made as `Backup`s (tagged as they were created) or raises the AWS error;
the caller decides per source and per backup, so one failure never stops the rest.

Ownership is decided here, where the calls are made. Creating and copying record each id EC2
returns in the ledger before returning it (`backups.ledger`: a failure to record raises
`NotRecordedError`, and that backup stays unrecorded: kept, never pruned). Deleting re-checks,
whatever the caller planned, that the backup is tagged ours and recorded right now, and that an
AMI was found unreferenced in this run (`backups.references`); otherwise it refuses
(`DeletionRefusedError`) without calling EC2. A deleted backup's records are dropped afterwards.

Copies are made with the copy Region's default EBS encryption settings: a snapshot encrypted
with a customer-managed KMS key needs that key usable by the function (not configured here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backups.ledger import Record
from backups.model import Backup, format_time
from backups.tagging import MAX_TAGS, carried_tags, expiry, ownership_tags, tag_specifications
from secauto_core.observability import logger

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from backups.ledger import Ledger
    from backups.model import BackupKind, Source, TagKeys
    from backups.references import ImageReferences
    from backups.settings import BackupPlan

__all__ = [
    "DeletionRefusedError",
    "NotRecordedError",
    "copy_backup",
    "create_backup",
    "delete_backup",
    "deletion_refusal",
    "forget_records",
    "image_name",
]


class NotRecordedError(RuntimeError):
    """Backups were made but could not be recorded: they are kept and never pruned."""

    def __init__(self, made: Sequence[Backup], cause: BaseException) -> None:
        ids = ", ".join(backup.id for backup in made)
        super().__init__(f"created {ids} but could not record them ({cause}): kept, never pruned")
        self.made = tuple(made)


class DeletionRefusedError(RuntimeError):
    """A delete that the checks at the point of deletion refuse (nothing was called)."""


def _recorded(ledger: Ledger, made: list[Backup]) -> list[Backup]:
    """`made`, once every id in it is in the ledger."""
    try:
        ledger.record(Record.of(backup) for backup in made)
    except Exception as exc:
        raise NotRecordedError(made, exc) from exc
    return made


_DESCRIPTION_MAX = 255


def _compact(moment: datetime) -> str:
    return format_time(moment).replace("-", "").replace(":", "")


def image_name(plan: str, source: str, slot_start: datetime) -> str:
    """An AMI name unique per plan, instance and slot (EC2 refuses a duplicate name)."""
    return f"secauto-{plan}-{source}-{_compact(slot_start)}"[:128]


def create_backup(
    ec2: Any,
    keys: TagKeys,
    plan: BackupPlan,
    source: Source,
    *,
    now: datetime,
    slot: str,
    slot_start: datetime,
    region: str,
    ledger: Ledger,
) -> list[Backup]:
    """Back `source` up as `plan` says; our tags are set by the create call itself, and the ids
    EC2 returns are recorded in `ledger` before anything else happens to them."""
    expires_at = expiry(now, plan.retain_days)
    own = ownership_tags(
        keys, plan=plan.name, source=source.id, created_at=now, expires_at=expires_at, slot=slot
    )
    carried = carried_tags(keys, source.tags, room=MAX_TAGS - len(own)) if plan.copy_tags else {}
    description = f"secauto plan {plan.name}: {source.id}, slot {slot}"[:_DESCRIPTION_MAX]

    def made(
        kind: BackupKind, backup_id: str, tags: dict[str, str], state: str, volume: str | None
    ) -> Backup:
        return Backup(
            kind=kind,
            id=backup_id,
            plan=plan.name,
            source=source.id,
            created_at=now,
            expires_at=expires_at,
            region=region,
            tags=tags,
            state=state,
            slot=slot,
            volume_id=volume,
        )

    if plan.mode == "ami":
        tags = {**own, **carried}
        image_id = ec2.create_image(
            InstanceId=source.id,
            Name=image_name(plan.name, source.id, slot_start),
            Description=description,
            NoReboot=plan.no_reboot,
            TagSpecifications=tag_specifications(("image", "snapshot"), tags),
        )["ImageId"]
        return _recorded(ledger, [made("image", image_id, tags, "pending", None)])
    if source.kind == "instance":
        params: dict[str, Any] = {
            "InstanceSpecification": {"InstanceId": source.id, "ExcludeBootVolume": plan.exclude_boot_volume},
            "Description": description,
            "TagSpecifications": tag_specifications(("snapshot",), own),
        }
        if plan.copy_tags:
            # EC2 copies each volume's own tags onto that volume's snapshot.
            params["CopyTagsFromSource"] = "volume"
        snapshots = ec2.create_snapshots(**params)["Snapshots"]
        return _recorded(
            ledger,
            [
                made("snapshot", item["SnapshotId"], own, item.get("State", "pending"), item.get("VolumeId"))
                for item in snapshots
            ],
        )
    tags = {**own, **carried}
    snapshot = ec2.create_snapshot(
        VolumeId=source.id, Description=description, TagSpecifications=tag_specifications(("snapshot",), tags)
    )
    return _recorded(
        ledger, [made("snapshot", snapshot["SnapshotId"], tags, snapshot.get("State", "pending"), source.id)]
    )


def copy_backup(
    ec2_target: Any,
    keys: TagKeys,
    plan: BackupPlan,
    backup: Backup,
    *,
    target_region: str,
    ledger: Ledger,
) -> Backup:
    """Copy `backup` into `target_region` (with a client there), tagged with the copy's own expiry;
    the copy's id (which EC2 returns in `target_region`) is recorded there."""
    assert plan.copy_to is not None
    expires_at = expiry(backup.created_at, plan.copy_to.retain_days)
    own = ownership_tags(
        keys,
        plan=plan.name,
        source=backup.source,
        created_at=backup.created_at,
        expires_at=expires_at,
        slot=backup.slot,
        copied_from=backup.id,
    )
    tags = {**own, **carried_tags(keys, backup.tags, room=MAX_TAGS - len(own))}
    description = f"secauto plan {plan.name}: copy of {backup.id} from {backup.region}"
    if backup.kind == "image":
        copy_id = ec2_target.copy_image(
            SourceImageId=backup.id,
            SourceRegion=backup.region,
            Name=f"secauto-copy-{backup.id}",
            Description=description,
            # A retried call (after a timeout) returns the same copy instead of a second one.
            ClientToken=f"secauto-copy-{backup.id}"[:64],
            TagSpecifications=tag_specifications(("image", "snapshot"), tags),
        )["ImageId"]
    else:
        copy_id = ec2_target.copy_snapshot(
            SourceSnapshotId=backup.id,
            SourceRegion=backup.region,
            Description=description,
            TagSpecifications=tag_specifications(("snapshot",), tags),
        )["SnapshotId"]
    copy = Backup(
        kind=backup.kind,
        id=copy_id,
        plan=plan.name,
        source=backup.source,
        created_at=backup.created_at,
        expires_at=expires_at,
        region=target_region,
        tags=tags,
        state="pending",
        slot=backup.slot,
        copied_from=backup.id,
        volume_id=backup.volume_id,
    )
    return _recorded(ledger, [copy])[0]


def deletion_refusal(
    keys: TagKeys, backup: Backup, ledger: Ledger, references: ImageReferences | None
) -> str | None:
    """Why `backup` must not be deleted now, or None: it is tagged ours for its plan, recorded
    under that plan in its Region (a fresh read), and, for an AMI, found unreferenced there."""
    if not keys.is_ours(backup.tags, backup.plan):
        return f"not tagged {keys.managed_by}={backup.tags.get(keys.managed_by)!r} for plan {backup.plan}"
    if not ledger.is_recorded(backup.plan, backup.region, backup.id):
        return "not recorded by secauto as one it created"
    if backup.kind == "image":
        if references is None or references.region != backup.region:
            return "its references in this Region were not checked"
        return references.blocker(backup.id)
    return None


def delete_backup(
    ec2: Any,
    keys: TagKeys,
    backup: Backup,
    *,
    ledger: Ledger,
    references: ImageReferences | None = None,
) -> None:
    """Delete a snapshot, or deregister an image together with its snapshots, unless
    `deletion_refusal` says no; then drop their records."""
    refusal = deletion_refusal(keys, backup, ledger, references)
    if refusal is not None:
        raise DeletionRefusedError(refusal)
    if backup.kind == "image":
        ec2.deregister_image(ImageId=backup.id, DeleteAssociatedSnapshots=True)
    else:
        ec2.delete_snapshot(SnapshotId=backup.id)
    forget_records(ledger, backup)


def forget_records(ledger: Ledger, backup: Backup) -> None:
    """Drop the records of a deleted backup (and of an AMI's snapshots). A record left behind by a
    failure here is harmless: EC2 never reuses an id, so it can never license deleting another."""
    try:
        ledger.forget(backup.plan, backup.region, (backup.id, *backup.snapshot_ids))
    except Exception:
        logger.warning("Deleted, but its record was not dropped", extra={"backup": backup.id}, exc_info=True)
