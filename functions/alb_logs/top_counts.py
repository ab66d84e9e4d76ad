"""Counting keys (client addresses, URLs) with memory bounded whatever the file holds.

A file from a distributed attack can hold a million distinct client addresses. `TopCounts` keeps
at most `capacity` keys: when full it drops the less frequent half, remembering the largest count
dropped as its error bound (the lossy-counting idea). `prune` is that step alone, for the
per-block counters of the worker processes. Heavy hitters, which are what a top list
and the auto-blocking capability need, are never the ones dropped unless the file has more than
`capacity / 2` keys heavier than them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Generic, TypeVar

__all__ = ["PRUNE_CAPACITY", "TopCounts", "prune"]

K = TypeVar("K")

#: Keys a running count of clients or URLs holds before its lighter half is dropped.
PRUNE_CAPACITY = 50_000


def prune(counts: Counter[Any], capacity: int = PRUNE_CAPACITY) -> int:
    """Keep the heaviest `capacity / 2` keys once `counts` holds more than `capacity` (in place);
    returns the largest count dropped (0 when nothing was).

    Heavy hitters are never the ones dropped unless more than `capacity / 2` keys outweigh them.
    A key dropped in several prunes may be low by the sum of what each one dropped.
    """
    if len(counts) <= capacity:
        return 0
    ranked = counts.most_common()
    keep = capacity // 2
    counts.clear()
    counts.update(dict(ranked[:keep]))
    return ranked[keep][1]


class TopCounts(Generic[K]):
    __slots__ = ("capacity", "counts", "error_bound")

    def __init__(self, capacity: int = PRUNE_CAPACITY) -> None:
        self.capacity = capacity
        self.counts: Counter[K] = Counter()
        #: No count is low by more than this (the sum of the largest count each prune dropped).
        self.error_bound = 0

    def update(self, counts: Counter[K]) -> None:
        self.counts.update(counts)
        self.error_bound += prune(self.counts, self.capacity)

    def top(self, n: int) -> list[tuple[K, int]]:
        return self.counts.most_common(n)
