"""What each sample event must match, from its folder's `expectations.toml`.

One table per event file stem: `rules`, the exact set of rule names the event must match (`[]`
for none), an optional `description`, and, for an input that is not an EventBridge event (a
CloudWatch Logs subscription invokes its function directly), `delivered_to`: the capability
whose handler receives it without any rule (its `rules` stay `[]`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from secauto_cli.replay import ReplayOutcome

__all__ = ["Expectation", "apply_expectation", "expectation", "expected_rules"]

_NO_MATCH_ERROR = "no rule in rules/ matches"


@dataclass(frozen=True)
class Expectation:
    rules: list[str]
    #: The capability the event is handed to directly (no rule matches it), or None.
    delivered_to: str | None = None


def expectation(event: Path) -> Expectation | None:
    """`event`'s entry in its folder's expectations.toml (None: unknown)."""
    expectations = event.parent / "expectations.toml"
    if not expectations.is_file():
        return None
    entry = tomllib.loads(expectations.read_text(encoding="utf-8")).get(event.stem)
    if not isinstance(entry, dict):
        return None
    delivered_to = entry.get("delivered_to")
    return Expectation(
        rules=list(entry.get("rules", [])), delivered_to=str(delivered_to) if delivered_to else None
    )


def expected_rules(event: Path) -> list[str] | None:
    """The rules `event` must match according to its folder's expectations.toml (None: unknown)."""
    entry = expectation(event)
    return None if entry is None else entry.rules


def apply_expectation(outcome: ReplayOutcome, expected: list[str] | None) -> None:
    """Check `outcome` against `expected`: a documented negative matching nothing is no error."""
    if expected is None:
        return
    if sorted(outcome.rules) != sorted(expected):
        outcome.errors.append(f"expected rules {expected}, matched {outcome.rules}")
    elif not expected:
        outcome.errors = [error for error in outcome.errors if _NO_MATCH_ERROR not in error]
