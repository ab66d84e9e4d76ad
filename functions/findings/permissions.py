"""IAM permissions of the findings fan-out, beyond the core ones every function has.

Cross-account import assumes the configured role in a member account. IAM is the second line of
defence there: `sts:AssumeRole` is never granted on that role in every account, only in the
configured accounts (exact role ARNs) or in the accounts of the configured organisation
(`aws:ResourceOrgID`, which STS evaluates against the account that owns the role).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from secauto_core.permissions import CoreResource, Permission

if TYPE_CHECKING:
    from collections.abc import Collection

__all__ = [
    "ACCOUNT_ID",
    "ASSUME_ROLE",
    "CROSS_ACCOUNT_PERMISSIONS",
    "CROSS_ACCOUNT_ROLE",
    "ORGANIZATION_ID",
    "PERMISSIONS",
    "ROLE_NAME",
    "CrossAccountScopeError",
    "cross_account_permissions",
]

PERMISSIONS: tuple[Permission, ...] = (
    # Notification dedupe state (conditional updates) and the cached integration-mode answer.
    Permission(("dynamodb:GetItem", "dynamodb:UpdateItem"), CoreResource.STATE_TABLE),
    # `auto` mode: which products already import into Security Hub (AWS's native integrations).
    Permission(
        ("securityhub:ListEnabledProductsForImport",),
        "arn:{partition}:securityhub:{region}:{account}:hub/default",
    ),
)

ASSUME_ROLE = "sts:AssumeRole"
#: The import role in one member account (`{member_account}`), bound by `cross_account_permissions`.
CROSS_ACCOUNT_ROLE = "arn:{partition}:iam::{member_account}:role/{role_name}"
#: What the function may do when `crossAccountRoleName` is configured; never granted as it is:
#: `cross_account_permissions` binds it to the configured accounts or organisation.
CROSS_ACCOUNT_PERMISSIONS: tuple[Permission, ...] = (Permission((ASSUME_ROLE,), CROSS_ACCOUNT_ROLE),)

#: AWS Organizations ids, account ids and IAM role names (with an optional path), as IAM writes them.
ORGANIZATION_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
ACCOUNT_ID = re.compile(r"^\d{12}$")
ROLE_NAME = re.compile(r"^([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$", re.ASCII)
_ANY_ACCOUNT = "*"


class CrossAccountScopeError(ValueError):
    """The cross-account import role would be assumable in accounts nobody named."""


def cross_account_permissions(
    role_name: str, *, organization_id: str | None, account_ids: Collection[str]
) -> tuple[Permission, ...]:
    """`sts:AssumeRole` on the import role, scoped to what the configuration names.

    With `account_ids`: the role's exact ARN in each of them. With `organization_id` only: the
    role in any account, under `StringEquals aws:ResourceOrgID`. With both: each exact ARN, under
    the organisation condition too. With neither: refused, never a grant in every account.
    """
    if not ROLE_NAME.fullmatch(role_name):
        raise CrossAccountScopeError(f"findings: {role_name!r} is not an IAM role name")
    if organization_id is not None and not ORGANIZATION_ID.fullmatch(organization_id):
        raise CrossAccountScopeError(
            f"findings: organizationId {organization_id!r} is not an organization id"
        )
    bad = sorted(account for account in account_ids if not ACCOUNT_ID.fullmatch(account))
    if bad:
        raise CrossAccountScopeError(f"findings: memberAccountIds {bad} are not 12-digit account ids")
    if organization_id is None and not account_ids:
        raise CrossAccountScopeError(
            f"findings: crossAccountRoleName {role_name!r} needs organizationId or memberAccountIds "
            "(sts:AssumeRole is never granted in every account)"
        )
    conditions = {"StringEquals": {"aws:ResourceOrgID": organization_id}} if organization_id else None
    accounts = sorted(set(account_ids)) or [_ANY_ACCOUNT]
    return tuple(
        Permission(
            (ASSUME_ROLE,),
            CROSS_ACCOUNT_ROLE.format(partition="{partition}", member_account=account, role_name=role_name),
            conditions,
        )
        for account in accounts
    )
