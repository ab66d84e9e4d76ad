"""Exemptions: a user tag `<reason>|<YYYY-MM-DD expiry>`, or membership of a configured group.

A tag without a reason or an expiry, with an unparsable date, or already expired, exempts
nothing: the key is decided as usual and the report carries a warning saying why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

__all__ = ["Exemption", "parse_exemption_tag"]


@dataclass(frozen=True)
class Exemption:
    #: The reason shown in the report when valid.
    reason: str | None
    #: Why the tag was not honoured (None when it is valid).
    problem: str | None


def parse_exemption_tag(value: str, now: datetime) -> Exemption:
    text, separator, expiry_text = value.rpartition("|")
    if not separator or not text.strip():
        return Exemption(None, f"malformed exemption tag {value!r}: expected '<reason>|<YYYY-MM-DD>'")
    try:
        expiry = date.fromisoformat(expiry_text.strip())
    except ValueError:
        return Exemption(None, f"malformed exemption expiry {expiry_text.strip()!r}: expected YYYY-MM-DD")
    if expiry < now.date():
        return Exemption(None, f"exemption expired on {expiry.isoformat()} ({text.strip()})")
    return Exemption(f"{text.strip()} (until {expiry.isoformat()})", None)
