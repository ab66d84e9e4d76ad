"""Shared data for the rule tests: the event corpus in `events/` and its expectations.

`events/<capability>/` holds full EventBridge events (one JSON file each) for the capability whose
rules they exercise, plus `expectations.toml`: one table per event file stem, with `rules`, the
exact set of rule names (see `rules/`) that must match the event, and an optional `description`.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS_DIR = REPO_ROOT / "events"
EXPECTATIONS_FILE = "expectations.toml"


@dataclass(frozen=True)
class EventCase:
    capability: str
    stem: str
    path: Path
    expected_rules: frozenset[str]
    description: str

    @property
    def case_id(self) -> str:
        return f"{self.capability}/{self.stem}"

    def load(self) -> dict[str, Any]:
        return json.loads(self.path.read_text(encoding="utf-8"))


def capability_dirs() -> list[Path]:
    return sorted(p for p in EVENTS_DIR.iterdir() if p.is_dir())


@cache
def load_expectations(capability_dir: Path) -> dict[str, Any]:
    path = capability_dir / EXPECTATIONS_FILE
    if not path.is_file():
        return {}
    with path.open("rb") as fh:
        return tomllib.load(fh)


def event_cases() -> list[EventCase]:
    """Every expectations entry whose event file exists (the consistency tests check the rest)."""
    cases = []
    for cap_dir in capability_dirs():
        for stem, entry in sorted(load_expectations(cap_dir).items()):
            path = cap_dir / f"{stem}.json"
            if path.is_file() and isinstance(entry, dict):
                cases.append(
                    EventCase(
                        capability=cap_dir.name,
                        stem=stem,
                        path=path,
                        expected_rules=frozenset(entry.get("rules", [])),
                        description=str(entry.get("description", "")),
                    )
                )
    return cases


def case_by_id(case_id: str) -> EventCase:
    for case in event_cases():
        if case.case_id == case_id:
            return case
    raise KeyError(case_id)
