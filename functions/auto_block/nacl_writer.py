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

What is never written: anything `blockable.refusal` refuses (0.0.0.0/0, ::/0, a range wider
than the policy's minimum, a private or special address unless allowed), even when the block
table holds it (a row written by hand or by an older version); it is reported as `refused`.

Concurrent writers. An ACL has no lock token, so this writer converges instead. The caller
passes a loader of the block table's active rows (`DesiredBlocks`). Each round reads the ACL,
THEN loads the table, plans, and applies; a round that changed anything is followed by another,
until a round finds nothing to change (at most `MAX_ROUNDS`). Why that is enough, when every run
that changed the table runs this writer after its change: let W be the last successful ACL
change of all, by writer P. P's round after W read the final ACL and then the table, and found
nothing to change (anything it had applied would have succeeded, after W). A table change C
after that read was followed by its own run's writer, all of whose reads came after W: its last
round found the final ACL matching the table as read after C. So the final ACL matches the
table's last state. Two more measures keep a concurrent change from lifting a block even
briefly: right before deleting or replacing entries, the table is loaded again, and an entry
whose network became active since the plan is left in place; and calls that fail because
another writer got there first (a rule number taken, an entry already gone) are simply redone
from a fresh read in the next round (`recovered`), only reported as `errors` if the writer
cannot settle.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from auto_block.blockable import DEFAULT_POLICY, BlockPolicy, refusal
from auto_block.model import load_desired
from secauto_core.observability import MetricUnit, logger, metrics

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import NetworkAclEntryTypeDef, NetworkAclTypeDef

    from auto_block.model import Block, DesiredBlocks, NaclWindow, Network

__all__ = [
    "MAX_ROUNDS",
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
#: Read-plan-apply rounds before a writer that cannot settle reports its failures.
MAX_ROUNDS = 5


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
    #: Desired blocks never written, with why (`blockable.refusal`).
    refused: list[tuple[Block, str]] = field(default_factory=list)
    #: The networks this plan was made to deny (the desired blocks it saw, refused ones aside).
    desired: frozenset[Network] = frozenset()

    @property
    def settled(self) -> bool:
        """Whether the window already denies exactly the chosen blocks."""
        return not (self.delete or self.replace or self.create)


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
    #: Calls that failed and were not made good by a later round (the writer did not settle);
    #: the next run retries them from what the ACL then holds.
    errors: list[str] = field(default_factory=list)
    #: Calls that failed (another writer got there first) and that a later round made good.
    recovered: list[str] = field(default_factory=list)
    #: Configuration problems that make the window ineffective (an allow-all before it).
    warnings: list[str] = field(default_factory=list)
    #: Desired blocks never written, with why (`blockable.refusal`).
    refused: list[tuple[Block, str]] = field(default_factory=list)
    #: Read-plan-apply rounds made (1 when the window already matched).
    rounds: int = 0


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


def _writable(blocks: Sequence[Block], policy: BlockPolicy) -> tuple[list[Block], list[tuple[Block, str]]]:
    fine: list[Block] = []
    refused: list[tuple[Block, str]] = []
    for block in blocks:
        why = refusal(block.network, policy)
        if why is None:
            fine.append(block)
        else:
            refused.append((block, why))
    return fine, refused


def plan_nacl(
    entries: Sequence[AclEntry],
    window: NaclWindow,
    desired: Sequence[Block],
    policy: BlockPolicy = DEFAULT_POLICY,
) -> NaclPlan:
    """What to keep, delete, replace and create so the window denies the chosen blocks.

    Blocks the policy refuses are never chosen (and an entry denying one is removed)."""
    allowed, refused = _writable(desired, policy)
    chosen, evicted = choose_blocks(allowed, window.size, quota_room(entries, window))
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
        refused=refused,
        desired=frozenset(block.network for block in allowed),
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


def _apply(
    ec2: EC2Client, acl_id: str, plan: NaclPlan, result: NaclResult, spare: frozenset[Network]
) -> list[str]:
    """Deletes, then replaces, then creates; the failed calls' messages (the rest go on).

    An entry whose network is in `spare` (it became active after the plan) is neither deleted nor
    replaced: the next round, with the fresh table, decides."""
    failures: list[str] = []
    for entry in plan.delete:
        if entry.network in spare:
            continue
        try:
            ec2.delete_network_acl_entry(NetworkAclId=acl_id, RuleNumber=entry.rule_number, Egress=False)
            result.deleted.append(entry.label)
        except ec2.exceptions.ClientError as exc:
            failures.append(_failure(acl_id, f"deleting rule {entry.rule_number} ({entry.cidr})", exc))
    for entry, network in plan.replace:
        if entry.network in spare:
            continue
        try:
            ec2.replace_network_acl_entry(**_deny_params(acl_id, entry.rule_number, network))
            result.deleted.append(entry.label)
            result.created.append(str(network))
        except ec2.exceptions.ClientError as exc:
            failures.append(_failure(acl_id, f"replacing rule {entry.rule_number} with {network}", exc))
    for number, network in plan.create:
        try:
            ec2.create_network_acl_entry(**_deny_params(acl_id, number, network))
            result.created.append(str(network))
        except ec2.exceptions.ClientError as exc:
            failures.append(_failure(acl_id, f"creating rule {number} for {network}", exc))
    return failures


def _became_active(plan: NaclPlan, desired: DesiredBlocks, policy: BlockPolicy) -> frozenset[Network]:
    """Networks active (and writable) now that the plan did not know about (only worth a read
    when the plan removes something, and only possible when the caller passed a loader)."""
    if not (plan.delete or plan.replace) or not callable(desired):
        return frozenset()
    writable, _ = _writable(desired(), policy)
    return frozenset(block.network for block in writable) - plan.desired


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


def _read(ec2: EC2Client, window: NaclWindow) -> list[AclEntry]:
    acls = ec2.describe_network_acls(NetworkAclIds=[window.acl_id])["NetworkAcls"]
    if not acls:
        raise LookupError(f"network ACL {window.acl_id} not found")
    return ingress_entries(acls[0])


def _settle(result: NaclResult, plan: NaclPlan) -> None:
    """Fill the result from the plan of the last round (nothing left to change, or a dry run)."""
    created = set(result.created)
    result.kept = [entry.label for entry in plan.kept if entry.label not in created]
    result.evicted, result.refused = plan.evicted, plan.refused
    denied = {entry.label for entry in plan.kept} | created
    result.deleted = sorted({label for label in result.deleted if label not in denied})


def reconcile_nacl(
    ec2: EC2Client,
    window: NaclWindow,
    desired: DesiredBlocks,
    *,
    dry_run: bool = False,
    policy: BlockPolicy = DEFAULT_POLICY,
    max_rounds: int = MAX_ROUNDS,
) -> NaclResult:
    """Make `window`'s ingress rules deny the newest desired blocks that fit; touch nothing else.

    `desired` is the full set of active blocks (both IP versions), or, as callers that race
    other writers must pass, a loader of it, called after each read of the ACL. Rounds of read,
    load, plan, apply until a round finds nothing to change (see the module docstring); a dry
    run makes one round and changes nothing. Failed calls are retried by the next round and land
    in `errors` only when the writer cannot settle; a missing ACL or an invalid window raises.
    """
    _check_window(window)
    result = NaclResult(acl_id=window.acl_id)
    pending: list[str] = []
    for round_number in range(1, max_rounds + 1):
        result.rounds = round_number
        plan = plan_nacl(_read(ec2, window), window, load_desired(desired), policy)
        if round_number == 1:
            _report(window, plan)
            result.warnings = plan.warnings
        if dry_run:
            result.deleted = [entry.label for entry in plan.delete] + [e.label for e, _ in plan.replace]
            result.created = [str(network) for _, network in plan.replace] + [str(n) for _, n in plan.create]
            _settle(result, plan)
            return result
        if plan.settled:
            result.recovered = pending
            _settle(result, plan)
            return result
        pending += _apply(ec2, window.acl_id, plan, result, _became_active(plan, desired, policy))
    result.errors = [*dict.fromkeys(pending)] or [
        f"{window.acl_id}: the window and the block table kept changing for {max_rounds} rounds"
    ]
    _settle(result, plan)
    return result
