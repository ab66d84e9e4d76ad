"""SNS delivery: a readable text body plus message attributes subscribers can filter on."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from secauto_core import clients
from secauto_core.delivery import DeliveryResult, DeliveryStatus

if TYPE_CHECKING:
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef

    from secauto_core.alert import Alert

__all__ = ["SnsNotifier", "render_subject", "render_text"]

_SUBJECT_MAX = 100
# SNS takes 256 KiB per message, attributes included: keep the body well under it.
_BODY_MAX_BYTES = 200 * 1024
_TEXT_MAX = 4000
_BODY_TRUNCATED = "\n…[truncated: the full alert is in the logs and in Security Hub]"
# SNS subjects: printable ASCII, no line breaks.
_NOT_SUBJECT_SAFE = re.compile(r"[^\x20-\x7e]+")


def render_subject(alert: Alert) -> str:
    subject = _NOT_SUBJECT_SAFE.sub(" ", f"[{alert.severity.value}] secauto: {alert.title}").strip()
    return subject if len(subject) <= _SUBJECT_MAX else subject[: _SUBJECT_MAX - 3] + "..."


def render_text(alert: Alert) -> str:
    """A plain-text body that reads well in e-mail and in chat integrations."""
    lines = [
        f"[{alert.severity.value}] {alert.title[:_TEXT_MAX]}",
        "",
        alert.summary[:_TEXT_MAX],
        "",
        f"Account: {alert.account_display}",
        f"Region: {alert.region}",
        f"Time: {alert.time.isoformat()}",
        f"Capability: {alert.capability}",
    ]
    lines += [f"Label: {label}" for label in alert.labels]
    head = "\n".join(lines)
    facts = "".join(f"\n{fact.label}: {fact.value}" for fact in alert.facts)
    tail = f"\n\nConsole: {alert.console_url}" if alert.console_url else ""
    room = _BODY_MAX_BYTES - len(head.encode()) - len(tail.encode())
    if len(facts.encode()) > room:
        # Cut the facts, not the link: the reader can still open the event in the console.
        keep = max(0, room - len(_BODY_TRUNCATED.encode()))
        facts = facts.encode()[:keep].decode(errors="ignore") + _BODY_TRUNCATED
    return head + facts + tail


def message_attributes(alert: Alert) -> dict[str, MessageAttributeValueTypeDef]:
    values = {
        "severity": alert.severity.value,
        "capability": alert.capability,
        "account": alert.account_id,
        "region": alert.region,
        **{name: value for name, value in alert.attributes if value},
    }
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}


class SnsNotifier:
    """Publishes alerts to one topic. Errors (after botocore's retries) propagate to the caller."""

    def __init__(self, topic_arn: str | None) -> None:
        self._topic_arn = topic_arn

    def send(self, alert: Alert) -> DeliveryResult:
        if not self._topic_arn:
            return DeliveryResult(DeliveryStatus.DISABLED, "no SNS topic configured")
        response = clients.sns().publish(
            TopicArn=self._topic_arn,
            Subject=render_subject(alert),
            Message=render_text(alert),
            MessageAttributes=message_attributes(alert),
        )
        return DeliveryResult(DeliveryStatus.SENT, response["MessageId"])
