"""The block table: every source secauto blocked, until when, and how often (the escalation).

Rows live in the core state table under `pk = auto_block#blocks`, one per network. A row stays
after its block expires (until `history_days` later, by DynamoDB TTL) so a repeat offender's
next block is longer. The WAF and network-ACL writers never decide anything themselves: they
make their targets match the active rows of this table, so two functions racing can never lose
a block one of them recorded.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from auto_block.model import Block, as_network
from secauto_core import clients

if TYPE_CHECKING:
    from auto_block.model import Detection, Network
    from auto_block.settings import AutoBlockSettings

__all__ = ["BLOCKS_PK", "block_duration", "load_blocks", "record_block", "release_block"]

BLOCKS_PK = "auto_block#blocks"


def block_duration(offenses: int, settings: AutoBlockSettings) -> timedelta:
    """The first block lasts `block_minutes`; each repeat `escalation` times longer, capped."""
    minutes = settings.block_minutes * settings.escalation ** max(offenses - 1, 0)
    return timedelta(minutes=min(minutes, settings.max_block_minutes))


def _from_item(item: dict[str, Any]) -> Block:
    return Block(
        network=as_network(item["sk"]["S"]),
        detector=item.get("detector", {}).get("S", "?"),
        reason=item.get("reason", {}).get("S", ""),
        severity=int(item.get("severity", {}).get("N", "0")),
        blocked_at=datetime.fromtimestamp(int(item.get("blocked_at", {}).get("N", "0")), UTC),
        expires_at=datetime.fromtimestamp(int(item.get("expires_at", {}).get("N", "0")), UTC),
        offenses=int(item.get("offenses", {}).get("N", "1")),
    )


def load_blocks(table: str, *, client: Any = None) -> list[Block]:
    """Every row of the block table (active or not)."""
    dynamodb = client or clients.dynamodb()
    blocks: list[Block] = []
    paginator = dynamodb.get_paginator("query")
    for page in paginator.paginate(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": BLOCKS_PK}},
        ConsistentRead=True,
    ):
        blocks.extend(_from_item(item) for item in page["Items"])
    return blocks


def record_block(
    table: str,
    detection: Detection,
    settings: AutoBlockSettings,
    now: datetime,
    *,
    duration: timedelta | None = None,
    client: Any = None,
) -> tuple[Block, bool]:
    """Block `detection.source` (a new offense, or a longer block of an active one).

    Returns the row and whether the block is new (False: it was already active). The offense
    count is incremented atomically, and only when the source is not already blocked, so two
    functions detecting the same scanner count one offense.
    """
    dynamodb = client or clients.dynamodb()
    key = {"pk": {"S": BLOCKS_PK}, "sk": {"S": str(detection.source)}}
    now_s = int(now.timestamp())
    try:
        response = dynamodb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression=(
                "ADD offenses :one SET detector = :d, reason = :r, severity = :s, blocked_at = :now"
            ),
            ConditionExpression="attribute_not_exists(expires_at) OR expires_at <= :now",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":d": {"S": detection.detector},
                ":r": {"S": detection.reason[:1000]},
                ":s": {"N": str(detection.severity)},
                ":now": {"N": str(now_s)},
            },
            ReturnValues="ALL_NEW",
        )
        new = True
        item = response["Attributes"]
    except dynamodb.exceptions.ConditionalCheckFailedException:
        new = False
        item = dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    offenses = int(item.get("offenses", {}).get("N", "1"))
    until = now + (duration or block_duration(offenses, settings))
    current = int(item.get("expires_at", {}).get("N", "0"))
    expires = max(current, int(until.timestamp())) if not new else int(until.timestamp())
    history = expires + settings.history_days * 86_400
    item = dynamodb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET expires_at = :e, #ttl = :t",
        ExpressionAttributeNames={"#ttl": "ttl"},
        ExpressionAttributeValues={":e": {"N": str(expires)}, ":t": {"N": str(history)}},
        ReturnValues="ALL_NEW",
    )["Attributes"]
    return _from_item(item), new


def release_block(table: str, network: Network, now: datetime, *, client: Any = None) -> bool:
    """End a block now (its history stays); False when the source was not blocked."""
    dynamodb = client or clients.dynamodb()
    try:
        dynamodb.update_item(
            TableName=table,
            Key={"pk": {"S": BLOCKS_PK}, "sk": {"S": str(network)}},
            UpdateExpression="SET expires_at = :now",
            ConditionExpression="expires_at > :now",
            ExpressionAttributeValues={":now": {"N": str(int(now.timestamp()))}},
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False
    return True
