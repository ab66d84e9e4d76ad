"""The events the capability receives: S3 "Object Created" through EventBridge."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from secauto_core.eventbridge import EventBridgeEvent

__all__ = ["ObjectCreated", "ObjectCreatedEvent", "S3Bucket", "S3Object"]


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True)


class S3Bucket(_Model):
    name: str = Field(min_length=3, max_length=63)


class S3Object(_Model):
    #: EventBridge carries the key as written (not URL-encoded, unlike S3's own notifications).
    key: str = Field(min_length=1)
    size: int | None = Field(default=None, ge=0)
    etag: str | None = None
    sequencer: str | None = None
    version_id: str | None = Field(default=None, alias="version-id")


class ObjectCreated(_Model):
    bucket: S3Bucket
    object: S3Object
    reason: str | None = None


ObjectCreatedEvent = EventBridgeEvent[ObjectCreated]
