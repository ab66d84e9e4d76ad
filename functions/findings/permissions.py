"""IAM permissions of the findings fan-out, beyond the core ones every function has."""

from __future__ import annotations

from secauto_core.permissions import CoreResource, Permission

__all__ = ["CROSS_ACCOUNT_PERMISSIONS", "PERMISSIONS"]

PERMISSIONS: tuple[Permission, ...] = (
    # Notification dedupe state (conditional updates) and the cached integration-mode answer.
    Permission(("dynamodb:GetItem", "dynamodb:UpdateItem"), CoreResource.STATE_TABLE),
    # `auto` mode: which products already import into Security Hub (AWS's native integrations).
    Permission(
        ("securityhub:ListEnabledProductsForImport",),
        "arn:{partition}:securityhub:{region}:{account}:hub/default",
    ),
)

#: Granted only when `crossAccountRoleName` is configured: findings of member accounts are
#: imported with that role in the member account (delegated-administrator setups).
CROSS_ACCOUNT_PERMISSIONS: tuple[Permission, ...] = (
    Permission(("sts:AssumeRole",), "arn:{partition}:iam::*:role/{role_name}"),
)
