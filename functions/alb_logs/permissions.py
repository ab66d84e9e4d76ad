"""IAM permissions of the ALB access-log capability, beyond the core ones every function has."""

from __future__ import annotations

from secauto_core.permissions import Permission

__all__ = ["LOG_OBJECTS", "PERMISSIONS"]

#: The load balancers' log objects: `{log_bucket}` is the log bucket's name and
#: `{log_key_prefix}` the configured prefix followed by `AWSLogs/<account>/elasticloadbalancing/`
#: (both filled in by the CDK construct), so the function reads ELB logs and nothing else.
LOG_OBJECTS = "arn:{partition}:s3:::{log_bucket}/{log_key_prefix}*"

PERMISSIONS: tuple[Permission, ...] = (
    # Each new log file is streamed once; the function never lists, writes or deletes.
    Permission(("s3:GetObject",), LOG_OBJECTS),
)
