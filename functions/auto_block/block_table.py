"""The block table: every source secauto blocked, until when, and how often (the escalation).

Rows live in the core state table under `pk = auto_block#blocks`, one per network. A row stays
after its block expires (until `history_days` later, by DynamoDB TTL) so a repeat offender's
next block is longer. The WAF and network-ACL writers never decide anything themselves: they
make their targets match the active rows of this table, so two functions racing can never lose
a block one of them recorded.

This is where a detection becomes a block, so this is where the safety rule is enforced
(`blockable.vet`): no caller can record a range it did not ask for, the whole internet, a
network wider than the configured minimum, a private or special address (unless allowed), or
anything the allowlist covers.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from auto_block.blockable import BlockPolicy, BlockRefused, vet
from auto_block.model import Block
from secauto_core import clients
from secauto_core.observability import logger

if TYPE_CHECKING:
    from auto_block.allowlist import Allowlist
    from auto_block.model import Detection, Network
    from auto_block.settings import AutoBlockSettings

__all__ = [
    "BLOCKS_PK",
    "RECORD_ATTEMPTS",
    "BlockTableConflict",
    "Recorded",
    "block_duration",
    "load_blocks",
    "record_block",
    "release_block",
]

BLOCKS_PK = "auto_block#blocks"
#: Read-then-conditional-write rounds before `record_block` gives up (each lost round means
#: another writer changed the row in between: a handful of writers at most ever race).
RECORD_ATTEMPTS = 10


class BlockTableConflict(RuntimeError):
    """The row kept changing under `record_block` for `RECORD_ATTEMPTS` rounds."""


class Recorded(NamedTuple):
    """The row after `record_block`, and whether this call recorded a new offense."""

    block: Block
    new: bool


def block_duration(offenses: int, settings: AutoBlockSettings) -> timedelta:
    """The first block lasts `block_minutes`; each repeat `escalation` times longer, capped."""
    minutes = settings.block_minutes * settings.escalation ** max(offenses - 1, 0)
    return timedelta(minutes=min(minutes, settings.max_block_minutes))


def _network(key: str) -> Network:
    """A row's key as written by `record_block` (canonical; strict: host bits are not widened)."""
    return ipaddress.ip_network(key, strict=True)


def _from_item(item: dict[str, Any]) -> Block:
    return Block(
        network=_network(item["sk"]["S"]),
        detector=item.get("detector", {}).get("S", "?"),
        reason=item.get("reason", {}).get("S", ""),
        severity=int(item.get("severity", {}).get("N", "0")),
        blocked_at=datetime.fromtimestamp(int(item.get("blocked_at", {}).get("N", "0")), UTC),
        expires_at=datetime.fromtimestamp(int(item.get("expires_at", {}).get("N", "0")), UTC),
        offenses=int(item.get("offenses", {}).get("N", "1")),
    )


def load_blocks(table: str, *, client: Any = None) -> list[Block]:
    """Every row of the block table (active or not); a row that is not a block is skipped.

    Rows are written by `record_block` only, but a row written by hand or by an older version may
    name garbage or a network with host bits set: it is logged and left out (nothing enforces
    it), rather than stopping every enforcement.
    """
    dynamodb = client or clients.dynamodb()
    blocks: list[Block] = []
    paginator = dynamodb.get_paginator("query")
    for page in paginator.paginate(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": BLOCKS_PK}},
        ConsistentRead=True,
    ):
        for item in page["Items"]:
            try:
                blocks.append(_from_item(item))
            except (KeyError, ValueError) as exc:
                logger.warning("Block table row skipped", extra={"key": item.get("sk"), "error": str(exc)})
    return blocks


def _number(item: dict[str, Any] | None, name: str) -> int | None:
    if item is None or name not in item:
        return None
    return int(item[name]["N"])


def _as_read(item: dict[str, Any] | None) -> tuple[str, dict[str, str], dict[str, Any], int]:
    """A condition that holds only while the row is exactly as read, and the next revision.

    Every write of a row (`record_block`, `release_block`) adds one to its `revision`, so equal
    revisions mean an unchanged row. A row from before revisions (or written by hand) is
    matched on its offenses and expiry instead.
    """
    if item is None:
        return "attribute_not_exists(sk)", {}, {}, 1
    names = {"#read_revision": "revision"}
    revision = _number(item, "revision")
    if revision is not None:
        values = {":read_revision": {"N": str(revision)}}
        return "#read_revision = :read_revision", names, values, revision + 1
    parts, values = ["attribute_not_exists(#read_revision)"], {}
    for name in ("offenses", "expires_at"):
        names[f"#read_{name}"] = name
        read = _number(item, name)
        if read is None:
            parts.append(f"attribute_not_exists(#read_{name})")
        else:
            parts.append(f"#read_{name} = :read_{name}")
            values[f":read_{name}"] = {"N": str(read)}
    return " AND ".join(parts), names, values, 1


def _write(
    dynamodb: Any, table: str, key: dict[str, Any], item: dict[str, Any] | None, sets: dict[str, Any]
) -> dict[str, Any] | None:
    """SET `sets` in one conditional UpdateItem if the row is still as read; None when it is not."""
    condition, names, values, revision = _as_read(item)
    sets = {**sets, "revision": {"N": str(revision)}}
    for name, value in sets.items():
        names[f"#{name}"] = name
        values[f":{name}"] = value
    try:
        response = dynamodb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in sets),
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return None
    attributes: dict[str, Any] = response["Attributes"]
    return attributes


def record_block(
    table: str,
    detection: Detection,
    settings: AutoBlockSettings,
    now: datetime,
    *,
    allowlist: Allowlist,
    duration: timedelta | None = None,
    allow_range: bool = False,
    allow_new: bool = True,
    client: Any = None,
) -> Recorded | None:
    """Block `detection.source`: a new offense, or a longer block of an active one.

    Refuses (`BlockRefused`) what `blockable.vet` refuses: a range unless `allow_range` (a manual
    `--range`), the whole internet, a range wider than the minimum, a private or special address
    (unless `allow_private_sources`), anything in `allowlist`.

    Atomic: the row is read (consistently), the next state computed from it, and written with ONE
    UpdateItem conditioned on the row being unchanged since the read (same offenses, same
    expiry); a lost race reads again. So two functions detecting the same new scanner at once
    record one offense (the loser sees the winner's active block and extends it), and an offense
    count and its expiry are never seen apart. Returns None, writing nothing, when the source is
    not blocked and `allow_new` is false (the run's cap on new blocks is reached).
    """
    network = detection.source
    verdict = vet(network, BlockPolicy.of(settings), allowlist, allow_range=allow_range)
    if verdict is not None:
        raise BlockRefused(network, verdict.reason)
    dynamodb = client or clients.dynamodb()
    key = {"pk": {"S": BLOCKS_PK}, "sk": {"S": str(network)}}
    now_s = int(now.timestamp())
    for _ in range(RECORD_ATTEMPTS):
        item = dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        expires = _number(item, "expires_at") or 0
        offenses = _number(item, "offenses") or 0
        new = item is None or expires <= now_s
        if new and not allow_new:
            return None
        if new:
            offenses += 1
            until = now_s + int((duration or block_duration(offenses, settings)).total_seconds())
            sets: dict[str, Any] = {
                "offenses": {"N": str(offenses)},
                "detector": {"S": detection.detector},
                "reason": {"S": detection.reason[:1000]},
                "severity": {"N": str(detection.severity)},
                "blocked_at": {"N": str(now_s)},
            }
        else:
            # Already blocked: not another offense; the block lasts at least as long as this
            # detection would make it (a repeat detection never shortens a block).
            wanted = now_s + int((duration or block_duration(max(offenses, 1), settings)).total_seconds())
            until = max(expires, wanted)
            if until == expires and item is not None:
                return Recorded(_from_item(item), new=False)
            sets = {}
        sets["expires_at"] = {"N": str(until)}
        sets["ttl"] = {"N": str(until + settings.history_days * 86_400)}
        written = _write(dynamodb, table, key, item, sets)
        if written is not None:
            return Recorded(_from_item(written), new=new)
    raise BlockTableConflict(f"{network}: the block row kept changing for {RECORD_ATTEMPTS} attempts")


def release_block(table: str, network: Network, now: datetime, *, client: Any = None) -> bool:
    """End a block now (its history stays); False when the source was not blocked."""
    dynamodb = client or clients.dynamodb()
    try:
        dynamodb.update_item(
            TableName=table,
            Key={"pk": {"S": BLOCKS_PK}, "sk": {"S": str(network)}},
            UpdateExpression="SET expires_at = :now ADD revision :one",
            ConditionExpression="expires_at > :now",
            ExpressionAttributeValues={":now": {"N": str(int(now.timestamp()))}, ":one": {"N": "1"}},
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False
    return True
