"""Console deep links per partition, the Alert model, and reset_runtime."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pydantic
import pytest
from moto import mock_aws
from unit_factories import make_alert

from secauto_core import clients
from secauto_core.console_links import (
    cloudtrail_event_url,
    console_base_url,
    partition_of,
    securityhub_finding_url,
)
from secauto_core.lifecycle import reset_runtime
from secauto_core.settings import get_settings


@pytest.mark.parametrize(
    ("region", "partition", "base"),
    [
        ("us-east-1", "aws", "https://us-east-1.console.aws.amazon.com"),
        ("eu-central-1", "aws", "https://eu-central-1.console.aws.amazon.com"),
        ("cn-northwest-1", "aws-cn", "https://cn-northwest-1.console.amazonaws.cn"),
        ("us-gov-west-1", "aws-us-gov", "https://us-gov-west-1.console.amazonaws-us-gov.com"),
    ],
)
def test_partition_and_console_base(region, partition, base):
    assert partition_of(region) == partition
    assert console_base_url(region) == base


def test_cloudtrail_link_quotes_the_event_id():
    url = cloudtrail_event_url("us-east-1", "a/b#c?d e")
    parts = urlsplit(url)
    assert parts.netloc == "us-east-1.console.aws.amazon.com"
    assert parts.query == "region=us-east-1"
    assert parts.fragment == "/events/a%2Fb%23c%3Fd%20e"


def test_securityhub_link_filters_on_the_finding_id():
    finding_id = "secauto/guardduty/123456789012/us-east-1/abc"
    url = securityhub_finding_url("cn-north-1", finding_id)
    assert url.startswith(
        "https://cn-north-1.console.amazonaws.cn/securityhub/home?region=cn-north-1#/findings?search="
    )
    search = url.split("search=", 1)[1]
    assert "/" not in search and "#" not in search
    assert unquote(search) == f"Id=\\operator\\:EQUALS\\:{finding_id}"


def test_alert_account_display_and_validation():
    assert make_alert().account_display == "123456789012 (prod)"
    assert make_alert(account_alias=None).account_display == "123456789012"
    with pytest.raises(pydantic.ValidationError):
        make_alert(subject_id="")
    with pytest.raises(pydantic.ValidationError):
        make_alert(severity="SEVERE")
    assert make_alert(severity="LOW").severity == "LOW"


def test_reset_runtime_forgets_clients_and_settings(monkeypatch):
    monkeypatch.setenv("SECAUTO_CAPABILITY", "before")
    with mock_aws():
        sns = clients.sns()
        settings = get_settings()
        monkeypatch.setenv("SECAUTO_CAPABILITY", "after")
        assert get_settings() is settings
        reset_runtime()
        assert clients.sns() is not sns
        assert get_settings().capability == "after"
