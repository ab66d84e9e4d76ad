"""A small in-process rate limiter: calls sharing a key are spaced at least `interval` apart.

WAF accepts about one IP-set update per second per account and Region. Over that, it answers
with throttling errors that cost a backoff. One Lambda environment runs one invocation at a
time, but the `secauto` CLI and tests may run writers on threads, so the pacer is thread-safe.
Environments running side by side are not coordinated by this; the writer's backoff covers them.

The clock is monotonic (a wall-clock step must not stall or burst updates), and both the clock
and the sleep are injectable so tests run without waiting.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

__all__ = ["Pacer"]


class Pacer:
    """Spaces calls made under the same key at least `interval` seconds apart."""

    def __init__(
        self,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if interval < 0:
            raise ValueError("a pacing interval cannot be negative")
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        #: key -> the earliest monotonic time the next call under that key may start.
        self._next_slot: dict[Hashable, float] = {}

    def wait(self, key: Hashable = None) -> float:
        """Sleep until a call under `key` may start; the seconds slept.

        The slot is reserved under the lock and slept on outside it: two threads asking at
        once get two distinct slots, one `interval` apart, and neither holds up other keys.
        """
        with self._lock:
            now = self._clock()
            start = max(now, self._next_slot.get(key, now))
            self._next_slot[key] = start + self.interval
        delay = start - now
        if delay > 0:
            self._sleep(delay)
        return delay

    def reset(self) -> None:
        """Forget every reservation (tests; a new process starts empty anyway)."""
        with self._lock:
            self._next_slot.clear()
