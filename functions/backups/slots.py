"""Slots: the identity of one scheduled run of a plan.

A slot starts at the scheduled event's `time` floored to the plan's period (counted from the
Unix epoch, in UTC: a 24-hour plan's slots start at midnight UTC, a 168-hour plan's on Thursdays
at midnight UTC, as 1970-01-01 was a Thursday). Every backup is tagged with
its slot; before creating, a run looks for our backups of the same source in the same slot, so
a re-delivered event or a second invocation for the same slot creates nothing new.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backups.model import format_time

__all__ = ["slot_start", "slot_value"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def slot_start(moment: datetime, period_hours: int) -> datetime:
    """The start of the period-long slot `moment` falls in."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    period = timedelta(hours=period_hours)
    return _EPOCH + ((moment.astimezone(UTC) - _EPOCH) // period) * period


def slot_value(plan: str, start: datetime) -> str:
    """The `slot` tag's value: the plan and the slot's start."""
    return f"{plan}/{format_time(start)}"
