"""Counting keys (client addresses, URLs) with memory bounded whatever the file holds.

A file from a distributed attack can hold a million distinct client addresses. `TopCounts` keeps
at most `capacity` keys: when full it drops the less frequent half, remembering the largest count
dropped as its error bound (the lossy-counting idea). Heavy hitters, which are what a top list
and the auto-blocking capability need, are never the ones dropped unless the file has more than
`capacity / 2` keys heavier than them.
"""

from __future__ import annotations

from collections import Counter
from typing import Generic, TypeVar

__all__ = ["TopCounts"]

K = TypeVar("K")


class TopCounts(Generic[K]):
    __slots__ = ("capacity", "counts", "error_bound")

    def __init__(self, capacity: int = 50_000) -> None:
        self.capacity = capacity
        self.counts: Counter[K] = Counter()
        #: No count is low by more than this (the sum of the largest count each prune dropped).
        self.error_bound = 0

    def update(self, counts: Counter[K]) -> None:
        self.counts.update(counts)
        if len(self.counts) > self.capacity:
            ranked = self.counts.most_common()
            keep = self.capacity // 2
            # A key dropped in several prunes may be low by the sum of what each one dropped.
            self.error_bound += ranked[keep][1]
            self.counts = Counter(dict(ranked[:keep]))

    def top(self, n: int) -> list[tuple[K, int]]:
        return self.counts.most_common(n)
