"""Counting per source across files and invocations: one DynamoDB item per source and window.

A scanner's probes land in many flow-log files (one per interface every few minutes) and in
many subscription batches; judging each file alone misses it. So each candidate source's counts
are added to an item keyed by (window start, source) with `ADD`: distinct ports and addresses
as string sets (DynamoDB unions them atomically), REJECTs as a number. The returned item is the
window's total across every writer. Windows are fixed (`window_seconds`), and items expire with
DynamoDB TTL after two windows.

Each update adds at most `cap` ports and addresses (a detector only needs to see its threshold
passed), which bounds the item size well under DynamoDB's 400 KB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from secauto_core import clients

if TYPE_CHECKING:
    from auto_block.counting import SourceActivity

__all__ = ["WindowTotals", "add_to_window", "window_start"]

_PK = "auto_block#window#{start}"


@dataclass(frozen=True)
class WindowTotals:
    """A source's counts in one window, across every file and invocation so far."""

    source: str
    window_start: int
    ports: int
    hosts: int
    rejects: int
    flows: int


def window_start(epoch_seconds: float, window_seconds: int) -> int:
    return int(epoch_seconds // window_seconds * window_seconds)


def add_to_window(
    table: str,
    source: str,
    activity: SourceActivity,
    *,
    start: int,
    window_seconds: int,
    cap: int,
    client: Any = None,
) -> WindowTotals:
    """Add one source's counts to its window item; the window's totals after the addition."""
    dynamodb = client or clients.dynamodb()
    names = {"#ttl": "ttl", "#rejects": "rejects", "#flows": "flows"}
    values: dict[str, Any] = {
        ":ttl": {"N": str(start + 2 * window_seconds)},
        ":rejects": {"N": str(activity.rejects)},
        ":flows": {"N": str(activity.flows)},
    }
    actions = ["#rejects :rejects", "#flows :flows"]
    ports = sorted(port.decode("ascii", "replace") for port in activity.ports)[:cap]
    hosts = sorted(host.decode("ascii", "replace") for host in activity.hosts)[:cap]
    if ports:  # an empty set is not a valid DynamoDB value
        names["#ports"] = "ports"
        values[":ports"] = {"SS": ports}
        actions.append("#ports :ports")
    if hosts:
        names["#hosts"] = "hosts"
        values[":hosts"] = {"SS": hosts}
        actions.append("#hosts :hosts")
    key = {"pk": {"S": _PK.format(start=start)}, "sk": {"S": source}}
    try:
        # Sets grow only while under `cap`: each update adds at most `cap`, so a set never holds
        # more than twice `cap` and the item stays far below DynamoDB's 400 KB, whatever a
        # sweep of a /16 throws at it.
        values[":cap"] = {"N": str(cap)}
        response = dynamodb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression=f"ADD {', '.join(actions)} SET #ttl = :ttl",
            ConditionExpression="(attribute_not_exists(#p) OR size(#p) < :cap) "
            "AND (attribute_not_exists(#h) OR size(#h) < :cap)",
            ExpressionAttributeNames={**names, "#p": "ports", "#h": "hosts"},
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        # A set reached `cap`: the threshold is decided; only the counters still grow.
        response = dynamodb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="ADD #rejects :rejects, #flows :flows SET #ttl = :ttl",
            ExpressionAttributeNames={"#ttl": "ttl", "#rejects": "rejects", "#flows": "flows"},
            ExpressionAttributeValues={k: values[k] for k in (":ttl", ":rejects", ":flows")},
            ReturnValues="ALL_NEW",
        )
    item = response["Attributes"]
    return WindowTotals(
        source=source,
        window_start=start,
        ports=len(item.get("ports", {}).get("SS", [])),
        hosts=len(item.get("hosts", {}).get("SS", [])),
        rejects=int(item.get("rejects", {}).get("N", "0")),
        flows=int(item.get("flows", {}).get("N", "0")),
    )
