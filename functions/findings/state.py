"""The notification dedupe state of each finding, in the state table, with optimistic locking.

`save` writes only if the item still has the version read (or does not exist yet), so two
deliveries of the same finding racing each other cannot both claim its notification. A claim
that could not be delivered is given back with `release`. Without a table (a local run) the
state lives in memory.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from findings.policy import NotificationState
from secauto_core import clients
from secauto_core.severity import Severity

__all__ = ["NotificationStateStore"]

_SORT_KEY = "notification"


class NotificationStateStore:
    def __init__(self, table_name: str | None, ttl: timedelta) -> None:
        self._table = table_name
        self._ttl = ttl
        self._memory: dict[str, NotificationState] = {}

    @staticmethod
    def _key(dedupe_key: str) -> dict[str, Any]:
        return {"pk": {"S": f"findings#{dedupe_key}"}, "sk": {"S": _SORT_KEY}}

    def load(self, dedupe_key: str) -> NotificationState | None:
        if not self._table:
            return self._memory.get(dedupe_key)
        item = clients.dynamodb().get_item(
            TableName=self._table, Key=self._key(dedupe_key), ConsistentRead=True
        )
        found = item.get("Item")
        if not found:
            return None
        severity = found.get("notified_severity", {}).get("S")
        return NotificationState(
            updated_at=datetime.fromisoformat(found["updated_at"]["S"]),
            notified_severity=Severity(severity) if severity else None,
            notified_count=int(found.get("notified_count", {}).get("N", "0")),
            version=int(found["version"]["N"]),
        )

    def save(self, dedupe_key: str, state: NotificationState, expected_version: int | None) -> bool:
        """Write `state` if the stored version is still `expected_version` (None: no item yet)."""
        if not self._table:
            current = self._memory.get(dedupe_key)
            if (current.version if current else None) != expected_version:
                return False
            self._memory[dedupe_key] = state
            return True
        values: dict[str, Any] = {
            ":updated_at": {"S": state.updated_at.isoformat()},
            ":count": {"N": str(state.notified_count)},
            ":severity": {"S": state.notified_severity.value if state.notified_severity else ""},
            ":version": {"N": str(state.version)},
            ":ttl": {"N": str(int((state.updated_at + self._ttl).timestamp()))},
        }
        condition = "attribute_not_exists(pk)"
        if expected_version is not None:
            condition = "version = :expected"
            values[":expected"] = {"N": str(expected_version)}
        try:
            clients.dynamodb().update_item(
                TableName=self._table,
                Key=self._key(dedupe_key),
                UpdateExpression=(
                    "SET updated_at = :updated_at, notified_count = :count, notified_severity = :severity, "
                    "version = :version, #ttl = :ttl"
                ),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues=values,
            )
        except clients.dynamodb().exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release(
        self, dedupe_key: str, claimed: NotificationState, previous: NotificationState | None
    ) -> None:
        """Give back a notification claim that could not be delivered, so a retry notifies."""
        restored = NotificationState(
            updated_at=claimed.updated_at,
            notified_severity=previous.notified_severity if previous else None,
            notified_count=previous.notified_count if previous else 0,
            version=claimed.version + 1,
        )
        self.save(dedupe_key, restored, claimed.version)
