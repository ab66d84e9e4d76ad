"""IAM permissions of the access-key expiry capability, beyond the core ones every function has."""

from __future__ import annotations

from secauto_core.permissions import CoreResource, Permission

__all__ = ["PERMISSIONS"]

_USERS = "arn:{partition}:iam::{account}:user/*"

PERMISSIONS: tuple[Permission, ...] = (
    # The audit: the credential report (a constant number of calls, whatever the user count),
    # and, in the fallback, whether the root user has access keys. None of these actions
    # supports resource-level permissions: AWS documents "*" as their resource.
    Permission(("iam:GenerateCredentialReport", "iam:GetCredentialReport", "iam:GetAccountSummary"), "*"),
    # Fallback when no report can be had, and the live re-check of a key before it is changed.
    Permission(("iam:ListUsers",), "*"),
    Permission(("iam:ListAccessKeys", "iam:GetAccessKeyLastUsed", "iam:ListUserTags"), _USERS),
    # Group-based exemptions.
    Permission(("iam:GetGroup",), "arn:{partition}:iam::{account}:group/*"),
    # Enforcement (only when `enforce` is on; the dry run never calls them).
    Permission(("iam:UpdateAccessKey", "iam:DeleteAccessKey"), _USERS),
    # Reminder cadence and the per-key timeline.
    Permission(("dynamodb:PutItem", "dynamodb:Query"), CoreResource.STATE_TABLE),
)
