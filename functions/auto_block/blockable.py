"""What may ever be blocked: the one rule the block table and both writers apply.

Three facts decide it, in this order:

1. A network is never the whole internet and never wider than the configured minimum prefix
   (`min_range_prefix_v4`, default /24; `min_range_prefix_v6`, default /48); this holds whatever
   the configuration, for every path (the table write, the WAF plan, the ACL plan).
2. Addresses that are never a remote host on the internet (loopback, unspecified, link-local,
   multicast, reserved, IPv6 outside global unicast 2000::/3) are never blocked.
3. Addresses an organisation uses inside its networks (RFC 1918, the shared 100.64.0.0/10,
   IPv6 unique-local, ...) are not blocked unless `allow_private_sources` says so: a peered VPC,
   a transit gateway or a VPN client is not an attacker to cut off.

IPv6 forms that carry an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4
`2002::/16`, Teredo `2001::/32`) are judged by the IPv4 address they carry too, so
`::ffff:10.0.0.1` is as private as `10.0.0.1`.

Why an explicit table rather than `ipaddress`'s `is_private` / `is_global`: their lists change
between Python versions (3.11 does not map `::ffff:10.0.0.1`, 3.13 does), and they count the
documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) as private.
Those are deliberately blockable here: no organisation uses them on the wire, and every sample
event names them. A test checks this table against `ipaddress` for everything else.

Automation (detectors, counting, GuardDuty, ALB summaries) only ever reads single addresses
(`parse_source`); a range reaches the table only from a manual block that asked for one.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from auto_block.allowlist import Allowlist
    from auto_block.model import Network

__all__ = [
    "DEFAULT_POLICY",
    "MAX_MIN_PREFIX",
    "MIN_MIN_PREFIX",
    "BlockPolicy",
    "BlockRefused",
    "SpecialRange",
    "Verdict",
    "parse_range",
    "parse_source",
    "refusal",
    "special_ranges",
    "vet",
]

#: The narrowest a configured minimum prefix may be set (a range block is at most a /16 or a /32),
#: and the widest it may be (a single address).
MIN_MIN_PREFIX = {4: 16, 6: 32}
MAX_MIN_PREFIX = {4: 32, 6: 128}


class BlockRefused(ValueError):
    """A network that must never be blocked was about to be; `reason` says why."""

    def __init__(self, network: Network, reason: str) -> None:
        super().__init__(f"{network}: {reason}")
        self.network = network
        self.reason = reason


@dataclass(frozen=True)
class SpecialRange:
    """A range that is never (or, when `private`, only deliberately) blocked."""

    network: Network
    name: str
    #: True: the organisation may use it itself (lifted by `allow_private_sources`); False: never
    #: a remote host on the internet, never blocked.
    private: bool


def _range(cidr: str, name: str, *, private: bool) -> SpecialRange:
    return SpecialRange(ipaddress.ip_network(cidr), name, private)


_NEVER_V4 = (
    _range("0.0.0.0/8", "'this network' (unspecified, RFC 1122)", private=False),
    _range("127.0.0.0/8", "loopback", private=False),
    # Also the instance metadata service, Amazon DNS and NTP: never a remote attacker.
    _range("169.254.0.0/16", "link-local", private=False),
    _range("224.0.0.0/4", "multicast", private=False),
    _range("240.0.0.0/4", "reserved (and the broadcast address)", private=False),
)
_PRIVATE_V4 = (
    _range("10.0.0.0/8", "private (RFC 1918)", private=True),
    _range("172.16.0.0/12", "private (RFC 1918)", private=True),
    _range("192.168.0.0/16", "private (RFC 1918)", private=True),
    _range("100.64.0.0/10", "shared address space (RFC 6598, carrier-grade NAT)", private=True),
    _range("192.0.0.0/29", "DS-Lite (RFC 6333), inside a provider's network", private=True),
    _range("192.0.0.170/31", "NAT64 discovery (RFC 7050)", private=True),
    _range("198.18.0.0/15", "benchmarking (RFC 2544), used on internal test networks", private=True),
)
_NEVER_V6 = (
    _range("::/128", "unspecified", private=False),
    _range("::1/128", "loopback", private=False),
    _range("fe80::/10", "link-local", private=False),
    _range("ff00::/8", "multicast", private=False),
    _range("100::/64", "discard-only (RFC 6666)", private=False),
    _range("2001:10::/28", "ORCHID (RFC 4843), not routed", private=False),
    _range("2001:20::/28", "ORCHIDv2 (RFC 7343), not routed", private=False),
)
_PRIVATE_V6 = (
    _range("fc00::/7", "unique-local (RFC 4193)", private=True),
    _range("fec0::/10", "site-local (deprecated, still private)", private=True),
    _range("64:ff9b:1::/48", "local-use NAT64 (RFC 8215)", private=True),
    _range("2001:2::/48", "benchmarking (RFC 5180)", private=True),
)
#: Global unicast: every other IPv6 address is reserved or special (never blocked).
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")

#: IPv6 prefixes that embed an IPv4 address: (prefix, first bit of the IPv4 address, name).
_EMBEDDING_V6 = (
    (ipaddress.IPv6Network("::ffff:0:0/96"), 96, "IPv4-mapped"),
    (ipaddress.IPv6Network("64:ff9b::/96"), 96, "NAT64"),
    (ipaddress.IPv6Network("2002::/16"), 16, "6to4"),
    (ipaddress.IPv6Network("2001::/32"), 32, "Teredo (server)"),
)


def special_ranges() -> tuple[SpecialRange, ...]:
    """Every range this module names (the documentation and the tests read it)."""
    return (*_NEVER_V4, *_PRIVATE_V4, *_NEVER_V6, *_PRIVATE_V6)


@dataclass(frozen=True)
class BlockPolicy:
    """The configurable part of the rule (the rest holds whatever the configuration)."""

    min_prefix_v4: int = 24
    min_prefix_v6: int = 48
    allow_private: bool = False

    def __post_init__(self) -> None:
        for version, value in ((4, self.min_prefix_v4), (6, self.min_prefix_v6)):
            if not MIN_MIN_PREFIX[version] <= value <= MAX_MIN_PREFIX[version]:
                raise ValueError(
                    f"the minimum IPv{version} range prefix must be /{MIN_MIN_PREFIX[version]} to "
                    f"/{MAX_MIN_PREFIX[version]}, not /{value}"
                )

    @classmethod
    def of(cls, settings: Any) -> BlockPolicy:
        """The policy of `AutoBlockSettings` (duck-typed: the settings module imports this one)."""
        return cls(
            min_prefix_v4=settings.min_range_prefix_v4,
            min_prefix_v6=settings.min_range_prefix_v6,
            allow_private=settings.allow_private_sources,
        )

    def min_prefix(self, version: int) -> int:
        return self.min_prefix_v6 if version == 6 else self.min_prefix_v4


DEFAULT_POLICY = BlockPolicy()


def parse_source(text: str) -> Network:
    """A source as automation reads it: one address, as its /32 (or /128) network.

    Anything else raises `ValueError`: a CIDR (`a.b.c.d/n`, even /32), a scoped IPv6 address
    (`fe80::1%eth0`), garbage. An IPv4-mapped IPv6 address is the IPv4 address it carries.
    """
    value = text.strip()
    if "/" in value or "%" in value:
        raise ValueError(f"not a single address: {text!r}")
    address = ipaddress.ip_address(value)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return ipaddress.ip_network(address)


def parse_range(text: str) -> Network:
    """A range given by hand: its host bits must be zero (`203.0.113.7/24` is a typo, refused,
    never silently widened to 203.0.113.0/24). A bare address is its /32 (or /128)."""
    value = text.strip()
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        if "host bits set" in str(exc):
            widened = ipaddress.ip_network(value, strict=False)
            raise ValueError(f"{value} has host bits set (did you mean {widened}?)") from exc
        raise


def _carried_v4(network: ipaddress.IPv6Network, first_bit: int) -> ipaddress.IPv4Network:
    """The 32 bits from `first_bit` as an IPv4 network, as narrow as the IPv6 prefix fixes them."""
    value = (int(network.network_address) >> (96 - first_bit)) & 0xFFFFFFFF
    length = min(max(network.prefixlen - first_bit, 0), 32)
    return ipaddress.IPv4Network((value, length), strict=False)


def _embedded_v4(network: ipaddress.IPv6Network) -> list[tuple[ipaddress.IPv4Network, str]]:
    """The IPv4 networks an IPv6 network carries, each with the form that carries it."""
    found = [
        (_carried_v4(network, first_bit), name)
        for prefix, first_bit, name in _EMBEDDING_V6
        if network.prefixlen >= prefix.prefixlen and network.subnet_of(prefix)
    ]
    teredo = network.network_address.teredo if network.prefixlen == 128 else None
    if teredo is not None:
        # The client's address (the last 32 bits, inverted): the host behind the tunnel.
        found.append((ipaddress.IPv4Network(teredo[1]), "Teredo (client)"))
    return found


def _named(network: Network, ranges: tuple[SpecialRange, ...], policy: BlockPolicy) -> str | None:
    for special in ranges:
        if special.network.version == network.version and special.network.overlaps(network):
            if special.private and policy.allow_private:
                continue
            hint = " (allowPrivateSources is off)" if special.private else ""
            return f"{special.name}: {special.network}{hint}"
    return None


def _special(network: Network, policy: BlockPolicy) -> str | None:
    """Why `network` touches a never-blocked (or, by default, private) range; else None."""
    if isinstance(network, ipaddress.IPv4Network):
        return _named(network, (*_NEVER_V4, *_PRIVATE_V4), policy)
    embedded = _embedded_v4(network)
    for inner, form in embedded:
        why = _special(inner, policy)
        if why is not None:
            return f"{form} form of {inner}: {why}"
    if any(form in ("IPv4-mapped", "NAT64") for _, form in embedded):
        return None  # a public IPv4 address in IPv6 notation (outside 2000::/3, yet a real host)
    why = _named(network, (*_NEVER_V6, *_PRIVATE_V6), policy)
    if why is None and not network.subnet_of(_GLOBAL_UNICAST_V6):
        why = f"not global unicast IPv6 (outside {_GLOBAL_UNICAST_V6})"
    return why


def _too_wide(network: Network, policy: BlockPolicy, *, allow_range: bool) -> str | None:
    if network.num_addresses != 1 and not allow_range:
        return f"{network} is a range: automation blocks single addresses, a range only when asked for"
    if network.prefixlen == 0:
        return f"{network} is the whole IPv{network.version} internet"
    minimum = policy.min_prefix(network.version)
    if network.prefixlen < minimum:
        return (
            f"a /{network.prefixlen} is wider than the widest IPv{network.version} range allowed "
            f"(/{minimum}, minRangePrefixV{network.version})"
        )
    return None


def refusal(network: Network, policy: BlockPolicy = DEFAULT_POLICY) -> str | None:
    """Why `network` may never be blocked, or None: what every writer checks before it writes
    (the whole internet, too wide a range, special and, unless allowed, private addresses)."""
    return _too_wide(network, policy, allow_range=True) or _special(network, policy)


@dataclass(frozen=True)
class Verdict:
    """Why a network may not be blocked now."""

    reason: str
    #: The allowlisted network it overlaps, when that is the reason.
    allowed_by: Network | None = None


def vet(
    network: Network,
    policy: BlockPolicy,
    allowlist: Allowlist,
    *,
    allow_range: bool = False,
) -> Verdict | None:
    """Why `network` may not be blocked now, or None: the whole rule, at the decision point.

    In order: a single address unless a range was asked for by hand, never the whole internet
    nor wider than the minimum; then the allowlist (configured CIDRs, the account's own VPCs,
    optionally AWS's ranges: reported as allowlisted); then special and private addresses.
    """
    why = _too_wide(network, policy, allow_range=allow_range)
    if why is not None:
        return Verdict(why)
    allowed = allowlist.covers(network)
    if allowed is not None:
        return Verdict(f"allowlisted by {allowed}", allowed_by=allowed)
    why = _special(network, policy)
    return None if why is None else Verdict(why)
