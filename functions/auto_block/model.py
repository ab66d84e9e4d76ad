"""The domain objects of auto-blocking: detections, blocks, and where blocks are enforced."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from datetime import datetime

__all__ = [
    "Block",
    "DesiredBlocks",
    "Detection",
    "NaclWindow",
    "Network",
    "WafIpSetRef",
    "as_network",
    "load_desired",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def as_network(value: str) -> Network:
    """An address or a CIDR as written, as a network: a bare address becomes its /32 (or /128).

    Strict: `203.0.113.7/24` (host bits set) raises `ValueError`; it is never widened to
    203.0.113.0/24. Sources seen by automation go through `blockable.parse_source` instead,
    which takes single addresses only.
    """
    return ipaddress.ip_network(value.strip(), strict=True)


@dataclass(frozen=True)
class Detection:
    """One source a detector judged abusive, with the evidence.

    Automation judges single addresses only: a detection by any detector but "manual" whose
    source is a range cannot be made (a range can only be asked for by hand).
    """

    source: Network
    detector: Literal["port_scan", "host_sweep", "reject_flood", "guardduty", "alb_top_talker", "manual"]
    #: Higher is worse; orders blocks when a target cannot hold them all.
    severity: int
    reason: str
    evidence: dict[str, int | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.detector != "manual" and self.source.num_addresses != 1:
            raise ValueError(
                f"{self.detector} detected {self.source}: automation blocks single addresses only"
            )


@dataclass(frozen=True)
class Block:
    """A source blocked until `expires_at` (the block table's row)."""

    network: Network
    detector: str
    reason: str
    severity: int
    blocked_at: datetime
    expires_at: datetime
    #: How many times this source was blocked (1 for the first); escalates the duration.
    offenses: int = 1

    @property
    def key(self) -> str:
        return str(self.network)

    def active(self, now: datetime) -> bool:
        return self.expires_at > now


#: The desired blocks, or a loader of them: a writer calls it after reading its target, so what it
#: writes is never older than what it read (see the writers' docstrings).
DesiredBlocks = Sequence[Block] | Callable[[], Sequence[Block]]


def load_desired(desired: DesiredBlocks) -> Sequence[Block]:
    return desired() if callable(desired) else desired


@dataclass(frozen=True)
class WafIpSetRef:
    """A WAFv2 IP set secauto owns (one per IP version and scope)."""

    name: str
    id: str
    scope: Literal["REGIONAL", "CLOUDFRONT"]
    ip_version: Literal["IPV4", "IPV6"]

    @property
    def region(self) -> str | None:
        """CLOUDFRONT IP sets live in us-east-1; REGIONAL ones in the function's Region."""
        return "us-east-1" if self.scope == "CLOUDFRONT" else None


@dataclass(frozen=True)
class NaclWindow:
    """The ingress rule numbers of one network ACL reserved for secauto's deny entries."""

    acl_id: str
    first_rule: int
    size: int
    #: Rules per direction per IP family the account may have (20 by default, raisable to 40).
    quota: int = 20

    @property
    def rule_numbers(self) -> range:
        return range(self.first_rule, self.first_rule + self.size)
