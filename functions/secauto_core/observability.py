"""The Powertools singletons every secauto function logs, measures and traces with.

Service name and metrics namespace come from `POWERTOOLS_SERVICE_NAME` and
`POWERTOOLS_METRICS_NAMESPACE`, which the CDK function construct sets.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

__all__ = ["MetricUnit", "logger", "metrics", "tracer"]

#: Every capability publishes under one namespace; the service dimension tells them apart.
DEFAULT_NAMESPACE = "secauto"

logger = Logger()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE)

HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])


class DeferredTracer:
    """A Powertools `Tracer` created on first use rather than at import.

    Creating the Tracer imports the X-Ray SDK (about 110 ms here, a third of `import boto3`).
    Deferring it keeps module import lean; the SDK is loaded by the first traced call instead,
    so the first invocation pays it (benchmarks/cold_start.py reports both figures).
    """

    def __init__(self) -> None:
        self._tracer: Tracer | None = None

    @property
    def real(self) -> Tracer:
        if self._tracer is None:
            from aws_lambda_powertools import Tracer

            self._tracer = Tracer()
        return self._tracer

    def capture_lambda_handler(self, handler: HandlerT) -> HandlerT:
        traced: Callable[..., Any] | None = None

        @functools.wraps(handler)
        def wrapper(event: Any, context: Any) -> Any:
            nonlocal traced
            if traced is None:
                traced = self.real.capture_lambda_handler(handler)
            return traced(event, context)

        return wrapper  # type: ignore[return-value]

    def capture_method(self, method: HandlerT) -> HandlerT:
        traced: Callable[..., Any] | None = None

        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            nonlocal traced
            if traced is None:
                traced = self.real.capture_method(method)
            return traced(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


tracer = DeferredTracer()
