"""The CloudTrail record EventBridge delivers for root sign-ins and root API calls.

Only what classification and alerting read is typed; everything else is kept but ignored, so
CloudTrail adding fields never breaks parsing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from secauto_core.eventbridge import EventBridgeEvent

__all__ = ["CloudTrailDetail", "RootActivityEvent", "SessionContext", "UserIdentity"]


class _CloudTrailModel(BaseModel):
    # defer_build: schemas are built on first validation, not at import (cold start).
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True, defer_build=True
    )


class SessionIssuer(_CloudTrailModel):
    type: str | None = None
    arn: str | None = None
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
    access_key_id: str | None = None
    user_name: str | None = None
    invoked_by: str | None = None
    session_context: SessionContext | None = None


class CloudTrailDetail(_CloudTrailModel):
    event_version: str | None = None
    user_identity: UserIdentity
    event_time: datetime
    event_source: str = Field(min_length=1)
    event_name: str = Field(min_length=1)
    aws_region: str = Field(min_length=1)
    source_ip_address: str | None = Field(default=None, alias="sourceIPAddress")
    user_agent: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    response_elements: dict[str, Any] | None = None
    additional_event_data: dict[str, Any] | None = None
    event_id: str = Field(alias="eventID", min_length=1)
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
