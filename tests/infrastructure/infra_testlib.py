"""Reading synthesized secauto templates: stacks, resources, and where a reference points."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from aws_cdk import App, CfnElement, Stack

from secauto_core.permissions import CoreResource
from secauto_infra.core_stack import CoreStack

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from constructs import IConstruct
    from secauto_core.permissions import Permission
    from secauto_infra.config import SecautoConfig

CORE = "SecautoCore"
HOME = "SecautoRootActivity"
FINDINGS = "SecautoFindings"
ACCESS_KEYS = "SecautoAccessKeys"
ALB_LOGS = "SecautoAlbLogs"
AUTO_BLOCK = "SecautoAutoBlock"
BACKUPS = "SecautoBackups"
XRAY_ACTIONS = frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"})

SKIP_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}

FULL_CONFIG: dict[str, Any] = {
    "homeRegion": "eu-west-1",
    "account": "123456789012",
    "regions": ["eu-west-1", "us-east-1", "ap-southeast-2"],
    "slackWebhookSecretName": "team/secauto-slack",
    "accountAlias": "prod-main",
    "securityHubImport": False,
    "powertoolsLayerVersion": 27,
    "architecture": "arm64",
    "logRetentionDays": 90,
    "logLevel": "DEBUG",
    "capabilities": {
        "rootActivity": {
            "enabled": True,
            "expectedSourceCidrs": ["203.0.113.0/24", "2001:db8::/32"],
            "breakGlassWindows": [
                {"start": "2025-01-01T00:00:00Z", "end": "2025-01-02T00:00:00Z", "reason": "yearly MFA check"}
            ],
            "failureBurstThreshold": 5,
            "failureBurstWindowMinutes": 30,
            "cisAlarm": {"enabled": True, "cloudTrailLogGroupName": "aws-controltower/CloudTrailLogs"},
        },
        "findings": {
            "enabled": True,
            "integrationMode": "import",
            "minSeverity": {"guardduty": "LOW", "inspector": "CRITICAL"},
            "notifySamples": True,
            "notifyArchived": True,
            "countJumpFactor": 2.5,
            "crossAccountRoleName": "security/secauto-findings-import",
            "organizationId": "o-a1b2c3d4e5",
            "productCacheMinutes": 30,
            "stateTtlDays": 30,
            "batchSize": 50,
            "batchingWindowSeconds": 60,
            "maxConcurrency": 4,
        },
        "accessKeys": {
            "enabled": True,
            "schedule": "cron(30 5 ? * MON-FRI *)",
            "enforce": True,
            "warnAgeDays": 60,
            "warnUnusedDays": 30,
            "deactivateAgeDays": 75,
            "deactivateUnusedDays": 60,
            "deleteInactiveDays": 30,
            "neverUsedGraceDays": 3,
            "exemptTagKey": "security:key-exempt",
            "exemptGroups": ["break-glass", "ci-bootstrap"],
            "ownerTagKey": "team",
            "reminderDays": 3,
            "reportWaitSeconds": 120,
            "lastKeyGraceDays": 3,
        },
        "autoBlock": {
            "enabled": True,
            "enforce": True,
            "flowLogGroupNames": ["/vpc/prod/flow-logs"],
            "flowLogBucketName": "central-flow-logs",
            "flowLogKeyPrefix": "vpc/prod/",
            "networkAcls": [{"aclId": "acl-0a1b2c3d4e5f60718", "firstRule": 1, "size": 10}],
            "albTopTalkersEnabled": True,
            "allowCidrs": ["198.51.100.0/24"],
            "blockMinutes": 30,
            "sweeperSchedule": "rate(10 minutes)",
        },
        "backups": {
            "enabled": True,
            "dryRun": True,
            "plans": [
                {
                    "name": "daily-snapshots",
                    "resourceType": "instance",
                    "selectTag": {"key": "secauto:backup", "value": "daily"},
                    "schedule": "cron(0 3 * * ? *)",
                    "excludeBootVolume": True,
                    "retainDays": 7,
                    "minKeep": 2,
                    "copyTo": {"region": "eu-central-1", "retainDays": 30},
                },
                {
                    "name": "weekly-ami",
                    "resourceType": "instance",
                    "selectTag": {"key": "backup", "value": "weekly"},
                    "mode": "ami",
                    "noReboot": False,
                    "schedule": "rate(7 days)",
                    "periodHours": 168,
                    "retainCount": 4,
                    "copyTags": False,
                },
            ],
            "memorySize": 1024,
            "timeoutSeconds": 600,
        },
    },
}


@dataclass
class Synthesized:
    """One synthesized app: its constructs, its cloud assembly on disk, and its config."""

    app: App = field(repr=False)
    outdir: Path
    config: SecautoConfig = field(repr=False)
    _templates: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    @cached_property
    def stacks(self) -> dict[str, Stack]:
        return {child.node.id: child for child in self.app.node.children if isinstance(child, Stack)}

    def template(self, stack_id: str) -> dict[str, Any]:
        if stack_id not in self._templates:
            path = self.outdir / f"{self.stacks[stack_id].artifact_id}.template.json"
            self._templates[stack_id] = json.loads(path.read_text(encoding="utf-8"))
        return self._templates[stack_id]

    def resources(self, stack_id: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.template(stack_id)["Resources"].items()
            if resource["Type"] == resource_type
        }

    def all_resources(self, resource_type: str) -> list[tuple[str, str, dict[str, Any]]]:
        """(stack id, logical id, resource) of one type in every stack."""
        return [
            (stack_id, logical_id, resource)
            for stack_id in self.stacks
            for logical_id, resource in self.resources(stack_id, resource_type).items()
        ]

    def logical_id(self, construct: IConstruct) -> str:
        """`Stack:LogicalId` of an L2's CloudFormation resource."""
        element = cast("CfnElement", construct.node.default_child or construct)
        stack = Stack.of(element)
        return f"{stack.node.id}:{stack.get_logical_id(element)}"

    def ref(self, construct: IConstruct) -> str:
        """The logical id of an L2's CloudFormation resource within its stack (what `Ref` names)."""
        return self.logical_id(construct).split(":")[1]

    def resource_of(self, construct: IConstruct) -> dict[str, Any]:
        """The template entry of an L2's CloudFormation resource."""
        stack_id = Stack.of(construct).node.id
        resource: dict[str, Any] = self.template(stack_id)["Resources"][self.ref(construct)]
        return resource

    @property
    def account(self) -> str:
        return self.config.account or "{account}"

    def canonical(self, stack_id: str, value: Any) -> str:
        """A reference as a comparable string: `Stack:LogicalId[.Attr]`, or an ARN with
        `{account}`/`{partition}`/`{region}` for pseudo parameters; cross-stack references are
        followed to the producing stack's resource."""
        if isinstance(value, str):
            return value
        if not isinstance(value, dict) or len(value) != 1:
            raise AssertionError(f"not a reference: {value!r}")
        ((function, argument),) = value.items()
        if function == "Ref":
            pseudo = {
                "AWS::AccountId": "{account}",
                "AWS::Partition": "{partition}",
                "AWS::Region": "{region}",
            }
            return pseudo.get(argument, f"{stack_id}:{argument}")
        if function == "Fn::GetAtt":
            return f"{stack_id}:{argument[0]}.{argument[1]}"
        if function == "Fn::Join":
            separator, parts = argument
            return cast("str", separator).join(self.canonical(stack_id, part) for part in parts)
        if function == "Fn::GetStackOutput":
            producer = self._stack_by_name(argument["StackName"])
            output = self.template(producer)["Outputs"][argument["OutputName"]]
            return self.canonical(producer, output["Value"])
        if function == "Fn::ImportValue":
            for producer in self.stacks:
                for output in self.template(producer).get("Outputs", {}).values():
                    if output.get("Export", {}).get("Name") == argument:
                        return self.canonical(producer, output["Value"])
        raise AssertionError(f"unsupported reference {value!r}")

    def _stack_by_name(self, stack_name: str) -> str:
        for stack_id, stack in self.stacks.items():
            if stack.stack_name == stack_name:
                return stack_id
        raise AssertionError(f"no stack named {stack_name}")


def statements(policy_document: dict[str, Any]) -> list[dict[str, Any]]:
    found = policy_document["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_grants(synth: Synthesized, stack_id: str, role: dict[str, Any]) -> set[tuple[str, str]]:
    """(action, canonical resource) pairs allowed by a role's inline policies."""
    grants: set[tuple[str, str]] = set()
    for policy in role["Properties"].get("Policies", []):
        for statement in statements(policy["PolicyDocument"]):
            assert statement["Effect"] == "Allow"
            for action in as_list(statement["Action"]):
                for resource in as_list(statement["Resource"]):
                    grants.add((action, synth.canonical(stack_id, resource)))
    return grants


def core_stack(synth: Synthesized) -> CoreStack:
    core = synth.stacks[CORE]
    assert isinstance(core, CoreStack)
    return core


def expected_core_arns(synth: Synthesized) -> dict[CoreResource, str]:
    core = core_stack(synth)
    resources = core.resources
    secret_name = synth.config.slack_webhook_secret_name
    return {
        CoreResource.TOPIC: synth.logical_id(resources.topic),
        CoreResource.SLACK_SECRET: (
            f"arn:aws:secretsmanager:{synth.config.home_region}:{synth.account}:secret:{secret_name}-??????"
            if secret_name
            else synth.logical_id(resources.slack_secret)
        ),
        CoreResource.IDEMPOTENCY_TABLE: synth.logical_id(resources.idempotency_table) + ".Arn",
        CoreResource.STATE_TABLE: synth.logical_id(resources.state_table) + ".Arn",
        CoreResource.KMS_KEY: synth.logical_id(resources.key) + ".Arn",
        CoreResource.DEAD_LETTER_QUEUE: synth.logical_id(resources.dlq) + ".Arn",
    }


def expected_grants(
    synth: Synthesized, permissions: Sequence[Permission], **values: str
) -> set[tuple[str, str]]:
    """(action, canonical resource) pairs the declared permissions should grant in the home Region."""
    core_arns = expected_core_arns(synth)
    grants = set()
    for permission in permissions:
        if isinstance(permission.resource, CoreResource):
            resource = core_arns[permission.resource]
        else:
            resource = permission.resource.format(
                partition="aws", region=synth.config.home_region, account=synth.account, **values
            )
        grants.update((action, resource) for action in permission.actions)
    return grants


def concrete_pattern(synth: Synthesized, stack_id: str, pattern: Any) -> Any:
    """An EventPattern from a template with each intrinsic (`Ref`, `Fn::*`) replaced by its canonical
    string (`synth.canonical`), so that the local engine can match events against it."""
    if isinstance(pattern, dict):
        if len(pattern) == 1 and next(iter(pattern)) in ("Ref", "Fn::GetAtt", "Fn::Join", "Fn::ImportValue"):
            return synth.canonical(stack_id, pattern)
        return {key: concrete_pattern(synth, stack_id, value) for key, value in pattern.items()}
    if isinstance(pattern, list):
        return [concrete_pattern(synth, stack_id, value) for value in pattern]
    return pattern
