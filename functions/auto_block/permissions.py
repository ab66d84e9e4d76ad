"""IAM permissions of the auto-blocking capability, beyond the core ones every function has."""

from __future__ import annotations

from secauto_core.permissions import CoreResource, Permission

__all__ = [
    "CLOUDFRONT_IP_SETS",
    "FLOW_LOG_OBJECTS",
    "IP_SETS",
    "NACL_PERMISSIONS",
    "NETWORK_ACL",
    "PERMISSIONS",
    "S3_FLOW_LOG_PERMISSIONS",
]

#: `{flow_log_bucket}` / `{flow_log_key_prefix}` (`<prefix>AWSLogs/<account>/vpcflowlogs/`): filled in
#: by the CDK construct when S3 flow logs are configured.
FLOW_LOG_OBJECTS = "arn:{partition}:s3:::{flow_log_bucket}/{flow_log_key_prefix}*"
#: secauto's own IP sets (named `secauto-blocklist-*`): REGIONAL ones here, CLOUDFRONT ones
#: (`global`) in us-east-1.
IP_SETS = "arn:{partition}:wafv2:{region}:{account}:regional/ipset/secauto-blocklist-*/*"
CLOUDFRONT_IP_SETS = "arn:{partition}:wafv2:us-east-1:{account}:global/ipset/secauto-blocklist-*/*"
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
    ),
    # Enforcement.
    Permission(("wafv2:GetIPSet", "wafv2:UpdateIPSet"), IP_SETS),
    Permission(("wafv2:GetIPSet", "wafv2:UpdateIPSet"), CLOUDFRONT_IP_SETS),
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
