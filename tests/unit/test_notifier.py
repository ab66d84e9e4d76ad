"""Fan-out to Slack and SNS: each channel fails on its own; SNS failures are raised after Slack."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from unit_factories import make_alert

from secauto_cli.embedded_account import embedded_account
from secauto_core.delivery import DeliveryStatus
from secauto_core.notifier import DeliveryReport, Notifier, default_notifier
from secauto_core.settings import get_settings
from secauto_core.slack import SlackNotifier
from secauto_core.slack_format import render_alert
from secauto_core.sns import SnsNotifier, render_text


def test_both_channels_delivered(slack):
    alert = make_alert()
    with embedded_account() as account:
        report = Notifier(SlackNotifier(lambda: slack.url), SnsNotifier(account.topic_arn)).notify(alert)
        messages = account.sns_messages()
    assert report.as_dict() == {"slack": "sent", "sns": "sent"}
    assert slack.received() == [render_alert(alert)]
    assert [m["message"] for m in messages] == [render_text(alert)]


def test_slack_failing_does_not_stop_sns(slack):
    slack.respond_with(500, "oops")
    with embedded_account() as account:
        notifier = Notifier(SlackNotifier(lambda: slack.url, max_retries=0), SnsNotifier(account.topic_arn))
        report = notifier.notify(make_alert())
        messages = account.sns_messages()
    assert report.slack.status is DeliveryStatus.FAILED
    assert report.slack.detail == "HTTP 500: oops"
    assert report.sns.status is DeliveryStatus.SENT
    assert report.as_dict() == {"slack": "failed", "sns": "sent"}
    assert len(messages) == 1
    assert slack.requests_seen == 1


def test_slack_unreachable_does_not_stop_sns(refused_url):
    with embedded_account() as account:
        notifier = Notifier(SlackNotifier(lambda: refused_url, max_retries=0), SnsNotifier(account.topic_arn))
        report = notifier.notify(make_alert())
        assert len(account.sns_messages()) == 1
    assert report.as_dict() == {"slack": "failed", "sns": "sent"}


def test_sns_failing_still_tries_slack_then_raises(slack):
    alert = make_alert()
    with embedded_account() as account:
        account.client("sns").delete_topic(TopicArn=account.topic_arn)
        notifier = Notifier(SlackNotifier(lambda: slack.url), SnsNotifier(account.topic_arn))
        with pytest.raises(ClientError) as caught:
            notifier.notify(alert)
    assert caught.value.response["Error"]["Code"] == "NotFound"
    assert slack.received() == [render_alert(alert)]


def test_both_failing_raises_the_sns_error_after_trying_slack(slack):
    slack.respond_with(503, "unavailable")
    with embedded_account() as account:
        account.client("sns").delete_topic(TopicArn=account.topic_arn)
        notifier = Notifier(SlackNotifier(lambda: slack.url, max_retries=0), SnsNotifier(account.topic_arn))
        with pytest.raises(ClientError):
            notifier.notify(make_alert())
    assert slack.requests_seen == 1


def test_default_notifier_reads_the_webhook_from_secrets_manager(slack):
    alert = make_alert()
    with embedded_account(slack_url=slack.url + "\n") as account:
        report = default_notifier().notify(alert)
        messages = account.sns_messages()
    assert report.as_dict() == {"slack": "sent", "sns": "sent"}
    assert slack.received() == [render_alert(alert)]
    assert len(messages) == 1


def test_default_notifier_with_an_empty_secret_reports_slack_failed_and_sends_sns(slack):
    with embedded_account(slack_url=None) as account:  # the secret exists but has no value
        report = default_notifier().notify(make_alert())
        assert len(account.sns_messages()) == 1
    assert report.slack.status is DeliveryStatus.FAILED
    assert report.slack.detail.startswith("webhook secret unavailable: ")
    assert report.sns.status is DeliveryStatus.SENT
    assert slack.requests_seen == 0


def test_default_notifier_without_slack_secret_or_topic_is_disabled(monkeypatch):
    monkeypatch.delenv("SECAUTO_SLACK_SECRET_NAME", raising=False)
    monkeypatch.delenv("SECAUTO_TOPIC_ARN", raising=False)
    report = default_notifier(get_settings()).notify(make_alert())
    assert isinstance(report, DeliveryReport)
    assert report.as_dict() == {"slack": "disabled", "sns": "disabled"}


def test_the_webhook_secret_is_cached_until_the_runtime_is_reset(slack):
    not_loopback = "http://10.0.0.1/services/T/B/NEW"  # rejected before any request is made
    with embedded_account(slack_url=slack.url) as account:
        assert default_notifier().notify(make_alert()).slack.status is DeliveryStatus.SENT
        account.client("secretsmanager").put_secret_value(
            SecretId=account.slack_secret_name, SecretString=not_loopback
        )
        assert default_notifier().notify(make_alert()).slack.status is DeliveryStatus.SENT  # cached value
        account.set_slack_webhook(not_loopback)  # resets the runtime caches
        report = default_notifier().notify(make_alert())
    assert report.slack.status is DeliveryStatus.FAILED
    assert report.slack.detail == "the Slack webhook URL must be an https:// URL"
    assert len(slack.received()) == 2
