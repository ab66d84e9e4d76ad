"""The AMI reference check reads every page of every source, once per Region.

moto answers DescribeLaunchTemplates and DescribeLaunchTemplateVersions with one page however
many there are (and no NextToken), so paging is shown with botocore's Stubber here; the check
against moto's resources is in tests/handlers/test_safety_backups.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.stub import Stubber

from backups.references import ImageReferences, find_references

TYPES = [{"ResourceType": "ec2:Instance"}, {"ResourceType": "ec2:LaunchTemplate"}]
STATES = ["pending", "running", "shutting-down", "stopping", "stopped"]


def _client(service: str) -> Any:
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def _version(number: int, image: str) -> dict[str, Any]:
    return {"VersionNumber": number, "LaunchTemplateData": {"ImageId": image}}


def test_every_page_of_templates_versions_configurations_and_instances_is_read() -> None:
    ec2, autoscaling = _client("ec2"), _client("autoscaling")
    ec2_stub, as_stub = Stubber(ec2), Stubber(autoscaling)
    ec2_stub.add_client_error(
        "describe_image_references",
        "InvalidAction",
        expected_params={"ImageIds": ["ami-a", "ami-b"], "ResourceTypes": TYPES},
    )
    templates = {"MaxResults": 200}
    ec2_stub.add_response(
        "describe_launch_templates",
        {"LaunchTemplates": [{"LaunchTemplateId": "lt-1"}], "NextToken": "t"},
        templates,
    )
    versions = {"LaunchTemplateId": "lt-1", "ResolveAlias": True, "MaxResults": 200}
    ec2_stub.add_response(
        "describe_launch_template_versions",
        {"LaunchTemplateVersions": [_version(1, "ami-other")], "NextToken": "v"},
        versions,
    )
    public = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    ec2_stub.add_response(
        "describe_launch_template_versions",
        {"LaunchTemplateVersions": [_version(2, "ami-a"), _version(3, public)]},
        {**versions, "NextToken": "v"},
    )
    ec2_stub.add_response(
        "describe_launch_templates",
        {"LaunchTemplates": [{"LaunchTemplateId": "lt-2"}]},
        {**templates, "NextToken": "t"},
    )
    ec2_stub.add_response(
        "describe_launch_template_versions",
        {"LaunchTemplateVersions": [_version(7, "ami-b")]},
        {**versions, "LaunchTemplateId": "lt-2"},
    )
    configuration = {
        "LaunchConfigurationName": "web",
        "ImageId": "ami-b",
        "InstanceType": "t3.micro",
        "CreatedTime": datetime(2026, 1, 1, tzinfo=UTC),
    }
    as_stub.add_response(
        "describe_launch_configurations",
        {
            "LaunchConfigurations": [
                {**configuration, "ImageId": "ami-other", "LaunchConfigurationName": "old"}
            ],
            "NextToken": "c",
        },
        {"MaxRecords": 100},
    )
    as_stub.add_response(
        "describe_launch_configurations",
        {"LaunchConfigurations": [configuration]},
        {"MaxRecords": 100, "NextToken": "c"},
    )
    filters = [
        {"Name": "image-id", "Values": ["ami-a", "ami-b"]},
        {"Name": "instance-state-name", "Values": STATES},
    ]
    ec2_stub.add_response("describe_instances", {"Reservations": [], "NextToken": "i"}, {"Filters": filters})
    instance = {"InstanceId": "i-1", "ImageId": "ami-a", "State": {"Name": "stopped", "Code": 80}}
    ec2_stub.add_response(
        "describe_instances",
        {"Reservations": [{"Instances": [instance]}]},
        {"Filters": filters, "NextToken": "i"},
    )
    with ec2_stub, as_stub:
        references = find_references(ec2, autoscaling, ["ami-b", "ami-a"], "us-east-1")
    ec2_stub.assert_no_pending_responses()
    as_stub.assert_no_pending_responses()
    assert references.complete and references.notes[0].startswith("DescribeImageReferences not available")
    assert dict(references.users) == {
        "ami-a": ("launch template lt-1 version 2", "instance i-1 (stopped)"),
        "ami-b": ("launch template lt-2 version 7", "launch configuration web"),
    }
    assert references.blocker("ami-a") == "in use by launch template lt-1 version 2, instance i-1 (stopped)"


def test_image_references_are_asked_for_ten_ids_at_a_time() -> None:
    ec2 = _client("ec2")
    stub = Stubber(ec2)
    ids = [f"ami-{n:02d}" for n in range(12)]
    stub.add_response(
        "describe_image_references", {"ImageReferences": []}, {"ImageIds": ids[:10], "ResourceTypes": TYPES}
    )
    answer = [
        {"ImageId": "ami-11", "ResourceType": "ec2:Instance", "Arn": "arn:aws:ec2:us-east-1:1:instance/i-9"}
    ]
    stub.add_response(
        "describe_image_references",
        {"ImageReferences": answer},
        {"ImageIds": ids[10:], "ResourceTypes": TYPES},
    )
    stub.add_client_error("describe_launch_templates", "UnauthorizedOperation")
    stub.add_response("describe_instances", {"Reservations": []})  # 100 filter values a call: 12 fit in one
    autoscaling = _client("autoscaling")
    with Stubber(autoscaling) as as_stub, stub:
        as_stub.add_response("describe_launch_configurations", {"LaunchConfigurations": []})
        references = find_references(ec2, autoscaling, ids, "us-east-1")
    stub.assert_no_pending_responses()
    assert references.users == {"ami-11": ("ec2:Instance arn:aws:ec2:us-east-1:1:instance/i-9",)}
    # One source could not be read: nothing is released, whatever the others said.
    assert references.problems == ("launch templates: UnauthorizedOperation",)
    assert (
        references.blocker("ami-00") == "reference check incomplete (launch templates: UnauthorizedOperation)"
    )


def test_nothing_asked_nothing_released() -> None:
    references = ImageReferences("us-east-1", frozenset({"ami-1"}))
    assert references.blocker("ami-1") is None
    assert references.blocker("ami-2") == "its references were not checked"
