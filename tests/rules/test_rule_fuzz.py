"""(f) Property tests: random damage to the positive events never crashes the matcher, never makes
an event feed two root rules, and a non-Root identity never reaches a root rule."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rules_testlib import event_cases

from secauto_cli.rule_matcher import matching_rules
from secauto_infra.rule_catalog import load_rules

RULES = load_rules()
ROOT_RULES = [spec for spec in RULES if spec.capability == "root_activity"]
POSITIVES = [
    case.load()
    for case in event_cases()
    if any(name.startswith("root_activity.") for name in case.expected_rules)
]

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Keys without ".": the engine, like EventBridge, also matches {"a.b": v} against a pattern on a/b,
# so a random key spelled "userIdentity.type" could legitimately smuggle in a type.
keys = st.text(alphabet=st.characters(blacklist_characters=".", blacklist_categories=["Cs"]), max_size=12)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=10,
)
# Real identity types, then near-misses: case, padding, a zero-width space, a Cyrillic "о".
NON_ROOT_NAMES = [
    *("IAMUser", "AssumedRole", "FederatedUser", "AWSAccount", "AWSService", "IdentityCenterUser", "Unknown"),
    *("root", "ROOT", "Root ", " Root", "Root\u200b", "R\u043e\u043et"),
]
non_root_scalars = (
    st.sampled_from(NON_ROOT_NAMES)
    | st.text(max_size=12).filter(lambda s: s != "Root")
    | st.none()
    | st.booleans()
    | st.integers()
)
non_root_types = (
    non_root_scalars | st.lists(non_root_scalars, max_size=3) | st.dictionaries(keys, scalars, max_size=2)
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path inside dicts (lists are kept whole: EventBridge events rarely nest them)."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((*prefix, key))
            found.extend(_paths(value, (*prefix, key)))
    return found


@st.composite
def damaged_events(draw: st.DrawFn) -> dict:
    """A positive event with some keys under `detail` dropped or replaced, and maybe relabelled."""
    event = copy.deepcopy(draw(st.sampled_from(POSITIVES)))
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        paths = _paths(event["detail"])
        if not paths:
            break
        *parents, leaf = draw(st.sampled_from(paths))
        node = event["detail"]
        for key in parents:
            node = node[key]
        if draw(st.booleans()):
            del node[leaf]
        else:
            node[leaf] = draw(json_values)
    if draw(st.booleans()):
        event["detail-type"] = draw(
            st.sampled_from(
                [
                    "AWS API Call via CloudTrail",
                    "AWS Console Sign In via CloudTrail",
                    "AWS Console Signin via CloudTrail",
                    "AWS Service Event via CloudTrail",
                ]
            )
        )
    return event


@SETTINGS
@given(damaged_events())
def test_damaged_events_never_crash_and_never_feed_two_root_rules(event: dict) -> None:
    matched = matching_rules(event, RULES)
    assert len([spec for spec in matched if spec.capability == "root_activity"]) <= 1


@SETTINGS
@given(damaged_events(), non_root_types | st.just(None), st.booleans())
def test_a_non_root_identity_never_matches_a_root_rule(event: dict, identity_type: Any, drop: bool) -> None:
    detail = event["detail"] if isinstance(event["detail"], dict) else {}
    event["detail"] = detail
    identity = detail.get("userIdentity")
    if not isinstance(identity, dict):
        identity = detail["userIdentity"] = {}
    if drop:
        identity.pop("type", None)
    else:
        identity["type"] = identity_type
    assert matching_rules(event, ROOT_RULES) == []


@pytest.mark.parametrize("identity_type", NON_ROOT_NAMES, ids=ascii)
def test_every_positive_with_a_near_root_type_matches_nothing(identity_type: str) -> None:
    # The deterministic core of the property above: each positive, only its type changed.
    for event in POSITIVES:
        event = copy.deepcopy(event)
        event["detail"]["userIdentity"]["type"] = identity_type
        assert matching_rules(event, ROOT_RULES) == []


def test_the_positives_are_there() -> None:
    # Guards the properties above against passing vacuously on an empty corpus.
    assert {name for case in event_cases() for name in case.expected_rules} >= {s.name for s in ROOT_RULES}
    assert POSITIVES
