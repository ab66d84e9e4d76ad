"""EC2 throttling, retried with backoff on top of botocore's adaptive retries.

botocore retries `RequestLimitExceeded` itself; when it gives up, the call is tried again here a
few times with a longer backoff. `SnapshotCreationPerVolumeRateExceeded` (one snapshot per
volume per 15 seconds, e.g. when another tool has just snapshotted the volume) is not a
throttling error to botocore: it is waited out here. No wait ever runs past the deadline.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

    from backups.deadline import Deadline

__all__ = ["RETRIED_CODES", "error_code", "with_backoff"]

T = TypeVar("T")

#: Error code -> first wait in seconds.
RETRIED_CODES = {"RequestLimitExceeded": 2.0, "SnapshotCreationPerVolumeRateExceeded": 15.0}
_MAX_WAIT = 20.0


def error_code(exc: BaseException) -> str:
    """The AWS error code of `exc` (a botocore ClientError), else its type name."""
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(exc).__name__


def with_backoff(
    call: Callable[[], T],
    *,
    deadline: Deadline,
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = 4,
) -> T:
    """`call()`, tried up to `attempts` times while EC2 answers with one of `RETRIED_CODES`."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as exc:
            base = RETRIED_CODES.get(error_code(exc))
            if base is None or attempt == attempts:
                raise
            if error_code(exc) == "SnapshotCreationPerVolumeRateExceeded":
                wait = base
            else:
                wait = min(base * 2 ** (attempt - 1), _MAX_WAIT) * (0.5 + random.random() / 2)
            if deadline.remaining() <= wait:
                raise
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
