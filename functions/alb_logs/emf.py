"""Per load balancer and minute metrics in CloudWatch embedded metric format (EMF).

Each (load balancer, minute) of a file becomes EMF documents printed to the function's log,
timestamped with the minute itself (not the time of processing), so CloudWatch files the
values under the minute the requests happened in: one `PutMetricData` call is never made.
Dimensions stay low-cardinality: the load balancer (`app/<name>/<id>`, as AWS's own
`AWS/ApplicationELB` metrics name it), and, in their own documents, the TLS protocol version and
the desync classification. Names differ from AWS's `AWS/ApplicationELB` metrics where the
meaning differs: `ElbStatus_5XX_Count` counts every response whose `elb_status_code` is 5xx
(target errors passed through included), while AWS's `HTTPCode_ELB_5XX_Count` counts only errors
the load balancer produced itself (ours: `ALBGeneratedErrorCount`).
"""

from __future__ import annotations

import json
import warnings
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.metrics.functions import validate_emf_timestamp

if TYPE_CHECKING:
    from collections.abc import Iterable

    from alb_logs.aggregate import MinuteStats

__all__ = ["NAMESPACE", "STATUS_CLASSES", "metric_documents", "print_documents", "stale_minutes"]

NAMESPACE = "secauto/AlbLogs"
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")


def _document(
    stats: MinuteStats,
    dimensions: dict[str, str],
    values: Iterable[tuple[str, MetricUnit, float | list[float]]],
) -> dict[str, Any]:
    # `service=""`: no automatic `service` dimension; the load balancer is the dimension.
    emf = EphemeralMetrics(namespace=NAMESPACE, service="")
    for name, value in dimensions.items():
        emf.add_dimension(name=name, value=value)
    for name, unit, amount in values:
        for single in amount if isinstance(amount, list) else [amount]:
            emf.add_metric(name=name, unit=unit, value=single)
    with warnings.catch_warnings():
        # Minutes outside CloudWatch's window are reported once per file (`stale_minutes`).
        warnings.simplefilter("ignore")
        emf.set_timestamp(stats.minute)
    return dict(emf.serialize_metric_set())


def metric_documents(minutes: Iterable[MinuteStats]) -> list[dict[str, Any]]:
    """The EMF documents for `minutes`, in time order."""
    documents = []
    for stats in sorted(minutes, key=lambda s: (s.minute, s.load_balancer)):
        base = {"LoadBalancer": stats.load_balancer}
        values: list[tuple[str, MetricUnit, float | list[float]]] = [
            ("RequestCount", MetricUnit.Count, stats.requests),
            *(
                (f"ElbStatus_{label[0]}XX_Count", MetricUnit.Count, stats.elb_status[label])
                for label in STATUS_CLASSES
            ),
            *(
                (f"TargetStatus_{label[0]}XX_Count", MetricUnit.Count, stats.target_status[label])
                for label in STATUS_CLASSES
            ),
            ("ALBGeneratedErrorCount", MetricUnit.Count, stats.alb_generated_errors),
            ("WAFActedRequestCount", MetricUnit.Count, stats.waf_acted),
            ("ReceivedBytes", MetricUnit.Bytes, stats.received_bytes),
            ("SentBytes", MetricUnit.Bytes, stats.sent_bytes),
        ]
        points = stats.target_response_time.points()
        if points:
            values.append(("TargetResponseTime", MetricUnit.Seconds, points))
        documents.append(_document(stats, base, values))
        for protocol, count in sorted(stats.tls_protocols.items()):
            documents.append(
                _document(
                    stats, {**base, "TLSProtocol": protocol}, [("RequestCount", MetricUnit.Count, count)]
                )
            )
        for classification, count in sorted(stats.classifications.items()):
            documents.append(
                _document(
                    stats,
                    {**base, "DesyncClassification": classification},
                    [("RequestCount", MetricUnit.Count, count)],
                )
            )
    return documents


def stale_minutes(minutes: Iterable[MinuteStats]) -> list[str]:
    """Minutes CloudWatch would drop (over 14 days old or 2 hours ahead), as ISO strings."""
    return sorted({stats.minute.isoformat() for stats in minutes if not validate_emf_timestamp(stats.minute)})


def print_documents(documents: Iterable[dict[str, Any]]) -> None:
    """Print EMF documents one per line, as the Lambda log (and so CloudWatch) expects them."""
    for document in documents:
        print(json.dumps(document, separators=(",", ":")))
