"""The per-key expiry policy: pure decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from access_keys.exemptions import parse_exemption_tag
from access_keys.model import ROOT_USER, Action, KeyRecord
from access_keys.policy import decide
from access_keys.settings import AccessKeySettings
from secauto_core.severity import Severity

NOW = datetime(2026, 3, 15, 6, tzinfo=UTC)


def key(age: int, used: int | None, *, active: bool = True, user: str = "alice") -> KeyRecord:
    last_used = NOW - timedelta(days=used) if used is not None else None
    return KeyRecord(
        user, f"arn:aws:iam::123456789012:user/{user}", 1, active, NOW - timedelta(days=age), last_used
    )


def test_thresholds_in_order():
    settings = AccessKeySettings()
    assert decide(key(10, 1), settings, NOW).action is Action.NONE
    assert decide(key(80, 1), settings, NOW).action is Action.WARN
    assert decide(key(60, 45), settings, NOW).action is Action.WARN
    deactivate = decide(key(90, 1), settings, NOW)
    assert (deactivate.action, deactivate.controls, deactivate.severity) == (
        Action.DEACTIVATE,
        ("IAM.3",),
        Severity.MEDIUM,
    )
    assert decide(key(100, 95), settings, NOW).controls == ("IAM.3", "IAM.22")


def test_never_used_keys_get_a_grace_period_then_count_their_age_as_unused():
    settings = AccessKeySettings(never_used_grace_days=7)
    assert decide(key(5, None), settings, NOW).action is Action.NONE
    plan = decide(key(46, None), settings, NOW)
    assert plan.action is Action.WARN and plan.reasons == ("never used in 46 days",)


def test_deleting_inactive_keys_is_opt_in_and_counts_from_deactivation():
    inactive = key(200, 150, active=False)
    assert (
        decide(inactive, AccessKeySettings(), NOW, inactive_since=NOW - timedelta(days=400)).action
        is Action.NONE
    )
    opted_in = AccessKeySettings(delete_inactive_days=30)
    assert decide(inactive, opted_in, NOW, inactive_since=NOW - timedelta(days=10)).action is Action.NONE
    assert decide(inactive, opted_in, NOW, inactive_since=NOW - timedelta(days=30)).action is Action.DELETE
    assert decide(inactive, opted_in, NOW, inactive_since=None).action is Action.NONE  # never guess


def test_root_keys_are_reported_critical_whatever_their_age_and_never_exempt():
    plan = decide(key(1, 0, user=ROOT_USER), AccessKeySettings(), NOW, exemption="whatever")
    assert (plan.action, plan.severity, plan.controls) == (Action.REPORT, Severity.CRITICAL, ("IAM.4",))


def test_a_valid_exemption_turns_an_action_into_exempt():
    plan = decide(key(200, 1), AccessKeySettings(), NOW, exemption="vault-rotated")
    assert plan.action is Action.EXEMPT and "would deactivate, but exempt: vault-rotated" in plan.reasons


def test_exemption_tags():
    assert parse_exemption_tag("CI key|2026-12-31", NOW).reason == "CI key (until 2026-12-31)"
    assert "expired" in (parse_exemption_tag("old|2026-01-01", NOW).problem or "")
    assert "malformed" in (parse_exemption_tag("no date", NOW).problem or "")
    assert "malformed" in (parse_exemption_tag("x|31/12/2026", NOW).problem or "")
    assert "malformed" in (parse_exemption_tag("|2026-12-31", NOW).problem or "")
