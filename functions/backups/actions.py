"""The EC2 calls that change things: create a backup, copy one to another Region, delete one.

Each returns what it made as `Backup`s (tagged as they were created) or raises the AWS error;
the caller decides per source and per backup, so one failure never stops the rest.

Copies are made with the copy Region's default EBS encryption settings: a snapshot encrypted
with a customer-managed KMS key needs that key usable by the function (not configured here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backups.model import Backup, format_time
from backups.tagging import MAX_TAGS, carried_tags, expiry, ownership_tags, tag_specifications

if TYPE_CHECKING:
    from datetime import datetime

    from backups.model import BackupKind, Source, TagKeys
    from backups.settings import BackupPlan

__all__ = ["copy_backup", "create_backup", "delete_backup", "image_name"]

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
) -> list[Backup]:
    """Back `source` up as `plan` says; our tags are set by the create call itself."""
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
        return [made("image", image_id, tags, "pending", None)]
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
        return [
            made("snapshot", item["SnapshotId"], own, item.get("State", "pending"), item.get("VolumeId"))
            for item in snapshots
        ]
    tags = {**own, **carried}
    snapshot = ec2.create_snapshot(
        VolumeId=source.id, Description=description, TagSpecifications=tag_specifications(("snapshot",), tags)
    )
    return [made("snapshot", snapshot["SnapshotId"], tags, snapshot.get("State", "pending"), source.id)]


def copy_backup(
    ec2_target: Any, keys: TagKeys, plan: BackupPlan, backup: Backup, *, target_region: str
) -> Backup:
    """Copy `backup` into `target_region` (with a client there), tagged with the copy's own expiry."""
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
    return Backup(
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


def delete_backup(ec2: Any, backup: Backup) -> None:
    """Delete a snapshot, or deregister an image together with its snapshots."""
    if backup.kind == "image":
        ec2.deregister_image(ImageId=backup.id, DeleteAssociatedSnapshots=True)
    else:
        ec2.delete_snapshot(SnapshotId=backup.id)
