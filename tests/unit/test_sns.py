"""SNS rendering (subject, body, attributes) and publishing, read back from moto."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from unit_factories import make_alert

from secauto_cli.embedded_account import embedded_account
from secauto_core.alert import Fact
from secauto_core.delivery import DeliveryStatus
from secauto_core.severity import Severity
from secauto_core.sns import SnsNotifier, message_attributes, render_subject, render_text

SUBJECT_SAFE = re.compile(r"^[\x20-\x7e]*$")


@pytest.mark.parametrize(
    ("title", "subject"),
    [
        ("Root user signed in", "[HIGH] secauto: Root user signed in"),
        ("two\nlines\r\nhere", "[HIGH] secauto: two lines here"),
        ("café ☕ über", "[HIGH] secauto: caf     ber"),  # each non-ASCII run becomes one space
        ("trailing\t\n", "[HIGH] secauto: trailing"),
    ],
)
def test_subject_examples(title, subject):
    assert render_subject(make_alert(title=title)) == subject


def test_long_subject_is_cut_to_100_with_an_ellipsis():
    subject = render_subject(make_alert(title="x" * 300))
    assert len(subject) == 100
    assert subject.endswith("...")
    assert subject.startswith("[HIGH] secauto: xxx")


@given(title=st.text(max_size=400), severity=st.sampled_from(list(Severity)))
def test_subject_is_always_short_printable_ascii(title, severity):
    subject = render_subject(make_alert(title=title, severity=severity))
    assert 1 <= len(subject) <= 100
    assert SUBJECT_SAFE.match(subject)
    assert subject == subject.strip()
    assert subject.startswith(f"[{severity.value}] secauto:")


def test_body_lists_everything_a_reader_needs():
    alert = make_alert(
        labels=("expected: break-glass window",),
        facts=(Fact(label="Source IP", value="203.0.113.7"), Fact(label="User", value="root")),
    )
    assert render_text(alert).splitlines() == [
        "[HIGH] Root user signed in",
        "",
        "The root user signed in to the console.",
        "",
        "Account: 123456789012 (prod)",
        "Region: us-east-1",
        "Time: 2024-05-01T12:30:15.123456+00:00",
        "Capability: root_activity",
        "Label: expected: break-glass window",
        "Source IP: 203.0.113.7",
        "User: root",
        "",
        "Console: https://us-east-1.console.aws.amazon.com/cloudtrail/home",
    ]


def test_body_without_alias_or_console_link():
    text = render_text(make_alert(account_alias=None, console_url=None))
    assert "Account: 123456789012\n" in text
    assert "Console:" not in text


def test_attributes_for_subscription_filters():
    attributes = message_attributes(make_alert(severity=Severity.CRITICAL))
    assert attributes == {
        "severity": {"DataType": "String", "StringValue": "CRITICAL"},
        "capability": {"DataType": "String", "StringValue": "root_activity"},
        "account": {"DataType": "String", "StringValue": "123456789012"},
        "region": {"DataType": "String", "StringValue": "us-east-1"},
    }


def test_disabled_without_a_topic():
    result = SnsNotifier(None).send(make_alert())
    assert result.status is DeliveryStatus.DISABLED
    assert result.ok


def test_publish_reaches_the_topic_with_subject_body_and_attributes():
    alert = make_alert(
        title="Root login from ☠ <!channel>\nsecond line " + "x" * 200,
        severity=Severity.CRITICAL,
        region="eu-west-1",
    )
    with embedded_account() as account:
        result = SnsNotifier(account.topic_arn).send(alert)
        messages = account.sns_messages()
    assert result.status is DeliveryStatus.SENT
    assert result.detail  # the SNS MessageId
    assert len(messages) == 1
    message = messages[0]
    assert message["subject"] == render_subject(alert)
    assert len(message["subject"]) <= 100 and SUBJECT_SAFE.match(message["subject"])
    assert message["message"] == render_text(alert)
    assert message["attributes"] == {
        "severity": "CRITICAL",
        "capability": "root_activity",
        "account": "123456789012",
        "region": "eu-west-1",
    }


def test_publish_to_a_missing_topic_raises():
    with embedded_account() as account:
        account.client("sns").delete_topic(TopicArn=account.topic_arn)
        with pytest.raises(Exception, match="NotFound"):
            SnsNotifier(account.topic_arn).send(make_alert())


def test_a_huge_alert_is_still_published():
    alert = make_alert(facts=tuple(Fact(label=f"resource {i}", value="v" * 3000) for i in range(100)))
    with embedded_account() as account:
        result = SnsNotifier(account.topic_arn).send(alert)
        assert result.status is DeliveryStatus.SENT
        assert len(account.sns_messages()) == 1
