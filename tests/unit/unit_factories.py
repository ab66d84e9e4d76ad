"""Builders shared by the unit tests (imported as a plain module: tests/unit is on sys.path)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from werkzeug import Request, Response

from secauto_cli.slack_capture import WEBHOOK_PATH, SlackCapture
from secauto_core.alert import Alert, Fact
from secauto_core.asff import AsffResource, FindingSpec, build_finding
from secauto_core.severity import Severity

ACCOUNT = "123456789012"
REGION = "us-east-1"
WHEN = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)


def make_alert(**overrides: Any) -> Alert:
    values: dict[str, Any] = {
        "capability": "root_activity",
        "severity": Severity.HIGH,
        "title": "Root user signed in",
        "summary": "The root user signed in to the console.",
        "account_id": ACCOUNT,
        "account_alias": "prod",
        "region": REGION,
        "time": WHEN,
        "facts": (Fact(label="Source IP", value="203.0.113.7"),),
        "labels": (),
        "console_url": "https://us-east-1.console.aws.amazon.com/cloudtrail/home",
        "subject_id": "evt-1",
    }
    values.update(overrides)
    return Alert(**values)


def make_spec(**overrides: Any) -> FindingSpec:
    values: dict[str, Any] = {
        "capability": "guardduty",
        "natural_key": "gd-finding-1",
        "generator_id": "secauto-guardduty",
        "account_id": ACCOUNT,
        "region": REGION,
        "title": "EC2 instance talks to a known C2 server",
        "description": "Instance i-0abc queried a domain on a threat list.",
        "severity": Severity.HIGH,
        "types": ["TTPs/Command and Control/Backdoor:EC2-C&CActivity.B!DNS"],
        "resources": [
            AsffResource(type="AwsEc2Instance", id="arn:aws:ec2:us-east-1:123456789012:instance/i-0abc")
        ],
        "created_at": WHEN,
        "updated_at": WHEN,
    }
    values.update(overrides)
    return FindingSpec(**values)


def make_finding(index: int = 0, **overrides: Any) -> dict[str, Any]:
    return build_finding(make_spec(natural_key=f"key-{index}", title=f"Finding {index}", **overrides))


class SlowSlackCapture(SlackCapture):
    """The Slack stand-in, answering 200 only after `delay` seconds (to provoke client timeouts)."""

    def answer_after(self, delay: float) -> None:
        def handler(_request: Request) -> Response:
            time.sleep(delay)
            return Response("ok", status=200)

        self._server.clear_all_handlers()
        self._server.expect_request(WEBHOOK_PATH, method="POST").respond_with_handler(handler)


class SlackEndpoint:
    """One test's view of a shared `SlackCapture` (starting and stopping a server costs 0.5 s)."""

    def __init__(self, capture: SlackCapture) -> None:
        self._capture = capture
        capture.respond_with(200)
        capture.received()  # forget what earlier tests posted
        self._baseline = capture.requests_seen

    @property
    def url(self) -> str:
        return self._capture.url

    def respond_with(self, status: int, body: str = "ok") -> None:
        self._capture.respond_with(status, body)

    @property
    def requests_seen(self) -> int:
        return self._capture.requests_seen - self._baseline

    def received(self) -> list[dict[str, Any]]:
        return self._capture.received()
