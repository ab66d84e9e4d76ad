"""The per-key expiry policy and the per-user step after it: pure decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from access_keys.exemptions import parse_exemption_tag
from access_keys.last_key import plan_user
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


# ---------------------------------------------------------------- the per-user step: the last working key


def plans_of(*records: KeyRecord, settings: AccessKeySettings | None = None, exempt: str | None = None):
    settings = settings or AccessKeySettings()
    return [decide(record, settings, NOW, exemption=exempt) for record in records]


def user_key(age: int, used: int | None, *, active: bool = True, seconds: int = 0) -> KeyRecord:
    """A key of alice; `seconds` keeps two keys of the same age apart (identity is per second)."""
    record = key(age, used, active=active)
    return KeyRecord(
        record.user,
        record.user_arn,
        record.slot,
        record.active,
        record.created_at - timedelta(seconds=seconds),
        record.last_used_at,
    )


def test_of_two_expired_keys_the_one_used_last_is_spared_with_a_deadline():
    # Defect 7: both keys past the deactivation age; one of them used today.
    used_today, stale = user_key(120, 0), user_key(100, 30)
    plan = plan_user(plans_of(used_today, stale), AccessKeySettings(), NOW, spared_since={})
    spared, deactivated = plan.plans
    assert deactivated.action is Action.DEACTIVATE and deactivated.spared_until is None
    assert spared.action is Action.WARN and spared.spared_until == NOW + timedelta(days=7)
    assert spared.reasons[0] == (
        "spared: last working key of user alice, deactivated on 2026-03-22 unless rotated"
    )
    assert spared.severity is Severity.MEDIUM and spared.controls == ("IAM.3",)
    assert plan.spared == (spared,)


def test_ties_go_to_the_newest_key_and_never_used_keys_rank_lowest():
    older, newer = user_key(120, 1, seconds=60), user_key(120, 1)
    assert plan_user(plans_of(older, newer), AccessKeySettings(), NOW, spared_since={}).spared[0].key == newer
    never_used, used = user_key(95, None), user_key(200, 100)
    assert (
        plan_user(plans_of(never_used, used), AccessKeySettings(), NOW, spared_since={}).spared[0].key == used
    )


def test_nothing_is_spared_while_another_key_keeps_working():
    for sibling in (user_key(10, 1), user_key(85, 1)):  # compliant, or only warned
        plan = plan_user(plans_of(user_key(120, 0), sibling), AccessKeySettings(), NOW, spared_since={})
        assert plan.plans[0].action is Action.DEACTIVATE and plan.spared == ()


def test_an_exempt_key_counts_as_working_and_an_inactive_one_does_not():
    exempt = plans_of(user_key(120, 0), user_key(100, 1), exempt="CI|2099-01-01")
    assert plan_user(exempt, AccessKeySettings(), NOW, spared_since={}).spared == ()
    alone = plans_of(user_key(120, 0), user_key(100, 1, active=False))
    assert plan_user(alone, AccessKeySettings(), NOW, spared_since={}).spared[0].key.active


def test_a_key_the_recheck_did_not_find_is_not_a_working_key():
    due, vanished = plans_of(user_key(120, 0), user_key(10, 1))
    vanished.outcome = "skipped: the key was rotated or deleted after the report was generated"
    plan = plan_user([due, vanished], AccessKeySettings(), NOW, spared_since={})
    assert plan.spared == (plan.plans[0],)


def test_the_grace_counts_from_the_first_spare_then_the_last_key_goes_alone():
    last = user_key(120, 0)
    settings = AccessKeySettings()
    within = plan_user(plans_of(last), settings, NOW, spared_since={last.identity: NOW - timedelta(days=3)})
    assert within.spared[0].spared_until == NOW + timedelta(days=4)
    over = plan_user(plans_of(last), settings, NOW, spared_since={last.identity: NOW - timedelta(days=7)})
    assert [p.action for p in over.plans] == [Action.DEACTIVATE]


def test_past_its_grace_the_last_key_still_never_goes_with_its_sibling():
    # e.g. the sibling's deactivation failed last run, or enforcement was just turned on.
    last, sibling = user_key(120, 0), user_key(100, 30)
    spared_since = {last.identity: NOW - timedelta(days=30)}
    plan = plan_user(plans_of(last, sibling), AccessKeySettings(), NOW, spared_since=spared_since)
    spared, deactivated = plan.plans
    assert deactivated.action is Action.DEACTIVATE
    assert spared.action is Action.WARN and "its grace ended on 2026-02-20" in spared.reasons[0]


def test_a_zero_grace_turns_the_step_off_and_root_keys_are_left_alone():
    off = AccessKeySettings(last_key_grace_days=0)
    plan = plan_user(plans_of(user_key(120, 0), user_key(100, 3), settings=off), off, NOW, spared_since={})
    assert [p.action for p in plan.plans] == [Action.DEACTIVATE, Action.DEACTIVATE]
    root = plans_of(key(400, 1, user=ROOT_USER))
    assert plan_user(root, AccessKeySettings(), NOW, spared_since={}).plans == tuple(root)


def test_the_step_takes_one_user_at_a_time():
    with pytest.raises(ValueError, match="exactly one user"):
        plan_user(
            [*plans_of(key(120, 0)), *plans_of(key(120, 0, user="bob"))],
            AccessKeySettings(),
            NOW,
            spared_since={},
        )


def test_a_spared_key_is_announced_even_right_after_a_plain_warning():
    (spared,) = plan_user(plans_of(user_key(120, 0)), AccessKeySettings(), NOW, spared_since={}).plans
    assert spared.announcement == "spared" != Action.WARN.value


def test_the_grace_starts_only_when_enforcing_and_is_forgotten_once_the_key_is_compliant():
    from access_keys.service import _next_state
    from access_keys.state import KeyState

    due = user_key(120, 0)
    (spared,) = plan_user(plans_of(due), AccessKeySettings(), NOW, spared_since={}).plans
    blank = KeyState(due.identity)
    assert _next_state(blank, spared, NOW, enforce=False).spared_since is None  # a dry run starts no clock
    started = _next_state(blank, spared, NOW, enforce=True)
    assert started.spared_since == NOW
    assert any("spared as the last working key of alice until 2026-03-22" in e for e in started.timeline)
    later = NOW + timedelta(days=3)
    assert _next_state(started, spared, later, enforce=True).spared_since == NOW  # never restarts
    (compliant,) = plans_of(user_key(10, 0))
    assert _next_state(started, compliant, later, enforce=True).spared_since is None
    (inactive,) = plans_of(user_key(120, 0, active=False))
    assert _next_state(started, inactive, later, enforce=True).spared_since == NOW
