"""Reading EC2: the resources a plan selects, and our backups of a plan in one Region.

Every describe call is paginated. Snapshots and images are asked for with the ownership tags as
filters (`OwnerIds`/`Owners` = self), so the answer holds what is tagged as our backups of
that plan; `Backup.from_tags` checks the tags again all the same. Tags can be forged or copied:
what the answer holds is ours only if the ledger recorded it (`backups.ownership`). Disabled
and deprecated AMIs are listed too: their snapshots must still be recognised as an AMI's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backups.model import MANAGED_BY, Backup, Source

if TYPE_CHECKING:
    from backups.model import TagKeys
    from backups.settings import BackupPlan

__all__ = ["plan_backups", "selected_sources"]

#: Instances that are not being terminated (terminated ones linger in DescribeInstances a while).
_LIVE_STATES = ["pending", "running", "stopping", "stopped"]


def _tags(resource: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags") or []}


def selected_sources(ec2: Any, plan: BackupPlan, region: str) -> list[Source]:
    """The instances or volumes carrying the plan's select tag, in `region`."""
    tag_filter = {"Name": f"tag:{plan.select_tag.key}", "Values": [plan.select_tag.value]}
    sources: list[Source] = []
    if plan.resource_type == "instance":
        filters = [tag_filter, {"Name": "instance-state-name", "Values": _LIVE_STATES}]
        for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    volumes = tuple(
                        mapping["Ebs"]["VolumeId"]
                        for mapping in instance.get("BlockDeviceMappings", [])
                        if "Ebs" in mapping
                    )
                    sources.append(
                        Source("instance", instance["InstanceId"], region, _tags(instance), volumes)
                    )
    else:
        for page in ec2.get_paginator("describe_volumes").paginate(Filters=[tag_filter]):
            for volume in page["Volumes"]:
                sources.append(Source("volume", volume["VolumeId"], region, _tags(volume)))
    return sorted(sources, key=lambda source: source.id)


def plan_backups(ec2: Any, plan_name: str, region: str, keys: TagKeys) -> list[Backup]:
    """Our snapshots and images of `plan_name` in `region` (the client's Region)."""
    filters = [
        {"Name": f"tag:{keys.managed_by}", "Values": [MANAGED_BY]},
        {"Name": f"tag:{keys.plan}", "Values": [plan_name]},
    ]
    backups: list[Backup] = []
    pages = ec2.get_paginator("describe_snapshots").paginate(OwnerIds=["self"], Filters=filters)
    for page in pages:
        for snapshot in page["Snapshots"]:
            backup = Backup.from_tags(
                keys,
                kind="snapshot",
                backup_id=snapshot["SnapshotId"],
                region=region,
                tags=_tags(snapshot),
                state=snapshot.get("State", "completed"),
                started=snapshot.get("StartTime"),
                volume_id=snapshot.get("VolumeId"),
            )
            if backup is not None:
                backups.append(backup)
    pages = ec2.get_paginator("describe_images").paginate(
        Owners=["self"], Filters=filters, IncludeDisabled=True, IncludeDeprecated=True
    )
    for page in pages:
        for image in page["Images"]:
            snapshot_ids = tuple(
                mapping["Ebs"]["SnapshotId"]
                for mapping in image.get("BlockDeviceMappings", [])
                if mapping.get("Ebs", {}).get("SnapshotId")
            )
            backup = Backup.from_tags(
                keys,
                kind="image",
                backup_id=image["ImageId"],
                region=region,
                tags=_tags(image),
                state=image.get("State", "available"),
                started=image.get("CreationDate"),
                snapshot_ids=snapshot_ids,
            )
            if backup is not None:
                backups.append(backup)
    return backups
