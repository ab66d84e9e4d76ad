"""Tolerant timestamp parsing for what AWS services actually send.

ISO 8601 is parsed by the standard library (fast path); other styles seen in the field, such
as Inspector's `Dec 3, 2021, 6:02:30 PM` or `Wed Sep 04 16:59:44.356 UTC 2024`, and epoch
seconds or milliseconds, fall back to python-dateutil (shipped with botocore). A time without
a zone is taken as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["TimestampError", "parse_timestamp"]

_EPOCH_MS_THRESHOLD = 10**11


class TimestampError(ValueError):
    """A value is not a time in any style we recognise."""


def parse_timestamp(value: object) -> datetime:
    """`value` as an aware UTC datetime; raise `TimestampError` if it is not a time."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > _EPOCH_MS_THRESHOLD else value
        try:
            moment = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise TimestampError(f"not a timestamp: {value!r}") from exc
    elif isinstance(value, str) and value.strip():
        moment = _parse_text(value.strip())
    else:
        raise TimestampError(f"not a timestamp: {value!r}")
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError as exc:  # an offset that moves year 1 or 9999 out of range
        raise TimestampError(f"not a timestamp: {value!r}") from exc


def _parse_text(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    if text.isascii() and text.isdigit():
        return parse_timestamp(int(text))
    from dateutil import parser

    try:
        parsed: datetime = parser.parse(text)
    except (ValueError, OverflowError, TypeError) as exc:
        raise TimestampError(f"not a timestamp: {text!r}") from exc
    return parsed
