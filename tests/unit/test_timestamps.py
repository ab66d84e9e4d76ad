"""Tolerant timestamps: ISO, Inspector's styles, epoch seconds and milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secauto_core.timestamps import TimestampError, parse_timestamp


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-01T10:00:00.000Z", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01T12:00:00+02:00", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01T10:00:00", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("Dec 3, 2026, 6:02:30 PM", datetime(2026, 12, 3, 18, 2, 30, tzinfo=UTC)),
        ("Wed Sep 02 16:59:44.356 UTC 2026", datetime(2026, 9, 2, 16, 59, 44, 356000, tzinfo=UTC)),
        (1767225600, datetime(2026, 1, 1, tzinfo=UTC)),
        (1767225600000, datetime(2026, 1, 1, tzinfo=UTC)),
        ("1767225600", datetime(2026, 1, 1, tzinfo=UTC)),
    ],
)
def test_styles_seen_in_the_field(value, expected):
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize("value", [None, "", "   ", "not a date", True, [], {}])
def test_non_times_raise_a_clear_error(value):
    with pytest.raises(TimestampError, match="not a timestamp"):
        parse_timestamp(value)


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_iso_round_trip(moment):
    assert parse_timestamp(moment.isoformat()) == moment


@given(st.text(max_size=40))
def test_arbitrary_text_parses_or_raises_timestamp_error(text):
    try:
        result = parse_timestamp(text)
    except TimestampError:
        return
    assert result.tzinfo is not None
