"""Parse or reject: every handler validates its whole input before any side effect.

A handler hands its raw event to `parse_or_reject` with the parser of what it expects (a pydantic
model's `model_validate`, or a function combining one with a capability's own decoder). On
success it gets the typed value and only then calls its service; on failure it gets a
`Rejection` and returns it as it is. The event has then been logged with its reason (one line:
`location: message`, never the values), counted (`InvalidEvents`) and parked in the dead-letter
queue. A malformed event never raises: retrying it cannot make it parse, and nothing has been
sent for it.

Only parsing is guarded, and all of it: besides `ValidationError` and `MalformedEvent` (and the
parser's own `errors`), any other exception from the parser is a rejection too, logged with its
traceback: a last resort, so that an input no parser foresaw is parked instead of failing the
invocation over and over. Once the event parsed, nothing is caught here: an exception from the
domain or from AWS (throttling, an SNS outage, a DynamoDB error) propagates, so Lambda retries
the event (asynchronous invocations, then the function's DLQ) or the SQS batch reports the
record as failed (redelivered, then the queue's DLQ). Catching those would lose events a retry
would have delivered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from secauto_core.dead_letters import inert_reason, park_event

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["MalformedEvent", "Rejection", "describe_validation_error", "parse_or_reject", "reject"]

ParsedT = TypeVar("ParsedT")

#: At most this many problems are named in a reason (pydantic may report hundreds).
_PROBLEMS_SHOWN = 3
_LOCATION_PART_MAX = 40
_MESSAGE_MAX = 160


class MalformedEvent(ValueError):
    """A parser's own "this is not an event we take" (the message is the reason)."""


class Rejection(BaseModel):
    """What a handler returns for an event it did not take."""

    model_config = ConfigDict(frozen=True)

    status: Literal["rejected"] = "rejected"
    reason: str
    #: Whether the event reached the dead-letter queue (False: no DLQ, or sending failed).
    parked: bool

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()


def _location(parts: tuple[int | str, ...]) -> str:
    # A path can name the event's own keys: each part is cut, so a huge key stays out of logs.
    return ".".join(str(part)[:_LOCATION_PART_MAX] for part in parts) or "event"


def describe_validation_error(exc: ValidationError) -> str:
    """`location: message` for the first few problems; the input values are never quoted."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    shown = [f"{_location(e['loc'])}: {e['msg'][:_MESSAGE_MAX]}" for e in errors[:_PROBLEMS_SHOWN]]
    more = len(errors) - len(shown)
    return "; ".join(shown) + (f" (and {more} more)" if more > 0 else "")


def reject(event: Any, reason: str, *, exc_info: BaseException | None = None) -> Rejection:
    """Log, count and park `event` with `reason`; the result for the handler to return."""
    reason = inert_reason(reason)
    return Rejection(reason=reason, parked=park_event(event, reason, exc_info=exc_info))


def parse_or_reject(
    parse: Callable[[Any], ParsedT],
    event: Any,
    *,
    expected: str,
    errors: tuple[type[Exception], ...] = (),
) -> ParsedT | Rejection:
    """`parse(event)`, or the `Rejection` of `event` if it is not `expected` ("a root CloudTrail event").

    `errors` are the parser's own exception types for malformed input (e.g. a decoder's): their
    message is the reason, as for `MalformedEvent`.
    """
    own_errors: tuple[type[Exception], ...] = (MalformedEvent, *errors)
    try:
        return parse(event)
    except ValidationError as exc:
        return reject(event, f"not {expected}: {describe_validation_error(exc)}")
    except own_errors as exc:
        return reject(event, str(exc))
    except Exception as exc:  # the last resort described above: parsing only, never the service
        return reject(event, f"not {expected}: {_kind(exc)} while parsing: {exc}", exc_info=exc)


def _kind(exc: Exception) -> str:
    """`ValueError`, `zlib.error`: the exception's type, with its module unless a builtin."""
    kind = type(exc)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
