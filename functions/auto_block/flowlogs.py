"""VPC flow-log records: the format (header-driven), and the columns detection reads.

Flow logs come in two shapes:

- S3 delivery: gzip files whose first line is a header naming the fields (`version account-id
  ...`), in any order and any subset (custom formats). Parse by header, never by position.
- CloudWatch Logs delivery: no header; the flow log's `LogFormat` says which fields, and a
  subscription hands the function `awslogs.data` = base64(gzip(JSON)) with `logEvents[].message`.

`NODATA` and `SKIPDATA` records carry `-` in every flow field; SKIPDATA means records were lost.
Behind NAT or EKS, `srcaddr` is the interface's address and `pkt-srcaddr` the original source.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_FIELDS",
    "FlowFormat",
    "FlowLogError",
    "LogsSubscription",
    "decode_subscription",
    "parse_format",
]

#: The default (version 2) format, in order.
DEFAULT_FIELDS: tuple[str, ...] = (
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
)
#: Fields detection cannot do without (`pkt-*` are preferred when present).
_REQUIRED = ("dstport", "action", "log-status")


class FlowLogError(ValueError):
    """A header, a format or a subscription payload that cannot be used."""


@dataclass(frozen=True)
class FlowFormat:
    """Where each field detection reads sits in a record (index into its split tokens)."""

    fields: tuple[str, ...]
    source: int
    destination: int
    destination_port: int
    action: int
    log_status: int
    #: `pkt-srcaddr` when the format has it (preferred over `srcaddr` when not `-`).
    packet_source: int | None = None
    packet_destination: int | None = None
    #: `flow-direction` (v5): only `ingress` counts when it is known.
    direction: int | None = None
    protocol: int | None = None
    start: int | None = None

    @property
    def width(self) -> int:
        return len(self.fields)


def parse_format(fields: list[str] | tuple[str, ...] | str) -> FlowFormat:
    """A `FlowFormat` from field names: a header line, a list, or a LogFormat (`${srcaddr} ...`)."""
    if isinstance(fields, str):
        fields = fields.replace("${", " ").replace("}", " ").split()
    names = tuple(name.strip().replace("_", "-") for name in fields)
    if len(set(names)) != len(names):
        raise FlowLogError(f"flow-log format names a field twice: {' '.join(names)}")
    index = {name: position for position, name in enumerate(names)}
    missing = [name for name in _REQUIRED if name not in index]
    if "srcaddr" not in index and "pkt-srcaddr" not in index:
        missing.append("srcaddr")
    if "dstaddr" not in index and "pkt-dstaddr" not in index:
        missing.append("dstaddr")
    if missing:
        raise FlowLogError(f"flow-log format lacks {', '.join(missing)} (has: {' '.join(names)})")
    return FlowFormat(
        fields=names,
        source=index.get("srcaddr", index.get("pkt-srcaddr", 0)),
        destination=index.get("dstaddr", index.get("pkt-dstaddr", 0)),
        destination_port=index["dstport"],
        action=index["action"],
        log_status=index["log-status"],
        packet_source=index.get("pkt-srcaddr"),
        packet_destination=index.get("pkt-dstaddr"),
        direction=index.get("flow-direction"),
        protocol=index.get("protocol"),
        start=index.get("start"),
    )


@dataclass(frozen=True)
class LogsSubscription:
    """A decoded CloudWatch Logs subscription payload."""

    message_type: str
    log_group: str
    log_stream: str
    owner: str
    messages: list[str]


def decode_subscription(event: dict[str, Any]) -> LogsSubscription:
    """`event["awslogs"]["data"]` (base64 of gzip of JSON) decoded; raises `FlowLogError`."""
    try:
        data = event["awslogs"]["data"]
        payload = json.loads(gzip.decompress(base64.b64decode(data, validate=True)))
        return LogsSubscription(
            message_type=str(payload["messageType"]),
            log_group=str(payload.get("logGroup", "")),
            log_stream=str(payload.get("logStream", "")),
            owner=str(payload.get("owner", "")),
            messages=[str(item["message"]) for item in payload.get("logEvents", [])],
        )
    except (KeyError, TypeError, ValueError, OSError, EOFError, zlib.error) as exc:
        raise FlowLogError(
            f"not a CloudWatch Logs subscription payload: {type(exc).__name__}: {exc}"
        ) from exc
