"""Make a WAFv2 IP set hold exactly the active blocks of its IP version.

`UpdateIPSet` replaces the whole address list and needs the `LockToken` from `GetIPSet`; a token
made stale by another writer is refused with `WAFOptimisticLockException`. Three ways similar
tools failed, and what this writer does instead:

- Crashing when the offenders exceed the set's 10,000 addresses, so nothing was blocked: the
  most severe, then most recent, blocks are written and the rest reported as `dropped`.
- Last writer wins between concurrent invocations: see "Why a write never loses a block" below.
- The set never emptied once every block expired: an empty desired list is written too.

Nothing refused by `blockable.refusal` is ever written, whatever the caller (or a block table
row written by hand or by an older version) asks: not 0.0.0.0/0 or ::/0, no range wider than
the policy's minimum, no private or special address unless the policy allows private ones.
Such blocks are left out and reported as `refused`.

Why a write never loses a block. The caller passes a loader of the block table's active rows
(`DesiredBlocks`), not a list. Each round reads the set (`GetIPSet`: addresses and token), THEN
loads the table, and writes that list with that token; after a successful write it makes one
more round, which reads the set and the table again and writes only if they still differ. Take
every run that changed the table to call this after its change, and let W be the last
successful `UpdateIPSet` of all, by writer P:

1. P's round after W read the set after W (so: the final set, as no write follows W) and the
   table later still. It found nothing to write: had it found something, its token (read after
   the last write) would have been fresh, and its write would have succeeded after W.
   So the final set equals what the table held when P read it.
2. A table change C after P's read: the run that made C called this writer after C, so all its
   reads came after W too; by the same reasoning its last round found the final set equal to
   the table as it read it, after C.

Applied to the last change of all: the final set is exactly the table's active rows (capped at
the set's capacity by rank). The order of the reads matters: a writer that loaded the table
before `GetIPSet` could hold a fresh token with an old list; loaded after, the list is never
older than the token. The confirming round matters too: without it, a writer holding an old
list and a valid token could write after the run that recorded a block had found the set
already right (the block had been there, expired, and was recorded again) and stopped. The
guarantee holds for runs that finish without `IpSetUpdateError`; an error is reported, and the
next run or the sweeper repairs the set.

WAF allows about one update per second per account and Region: updates go through a pacer
(`UPDATE_PACER`, per process and Region), and throttling or limit errors are retried with
jittered exponential backoff on top of botocore's own retries.
"""

from __future__ import annotations

import ipaddress
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from auto_block.blockable import DEFAULT_POLICY, BlockPolicy, refusal
from auto_block.model import Block, DesiredBlocks, load_desired
from auto_block.pacing import Pacer
from secauto_core.observability import MetricUnit, logger, metrics

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from mypy_boto3_wafv2 import WAFV2Client

    from auto_block.model import Network, WafIpSetRef

__all__ = [
    "MAX_IP_SET_ADDRESSES",
    "UPDATE_PACER",
    "DesiredBlocks",
    "IpSetPlan",
    "IpSetResult",
    "IpSetUpdateError",
    "backoff_delay",
    "cap_blocks",
    "plan_ip_set",
    "reconcile_ip_set",
]

#: WAF's limit on addresses in one IP set.
MAX_IP_SET_ADDRESSES = 10_000
#: Spaces this process's `UpdateIPSet` calls one second apart per Region.
UPDATE_PACER = Pacer(interval=1.0)

_LOCK_CONFLICT = "WAFOptimisticLockException"
#: Error codes worth another read-and-write: a stale token, throttling, transient WAF faults.
_RETRYABLE = frozenset(
    {
        _LOCK_CONFLICT,
        "WAFLimitsExceededException",
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "WAFInternalErrorException",
        "WAFUnavailableEntityException",
    }
)
_BACKOFF_BASE_SECONDS = 0.5
_BACKOFF_CAP_SECONDS = 8.0


class IpSetUpdateError(RuntimeError):
    """The IP set could not be written within the allowed attempts."""


@dataclass(frozen=True)
class IpSetPlan:
    """What writing the desired blocks to one IP set changes."""

    #: The full list to write (canonical CIDRs, sorted).
    addresses: list[str]
    added: list[str]
    removed: list[str]
    kept: list[str]
    #: Desired blocks left out because the set is full (the lowest ranked).
    dropped: list[Block]
    #: Desired blocks never written, with why (`blockable.refusal`).
    refused: list[tuple[Block, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


@dataclass
class IpSetResult:
    """What one reconciliation of an IP set did (or, in a dry run, would do)."""

    ref: WafIpSetRef
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    dropped: list[Block] = field(default_factory=list)
    #: Desired blocks never written, with why (`blockable.refusal`).
    refused: list[tuple[Block, str]] = field(default_factory=list)
    #: Read-and-write rounds made: 1 when the set already held the list; 2 for one write and the
    #: round that confirmed it; more with conflicts, throttling or a table that kept changing.
    attempts: int = 0
    #: Stale lock tokens met (another writer changed the set between our read and write).
    conflicts: int = 0
    #: Whether `UpdateIPSet` was called and accepted.
    updated: bool = False


def _rank(blocks: Sequence[Block]) -> list[Block]:
    """Most severe first, then most recent; ties by network so the order is reproducible."""
    by_key = sorted(blocks, key=lambda block: block.key)
    return sorted(by_key, key=lambda block: (block.severity, block.blocked_at), reverse=True)


def cap_blocks(blocks: Sequence[Block], limit: int) -> tuple[list[Block], list[Block]]:
    """Split blocks into the `limit` that fit (the highest ranked) and the rest.

    A network listed twice takes one place: its highest-ranked block stands for it, and the
    duplicate is neither kept nor dropped.
    """
    if limit < 1:
        raise ValueError("an IP set must hold at least one address")
    unique: list[Block] = []
    seen: set[Network] = set()
    for block in _rank(blocks):
        if block.network not in seen:
            seen.add(block.network)
            unique.append(block)
    return unique[:limit], unique[limit:]


def _family(ip_version: Literal["IPV4", "IPV6"]) -> int:
    return 6 if ip_version == "IPV6" else 4


def _canonical(address: str) -> Network | str:
    """An address as WAF lists it, as a network: WAF rewrites IPv6 in its own notation.

    Anything unparseable stays a string: it is not a desired network, so it gets removed.
    """
    try:
        return ipaddress.ip_network(address.strip(), strict=False)
    except ValueError:
        return address


def _sorted_networks(networks: set[Network]) -> list[str]:
    return [str(network) for network in sorted(networks, key=lambda n: (n.version, n))]


def _writable(blocks: Sequence[Block], policy: BlockPolicy) -> tuple[list[Block], list[tuple[Block, str]]]:
    """The blocks `blockable.refusal` lets through, and the others with why."""
    fine: list[Block] = []
    refused: list[tuple[Block, str]] = []
    for block in blocks:
        why = refusal(block.network, policy)
        if why is None:
            fine.append(block)
        else:
            refused.append((block, why))
    return fine, refused


def plan_ip_set(
    current: Sequence[str],
    desired: Sequence[Block],
    ip_version: Literal["IPV4", "IPV6"],
    max_addresses: int = MAX_IP_SET_ADDRESSES,
    policy: BlockPolicy = DEFAULT_POLICY,
) -> IpSetPlan:
    """The list to write so the set holds the desired blocks of its IP version, and the diff.

    Blocks of the other IP version are ignored (they belong to the other set); blocks the policy
    refuses are never in the list (and are removed if the set holds them). Comparison is by
    network, not text, so `2001:DB8:0:0:0:0:0:1/128` and `2001:db8::1/128` are equal.
    """
    family = _family(ip_version)
    ours, refused = _writable([block for block in desired if block.network.version == family], policy)
    if refused:
        logger.error(
            "Blocks refused by the WAF writer (never written)",
            extra={"refused": [f"{block.key}: {why}" for block, why in refused[:20]]},
        )
    fitting, dropped = cap_blocks(ours, max_addresses)
    want = {block.network for block in fitting}
    have: set[Network] = set()
    unparseable: list[str] = []
    for address in current:
        parsed = _canonical(address)
        if isinstance(parsed, str):
            unparseable.append(parsed)
        else:
            have.add(parsed)
    return IpSetPlan(
        addresses=_sorted_networks(want),
        added=_sorted_networks(want - have),
        removed=_sorted_networks(have - want) + sorted(unparseable),
        kept=_sorted_networks(want & have),
        dropped=dropped,
        refused=refused,
    )


def backoff_delay(attempt: int, *, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based): exponential, equal jitter.

    Half the window is fixed, half random: writers that collided spread apart, yet every wait
    is long enough for the other writer's update to land.
    """
    window = min(_BACKOFF_CAP_SECONDS, _BACKOFF_BASE_SECONDS * 2.0 ** (attempt - 1))
    return window / 2 + rng() * window / 2


def _error_code(exc: Any) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _report_drops(ref: WafIpSetRef, plan: IpSetPlan, max_addresses: int) -> None:
    """Dropped blocks stay in the table (and the ACLs): say so loudly, but write the rest."""
    if not plan.dropped:
        return
    metrics.add_metric(name="WafAddressesDropped", unit=MetricUnit.Count, value=len(plan.dropped))
    logger.warning(
        "More blocks than the WAF IP set holds: the lowest ranked are left out",
        extra={
            "ip_set": ref.name,
            "capacity": max_addresses,
            "dropped": len(plan.dropped),
            "dropped_sample": [block.key for block in plan.dropped[:20]],
        },
    )


def _finish(result: IpSetResult, plan: IpSetPlan, capacity: int) -> IpSetResult:
    """The result once a round found nothing (more) to write, or of a dry run."""
    _report_drops(result.ref, plan, capacity)
    if result.conflicts:
        metrics.add_metric(name="WafUpdateConflicts", unit=MetricUnit.Count, value=result.conflicts)
    if not result.updated:
        result.added, result.removed = plan.added, plan.removed
    result.kept = [network for network in plan.kept if network not in result.added]
    result.dropped, result.refused = plan.dropped, plan.refused
    return result


def _wrote(result: IpSetResult, plan: IpSetPlan) -> None:
    result.updated = True
    result.added = sorted(set(result.added) | set(plan.added))
    result.removed = sorted(set(result.removed) | set(plan.removed))


def reconcile_ip_set(
    client: WAFV2Client,
    ref: WafIpSetRef,
    desired: DesiredBlocks,
    *,
    max_addresses: int = MAX_IP_SET_ADDRESSES,
    max_attempts: int = 8,
    pacer: Pacer = UPDATE_PACER,
    sleep: Callable[[float], None] = time.sleep,
    dry_run: bool = False,
    policy: BlockPolicy = DEFAULT_POLICY,
) -> IpSetResult:
    """Make the IP set `ref` hold exactly the desired blocks of its IP version.

    `desired` is the full set of active blocks (other IP versions are ignored), or, as callers
    that race other writers must pass, a loader of it, called after each `GetIPSet`. Each round
    reads the set, loads the desired blocks and writes the full list with the token just read,
    unless the set already holds it; a successful write is followed by a confirming round (see
    the module docstring for why). A stale token, throttling or a WAF limit error starts another
    round after a backoff. `max_attempts` rounds in all; then `IpSetUpdateError`. Other errors
    (no such set, access denied) are raised as they come. A dry run reads the set and returns
    the plan.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    result = IpSetResult(ref=ref)
    last_error = ""
    for attempt in range(1, max_attempts + 1):
        result.attempts = attempt
        try:
            response = client.get_ip_set(Name=ref.name, Scope=ref.scope, Id=ref.id)
            ip_set = response["IPSet"]
            current = ip_set.get("Addresses", [])
            plan = plan_ip_set(current, load_desired(desired), ref.ip_version, max_addresses, policy)
            if dry_run or not plan.changed:
                return _finish(result, plan, max_addresses)
            pacer.wait(client.meta.region_name)
            update: dict[str, Any] = {
                "Name": ref.name,
                "Scope": ref.scope,
                "Id": ref.id,
                "Addresses": plan.addresses,
                "LockToken": response["LockToken"],
            }
            if ip_set.get("Description"):
                # UpdateIPSet replaces every mutable field: an omitted description is erased.
                update["Description"] = ip_set["Description"]
            client.update_ip_set(**update)
            _wrote(result, plan)
            last_error = "the set and the table kept changing after a write"
        except client.exceptions.ClientError as exc:
            last_error = _error_code(exc)
            if last_error not in _RETRYABLE:
                raise
            if last_error == _LOCK_CONFLICT:
                result.conflicts += 1
            logger.info(
                "WAF IP set update to retry",
                extra={"ip_set": ref.name, "attempt": attempt, "error": last_error},
            )
            if attempt < max_attempts:
                sleep(backoff_delay(attempt))
    if result.conflicts:
        metrics.add_metric(name="WafUpdateConflicts", unit=MetricUnit.Count, value=result.conflicts)
    raise IpSetUpdateError(
        f"WAF IP set {ref.name} ({ref.scope}, id {ref.id}) not "
        f"{'confirmed' if result.updated else 'updated'} after {max_attempts} attempts "
        f"({result.conflicts} stale lock tokens); last error: {last_error}"
    )
