"""The Powertools singletons every secauto function logs, measures and traces with.

Service name and metrics namespace come from `POWERTOOLS_SERVICE_NAME` and
`POWERTOOLS_METRICS_NAMESPACE`, which the CDK function construct sets.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

__all__ = ["MetricUnit", "logger", "metrics", "tracer"]

logger = Logger()
#: Every capability publishes under one namespace; the service dimension tells them apart.
DEFAULT_NAMESPACE = "secauto"
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE)
tracer = Tracer()
