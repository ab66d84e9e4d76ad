"""The events the capability receives: S3 "Object Created" through EventBridge.

The shapes are shared with auto-blocking (flow-log files arrive the same way), so they live in
`secauto_core.eventbridge`; this module names them for the capability.
"""

from __future__ import annotations

from secauto_core.eventbridge import ObjectCreated, ObjectCreatedEvent, S3Bucket, S3Object

__all__ = ["ObjectCreated", "ObjectCreatedEvent", "S3Bucket", "S3Object"]
