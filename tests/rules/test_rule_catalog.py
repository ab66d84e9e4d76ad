"""(a) Every file in rules/ is a usable event pattern, and the matcher wrapper behaves."""

from __future__ import annotations

import json

import pytest

from secauto_cli.rule_matcher import InvalidPatternError, matching_rules, pattern_matches, validate_pattern
from secauto_infra.rule_catalog import RULES_DIR, RuleSpec, load_rules

RULES = load_rules()


def test_there_are_rules() -> None:
    assert RULES, f"no rules found in {RULES_DIR}"
    assert len({spec.name for spec in RULES}) == len(RULES)


@pytest.mark.parametrize("spec", RULES, ids=lambda spec: spec.name)
def test_rule_compiles_in_the_engine(spec: RuleSpec) -> None:
    validate_pattern(spec.pattern)


@pytest.mark.parametrize("spec", RULES, ids=lambda spec: spec.name)
def test_rule_file_is_pure_pretty_printed_json(spec: RuleSpec) -> None:
    # Nothing but the pattern: no comments, no wrapper object, one canonical layout so diffs stay small.
    text = spec.path.read_text(encoding="utf-8")
    assert text == json.dumps(spec.pattern, indent=2) + "\n", (
        f"{spec.path.name}: rewrite with json.dumps(pattern, indent=2) plus a final newline"
    )


@pytest.mark.parametrize(
    "pattern",
    [
        {"source": "aws.signin"},  # a leaf must be an array
        {"source": []},  # empty arrays are rejected
        {"detail": {"x": [{"exists": "yes"}]}},
        {"detail": {"x": [{"anything-but": None}]}},
        {"detail": {"x": [{"no-such-operator": 1}]}},
        {"detail": {"x": [{"numeric": [">", "ten"]}]}},
        {"detail": {"x": [{"cidr": "203.0.113.0"}]}},
        {"$or": [1, 2]},  # crashes LocalStack's compiler; must still surface as our error
        {},
    ],
    ids=repr,
)
def test_invalid_pattern_raises_our_error(pattern: dict) -> None:
    with pytest.raises(InvalidPatternError):
        pattern_matches(pattern, {"source": "aws.signin"})
    with pytest.raises(InvalidPatternError):
        validate_pattern(pattern)


def test_invalid_rule_is_named_in_the_error(tmp_path) -> None:
    bad = RuleSpec(name="demo.bad", capability="demo", pattern={"source": []}, path=tmp_path / "x.json")
    with pytest.raises(InvalidPatternError, match=r"^demo\.bad: ") as info:
        matching_rules({"source": "aws.signin"}, [*RULES, bad])
    assert info.value.rule_name == "demo.bad"


def test_cached_pattern_is_not_affected_by_later_mutation() -> None:
    pattern = {"source": ["aws.signin"]}
    event = {"source": "aws.signin"}
    assert pattern_matches(pattern, event)
    pattern["source"] = ["aws.iam"]  # same dict object, new content: must be recompiled, not reused
    assert not pattern_matches(pattern, event)


def test_matching_rules_keeps_input_order() -> None:
    a = RuleSpec(name="demo.a", capability="demo", pattern={"source": ["aws.s3"]}, path=RULES_DIR)
    b = RuleSpec(name="demo.b", capability="demo", pattern={"source": [{"prefix": "aws."}]}, path=RULES_DIR)
    assert matching_rules({"source": "aws.s3"}, [b, a]) == [b, a]
    assert matching_rules({"source": "aws.s3"}, iter([a, b])) == [a, b]
    assert matching_rules({"source": "custom.app"}, [a, b]) == []
