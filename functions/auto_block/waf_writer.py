"""Make a WAFv2 IP set hold exactly the active blocks of its IP version.

`UpdateIPSet` replaces the whole address list and needs the `LockToken` from `GetIPSet`; a token
made stale by another writer is refused with `WAFOptimisticLockException`. Three ways similar
tools failed, and what this writer does instead:

- Crashing when the offenders exceed the set's 10,000 addresses, so nothing was blocked: the
  most severe, then most recent, blocks are written and the rest reported as `dropped`.
- Last writer wins between concurrent invocations: on a stale token we read the set again and
  retry. The list we write is the caller's desired set (the block table), never the set we
  read plus our additions, so a retry cannot resurrect an expired block; and when the caller
  passes a loader instead of a list it is called again after every `GetIPSet`, so the list
  written is never older than the token it is written with. A writer that recorded its block
  before writing WAF then cannot be overwritten by a snapshot taken before that block existed.
- The set never emptied once every block expired: an empty desired list is written too.

WAF allows about one update per second per account and Region: updates go through a pacer
(`UPDATE_PACER`, per process and Region), and throttling or limit errors are retried with
jittered exponential backoff on top of botocore's own retries.
"""

from __future__ import annotations

import ipaddress
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from auto_block.model import Block
from auto_block.pacing import Pacer
from secauto_core.observability import MetricUnit, logger, metrics

if TYPE_CHECKING:
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

#: The desired blocks, or a loader of them called again after every `GetIPSet`.
DesiredBlocks = Sequence[Block] | Callable[[], Sequence[Block]]

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
    #: Read-and-write rounds made (1 without conflicts or throttling).
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


def plan_ip_set(
    current: Sequence[str],
    desired: Sequence[Block],
    ip_version: Literal["IPV4", "IPV6"],
    max_addresses: int = MAX_IP_SET_ADDRESSES,
) -> IpSetPlan:
    """The list to write so the set holds the desired blocks of its IP version, and the diff.

    Blocks of the other IP version are ignored (they belong to the other set). Comparison is by
    network, not text, so `2001:DB8:0:0:0:0:0:1/128` and `2001:db8::1/128` are equal.
    """
    family = _family(ip_version)
    ours = [block for block in desired if block.network.version == family]
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


def _load(desired: DesiredBlocks) -> Sequence[Block]:
    return desired() if callable(desired) else desired


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


def _result(
    ref: WafIpSetRef, plan: IpSetPlan, attempts: int, conflicts: int, *, updated: bool, capacity: int
) -> IpSetResult:
    _report_drops(ref, plan, capacity)
    if conflicts:
        metrics.add_metric(name="WafUpdateConflicts", unit=MetricUnit.Count, value=conflicts)
    return IpSetResult(
        ref=ref,
        added=plan.added,
        removed=plan.removed,
        kept=plan.kept,
        dropped=plan.dropped,
        attempts=attempts,
        conflicts=conflicts,
        updated=updated,
    )


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
) -> IpSetResult:
    """Make the IP set `ref` hold exactly the desired blocks of its IP version.

    `desired` is the full set of active blocks (other IP versions are ignored), or a loader of
    it, called after each `GetIPSet` so a retry writes what the table holds by then. Each round
    reads the set, and writes the full list with the token just read, unless the set already
    holds it. A stale token, throttling or a WAF limit error starts another round after a
    backoff, `max_attempts` rounds in all; then `IpSetUpdateError`. Other errors (no such set,
    access denied) are raised as they come. A dry run reads the set and returns the plan.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    conflicts = 0
    last_error = ""
    for attempt in range(1, max_attempts + 1):
        try:
            response = client.get_ip_set(Name=ref.name, Scope=ref.scope, Id=ref.id)
            ip_set = response["IPSet"]
            plan = plan_ip_set(ip_set.get("Addresses", []), _load(desired), ref.ip_version, max_addresses)
            if dry_run or not plan.changed:
                return _result(ref, plan, attempt, conflicts, updated=False, capacity=max_addresses)
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
            return _result(ref, plan, attempt, conflicts, updated=True, capacity=max_addresses)
        except client.exceptions.ClientError as exc:
            last_error = _error_code(exc)
            if last_error not in _RETRYABLE:
                raise
            if last_error == _LOCK_CONFLICT:
                conflicts += 1
            logger.info(
                "WAF IP set update to retry",
                extra={"ip_set": ref.name, "attempt": attempt, "error": last_error},
            )
            if attempt < max_attempts:
                sleep(backoff_delay(attempt))
    if conflicts:
        metrics.add_metric(name="WafUpdateConflicts", unit=MetricUnit.Count, value=conflicts)
    raise IpSetUpdateError(
        f"WAF IP set {ref.name} ({ref.scope}, id {ref.id}) not updated after {max_attempts} attempts "
        f"({conflicts} stale lock tokens); last error: {last_error}"
    )
