"""Which selected resources have an open "no backup within the period" finding, per plan.

Remembered so the finding is archived when the resource is backed up again (or is no longer
selected). One item per open finding in the state table, under one partition per account and
plan, read with a single paginated `Query` per run; in memory when no table is configured.
"""

from __future__ import annotations

from datetime import datetime

from backups.ledger import PARTITION_PREFIX
from secauto_core import clients

__all__ = ["ProtectionStates"]


class ProtectionStates:
    def __init__(self, table_name: str | None, account_id: str) -> None:
        self._table = table_name
        self._account = account_id
        self._memory: dict[str, dict[str, datetime]] = {}

    def _partition(self, plan: str) -> str:
        return f"{PARTITION_PREFIX}{self._account}#{plan}"

    def load_open(self, plan: str) -> dict[str, datetime]:
        """Source id -> when its finding was opened."""
        if not self._table:
            return dict(self._memory.get(plan, {}))
        opened: dict[str, datetime] = {}
        pages = (
            clients.dynamodb()
            .get_paginator("query")
            .paginate(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": self._partition(plan)}},
                ConsistentRead=True,
            )
        )
        for page in pages:
            for item in page["Items"]:
                opened[item["sk"]["S"]] = datetime.fromisoformat(item["opened_at"]["S"])
        return opened

    def open(self, plan: str, source_id: str, opened_at: datetime) -> None:
        if not self._table:
            self._memory.setdefault(plan, {})[source_id] = opened_at
            return
        clients.dynamodb().put_item(
            TableName=self._table,
            Item={
                "pk": {"S": self._partition(plan)},
                "sk": {"S": source_id},
                "opened_at": {"S": opened_at.isoformat()},
            },
        )

    def close(self, plan: str, source_id: str) -> None:
        if not self._table:
            self._memory.get(plan, {}).pop(source_id, None)
            return
        clients.dynamodb().delete_item(
            TableName=self._table, Key={"pk": {"S": self._partition(plan)}, "sk": {"S": source_id}}
        )
