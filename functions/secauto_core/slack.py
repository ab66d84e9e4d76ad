"""Slack delivery through `slack_sdk`'s incoming-webhook client.

The webhook URL is a secret: it is read from Secrets Manager (cached by Powertools Parameters),
never logged, and scrubbed from any error text we report. A failure (5xx, 429, timeout,
connection error, bad URL) is retried by slack_sdk's retry handlers and then returned as a
failed `DeliveryResult`; it never raises, so the SNS message and the rest of a batch go on.

Whatever is sent is inert (see `slack_format`): a payload with markup, a control or invisible
character or a broadcast mention in any text is refused here, where the message leaves us,
whoever built it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from secauto_core.delivery import DeliveryResult, DeliveryStatus
from secauto_core.slack_format import inert_problems, render_alert

if TYPE_CHECKING:
    from collections.abc import Callable

    from slack_sdk.http_retry import RetryHandler

    from secauto_core.alert import Alert

__all__ = ["SlackNotifier", "WebhookUrlError", "validate_webhook_url"]

_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}

# slack_sdk logs retried requests with their full URL at DEBUG level; keep them out of our logs.
_sdk_logger = logging.getLogger("secauto.slack_sdk")
_sdk_logger.addHandler(logging.NullHandler())
_sdk_logger.propagate = False


class WebhookUrlError(ValueError):
    """The configured webhook URL is not a usable Slack webhook address."""


def validate_webhook_url(url: str) -> str:
    """`url` if it is https (or http to a loopback test server); raise otherwise, without echoing it."""
    parts = urlsplit(url.strip())
    if parts.scheme == "https" and parts.hostname:
        return url.strip()
    if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
        return url.strip()
    raise WebhookUrlError("the Slack webhook URL must be an https:// URL")


def _retry_handlers(max_retries: int, backoff_factor: float) -> list[RetryHandler]:
    from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
    from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler
    from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
    from slack_sdk.http_retry.jitter import RandomJitter

    class AnyServerErrorRetryHandler(ServerErrorRetryHandler):
        """slack_sdk retries only 500 and 503; a 502 or 504 from a proxy is just as transient."""

        def _can_retry(self, *, response: Any = None, **_: Any) -> bool:
            return response is not None and 500 <= response.status_code <= 599

    backoff = BackoffRetryIntervalCalculator(backoff_factor=backoff_factor, jitter=RandomJitter())
    connection_errors: list[type[Exception]] = [ConnectionError, TimeoutError, OSError]
    return [
        ConnectionErrorRetryHandler(max_retries, backoff, error_types=connection_errors),
        AnyServerErrorRetryHandler(max_retries, backoff),
        RateLimitErrorRetryHandler(max_retries),
    ]


class SlackNotifier:
    """Posts alerts to the Slack webhook whose URL `url_provider` returns (None: Slack is off)."""

    def __init__(
        self,
        url_provider: Callable[[], str | None],
        *,
        timeout_seconds: int = 3,
        max_retries: int = 2,
        backoff_factor: float = 0.5,
    ) -> None:
        self._url_provider = url_provider
        self._timeout = timeout_seconds
        self._max_retries = max_retries
        self._backoff_factor = backoff_factor

    def send(self, alert: Alert) -> DeliveryResult:
        return self.send_payload(render_alert(alert))

    def send_payload(self, payload: dict[str, Any]) -> DeliveryResult:
        problems = inert_problems(payload)
        if problems:
            return DeliveryResult(DeliveryStatus.FAILED, f"payload is not inert: {'; '.join(problems[:3])}")
        try:
            url = self._url_provider()
        except Exception as exc:  # a missing or unreadable secret must not stop SNS
            return DeliveryResult(DeliveryStatus.FAILED, f"webhook secret unavailable: {type(exc).__name__}")
        if not url:
            return DeliveryResult(DeliveryStatus.DISABLED, "no Slack webhook configured")
        try:
            from slack_sdk.webhook import WebhookClient

            client = WebhookClient(
                validate_webhook_url(url),
                timeout=self._timeout,
                logger=_sdk_logger,
                retry_handlers=_retry_handlers(self._max_retries, self._backoff_factor),
            )
            response = client.send_dict(payload)
        except WebhookUrlError as exc:
            return DeliveryResult(DeliveryStatus.FAILED, str(exc))
        except Exception as exc:  # timeouts, refused connections, TLS errors: all reported alike
            return DeliveryResult(DeliveryStatus.FAILED, _scrub(f"{type(exc).__name__}: {exc}", url))
        if response.status_code == 200:
            return DeliveryResult(DeliveryStatus.SENT)
        body = _scrub(str(response.body)[:200], url)
        return DeliveryResult(DeliveryStatus.FAILED, f"HTTP {response.status_code}: {body}")


def _scrub(text: str, url: str) -> str:
    """`text` with the webhook URL (and its path, which holds the token) removed."""
    path = urlsplit(url).path
    text = text.replace(url, "<webhook>")
    return text.replace(path, "<webhook-path>") if len(path) > 1 else text
