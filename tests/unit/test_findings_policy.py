"""The notification policy: pure decisions over a finding and its remembered state."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from findings_factories import T0, later, make_finding, settings

from findings.policy import NotificationState, decide
from findings.settings import FindingSource
from findings.suppressions import SuppressionMatch, SuppressionRule
from secauto_core.severity import Severity

NOW = T0 + timedelta(days=1)


def run(finding, previous=None, rules=(), **config):
    return decide(finding, previous, settings(**config), list(rules), NOW)


def test_first_sight_is_notified_and_remembered():
    decision = run(make_finding())
    assert decision.notify and decision.import_finding
    assert decision.reason == "first sight"
    assert decision.state.notified_severity is Severity.HIGH
    assert decision.state.notified_count == 3
    assert decision.state.version == 1


def test_redelivery_is_not_notified_again():
    first = run(make_finding())
    second = run(make_finding(), previous=first.state)
    assert not second.notify and second.import_finding
    assert second.reason.startswith("already notified")
    assert second.state.version == first.state.version + 1


def test_count_growth_below_the_factor_is_quiet_then_a_jump_notifies():
    first = run(make_finding(count=3))
    grown = run(later(make_finding(), count=20), previous=first.state, count_jump_factor=10)
    assert not grown.notify
    jumped = run(later(make_finding(), 120, count=30), previous=grown.state, count_jump_factor=10)
    assert jumped.notify and jumped.reason == "count grew from 3 to 30"
    assert jumped.state.notified_count == 30


def test_severity_escalation_notifies_again():
    first = run(make_finding(severity=Severity.MEDIUM))
    escalated = run(later(make_finding(severity=Severity.CRITICAL)), previous=first.state)
    assert escalated.notify
    assert escalated.reason == "severity rose from MEDIUM to CRITICAL"


def test_severity_decrease_is_quiet():
    first = run(make_finding(severity=Severity.HIGH))
    assert not run(later(make_finding(severity=Severity.MEDIUM)), previous=first.state).notify


def test_an_older_update_is_stale_neither_notified_nor_imported():
    newer = run(later(make_finding(), 60))
    stale = run(make_finding(severity=Severity.CRITICAL), previous=newer.state)
    assert not stale.notify and not stale.import_finding
    assert stale.reason.startswith("stale")
    assert stale.state is newer.state


@pytest.mark.parametrize(
    ("overrides", "config", "reason"),
    [
        ({"sample": True}, {}, "sample finding"),
        ({"archived": True}, {}, "archived finding"),
        ({"severity": Severity.LOW}, {}, "below the minimum severity MEDIUM for guardduty"),
        (
            {"source": FindingSource.INSPECTOR, "severity": Severity.MEDIUM},
            {},
            "below the minimum severity HIGH for inspector",
        ),
    ],
)
def test_quiet_findings_are_imported_not_notified(overrides, config, reason):
    decision = run(make_finding(**overrides), **config)
    assert not decision.notify and decision.import_finding
    assert decision.reason == reason


def test_samples_and_archived_can_be_notified_when_configured():
    assert run(make_finding(sample=True), notify_samples=True).notify
    assert run(make_finding(archived=True), notify_archived=True).notify


def test_min_severity_is_per_source():
    low = make_finding(severity=Severity.LOW)
    assert run(low, min_severity={"guardduty": "LOW"}).notify


def test_a_quiet_finding_that_later_crosses_the_minimum_is_a_first_notification():
    quiet = run(make_finding(severity=Severity.LOW))
    loud = run(later(make_finding(severity=Severity.HIGH)), previous=quiet.state)
    assert loud.notify and loud.reason == "first sight"


def rule(**match):
    return SuppressionRule(id="r1", reason="accepted risk", match=SuppressionMatch(**match))


def test_suppressed_findings_are_imported_with_the_rule_named():
    decision = run(make_finding(), rules=[rule(types=["UnauthorizedAccess:EC2/*"])])
    assert not decision.notify and decision.import_finding
    assert decision.suppressed_by is not None and decision.reason == "suppressed by rule r1: accepted risk"


def test_an_expired_rule_is_not_applied_and_is_reported():
    expired = SuppressionRule(
        id="old", reason="x", expires=(T0 - timedelta(days=1)).date(), match=SuppressionMatch()
    )
    decision = run(make_finding(), rules=[expired])
    assert decision.notify
    assert [r.id for r in decision.expired_rules] == ["old"]


def test_state_keeps_the_newest_update_time():
    first = run(later(make_finding(), 60))
    same_time = run(later(make_finding(), 60), previous=first.state)
    assert same_time.state.updated_at == first.state.updated_at
    assert isinstance(first.state, NotificationState)
    assert replace(first.state, version=0).updated_at == later(make_finding(), 60).updated_at
