"""The EventBridge rules of secauto, loaded from `rules/*.json`.

The JSON files are the single source of every event pattern: the CDK stacks, the tests and
`secauto replay` all read them through this module, so nothing restates a pattern in Python.

Naming convention: `rules/<capability>.<rule>.json`, where `<capability>` is the package in
`functions/` whose `handler.lambda_handler` receives the matched events. This module imports
nothing from the CDK so the local tools can use it cheaply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["RULES_DIR", "RuleCatalogError", "RuleSpec", "load_rules", "rules_for"]

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


class RuleCatalogError(ValueError):
    """A file in `rules/` is not a usable event pattern."""


@dataclass(frozen=True)
class RuleSpec:
    """One event pattern and the capability whose handler it feeds."""

    name: str
    capability: str
    pattern: dict[str, Any]
    path: Path

    @property
    def handler(self) -> str:
        """The Lambda handler string, relative to the `functions/` code asset."""
        return f"{self.capability}.handler.lambda_handler"


def load_rules(rules_dir: Path = RULES_DIR) -> list[RuleSpec]:
    """Every rule in `rules_dir`, sorted by name."""
    specs = []
    for path in sorted(rules_dir.glob("*.json")):
        capability, dot, rule = path.stem.partition(".")
        if not dot or not rule:
            raise RuleCatalogError(f"{path.name}: expected a name of the form <capability>.<rule>.json")
        try:
            pattern = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise RuleCatalogError(f"{path.name}: not valid JSON: {exc}") from exc
        if not isinstance(pattern, dict) or not pattern:
            raise RuleCatalogError(f"{path.name}: an event pattern must be a non-empty JSON object")
        specs.append(RuleSpec(name=path.stem, capability=capability, pattern=pattern, path=path))
    return specs


def rules_for(capability: str, rules_dir: Path = RULES_DIR) -> list[RuleSpec]:
    """The rules that feed one capability."""
    return [spec for spec in load_rules(rules_dir) if spec.capability == capability]
