"""Sources that are never blocked, whatever a detector says.

The allowlist is the union of the configured CIDRs, the account's own VPC ranges (IPv4 and
IPv6 associations, from `DescribeVpcs`) and, optionally, AWS's published service ranges. A
candidate is refused when it overlaps any allowed network, so a block can never cover an
allowed address, even partly.
"""

from __future__ import annotations

import ipaddress
import json
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from secauto_core import clients
from secauto_core.observability import logger

if TYPE_CHECKING:
    from collections.abc import Iterable

    from auto_block.model import Network

__all__ = ["AWS_RANGES_URL", "Allowlist", "AllowlistUnavailable", "aws_service_ranges", "own_vpc_ranges"]

AWS_RANGES_URL = "https://ip-ranges.amazonaws.com/ip-ranges.json"


class AllowlistUnavailable(RuntimeError):
    """A part of the allowlist could not be read: blocking must not go ahead without it."""


@dataclass(frozen=True)
class Allowlist:
    networks: tuple[Network, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, networks: Iterable[str | Network]) -> Allowlist:
        parsed = [ipaddress.ip_network(n, strict=False) if isinstance(n, str) else n for n in networks]
        v4 = ipaddress.collapse_addresses(n for n in parsed if n.version == 4)
        v6 = ipaddress.collapse_addresses(n for n in parsed if n.version == 6)
        return cls(networks=(*v4, *v6))

    def covers(self, candidate: Network) -> Network | None:
        """The allowed network `candidate` overlaps, or None when it may be blocked."""
        for allowed in self.networks:
            if allowed.version == candidate.version and allowed.overlaps(candidate):
                return allowed
        return None


def own_vpc_ranges(client: Any = None) -> list[str]:
    """Every IPv4 and IPv6 range associated with a VPC of this account in this Region."""
    ec2 = client or clients.client("ec2")
    ranges: list[str] = []
    try:
        for page in ec2.get_paginator("describe_vpcs").paginate():
            for vpc in page["Vpcs"]:
                ranges.extend(a["CidrBlock"] for a in vpc.get("CidrBlockAssociationSet", []))
                ranges.extend(
                    a["Ipv6CidrBlock"]
                    for a in vpc.get("Ipv6CidrBlockAssociationSet", [])
                    if "Ipv6CidrBlock" in a
                )
                if "CidrBlock" in vpc:
                    ranges.append(vpc["CidrBlock"])
    except Exception as exc:
        raise AllowlistUnavailable(f"cannot read this account's VPC ranges: {exc}") from exc
    return sorted(set(ranges))


def aws_service_ranges(url: str = AWS_RANGES_URL, timeout: float = 5.0) -> list[str]:
    """AWS's published IP ranges (every service and Region)."""
    if not url.startswith("https://"):
        raise AllowlistUnavailable(f"refusing a non-HTTPS ranges URL: {url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (https only, checked above)
            document = json.load(response)
    except (OSError, ValueError) as exc:
        raise AllowlistUnavailable(f"cannot read AWS IP ranges from {url}: {exc}") from exc
    ranges = [p["ip_prefix"] for p in document.get("prefixes", [])]
    ranges += [p["ipv6_prefix"] for p in document.get("ipv6_prefixes", [])]
    logger.info(
        "AWS IP ranges loaded", extra={"prefixes": len(ranges), "sync_token": document.get("syncToken")}
    )
    return ranges
