"""The EventBridge envelope as a generic pydantic model, and the AWS event shapes several
capabilities share (schedule ticks, S3 "Object Created").

The envelope mirrors Powertools Parser's `EventBridgeModel` (same fields and aliases). Why not
import that one: `aws_lambda_powertools.utilities.parser` builds the schemas of some eighty event
models on import, about 100 ms of every cold start, for the one envelope we use.

It is strict about what AWS fills in and later code relies on: `account` is a 12-digit account
id, `region` a Region name, `time` a time between 1970 and 2200 (made UTC-aware). Those values
end up in SNS message attributes, DynamoDB keys, console links and ASFF findings
(`AwsAccountId`, ISO 8601 times), which fail on anything else: checked here, before a handler
sends anything, they cannot fail after a notification went out.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

__all__ = [
    "ACCOUNT_ID_PATTERN",
    "EARLIEST_TIME",
    "LATEST_TIME",
    "REGION_PATTERN",
    "AccountId",
    "EventBridgeEvent",
    "EventTime",
    "JsonObject",
    "ObjectCreated",
    "ObjectCreatedEvent",
    "RegionName",
    "S3Bucket",
    "S3Object",
    "ScheduledEvent",
    "Text",
    "bounded_time",
    "json_object",
]

DetailT = TypeVar("DetailT")

#: ASCII digits only: `\d` (in pydantic's regex engine as in Python's) also takes other scripts' digits.
ACCOUNT_ID_PATTERN = r"^[0-9]{12}$"
#: us-east-1, eu-central-2, us-gov-west-1, cn-north-1, us-isob-east-1, ...
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$"
#: Times outside these bounds are not times of an AWS event: they would overflow date arithmetic
#: (windows, TTLs) or print a year that is not four digits (ASFF rejects it).
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2200, 1, 1, tzinfo=UTC)
#: S3 object keys are at most 1,024 bytes of UTF-8.
_S3_KEY_MAX_BYTES = 1024
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def bounded_time(value: datetime) -> datetime:
    """`value` as an aware UTC time; a naive one is taken as UTC (as CloudTrail's are)."""
    try:
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        inside = EARLIEST_TIME <= moment < LATEST_TIME
    except (OverflowError, ValueError):  # e.g. 9999-12-31T23:00-05:00 has no UTC equivalent
        inside = False
    if not inside:
        raise ValueError(f"not a time between {EARLIEST_TIME.year} and {LATEST_TIME.year}")
    return moment


def _without_lone_surrogates(value: str) -> str:
    """JSON can carry a lone surrogate (`"\\ud800"`); no AWS API or UTF-8 encoder accepts one."""
    return _LONE_SURROGATE.sub("\ufffd", value) if _LONE_SURROGATE.search(value) else value


def _s3_key(value: str) -> str:
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise ValueError("an S3 key is UTF-8 text") from exc
    if size > _S3_KEY_MAX_BYTES:
        raise ValueError(f"an S3 key is at most {_S3_KEY_MAX_BYTES} bytes")
    return value


def json_object(value: Any) -> Any:
    """An object, from an object, a JSON string of one, or GuardDuty's `{"value": "<json>"}` form."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return {"value": value}
    if isinstance(value, dict) and isinstance(value.get("value"), str) and set(value) <= {"value", "type"}:
        try:
            inner = json.loads(value["value"])
        except json.JSONDecodeError:
            return value
        return inner if isinstance(inner, dict) else {"value": inner}
    return value if isinstance(value, dict) else {"value": value}


AccountId = Annotated[str, StringConstraints(pattern=ACCOUNT_ID_PATTERN)]
RegionName = Annotated[str, StringConstraints(pattern=REGION_PATTERN, max_length=32)]
EventTime = Annotated[datetime, AfterValidator(bounded_time)]
#: Free text (user agents, error messages): any content, but encodable.
Text = Annotated[str, AfterValidator(_without_lone_surrogates)]
JsonObject = Annotated[dict[str, Any] | None, BeforeValidator(json_object)]


class EventBridgeEvent(BaseModel, Generic[DetailT]):
    model_config = ConfigDict(populate_by_name=True, defer_build=True)

    version: str = "0"
    id: str = Field(min_length=1, max_length=256)
    source: str
    account: AccountId
    time: EventTime
    region: RegionName
    resources: list[str] = Field(default_factory=list)
    detail_type: str = Field(alias="detail-type")
    detail: DetailT
    replay_name: str | None = Field(default=None, alias="replay-name")


class ScheduledEvent(EventBridgeEvent[dict[str, Any]]):
    """A tick of an EventBridge schedule rule: the rule's ARN is its one resource."""

    source: Literal["aws.events"]
    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")
    resources: list[str] = Field(min_length=1)


class _S3Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True, defer_build=True)


class S3Bucket(_S3Model):
    #: S3's naming rules: boto3 refuses any other name before sending a request.
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class S3Object(_S3Model):
    #: EventBridge carries the key as written (not URL-encoded, unlike S3's own notifications).
    key: Annotated[str, StringConstraints(min_length=1), AfterValidator(_s3_key)]
    size: int | None = Field(default=None, ge=0)
    etag: str | None = Field(default=None, max_length=1024)
    sequencer: str | None = Field(default=None, max_length=1024)
    version_id: str | None = Field(default=None, alias="version-id", max_length=1024)


class ObjectCreated(_S3Model):
    bucket: S3Bucket
    object: S3Object
    reason: str | None = None


class ObjectCreatedEvent(EventBridgeEvent[ObjectCreated]):
    """S3 "Object Created", as a bucket with EventBridge notifications on sends it."""

    source: Literal["aws.s3"]
    detail_type: Literal["Object Created"] = Field(alias="detail-type")
