"""Severity ranks, moving between bands, and ordering."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secauto_core.severity import Severity

ASCENDING = [Severity.INFORMATIONAL, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]


def test_ranks_follow_asff_order():
    assert [s.rank for s in ASCENDING] == [0, 1, 2, 3, 4]
    assert sorted(Severity, key=lambda s: s.rank) == ASCENDING


def test_values_are_the_asff_labels():
    assert [s.value for s in ASCENDING] == ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
    assert Severity("HIGH") is Severity.HIGH
    assert Severity.HIGH == "HIGH"


def test_original_scores_rise_with_rank_and_stay_within_0_to_100():
    scores = [s.original_score for s in ASCENDING]
    assert scores == sorted(scores)
    assert len(set(scores)) == len(scores)
    assert all(0 <= score <= 100 for score in scores)


@pytest.mark.parametrize(
    ("start", "steps", "lowered", "raised"),
    [
        (Severity.MEDIUM, 1, Severity.LOW, Severity.HIGH),
        (Severity.MEDIUM, 2, Severity.INFORMATIONAL, Severity.CRITICAL),
        (Severity.LOW, 3, Severity.INFORMATIONAL, Severity.CRITICAL),
        (Severity.INFORMATIONAL, 1, Severity.INFORMATIONAL, Severity.LOW),
        (Severity.CRITICAL, 1, Severity.HIGH, Severity.CRITICAL),
        (Severity.HIGH, 0, Severity.HIGH, Severity.HIGH),
    ],
)
def test_lowered_and_raised_clamp_at_the_ends(start, steps, lowered, raised):
    assert start.lowered(steps) is lowered
    assert start.raised(steps) is raised


@given(st.sampled_from(ASCENDING), st.integers(min_value=0, max_value=10))
def test_moving_bands_stays_in_range_and_moves_the_right_way(severity, steps):
    down, up = severity.lowered(steps), severity.raised(steps)
    assert down.rank == max(0, severity.rank - steps)
    assert up.rank == min(4, severity.rank + steps)


def test_severities_compare_by_rank():
    assert Severity.CRITICAL > Severity.HIGH > Severity.MEDIUM > Severity.LOW > Severity.INFORMATIONAL
    assert max(Severity) is Severity.CRITICAL
    assert sorted(Severity) == ASCENDING
