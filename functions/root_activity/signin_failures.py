"""Counting failed root sign-ins over a sliding window, across invocations.

Each failure is one item in the state table (key: account, then time and event id, so a
re-delivered event overwrites itself instead of counting twice), expiring by TTL; the count is
a `Query` over the window. Without a state table (a local run) every failure counts alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from secauto_core import clients

__all__ = ["SigninFailureCounter"]

_KEEP_AFTER_WINDOW = timedelta(days=1)


class SigninFailureCounter:
    def __init__(self, table_name: str | None, window: timedelta) -> None:
        self._table = table_name
        self._window = window

    @staticmethod
    def _partition(account_id: str) -> str:
        return f"root_activity#signin-failure#{account_id}"

    def record_and_count(self, account_id: str, event_id: str, event_time: datetime) -> int:
        """Record this failure; return how many failures fall in the window ending at it."""
        if not self._table:
            return 1
        pk = self._partition(account_id)
        sort_key = f"{event_time.isoformat()}#{event_id}"
        expires = int((event_time + self._window + _KEEP_AFTER_WINDOW).timestamp())
        dynamodb = clients.dynamodb()
        dynamodb.put_item(
            TableName=self._table,
            Item={"pk": {"S": pk}, "sk": {"S": sort_key}, "ttl": {"N": str(expires)}},
        )
        response = dynamodb.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :oldest AND :newest",
            ExpressionAttributeValues={
                ":pk": {"S": pk},
                ":oldest": {"S": (event_time - self._window).isoformat()},
                ":newest": {"S": sort_key},
            },
            Select="COUNT",
        )
        return int(response["Count"])
