"""The run's time budget: stop with a margin before the Lambda timeout (or `max_runtime_seconds`).

What a run does not reach before its deadline is reported as "not reached" rather than cut off
mid-call by the timeout: a re-run for the same slot (or the next slot) picks it up.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["REPORT_MARGIN_SECONDS", "Deadline"]

#: Left for reporting (Slack, SNS, Security Hub, state) after the last create, copy or delete.
REPORT_MARGIN_SECONDS = 30.0


@dataclass
class Deadline:
    stop_at: float
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def start(
        cls,
        context: Any,
        max_runtime_seconds: float,
        *,
        margin_seconds: float = REPORT_MARGIN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> Deadline:
        """The budget of an invocation starting now: the smaller of `max_runtime_seconds` and the
        Lambda's remaining time less `margin_seconds`."""
        remaining = math.inf
        get_remaining = getattr(context, "get_remaining_time_in_millis", None)
        if callable(get_remaining):
            remaining = get_remaining() / 1000 - margin_seconds
        return cls(clock() + max(0.0, min(float(max_runtime_seconds), remaining)), clock)

    def remaining(self) -> float:
        return self.stop_at - self.clock()

    @property
    def reached(self) -> bool:
        return self.remaining() <= 0
