"""Target response times as a distribution CloudWatch can take percentiles of.

An embedded-metric-format document carries at most 100 values per metric and no counts. A file
holds far more requests per minute, so the distribution is kept as exact counts per logged value
(ALB logs times in milliseconds, so distinct values stay few) and published as at most 99
equally weighted quantile points: point i is the (i + 0.5) / n quantile. CloudWatch's p50, p90 and
p99 over those points are the file's own percentiles to within one point's weight (1%).
"""

from __future__ import annotations

from collections import Counter
from itertools import accumulate

__all__ = ["MAX_POINTS", "Distribution"]

#: EMF accepts up to 100 values per metric in one document, and Powertools flushes a metric set
#: on a metric's 100th value (a separate document): 99 keeps each minute in one document.
MAX_POINTS = 99


class Distribution:
    """Counts of observed values; `points()` turns them into EMF values."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: Counter[float] = Counter()

    def add(self, value: float, count: int = 1) -> None:
        self.counts[value] += count

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def points(self, limit: int = MAX_POINTS) -> list[float]:
        """Every value when there are at most `limit` observations, else `limit` quantile points."""
        total = self.total
        ordered = sorted(self.counts.items())
        if total <= limit:
            return [value for value, count in ordered for _ in range(count)]
        values = [value for value, _ in ordered]
        cumulative = list(accumulate(count for _, count in ordered))
        points: list[float] = []
        position = 0
        for index in range(limit):
            rank = (index + 0.5) * total / limit
            while cumulative[position] < rank:
                position += 1
            points.append(values[position])
        return points

    def quantile(self, q: float) -> float | None:
        """The value at quantile `q` (0..1) of the observations, or None when there are none."""
        total = self.total
        if not total:
            return None
        rank = q * total
        seen = 0
        for value, count in sorted(self.counts.items()):
            seen += count
            if seen >= rank:
                return value
        return max(self.counts)
