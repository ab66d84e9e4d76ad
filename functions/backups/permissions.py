"""IAM permissions of scheduled backups, beyond the core ones every function has.

What the function may change is scoped by tags, so it can only ever touch what it made:

- creating (CreateSnapshots, CreateSnapshot, CreateImage, CopySnapshot, CopyImage) is allowed on
  snapshot and image ARNs only when the request tags the new resource `secauto:managed-by` =
  `secauto` (`aws:RequestTag`); the instances and volumes read from are not conditioned;
- `ec2:CreateTags` only as part of one of those create calls (`ec2:CreateAction`), so tags are
  set at creation and never changed afterwards;
- deleting (DeleteSnapshot, DeregisterImage) only resources tagged `secauto:managed-by` =
  `secauto` (`aws:ResourceTag`). Deregistering with `DeleteAssociatedSnapshots` also deletes the
  AMI's snapshots, which CreateImage tagged the same way.

Tags are what IAM can see; they are not proof of ownership (anyone who can tag can forge them),
so the code deletes only what it recorded as created (`backups.ledger`, items in the core state
table). Its DynamoDB grant reaches only the backups partitions (`dynamodb:LeadingKeys`
`backups#*`, `STATE_CONDITIONS`), so the function can neither read nor write another
capability's state. Before deregistering an AMI it looks for launch templates, launch
configurations and instances that use it (Describe* calls, which AWS scopes to no resource).

`TAG_CONDITIONS` lists these conditions per action (for the construct and for reviewers); the
`Permission`s below already carry them. The tag key follows the function's `tag_prefix`
(`backup_permissions(tag_prefix)`); the defaults are for `secauto:`.

The home Region's ARNs use `{region}`. Cross-Region copies need the same rights in each
`copy_to` Region: `COPY_PERMISSIONS` uses `{copy_region}`, to be granted once per distinct copy
Region of the configured plans (`copy_permissions(region)` fills it in).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

from backups.ledger import PARTITION_PREFIX
from backups.model import MANAGED_BY
from secauto_core.permissions import CoreResource, Permission

if TYPE_CHECKING:
    from collections.abc import Mapping

    from secauto_core.permissions import Conditions

__all__ = [
    "COPY_PERMISSIONS",
    "CREATE_ACTIONS",
    "PERMISSIONS",
    "REFERENCE_ACTIONS",
    "STATE_ACTIONS",
    "STATE_CONDITIONS",
    "TAG_CONDITIONS",
    "backup_permissions",
    "copy_permissions",
    "tag_conditions",
]

DEFAULT_TAG_PREFIX = "secauto:"

SNAPSHOTS = "arn:{partition}:ec2:{region}::snapshot/*"
IMAGES = "arn:{partition}:ec2:{region}::image/*"
INSTANCES = "arn:{partition}:ec2:{region}:{account}:instance/*"
VOLUMES = "arn:{partition}:ec2:{region}:{account}:volume/*"
COPY_SNAPSHOTS = "arn:{partition}:ec2:{copy_region}::snapshot/*"
COPY_IMAGES = "arn:{partition}:ec2:{copy_region}::image/*"

#: The calls that create (and tag, in the same call) a snapshot or an image.
CREATE_ACTIONS = ("CreateSnapshot", "CreateSnapshots", "CreateImage", "CopySnapshot", "CopyImage")
#: What finds the launch templates, launch configurations and instances using an AMI (`*` only).
REFERENCE_ACTIONS = (
    "ec2:DescribeImageReferences",
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribeLaunchTemplateVersions",
    "autoscaling:DescribeLaunchConfigurations",
)
#: The ledger of created ids and the open findings, in the core state table.
STATE_ACTIONS = ("dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem")
#: Only items whose partition key starts with `backups#` (the key of every one the function uses).
STATE_CONDITIONS: Conditions = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": f"{PARTITION_PREFIX}*"}}


def tag_conditions(tag_prefix: str = DEFAULT_TAG_PREFIX) -> Mapping[str, Conditions]:
    """Per IAM action, the condition it must be granted under (on snapshot and image ARNs)."""
    managed_by = f"{tag_prefix}managed-by"
    request: Conditions = {"StringEquals": {f"aws:RequestTag/{managed_by}": MANAGED_BY}}
    resource: Conditions = {"StringEquals": {f"aws:ResourceTag/{managed_by}": MANAGED_BY}}
    tag_at_creation: Conditions = {
        "StringEquals": {f"aws:RequestTag/{managed_by}": MANAGED_BY, "ec2:CreateAction": CREATE_ACTIONS}
    }
    return MappingProxyType(
        {
            **{f"ec2:{action}": request for action in CREATE_ACTIONS},
            "ec2:CreateTags": tag_at_creation,
            "ec2:DeleteSnapshot": resource,
            "ec2:DeregisterImage": resource,
        }
    )


TAG_CONDITIONS = tag_conditions()


def _on(actions: tuple[str, ...], resource: str, conditions: Mapping[str, Conditions]) -> Permission:
    return Permission(actions, resource, conditions[actions[0]])


def backup_permissions(tag_prefix: str = DEFAULT_TAG_PREFIX) -> tuple[Permission, ...]:
    conditions = tag_conditions(tag_prefix)
    return (
        # Finding the tagged instances and volumes, and our own snapshots and images: Describe*
        # supports no resource-level permissions (AWS documents "*"); their filters select.
        Permission(
            ("ec2:DescribeInstances", "ec2:DescribeVolumes", "ec2:DescribeSnapshots", "ec2:DescribeImages"),
            "*",
        ),
        # What still launches from an AMI before it is deregistered (no resource scope either).
        Permission(REFERENCE_ACTIONS, "*"),
        # The instances and volumes a backup is made from.
        Permission(("ec2:CreateSnapshots", "ec2:CreateImage"), INSTANCES),
        Permission(("ec2:CreateSnapshots", "ec2:CreateSnapshot"), VOLUMES),
        # The snapshots and images made, tagged as ours by the create call itself.
        _on(("ec2:CreateSnapshots",), SNAPSHOTS, conditions),
        _on(("ec2:CreateSnapshot",), SNAPSHOTS, conditions),
        _on(("ec2:CreateImage",), SNAPSHOTS, conditions),
        _on(("ec2:CreateImage",), IMAGES, conditions),
        _on(("ec2:CreateTags",), SNAPSHOTS, conditions),
        _on(("ec2:CreateTags",), IMAGES, conditions),
        # The sources of cross-Region copies (the copies themselves: COPY_PERMISSIONS).
        _on(("ec2:CopySnapshot",), SNAPSHOTS, conditions),
        _on(("ec2:CopyImage",), IMAGES, conditions),
        # Pruning: only what carries our managed-by tag.
        _on(("ec2:DeleteSnapshot",), SNAPSHOTS, conditions),
        _on(("ec2:DeregisterImage",), IMAGES, conditions),
        # The ledger of what was created (recorded, re-checked before a delete, dropped after it)
        # and the open "no backup within the period" findings: the backups partitions only.
        Permission(STATE_ACTIONS, CoreResource.STATE_TABLE, STATE_CONDITIONS),
    )


def copy_permissions(tag_prefix: str = DEFAULT_TAG_PREFIX) -> tuple[Permission, ...]:
    """In a copy Region (`{copy_region}`): copy in, tag at creation, prune the copies."""
    conditions = tag_conditions(tag_prefix)
    return (
        _on(("ec2:CopySnapshot",), COPY_SNAPSHOTS, conditions),
        _on(("ec2:CopyImage",), COPY_IMAGES, conditions),
        _on(("ec2:CopyImage",), COPY_SNAPSHOTS, conditions),
        _on(("ec2:CreateTags",), COPY_SNAPSHOTS, conditions),
        _on(("ec2:CreateTags",), COPY_IMAGES, conditions),
        _on(("ec2:DeleteSnapshot",), COPY_SNAPSHOTS, conditions),
        _on(("ec2:DeregisterImage",), COPY_IMAGES, conditions),
    )


PERMISSIONS: tuple[Permission, ...] = backup_permissions()
#: Per distinct `copy_to` Region: the construct fills `{copy_region}` (template value).
COPY_PERMISSIONS: tuple[Permission, ...] = copy_permissions()
