"""The tags a backup gets when it is created or copied (TagSpecifications: never afterwards).

Ownership tags first; then, when the plan copies tags, the source's own tags (not `aws:` ones,
which cannot be set, and not ours, which would blur ownership), within EC2's 50 tags a resource.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from backups.model import MANAGED_BY, format_time

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from backups.model import TagKeys

__all__ = ["MAX_TAGS", "carried_tags", "expiry", "ownership_tags", "tag_specifications"]

MAX_TAGS = 50


def expiry(created_at: datetime, retain_days: int | None) -> datetime | None:
    return created_at + timedelta(days=retain_days) if retain_days is not None else None


def ownership_tags(
    keys: TagKeys,
    *,
    plan: str,
    source: str,
    created_at: datetime,
    expires_at: datetime | None,
    slot: str | None,
    copied_from: str | None = None,
) -> dict[str, str]:
    tags = {
        keys.managed_by: MANAGED_BY,
        keys.plan: plan,
        keys.source: source,
        keys.created_at: format_time(created_at),
    }
    if expires_at is not None:
        tags[keys.expires_at] = format_time(expires_at)
    if slot:
        tags[keys.slot] = slot
    if copied_from:
        tags[keys.copied_from] = copied_from
    return tags


def carried_tags(keys: TagKeys, source_tags: Mapping[str, str], *, room: int) -> dict[str, str]:
    """Up to `room` of the source's own tags, sorted by key."""
    carried = {
        key: value
        for key, value in sorted(source_tags.items())
        if not key.lower().startswith("aws:") and not keys.is_own_key(key)
    }
    return dict(list(carried.items())[: max(0, room)])


def tag_specifications(resource_types: Sequence[str], tags: Mapping[str, str]) -> list[dict[str, object]]:
    listed = [{"Key": key, "Value": value} for key, value in tags.items()]
    return [{"ResourceType": kind, "Tags": listed} for kind in resource_types]
