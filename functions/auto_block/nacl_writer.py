"""Make a network ACL's reserved window of ingress rules deny exactly the chosen active blocks.

secauto owns a window of ingress rule numbers (`NaclWindow.rule_numbers`) and never touches an
entry outside it, nor any egress entry. Each run reads the ACL (`DescribeNetworkAcls`) and
reconciles what is actually there, not what a previous run thinks it wrote: someone may have
edited the window by hand, a run may have died half way, another invocation may be writing.
The ACL is the truth; a mismatch is repaired, never a reason to stop.

Rule order. The ACL evaluates ingress rules in ascending number and stops at the first match,
so a deny placed after an allow that matches the same traffic does nothing. The window must
come before the ACL's allow rules (e.g. window 1-19 with the allow rules from 100). A run logs
a warning (and reports it in `warnings`) when an ALLOW for 0.0.0.0/0 or ::/0 precedes the window.

Capacity. AWS allows 20 rules per direction per IP family (raisable to 40, `NaclWindow.quota`),
and its quota page says that count includes the default deny rule (`*`, listed as 32767 for
IPv4 and 32768 for IPv6). So per family the room is the quota, minus one for that default deny
(counted whether or not DescribeNetworkAcls lists it), minus the family's other ingress entries
outside the window; entries inside the window are ours to reuse. Counting the default deny
costs at most one slot if AWS does not; not counting it would make the last create fail with
`NetworkAclEntryLimitExceeded`. When more blocks are desired than fit, the newest
(`blocked_at`) are kept and the rest reported as `evicted`: they stay blocked in WAF.

Changes are applied as: deletes (entries no longer wanted), then replaces (a stale entry's
number reused for a new network of the same family, one atomic call), then creates at the
lowest free numbers. Deleting first means the family count never exceeds the quota in between;
entries that stay are never touched, so a wanted block is never lifted, even briefly.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from secauto_core.observability import MetricUnit, logger, metrics

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import NetworkAclEntryTypeDef, NetworkAclTypeDef

    from auto_block.model import Block, NaclWindow, Network

__all__ = [
    "AclEntry",
    "NaclPlan",
    "NaclResult",
    "choose_blocks",
    "ingress_entries",
    "plan_nacl",
    "quota_room",
    "reconcile_nacl",
]

#: Rule numbers a user may give; the default deny rules sit above (32767 IPv4, 32768 IPv6).
MIN_RULE, MAX_RULE = 1, 32766
_EVERYWHERE = {"0.0.0.0/0", "::/0"}


@dataclass(frozen=True)
class AclEntry:
    """One ingress entry as DescribeNetworkAcls lists it."""

    rule_number: int
    #: 4 or 6: which CIDR field the entry uses (which quota it counts against).
    family: int
    cidr: str
    action: str
    protocol: str

    @property
    def network(self) -> Network | None:
        try:
            return ipaddress.ip_network(self.cidr, strict=False)
        except ValueError:
            return None

    @property
    def denies_all_protocols(self) -> bool:
        """Whether this is the kind of entry we write: deny, every protocol."""
        return self.action.lower() == "deny" and self.protocol == "-1"

    @property
    def label(self) -> str:
        """The entry's network in canonical form (the block table's key), else its raw text."""
        network = self.network
        return str(network) if network is not None else self.cidr


@dataclass(frozen=True)
class NaclPlan:
    """The changes that make the window deny exactly the chosen networks."""

    kept: list[AclEntry]
    delete: list[AclEntry]
    #: (entry whose rule number is reused, the network it will deny instead)
    replace: list[tuple[AclEntry, Network]]
    #: (free rule number, network to deny)
    create: list[tuple[int, Network]]
    evicted: list[Block]
    warnings: list[str]


@dataclass
class NaclResult:
    """What one reconciliation of a network ACL did (or, in a dry run, would do)."""

    acl_id: str
    #: Networks the window newly denies (by a created or a replaced entry).
    created: list[str] = field(default_factory=list)
    #: Networks whose window entry was removed (or replaced) and that the window no longer
    #: denies; a network whose stray entry was cleaned up but is still denied is not listed.
    deleted: list[str] = field(default_factory=list)
    #: Networks the window already denied, left untouched.
    kept: list[str] = field(default_factory=list)
    #: Active blocks with no room in the window (the oldest); WAF still blocks them.
    evicted: list[Block] = field(default_factory=list)
    #: Calls that failed; the next run retries them from what the ACL then holds.
    errors: list[str] = field(default_factory=list)
    #: Configuration problems that make the window ineffective (an allow-all before it).
    warnings: list[str] = field(default_factory=list)


def _entry(raw: NetworkAclEntryTypeDef) -> AclEntry:
    ipv6 = raw.get("Ipv6CidrBlock")
    return AclEntry(
        rule_number=int(raw.get("RuleNumber", 0)),
        family=6 if ipv6 else 4,
        cidr=ipv6 or raw.get("CidrBlock", ""),
        action=str(raw.get("RuleAction", "")),
        protocol=str(raw.get("Protocol", "")),
    )


def ingress_entries(acl: NetworkAclTypeDef) -> list[AclEntry]:
    """The ACL's ingress entries, by rule number (egress is a separate rule space)."""
    entries = [_entry(raw) for raw in acl.get("Entries", []) if not raw.get("Egress", False)]
    return sorted(entries, key=lambda entry: (entry.rule_number, entry.family))


def _check_window(window: NaclWindow) -> None:
    if window.size < 1 or window.first_rule < MIN_RULE or window.rule_numbers[-1] > MAX_RULE:
        raise ValueError(
            f"network ACL window {window.first_rule}+{window.size} is not within rules {MIN_RULE}-{MAX_RULE}"
        )


def quota_room(entries: Iterable[AclEntry], window: NaclWindow) -> dict[int, int]:
    """Per IP family, how many ingress entries the window may hold under the ACL quota.

    The quota counts the family's default deny rule (one, listed or not) and every other
    entry of the family outside the window; what is inside the window is ours to reuse.
    """
    used = {4: 1, 6: 1}
    for entry in entries:
        if entry.rule_number not in window.rule_numbers and entry.rule_number <= MAX_RULE:
            used[entry.family] += 1
    return {family: max(0, window.quota - count) for family, count in used.items()}


def _newest_first(blocks: Sequence[Block]) -> list[Block]:
    """Newest first; then the most severe; ties by network so the order is reproducible."""
    by_key = sorted(blocks, key=lambda block: block.key)
    return sorted(by_key, key=lambda block: (block.blocked_at, block.severity), reverse=True)


def choose_blocks(
    blocks: Sequence[Block], size: int, room: dict[int, int]
) -> tuple[list[Block], list[Block]]:
    """The blocks the window holds (the newest that fit its size and each family's room), and
    the evicted rest. A network listed twice takes one place and is not evicted."""
    chosen: list[Block] = []
    evicted: list[Block] = []
    left = dict(room)
    seen: set[Network] = set()
    for block in _newest_first(blocks):
        if block.network in seen:
            continue
        seen.add(block.network)
        family = block.network.version
        if len(chosen) < size and left.get(family, 0) > 0:
            chosen.append(block)
            left[family] -= 1
        else:
            evicted.append(block)
    return chosen, evicted


def _shadowing_allows(entries: Iterable[AclEntry], window: NaclWindow) -> list[str]:
    """Allow-everything entries evaluated before the window: they make its denies useless."""
    return [
        f"ingress rule {entry.rule_number} allows {entry.cidr} before the deny window "
        f"(from rule {window.first_rule}): those denies have no effect"
        for entry in entries
        if entry.action.lower() == "allow"
        and entry.cidr in _EVERYWHERE
        and entry.rule_number < window.first_rule
    ]


def plan_nacl(entries: Sequence[AclEntry], window: NaclWindow, desired: Sequence[Block]) -> NaclPlan:
    """What to keep, delete, replace and create so the window denies the chosen blocks."""
    chosen, evicted = choose_blocks(desired, window.size, quota_room(entries, window))
    wanted = {block.network for block in chosen}
    in_window = [entry for entry in entries if entry.rule_number in window.rule_numbers]
    kept: list[AclEntry] = []
    stale: list[AclEntry] = []
    present: set[Network] = set()
    for entry in in_window:
        network = entry.network
        if entry.denies_all_protocols and network in wanted and network not in present:
            assert network is not None
            present.add(network)
            kept.append(entry)
        else:
            stale.append(entry)  # not wanted, not a deny-all, or a duplicate
    missing = [block.network for block in chosen if block.network not in present]
    replace: list[tuple[AclEntry, Network]] = []
    delete: list[AclEntry] = []
    for entry in stale:
        same_family = next((network for network in missing if network.version == entry.family), None)
        if same_family is None:
            delete.append(entry)
        else:
            missing.remove(same_family)
            replace.append((entry, same_family))
    taken = {entry.rule_number for entry in kept} | {entry.rule_number for entry, _ in replace}
    free = [number for number in window.rule_numbers if number not in taken]
    return NaclPlan(
        kept=kept,
        delete=delete,
        replace=replace,
        create=list(zip(free, missing, strict=False)),
        evicted=evicted,
        warnings=_shadowing_allows(entries, window),
    )


def _deny_params(acl_id: str, rule_number: int, network: Network) -> dict[str, Any]:
    params: dict[str, Any] = {
        "NetworkAclId": acl_id,
        "RuleNumber": rule_number,
        "Protocol": "-1",
        "RuleAction": "deny",
        "Egress": False,
    }
    params["Ipv6CidrBlock" if network.version == 6 else "CidrBlock"] = str(network)
    return params


def _failure(acl_id: str, action: str, exc: Any) -> str:
    error = (getattr(exc, "response", None) or {}).get("Error", {})
    return f"{acl_id}: {action} failed: {error.get('Code', type(exc).__name__)}: {error.get('Message', exc)}"


def _apply(ec2: EC2Client, acl_id: str, plan: NaclPlan, result: NaclResult) -> None:
    """Deletes, then replaces, then creates; a failed call is recorded and the rest go on."""
    for entry in plan.delete:
        try:
            ec2.delete_network_acl_entry(NetworkAclId=acl_id, RuleNumber=entry.rule_number, Egress=False)
            result.deleted.append(entry.label)
        except ec2.exceptions.ClientError as exc:
            result.errors.append(_failure(acl_id, f"deleting rule {entry.rule_number} ({entry.cidr})", exc))
    for entry, network in plan.replace:
        try:
            ec2.replace_network_acl_entry(**_deny_params(acl_id, entry.rule_number, network))
            result.deleted.append(entry.label)
            result.created.append(str(network))
        except ec2.exceptions.ClientError as exc:
            result.errors.append(_failure(acl_id, f"replacing rule {entry.rule_number} with {network}", exc))
    for number, network in plan.create:
        try:
            ec2.create_network_acl_entry(**_deny_params(acl_id, number, network))
            result.created.append(str(network))
        except ec2.exceptions.ClientError as exc:
            result.errors.append(_failure(acl_id, f"creating rule {number} for {network}", exc))


def _report(window: NaclWindow, plan: NaclPlan) -> None:
    for warning in plan.warnings:
        logger.warning(
            "Network ACL deny window is shadowed", extra={"acl_id": window.acl_id, "problem": warning}
        )
    if plan.evicted:
        metrics.add_metric(name="NaclBlocksEvicted", unit=MetricUnit.Count, value=len(plan.evicted))
        logger.warning(
            "More blocks than the network ACL window holds: the oldest are left to WAF",
            extra={
                "acl_id": window.acl_id,
                "window": f"{window.first_rule}-{window.rule_numbers[-1]}",
                "evicted": len(plan.evicted),
            },
        )


def reconcile_nacl(
    ec2: EC2Client, window: NaclWindow, desired: Sequence[Block], *, dry_run: bool = False
) -> NaclResult:
    """Make `window`'s ingress rules deny the newest desired blocks that fit; touch nothing else.

    `desired` is the full set of active blocks (both IP versions). Reads the ACL once; a dry
    run returns the plan without changing anything. Failed calls land in `errors` rather
    than raising; a missing ACL or an invalid window raises.
    """
    _check_window(window)
    acls = ec2.describe_network_acls(NetworkAclIds=[window.acl_id])["NetworkAcls"]
    if not acls:
        raise LookupError(f"network ACL {window.acl_id} not found")
    plan = plan_nacl(ingress_entries(acls[0]), window, desired)
    _report(window, plan)
    result = NaclResult(
        acl_id=window.acl_id,
        kept=[entry.label for entry in plan.kept],
        evicted=plan.evicted,
        warnings=plan.warnings,
    )
    if dry_run:
        result.deleted = [entry.label for entry in plan.delete] + [entry.label for entry, _ in plan.replace]
        result.created = [str(network) for _, network in plan.replace] + [str(n) for _, n in plan.create]
    else:
        _apply(ec2, window.acl_id, plan, result)
    denied = set(result.kept) | set(result.created)
    result.deleted = sorted({label for label in result.deleted if label not in denied})
    return result
