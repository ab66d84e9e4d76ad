"""Pydantic building blocks for tolerant parsing of the services' finding payloads.

The services' detail is camelCase; numbers sometimes arrive as strings, optional blocks as
`null` or missing, and timestamps in several styles. Models built on `Lenient` accept all of
that and keep only what we read. Times are bounded as the envelope's are (1970 to 2200), so a
finding's ASFF times can always be written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from secauto_core.eventbridge import JsonObject, bounded_time
from secauto_core.timestamps import parse_timestamp

__all__ = ["JsonObject", "Lenient", "Timestamp", "first_error", "tag_map"]


class Lenient(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True, defer_build=True
    )


def _timestamp(value: Any) -> datetime:
    # Bounded like the envelope's times: a finding time outside them could not be imported.
    try:
        return bounded_time(parse_timestamp(value))
    except OverflowError as exc:  # a time at the edge of datetime's range, with an offset
        raise ValueError("not a time between 1970 and 2200") from exc


Timestamp = Annotated[datetime, BeforeValidator(_timestamp)]


def tag_map(tags: Any) -> dict[str, str]:
    """Tags from `[{"key": k, "value": v}]` (any key case) or a plain mapping."""
    if isinstance(tags, dict):
        return {str(k): "" if v is None else str(v) for k, v in tags.items()}
    result: dict[str, str] = {}
    if not isinstance(tags, list):
        return result
    for tag in tags:
        if isinstance(tag, dict):
            key = tag.get("key", tag.get("Key"))
            value = tag.get("value", tag.get("Value"))
            if key is not None:
                result[str(key)] = "" if value is None else str(value)
    return result


def first_error(exc: ValidationError) -> str:
    """The first validation problem, as `field.path: message`."""
    first = exc.errors()[0]
    return f"{'.'.join(map(str, first['loc'])) or 'event'}: {first['msg']}"
