"""IAM permissions each capability declares, in the manner of Cloud Custodian's actions.

The CDK function construct grants exactly what a capability declares here (scoped to the named
resource), and a test records the AWS calls a handler makes under moto and checks that each one
is allowed. Adding an AWS call to a capability therefore means adding it here.

A `resource` is either the name of a core resource the construct knows (`CoreResource`) or an
ARN template with `{partition}`, `{region}` and `{account}` placeholders. A permission may carry
IAM `conditions` (`{operator: {key: value or values}}`), granted as the statement's `Condition`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["CORE_PERMISSIONS", "Conditions", "CoreResource", "Permission"]

#: An IAM condition block: `{"StringEquals": {"aws:ResourceTag/owner": "team"}}`; a value may be a
#: tuple of strings (any of them).
Conditions = Mapping[str, Mapping[str, str | tuple[str, ...]]]


class CoreResource(StrEnum):
    """Resources of the core stack, resolved to ARNs by the CDK construct."""

    TOPIC = "topic"
    SLACK_SECRET = "slack_secret"  # noqa: S105 (a resource name, not a secret)
    IDEMPOTENCY_TABLE = "idempotency_table"
    STATE_TABLE = "state_table"
    KMS_KEY = "kms_key"
    DEAD_LETTER_QUEUE = "dead_letter_queue"


@dataclass(frozen=True)
class Permission:
    """IAM actions allowed on one resource, under `conditions` when given."""

    actions: tuple[str, ...]
    resource: CoreResource | str
    conditions: Conditions | None = field(default=None, hash=False)


SECURITYHUB_DEFAULT_PRODUCT = "arn:{partition}:securityhub:{region}:{account}:product/{account}/default"

CORE_PERMISSIONS: tuple[Permission, ...] = (
    Permission(("sns:Publish",), CoreResource.TOPIC),
    Permission(("secretsmanager:GetSecretValue",), CoreResource.SLACK_SECRET),
    Permission(
        ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"),
        CoreResource.IDEMPOTENCY_TABLE,
    ),
    # The topic, the tables and the secret are encrypted with the core key.
    Permission(("kms:Decrypt", "kms:GenerateDataKey"), CoreResource.KMS_KEY),
    Permission(("securityhub:BatchImportFindings",), SECURITYHUB_DEFAULT_PRODUCT),
    # Events that cannot be parsed are parked in the DLQ with their reason, not dropped.
    Permission(("sqs:SendMessage",), CoreResource.DEAD_LETTER_QUEUE),
)
