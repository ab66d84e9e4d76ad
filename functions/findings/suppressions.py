"""Suppression rules as data: findings a team has accepted, matched and never notified.

The rules live in `rules/suppressions/findings.json`: a list of objects

    {"id": "...", "reason": "...", "expires": "2027-01-31" (optional),
     "match": {"sources": [...], "types": ["Recon:EC2/*"], "resources": ["arn:aws:ec2:*:i-0abc*"],
               "accounts": ["123456789012"], "tags": {"Environment": "sandbox"}}}

Every key under `match` that is present must match (types and resources are shell-style
patterns; tags must all be present with equal values, `*` allowed). A finding matched by an
unexpired rule is still imported into Security Hub but not notified, and the rule is logged.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

if TYPE_CHECKING:
    from pathlib import Path

    from findings.model import NormalizedFinding

__all__ = ["SuppressionError", "SuppressionMatch", "SuppressionRule", "load_suppressions", "matching_rule"]


class SuppressionError(ValueError):
    """The suppression file is not a valid list of rules."""


class SuppressionMatch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: tuple[str, ...] | None = None
    types: tuple[str, ...] | None = None
    resources: tuple[str, ...] | None = None
    accounts: tuple[str, ...] | None = None
    tags: dict[str, str] | None = None


class SuppressionRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    expires: date | datetime | None = None
    match: SuppressionMatch

    def expired(self, now: datetime) -> bool:
        if self.expires is None:
            return False
        if isinstance(self.expires, datetime):
            expiry = self.expires if self.expires.tzinfo else self.expires.replace(tzinfo=UTC)
            return expiry <= now
        return self.expires < now.date()

    def matches(self, finding: NormalizedFinding) -> bool:
        match = self.match
        if match.sources is not None and finding.source.value not in match.sources:
            return False
        if match.accounts is not None and finding.account_id not in match.accounts:
            return False
        if match.types is not None and not any(fnmatchcase(finding.type, p) for p in match.types):
            return False
        if match.resources is not None and not any(
            fnmatchcase(resource.id, pattern) for resource in finding.resources for pattern in match.resources
        ):
            return False
        if match.tags is not None:
            tags = finding.tags
            return all(key in tags and fnmatchcase(tags[key], value) for key, value in match.tags.items())
        return True


_RULES = TypeAdapter(list[SuppressionRule])


def load_suppressions(path: Path) -> list[SuppressionRule]:
    """The rules in `path` (none if the file does not exist); raise on an invalid file."""
    if not path.is_file():
        return []
    try:
        return _RULES.validate_python(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, OSError) as exc:
        raise SuppressionError(f"{path}: {exc}") from exc


def matching_rule(
    finding: NormalizedFinding, rules: list[SuppressionRule], now: datetime
) -> tuple[SuppressionRule | None, list[SuppressionRule]]:
    """The first unexpired rule matching `finding`, and the expired rules that would have matched."""
    expired = []
    for rule in rules:
        if rule.matches(finding):
            if rule.expired(now):
                expired.append(rule)
            else:
                return rule, expired
    return None, expired
