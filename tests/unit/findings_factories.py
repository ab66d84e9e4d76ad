"""Builders for findings tests (tests/findings is on sys.path through conftest)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from findings.model import FindingResource, NormalizedFinding
from findings.settings import FindingSource, FindingsSettings
from secauto_core.severity import Severity

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def make_finding(**overrides: Any) -> NormalizedFinding:
    base = NormalizedFinding(
        source=FindingSource.GUARDDUTY,
        native_id="f-1",
        arn="arn:aws:guardduty:us-east-1:123456789012:detector/d1/finding/f-1",
        account_id="123456789012",
        region="us-east-1",
        type="UnauthorizedAccess:EC2/SSHBruteForce",
        title="203.0.113.5 is performing SSH brute force attacks against i-0abc.",
        description="SSH brute force.",
        severity=Severity.HIGH,
        severity_original="8",
        created_at=T0,
        updated_at=T0,
        first_seen=T0,
        last_seen=T0,
        count=3,
        sample=False,
        archived=False,
        generator_id="arn:aws:guardduty:us-east-1:123456789012:detector/d1",
        types=("TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce",),
        resources=(
            FindingResource(
                type="AwsEc2Instance",
                id="arn:aws:ec2:us-east-1:123456789012:instance/i-0abc",
                region="us-east-1",
                tags={"Name": "web", "Purpose": "app"},
            ),
        ),
        console_url="https://us-east-1.console.aws.amazon.com/guardduty/home",
        remote_ip="203.0.113.5",
    )
    return replace(base, **overrides)


def later(finding: NormalizedFinding, minutes: int = 60, **overrides: Any) -> NormalizedFinding:
    return replace(finding, updated_at=finding.updated_at + timedelta(minutes=minutes), **overrides)


def settings(**overrides: Any) -> FindingsSettings:
    return FindingsSettings(**overrides)
