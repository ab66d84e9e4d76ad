"""Which of our AMIs something still launches from: those are never deregistered.

Deregistering an AMI a launch template (any version: an Auto Scaling group may pin an old one), a
launch configuration or an existing instance names breaks the next scale-out or instance
recovery, and its snapshots go with it. So before a prune deregisters anything, one pass per
Region and run (never one per AMI) collects the references to the AMIs it would deregister:

- `DescribeImageReferences` (at most 10 ids a call) for instances and launch templates, where EC2
  offers it; where it does not (moto; older partitions) the error is noted and the other checks
  stand on their own. Its SSM-parameter and Image Builder types are not asked for: they need
  grants beyond EC2's, and a refusal there would stop every AMI prune;
- every version of every launch template (`DescribeLaunchTemplateVersions` with
  `ResolveAlias`, since an `ImageId` may be `resolve:ssm:<parameter>`). An alias EC2 leaves
  unresolved could name any AMI, so it makes the check incomplete, except an alias to AWS's
  public parameters (`/aws/service/...`), which name AWS's AMIs, never ours;
- every launch configuration (Auto Scaling `DescribeLaunchConfigurations`);
- every instance launched from one of them that is not terminated (`DescribeInstances`).

A check that cannot be completed (an error, access denied) makes the whole answer incomplete,
and an incomplete answer releases nothing: no AMI of that Region is deregistered in that run
(failing safe), and the reason is reported. Every call is paginated.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backups.retrying import error_code

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

__all__ = ["PUBLIC_ALIAS_PREFIX", "ImageReferences", "find_references"]

#: AWS's public SSM parameters (they name AWS's own AMIs).
PUBLIC_ALIAS_PREFIX = "resolve:ssm:/aws/service/"
_ALIAS_PREFIX = "resolve:ssm:"
#: DescribeImageReferences takes at most 10 image ids a call.
_REFERENCE_BATCH = 10
#: Values per DescribeInstances filter (AWS accepts up to 200).
_FILTER_BATCH = 100
#: Everything but terminated (a shutting-down instance may still be recovered from its AMI).
_INSTANCE_STATES = ["pending", "running", "shutting-down", "stopping", "stopped"]
#: Error codes (and moto's NotImplementedError) meaning "this API does not exist here".
_UNAVAILABLE = frozenset({"InvalidAction", "UnsupportedOperation", "UnknownOperation", "NotImplemented"})
_TEMPLATE_GONE = frozenset(
    {"InvalidLaunchTemplateId.NotFound", "InvalidLaunchTemplateName.NotFoundException"}
)

#: (image id, what references it).
Reference = tuple[str, str]


@dataclass(frozen=True)
class ImageReferences:
    """What references the AMIs one Region's prune would deregister, and whether that is certain."""

    region: str
    #: The AMIs asked about: an AMI not asked about is never released.
    checked: frozenset[str]
    #: AMI id -> what references it.
    users: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Why the answer is incomplete (empty when every check completed).
    problems: tuple[str, ...] = ()
    #: Checks that were not available here (the others stand on their own).
    notes: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.problems

    def blocker(self, image_id: str) -> str | None:
        """Why `image_id` must not be deregistered, or None when nothing references it."""
        if image_id not in self.checked:
            return "its references were not checked"
        if self.problems:
            return "reference check incomplete (" + "; ".join(self.problems[:3]) + ")"
        users = self.users.get(image_id)
        if users:
            more = f" and {len(users) - 3} more" if len(users) > 3 else ""
            return "in use by " + ", ".join(users[:3]) + more
        return None


def _batches(values: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


class _Unavailable(Exception):
    """The API does not exist where we called it."""


def _via_image_references(ec2: Any, wanted: frozenset[str]) -> Iterator[Reference]:
    resource_types = [{"ResourceType": "ec2:Instance"}, {"ResourceType": "ec2:LaunchTemplate"}]
    try:
        for batch in _batches(sorted(wanted), _REFERENCE_BATCH):
            pages = ec2.get_paginator("describe_image_references").paginate(
                ImageIds=batch, ResourceTypes=resource_types
            )
            for page in pages:
                for reference in page.get("ImageReferences", []):
                    if reference.get("ImageId") in wanted:
                        yield reference["ImageId"], f"{reference.get('ResourceType')} {reference.get('Arn')}"
    except NotImplementedError as exc:
        raise _Unavailable(str(exc)) from exc
    except Exception as exc:
        if error_code(exc) in _UNAVAILABLE:
            raise _Unavailable(error_code(exc)) from exc
        raise


def _template_versions(ec2: Any, template_id: str) -> Iterator[dict[str, Any]]:
    pages = ec2.get_paginator("describe_launch_template_versions").paginate(
        LaunchTemplateId=template_id, ResolveAlias=True, PaginationConfig={"PageSize": 200}
    )
    try:
        for page in pages:
            yield from page.get("LaunchTemplateVersions", [])
    except Exception as exc:
        if error_code(exc) not in _TEMPLATE_GONE:  # deleted since it was listed: it launches nothing
            raise


def _via_launch_templates(ec2: Any, wanted: frozenset[str], problems: list[str]) -> Iterator[Reference]:
    """Every version of every launch template (each template listed once, all its versions)."""
    pages = ec2.get_paginator("describe_launch_templates").paginate(PaginationConfig={"PageSize": 200})
    for page in pages:
        for template in page.get("LaunchTemplates", []):
            template_id = template["LaunchTemplateId"]
            for version in _template_versions(ec2, template_id):
                image = str((version.get("LaunchTemplateData") or {}).get("ImageId") or "")
                where = f"launch template {template_id} version {version.get('VersionNumber')}"
                if image in wanted:
                    yield image, where
                elif image.startswith(_ALIAS_PREFIX) and not image.startswith(PUBLIC_ALIAS_PREFIX):
                    problems.append(f"{where}: {image} not resolved")


def _via_launch_configurations(autoscaling: Any, wanted: frozenset[str]) -> Iterator[Reference]:
    pages = autoscaling.get_paginator("describe_launch_configurations").paginate(
        PaginationConfig={"PageSize": 100}
    )
    for page in pages:
        for configuration in page.get("LaunchConfigurations", []):
            if configuration.get("ImageId") in wanted:
                yield (
                    configuration["ImageId"],
                    f"launch configuration {configuration['LaunchConfigurationName']}",
                )


def _via_instances(ec2: Any, wanted: frozenset[str]) -> Iterator[Reference]:
    for batch in _batches(sorted(wanted), _FILTER_BATCH):
        filters = [
            {"Name": "image-id", "Values": batch},
            {"Name": "instance-state-name", "Values": _INSTANCE_STATES},
        ]
        for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    state = instance.get("State", {}).get("Name", "unknown")
                    yield instance.get("ImageId", ""), f"instance {instance['InstanceId']} ({state})"


def find_references(ec2: Any, autoscaling: Any, image_ids: Iterable[str], region: str) -> ImageReferences:
    """One pass over the Region (`ec2` and `autoscaling` clients there) for `image_ids`."""
    wanted = frozenset(image_ids)
    if not wanted:
        return ImageReferences(region, wanted)
    users: dict[str, list[str]] = defaultdict(list)
    problems: list[str] = []
    notes: list[str] = []
    checks: list[tuple[str, Callable[[], Iterable[Reference]]]] = [
        ("DescribeImageReferences", lambda: _via_image_references(ec2, wanted)),
        ("launch templates", lambda: _via_launch_templates(ec2, wanted, problems)),
        ("launch configurations", lambda: _via_launch_configurations(autoscaling, wanted)),
        ("instances", lambda: _via_instances(ec2, wanted)),
    ]
    for name, check in checks:
        try:
            for image_id, user in check():
                if image_id in wanted and user not in users[image_id]:
                    users[image_id].append(user)
        except _Unavailable as exc:
            notes.append(f"{name} not available here ({exc}); the other checks stand")
        except Exception as exc:
            problems.append(f"{name}: {error_code(exc)}")
    return ImageReferences(
        region,
        wanted,
        {image_id: tuple(found) for image_id, found in users.items() if found},
        tuple(problems),
        tuple(notes),
    )
