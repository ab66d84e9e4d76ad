"""cdk-nag 3 on the whole app, and the one way we acknowledge a finding.

cdk-nag 3 is a CDK policy-validation plugin (no longer an Aspect): a violation fails
`app.synth()` and is written to `validation-report.json` in the cloud assembly. Every
acknowledgment goes through `acknowledge`, on the narrowest construct, with a reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, Validations
from cdk_nag import AwsSolutionsChecks

if TYPE_CHECKING:
    from aws_cdk import App

    from constructs import IConstruct

__all__ = ["acknowledge", "enable_nag"]


def enable_nag(app: App) -> None:
    """Run the AWS Solutions rule pack when `app` synthesizes."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Accept one cdk-nag finding on `scope` (and its children) for a written reason.

    `rule_id` is a rule (`AwsSolutions-SQS3`) or one finding of it (`AwsSolutions-IAM5[Resource::*]`);
    it is recorded under its plugin (`AwsSolutions::AwsSolutions-SQS3`), the id CDK's report prints.
    """
    if not reason.strip():
        raise ValueError(f"acknowledging {rule_id} needs a reason")
    plugin = rule_id.split("-", 1)[0]
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{plugin}::{rule_id}", reason=reason))
