"""Fan-out of one alert to Slack and SNS, each failing independently.

Slack is best effort: its failure is logged and counted (`SlackDeliveryFailed`) and never stops
SNS. SNS is the durable channel: if it still fails after botocore's retries, the error is raised
after Slack has been tried, so Lambda retries the event and finally parks it in the DLQ.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from secauto_core.delivery import DeliveryResult, DeliveryStatus
from secauto_core.observability import MetricUnit, logger, metrics
from secauto_core.settings import RuntimeSettings, get_settings
from secauto_core.slack import SlackNotifier
from secauto_core.sns import SnsNotifier

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from secauto_core.alert import Alert

__all__ = ["DeliveryReport", "Notifier", "default_notifier"]


@dataclass(frozen=True)
class DeliveryReport:
    slack: DeliveryResult
    sns: DeliveryResult

    def as_dict(self) -> dict[str, str]:
        return {"slack": self.slack.status.value, "sns": self.sns.status.value}


class Notifier:
    def __init__(self, slack: SlackNotifier, sns: SnsNotifier) -> None:
        self._slack = slack
        self._sns = sns

    def notify(self, alert: Alert, *, slack: bool = True) -> DeliveryReport:
        """Send `alert` to SNS and (unless `slack` is False) to Slack."""
        sns_error: Exception | None = None
        try:
            sns_result = self._sns.send(alert)
        except Exception as exc:
            sns_error = exc
            sns_result = DeliveryResult(DeliveryStatus.FAILED, type(exc).__name__)
            logger.exception("SNS delivery failed", extra={"subject_id": alert.subject_id})
            metrics.add_metric(name="SnsDeliveryFailed", unit=MetricUnit.Count, value=1)
        slack_result = (
            self._slack.send(alert) if slack else DeliveryResult(DeliveryStatus.DISABLED, "not for Slack")
        )
        if slack_result.status is DeliveryStatus.FAILED:
            logger.error(
                "Slack delivery failed",
                extra={"subject_id": alert.subject_id, "reason": slack_result.detail},
            )
            metrics.add_metric(name="SlackDeliveryFailed", unit=MetricUnit.Count, value=1)
        elif slack_result.status is DeliveryStatus.SENT:
            metrics.add_metric(name="SlackMessagesSent", unit=MetricUnit.Count, value=1)
        if sns_error is not None:
            raise sns_error
        metrics.add_metric(name="AlertsSent", unit=MetricUnit.Count, value=1)
        return DeliveryReport(slack=slack_result, sns=sns_result)


def _slack_webhook_url(settings: RuntimeSettings) -> str | None:
    if not settings.slack_secret_name:
        return None
    value = _secrets_provider().get(settings.slack_secret_name, max_age=settings.slack_secret_max_age_seconds)
    return str(value).strip() if value else None


@lru_cache(maxsize=1)
def _secrets_provider() -> SecretsProvider:
    # Imported here, not at module level: Parameters costs cold-start time that only a send needs.
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from secauto_core import clients

    return SecretsProvider(boto3_client=clients.secretsmanager())


def default_notifier(settings: RuntimeSettings | None = None) -> Notifier:
    """The notifier the deployed functions use, configured from the runtime settings."""
    settings = settings or get_settings()
    return Notifier(
        slack=SlackNotifier(lambda: _slack_webhook_url(settings)),
        sns=SnsNotifier(settings.topic_arn),
    )


def reset_secret_cache() -> None:
    """Forget the cached Secrets Manager provider (and its cached values); used by tests."""
    _secrets_provider.cache_clear()
