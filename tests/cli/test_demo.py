"""`secauto demo`: synthesizes every stack and replays every sample event as expected."""

from __future__ import annotations

from secauto_cli.demo import expected_rules, run_demo, sample_events


def test_every_sample_event_has_an_expectation():
    assert [path.name for path in sample_events() if expected_rules(path) is None] == []


def test_demo_synthesizes_and_replays_every_event_as_expected(capsys):
    status = run_demo()
    out = capsys.readouterr().out
    assert status == 0, out
    assert "SecautoCore (us-east-1)" in out and "SecautoRootActivity (us-east-1)" in out
    assert "cdk-nag AwsSolutions: no unacknowledged findings" in out
    assert f"== {len(sample_events())} events replayed: all as expected" in out
    assert "FAIL" not in out
    assert "slack: [CRITICAL] Root console sign-in without MFA" in out
    assert "alerted HIGH console-signin-failure [burst: 3 failures in 15 min]" in out
    assert "no rule matched (as expected)" in out
