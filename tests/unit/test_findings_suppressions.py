"""Suppression rules: matching on type, resource, account, tag and source; expiry; file loading."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from findings_factories import T0, make_finding

from findings.settings import FindingSource
from findings.suppressions import (
    SuppressionError,
    SuppressionMatch,
    SuppressionRule,
    load_suppressions,
    matching_rule,
)
from tests.conftest import ROOT

FINDING = make_finding()


def rule(rule_id="r", expires=None, **match):
    return SuppressionRule(id=rule_id, reason="why", expires=expires, match=SuppressionMatch(**match))


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        ({}, True),
        ({"types": ["UnauthorizedAccess:EC2/*"]}, True),
        ({"types": ["Recon:*"]}, False),
        ({"resources": ["arn:aws:ec2:*:instance/i-0abc"]}, True),
        ({"resources": ["*i-0zzz"]}, False),
        ({"accounts": ["123456789012"]}, True),
        ({"accounts": ["111122223333"]}, False),
        ({"tags": {"Purpose": "app"}}, True),
        ({"tags": {"Purpose": "honeypot"}}, False),
        ({"tags": {"Owner": "*"}}, False),
        ({"sources": ["guardduty"], "types": ["*SSH*"], "tags": {"Name": "w*"}}, True),
        ({"sources": ["macie"]}, False),
    ],
)
def test_every_present_match_key_must_match(match, expected):
    assert rule(**match).matches(FINDING) is expected


def test_expiry_by_date_and_by_time():
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert rule(expires=date(2026, 5, 31)).expired(now)
    assert not rule(expires=date(2026, 6, 1)).expired(now)
    assert rule(expires=datetime(2026, 6, 1, 11, tzinfo=UTC)).expired(now)


def test_first_unexpired_match_wins_and_expired_matches_are_returned():
    rules = [
        rule("old", expires=date(2020, 1, 1)),
        rule("miss", types=["Recon:*"]),
        rule("hit"),
        rule("later"),
    ]
    found, expired = matching_rule(FINDING, rules, T0)
    assert found is not None and found.id == "hit"
    assert [r.id for r in expired] == ["old"]


def test_the_shipped_file_is_valid_and_suppresses_honeypot_probes():
    rules = load_suppressions(ROOT / "rules" / "suppressions" / "findings.json")
    assert {r.id for r in rules} >= {"honeypot-recon"}
    honeypot = make_finding(
        type="Recon:EC2/PortProbeUnprotectedPort",
        resources=(
            FINDING.resources[0].__class__(type="AwsEc2Instance", id="i", tags={"Purpose": "honeypot"}),
        ),
    )
    found, _ = matching_rule(honeypot, rules, T0)
    assert found is not None and found.id == "honeypot-recon"
    assert matching_rule(make_finding(source=FindingSource.MACIE), rules, T0)[0] is None


def test_missing_file_means_no_rules_and_an_invalid_one_is_an_error(tmp_path):
    assert load_suppressions(tmp_path / "none.json") == []
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"id": "x", "match": {}}]))  # no reason
    with pytest.raises(SuppressionError, match="reason"):
        load_suppressions(bad)
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps([{"id": "x", "reason": "r", "match": {"type": ["a"]}}]))
    with pytest.raises(SuppressionError):
        load_suppressions(typo)
