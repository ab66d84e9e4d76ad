"""Severity labels shared by alerts, notifications and ASFF findings (`Severity.Label`)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Severity"]


class Severity(StrEnum):
    """ASFF severity labels, comparable by rank (CRITICAL > HIGH > ... > INFORMATIONAL)."""

    INFORMATIONAL = "INFORMATIONAL"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return _ORDER.index(self)

    # A StrEnum would otherwise compare its labels alphabetically (CRITICAL < HIGH).
    def __lt__(self, other: object) -> bool:
        return self.rank < Severity(other).rank if isinstance(other, str) else NotImplemented

    def __le__(self, other: object) -> bool:
        return self.rank <= Severity(other).rank if isinstance(other, str) else NotImplemented

    def __gt__(self, other: object) -> bool:
        return self.rank > Severity(other).rank if isinstance(other, str) else NotImplemented

    def __ge__(self, other: object) -> bool:
        return self.rank >= Severity(other).rank if isinstance(other, str) else NotImplemented

    def lowered(self, steps: int = 1) -> Severity:
        """This severity moved down `steps` bands, never below INFORMATIONAL."""
        return _ORDER[max(0, self.rank - steps)]

    def raised(self, steps: int = 1) -> Severity:
        return _ORDER[min(len(_ORDER) - 1, self.rank + steps)]

    @property
    def original_score(self) -> int:
        """A representative 0-100 score for the label (ASFF `Severity.Normalized` ranges)."""
        return _SCORE[self]


_ORDER: tuple[Severity, ...] = tuple(Severity)
_SCORE = {
    Severity.INFORMATIONAL: 0,
    Severity.LOW: 30,
    Severity.MEDIUM: 50,
    Severity.HIGH: 80,
    Severity.CRITICAL: 95,
}
