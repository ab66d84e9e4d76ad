"""The CloudTrail record EventBridge delivers for root sign-ins and root API calls.

Only what classification and alerting read is typed; everything else is kept but ignored, so
CloudTrail adding fields never breaks parsing. What is typed is checked as strictly as its use
needs, before anything is sent: the event id is short printable ASCII (part of a DynamoDB key),
names (source, event name, error code) are of a sane length, the Region is a Region name, times
are bounded (see `secauto_core.eventbridge`), and the caller is the root user. Text a caller
chooses (user agent, source address, error message) is taken as it is: rejecting it would let
an attacker silence the alert, so the renderers make it inert instead.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic.alias_generators import to_camel

from secauto_core.eventbridge import EventBridgeEvent, EventTime, RegionName, Text

__all__ = ["CloudTrailDetail", "RootActivityEvent", "SessionContext", "UserIdentity"]

#: CloudTrail's event id (a UUID): part of a DynamoDB key and of console links.
EventId = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,128}$")]
#: A name CloudTrail writes (`iam.amazonaws.com`, `CreateAccessKey`, `AccessDenied`): any text
#: of a sane length, since it is only shown.
Name = Annotated[Text, StringConstraints(min_length=1, max_length=256)]


class _CloudTrailModel(BaseModel):
    # defer_build: schemas are built on first validation, not at import (cold start).
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True, defer_build=True
    )


class SessionIssuer(_CloudTrailModel):
    type: str | None = None
    arn: Text | None = None
    account_id: str | None = None
    user_name: str | None = None


class SessionContext(_CloudTrailModel):
    session_issuer: SessionIssuer | None = None
    attributes: dict[str, Any] | None = None
    #: Present (as "true") on sessions created by sts:AssumeRoot (centralized root access).
    assumed_root: str | bool | None = None
    source_identity: str | None = None

    @property
    def is_assumed_root(self) -> bool:
        return str(self.assumed_root).lower() == "true"


class UserIdentity(_CloudTrailModel):
    type: str = Field(min_length=1)
    principal_id: str | None = None
    arn: str | None = None
    account_id: str | None = None
    access_key_id: Text | None = None
    user_name: str | None = None
    invoked_by: str | None = None
    session_context: SessionContext | None = None


class CloudTrailDetail(_CloudTrailModel):
    event_version: str | None = None
    user_identity: UserIdentity
    event_time: EventTime
    event_source: Name
    event_name: Name
    aws_region: RegionName
    source_ip_address: Text | None = Field(default=None, alias="sourceIPAddress")
    user_agent: Text | None = None
    error_code: Name | None = None
    error_message: Text | None = None
    response_elements: dict[str, Any] | None = None
    additional_event_data: dict[str, Any] | None = None
    event_id: EventId = Field(alias="eventID")
    event_type: str | None = None
    recipient_account_id: str | None = None

    @field_validator("response_elements", "additional_event_data", mode="before")
    @classmethod
    def _objects_only(cls, value: Any) -> Any:
        # CloudTrail writes null, and occasionally a string, where an object is usual.
        return value if isinstance(value, dict) else None

    @property
    def is_assumed_root(self) -> bool:
        context = self.user_identity.session_context
        return bool(context and context.is_assumed_root)


class RootActivityEvent(EventBridgeEvent[CloudTrailDetail]):
    """An EventBridge event carrying a CloudTrail record by the root user."""

    @model_validator(mode="after")
    def _by_root(self) -> RootActivityEvent:
        # The rules only send root events; anything else means a misconfigured rule.
        identity = self.detail.user_identity.type
        if identity != "Root":
            raise ValueError(f"userIdentity.type is {identity[:40]!r}, not 'Root'")
        return self
