"""What each sample event must match, from its folder's `expectations.toml`."""

from __future__ import annotations

import tomllib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from secauto_cli.replay import ReplayOutcome

__all__ = ["apply_expectation", "expected_rules"]

_NO_MATCH_ERROR = "no rule in rules/ matches"


def expected_rules(event: Path) -> list[str] | None:
    """The rules `event` must match according to its folder's expectations.toml (None: unknown)."""
    expectations = event.parent / "expectations.toml"
    if not expectations.is_file():
        return None
    entry = tomllib.loads(expectations.read_text(encoding="utf-8")).get(event.stem)
    return None if entry is None else list(entry.get("rules", []))


def apply_expectation(outcome: ReplayOutcome, expected: list[str] | None) -> None:
    """Check `outcome` against `expected`: a documented negative matching nothing is no error."""
    if expected is None:
        return
    if sorted(outcome.rules) != sorted(expected):
        outcome.errors.append(f"expected rules {expected}, matched {outcome.rules}")
    elif not expected:
        outcome.errors = [error for error in outcome.errors if _NO_MATCH_ERROR not in error]
