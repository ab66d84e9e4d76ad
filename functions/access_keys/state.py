"""What the audit remembers per key: when it was last announced, since when it is inactive,
since when it is spared as its user's last working key (so its grace does not restart every run),
whether a Security Hub finding is open, and the key's timeline (warned, deactivated, deleted).

One item per key in the state table, all under one partition per account, read with a single
paginated `Query` per run.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from secauto_core import clients

__all__ = ["KeyState", "KeyStateStore"]

_KEEP = timedelta(days=400)
_TIMELINE_MAX = 50


@dataclass(frozen=True)
class KeyState:
    identity: str
    last_announced: datetime | None = None
    announced_action: str | None = None
    inactive_since: datetime | None = None
    finding_id: str | None = None
    timeline: tuple[str, ...] = field(default_factory=tuple)
    #: The first enforcing run that spared the key as its user's last working key (`last_key`).
    spared_since: datetime | None = None

    def with_event(self, when: datetime, text: str) -> KeyState:
        entry = f"{when.strftime('%Y-%m-%dT%H:%M:%SZ')} {text}"
        return replace(self, timeline=(*self.timeline, entry)[-_TIMELINE_MAX:])


def _time(item: dict[str, Any], name: str) -> datetime | None:
    value = item.get(name, {}).get("S")
    return datetime.fromisoformat(value) if value else None


class KeyStateStore:
    def __init__(self, table_name: str | None, account_id: str) -> None:
        self._table = table_name
        self._partition = f"access_keys#{account_id}"
        self._memory: dict[str, KeyState] = {}

    def load_all(self) -> dict[str, KeyState]:
        if not self._table:
            return dict(self._memory)
        states = {}
        paginator = clients.dynamodb().get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": self._partition}},
            ConsistentRead=True,
        )
        for page in pages:
            for item in page["Items"]:
                identity = item["sk"]["S"]
                states[identity] = KeyState(
                    identity=identity,
                    last_announced=_time(item, "last_announced"),
                    announced_action=item.get("announced_action", {}).get("S"),
                    inactive_since=_time(item, "inactive_since"),
                    finding_id=item.get("finding_id", {}).get("S"),
                    timeline=tuple(entry["S"] for entry in item.get("timeline", {}).get("L", [])),
                    spared_since=_time(item, "spared_since"),
                )
        return states

    def save(self, state: KeyState, now: datetime) -> None:
        if not self._table:
            self._memory[state.identity] = state
            return
        item: dict[str, Any] = {
            "pk": {"S": self._partition},
            "sk": {"S": state.identity},
            "timeline": {"L": [{"S": entry} for entry in state.timeline]},
            "ttl": {"N": str(int((now + _KEEP).timestamp()))},
        }
        for name in ("last_announced", "inactive_since", "spared_since"):
            value = getattr(state, name)
            if value is not None:
                item[name] = {"S": value.isoformat()}
        for name in ("announced_action", "finding_id"):
            value = getattr(state, name)
            if value:
                item[name] = {"S": value}
        clients.dynamodb().put_item(TableName=self._table, Item=item)
