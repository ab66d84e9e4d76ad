"""IAM permissions of the auto-blocking capability, beyond the core ones every function has.

The function's WAF writes are IAM's second line of defence behind the handler's own checks: it may
read and update exactly the IP sets its stack creates (each by its ARN), never another IP set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from secauto_core.permissions import CoreResource, Permission

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "FLOW_LOG_OBJECTS",
    "IP_SET",
    "IP_SET_ACTIONS",
    "IP_SET_PERMISSIONS",
    "NACL_PERMISSIONS",
    "NETWORK_ACL",
    "PERMISSIONS",
    "S3_FLOW_LOG_PERMISSIONS",
    "ip_set_permissions",
]

#: `{flow_log_bucket}` / `{flow_log_key_prefix}` (`<prefix>AWSLogs/<account>/vpcflowlogs/`): filled in
#: by the CDK construct when S3 flow logs are configured.
FLOW_LOG_OBJECTS = "arn:{partition}:s3:::{flow_log_bucket}/{flow_log_key_prefix}*"
#: One IP set the stack creates (`{ip_set_arn}`: its exact ARN, CloudFormation's `Fn::GetAtt Arn`;
#: REGIONAL ones in the home Region, CLOUDFRONT ones under `global/` in us-east-1).
IP_SET = "{ip_set_arn}"
IP_SET_ACTIONS = ("wafv2:GetIPSet", "wafv2:UpdateIPSet")
#: One configured network ACL (`{acl_id}`): the construct grants these per ACL in `networkAcls`.
NETWORK_ACL = "arn:{partition}:ec2:{region}:{account}:network-acl/{acl_id}"

PERMISSIONS: tuple[Permission, ...] = (
    # Counting across files and invocations, and the block table.
    Permission(
        (
            "dynamodb:UpdateItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:DeleteItem",
        ),
        CoreResource.STATE_TABLE,
        # Only its own items (`auto_block#blocks`, `auto_block#window#...`): never another
        # capability's state in the shared table.
        {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": "auto_block#*"}},
    ),
    # Reading ACLs and VPC ranges (the own-VPC allowlist): Describe* has no resource-level scope.
    Permission(("ec2:DescribeNetworkAcls", "ec2:DescribeVpcs"), "*"),
)

#: Only when flow logs are delivered to S3 (`flowLogBucketName`).
S3_FLOW_LOG_PERMISSIONS: tuple[Permission, ...] = (Permission(("s3:GetObject",), FLOW_LOG_OBJECTS),)

#: Per configured network ACL (`{acl_id}`): its deny entries in the reserved window.
NACL_PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        ("ec2:CreateNetworkAclEntry", "ec2:DeleteNetworkAclEntry", "ec2:ReplaceNetworkAclEntry"), NETWORK_ACL
    ),
)

#: Enforcement in WAF, per IP set the stack creates: bound by `ip_set_permissions`, never a pattern.
IP_SET_PERMISSIONS: tuple[Permission, ...] = (Permission(IP_SET_ACTIONS, IP_SET),)


def ip_set_permissions(ip_set_arns: Iterable[str]) -> tuple[Permission, ...]:
    """`IP_SET_PERMISSIONS` on exactly these IP sets, one permission each (duplicates dropped).

    An ARN with a wildcard, or an empty one, is refused: the grant would reach IP sets the stack
    does not own (an operator's allowlist, another team's blocklist).
    """
    arns = list(dict.fromkeys(ip_set_arns))
    bad = [arn for arn in arns if not arn or "*" in arn or "?" in arn]
    if bad:
        raise ValueError(f"WAF IP sets are granted by their exact ARN, not {bad}")
    return tuple(Permission(IP_SET_ACTIONS, arn) for arn in arns)
