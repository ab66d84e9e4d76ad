"""SlackNotifier against a real loopback webhook: success, 4xx/5xx, timeouts, refusals, bad URLs.

slack_sdk's RandomJitter adds up to 1 s to every retry whatever the backoff factor, so these
tests keep max_retries at 0 or 1.
"""

from __future__ import annotations

import time

import pytest
from unit_factories import SlowSlackCapture, make_alert

from secauto_cli.slack_capture import WEBHOOK_PATH
from secauto_core.delivery import DeliveryStatus
from secauto_core.slack import SlackNotifier, WebhookUrlError, validate_webhook_url
from secauto_core.slack_format import render_alert

TOKEN = WEBHOOK_PATH.rsplit("/", 1)[1]


def notifier(url, **options) -> SlackNotifier:
    options.setdefault("backoff_factor", 0.0)
    return SlackNotifier(lambda: url, **options)


def assert_no_secret(detail: str, url: str) -> None:
    assert url not in detail
    assert TOKEN not in detail
    assert WEBHOOK_PATH not in detail


def test_200_is_sent_and_the_server_gets_the_rendered_payload(slack):
    alert = make_alert(title="<!channel> hello")
    result = notifier(slack.url).send(alert)
    assert result.status is DeliveryStatus.SENT
    assert result.ok
    assert slack.received() == [render_alert(alert)]
    assert slack.requests_seen == 1


@pytest.mark.parametrize("max_retries", [0, 1])
def test_500_is_retried_then_reported_failed_without_the_url(slack, max_retries):
    slack.respond_with(500, f"internal error while posting to {WEBHOOK_PATH}")
    result = notifier(slack.url, max_retries=max_retries).send(make_alert())
    assert result.status is DeliveryStatus.FAILED
    assert not result.ok
    assert slack.requests_seen == 1 + max_retries
    assert result.detail.startswith("HTTP 500: internal error while posting to ")
    assert_no_secret(result.detail, slack.url)
    assert slack.received() == []


def test_502_from_a_proxy_is_retried_too(slack):
    slack.respond_with(502, "bad gateway")
    result = notifier(slack.url, max_retries=1).send(make_alert())
    assert result.status is DeliveryStatus.FAILED
    assert slack.requests_seen == 2
    assert result.detail == "HTTP 502: bad gateway"


@pytest.mark.parametrize(
    ("status", "body"), [(400, "invalid_blocks"), (403, "action_prohibited"), (404, "no_service")]
)
def test_4xx_is_not_retried(slack, status, body):
    slack.respond_with(status, body)
    result = notifier(slack.url, max_retries=2).send(make_alert())
    assert result.status is DeliveryStatus.FAILED
    assert result.detail == f"HTTP {status}: {body}"
    assert slack.requests_seen == 1


def test_a_slow_answer_times_out_and_is_reported():
    with SlowSlackCapture() as slow:
        slow.answer_after(0.6)
        started = time.monotonic()
        result = notifier(slow.url, timeout_seconds=0.2, max_retries=0).send(make_alert())
        elapsed = time.monotonic() - started
    assert result.status is DeliveryStatus.FAILED
    assert "timed out" in result.detail.lower()
    assert elapsed < 0.55, "the client waited for the slow answer instead of timing out"
    assert_no_secret(result.detail, slow.url)


def test_a_refused_connection_is_retried_and_reported(refused_url):
    result = notifier(refused_url, max_retries=1).send(make_alert())
    assert result.status is DeliveryStatus.FAILED
    assert "refused" in result.detail.lower()
    assert_no_secret(result.detail, refused_url)


@pytest.mark.parametrize(
    "url",
    [
        f"http://hooks.slack.com{WEBHOOK_PATH}",  # plain http off loopback
        f"ftp://127.0.0.1{WEBHOOK_PATH}",
        f"hooks.slack.com{WEBHOOK_PATH}",
        f"https://{WEBHOOK_PATH}",
        "not a url at all " + TOKEN,
    ],
)
def test_an_invalid_url_is_reported_without_a_request_and_without_echoing_it(url):
    result = notifier(url).send(make_alert())
    assert result.status is DeliveryStatus.FAILED
    assert result.detail == "the Slack webhook URL must be an https:// URL"
    assert_no_secret(result.detail, url)


def test_no_url_means_disabled(slack):
    for empty in (None, ""):
        result = notifier(empty).send(make_alert())
        assert result.status is DeliveryStatus.DISABLED
        assert result.ok
    assert slack.requests_seen == 0


def test_an_unreadable_secret_is_a_failure_not_an_exception():
    def provider():
        raise RuntimeError(f"cannot read https://hooks.slack.com{WEBHOOK_PATH}")

    result = SlackNotifier(provider).send(make_alert())
    assert result.status is DeliveryStatus.FAILED
    assert result.detail == "webhook secret unavailable: RuntimeError"


def test_the_url_is_read_on_every_send(slack):
    urls = iter([None, slack.url])
    sender = SlackNotifier(lambda: next(urls), backoff_factor=0.0)
    assert sender.send(make_alert()).status is DeliveryStatus.DISABLED
    assert sender.send(make_alert()).status is DeliveryStatus.SENT
    assert len(slack.received()) == 1


def test_send_payload_posts_the_given_dict(slack):
    result = notifier(slack.url).send_payload({"text": "plain"})
    assert result.status is DeliveryStatus.SENT
    assert slack.received() == [{"text": "plain"}]


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/T/B/X",
        "  https://hooks.slack.com/services/T/B/X\n",
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]:9/hook",
    ],
)
def test_validate_webhook_url_accepts_https_and_loopback_http(url):
    assert validate_webhook_url(url) == url.strip()


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1/hook", "http://127.0.0.1.evil.example/hook", "file:///etc/passwd", ""]
)
def test_validate_webhook_url_rejects_others(url):
    with pytest.raises(WebhookUrlError):
        validate_webhook_url(url)
