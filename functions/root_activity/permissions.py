"""IAM permissions of the root-activity capability, beyond the core ones every function has."""

from __future__ import annotations

from secauto_core.permissions import CoreResource, Permission

__all__ = ["PERMISSIONS"]

PERMISSIONS: tuple[Permission, ...] = (
    # Failed root sign-ins: one item per failure (with TTL), counted over a sliding window.
    Permission(("dynamodb:PutItem", "dynamodb:Query"), CoreResource.STATE_TABLE),
)
