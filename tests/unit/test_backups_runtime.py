"""The run's deadline, EC2 throttling retries, and pagination of every describe call.

moto ignores `MaxResults`/`NextToken` on DescribeSnapshots, DescribeImages and DescribeVolumes
(one page, whatever the count), so their pagination is shown with botocore's Stubber here;
DescribeInstances pages in moto itself (tests/handlers/test_backups_handler.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from backups.deadline import Deadline
from backups.inventory import plan_backups, selected_sources
from backups.model import TagKeys
from backups.retrying import error_code, with_backoff
from backups.settings import BackupPlan


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Context:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_the_deadline_keeps_a_margin_before_the_lambda_timeout():
    clock = Clock()
    deadline = Deadline.start(Context(900_000), 840, clock=clock)
    assert deadline.remaining() == 840  # max_runtime_seconds is the tighter bound
    short = Deadline.start(Context(100_000), 840, clock=clock)
    assert short.remaining() == 70  # 100 s left, less the 30 s reporting margin
    assert Deadline.start(Context(10_000), 840, clock=clock).reached  # less than the margin left
    clock.now += 70
    assert short.reached and not deadline.reached
    assert Deadline.start(None, 5, clock=clock).remaining() == 5


def _error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "CreateSnapshot")


def test_snapshot_rate_and_request_limits_are_waited_out_then_given_up():
    waits: list[float] = []
    answers = [_error("SnapshotCreationPerVolumeRateExceeded"), _error("RequestLimitExceeded"), "done"]

    def call():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    deadline = Deadline(stop_at=float("inf"))
    assert with_backoff(call, deadline=deadline, sleep=waits.append) == "done"
    assert waits[0] == 15.0 and 2.0 <= waits[1] <= 4.0  # one per volume per 15 s; then a jittered backoff
    always = lambda: (_ for _ in ()).throw(_error("RequestLimitExceeded"))  # noqa: E731
    with pytest.raises(ClientError):
        with_backoff(always, deadline=deadline, sleep=waits.append, attempts=3)
    with pytest.raises(ClientError) as raised:
        with_backoff(lambda: (_ for _ in ()).throw(_error("InvalidVolume.NotFound")), deadline=deadline)
    assert error_code(raised.value) == "InvalidVolume.NotFound"


def test_no_wait_runs_past_the_deadline():
    clock = Clock()
    waits: list[float] = []
    deadline = Deadline(stop_at=clock.now + 10, clock=clock)
    with pytest.raises(ClientError):
        with_backoff(
            lambda: (_ for _ in ()).throw(_error("SnapshotCreationPerVolumeRateExceeded")),
            deadline=deadline,
            sleep=waits.append,
        )
    assert waits == []  # a 15 s wait would outlast the 10 s left


def _stubbed_ec2():
    ec2 = boto3.client("ec2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return ec2, Stubber(ec2)


TAGS = [
    {"Key": "secauto:managed-by", "Value": "secauto"},
    {"Key": "secauto:plan", "Value": "daily"},
    {"Key": "secauto:source", "Value": "i-1"},
]


def test_snapshots_and_images_are_read_page_by_page():
    ec2, stubber = _stubbed_ec2()
    started = datetime(2026, 3, 1, tzinfo=UTC)
    filters = [
        {"Name": "tag:secauto:managed-by", "Values": ["secauto"]},
        {"Name": "tag:secauto:plan", "Values": ["daily"]},
    ]

    def snapshot(number: int) -> dict:
        return {
            "SnapshotId": f"snap-{number}",
            "State": "completed",
            "StartTime": started,
            "Tags": TAGS,
            "VolumeId": "vol-1",
        }

    stubber.add_response(
        "describe_snapshots",
        {"Snapshots": [snapshot(1)], "NextToken": "t1"},
        {"OwnerIds": ["self"], "Filters": filters},
    )
    stubber.add_response(
        "describe_snapshots",
        {"Snapshots": [snapshot(2)]},
        {"OwnerIds": ["self"], "Filters": filters, "NextToken": "t1"},
    )
    image = {
        "ImageId": "ami-1",
        "State": "available",
        "CreationDate": "2026-03-01T00:00:00.000Z",
        "Tags": TAGS,
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-9"}}],
    }
    image_params = {
        "Owners": ["self"],
        "Filters": filters,
        "IncludeDisabled": True,
        "IncludeDeprecated": True,
    }
    stubber.add_response("describe_images", {"Images": [], "NextToken": "t2"}, image_params)
    stubber.add_response("describe_images", {"Images": [image]}, {**image_params, "NextToken": "t2"})
    with stubber:
        backups = plan_backups(ec2, "daily", "us-east-1", TagKeys())
    stubber.assert_no_pending_responses()
    assert [(b.kind, b.id, b.source) for b in backups] == [
        ("snapshot", "snap-1", "i-1"),
        ("snapshot", "snap-2", "i-1"),
        ("image", "ami-1", "i-1"),
    ]
    assert backups[2].snapshot_ids == ("snap-9",) and backups[0].created_at == started


def test_tagged_volumes_are_read_page_by_page():
    ec2, stubber = _stubbed_ec2()
    plan = BackupPlan.model_validate(
        {
            "name": "vols",
            "resource_type": "volume",
            "select_tag": {"key": "backup", "value": "yes"},
            "period_hours": 24,
            "retain_count": 3,
        }
    )
    filters = [{"Name": "tag:backup", "Values": ["yes"]}]
    stubber.add_response(
        "describe_volumes", {"Volumes": [{"VolumeId": "vol-2"}], "NextToken": "t"}, {"Filters": filters}
    )
    stubber.add_response(
        "describe_volumes",
        {"Volumes": [{"VolumeId": "vol-1", "Tags": [{"Key": "Name", "Value": "data"}]}]},
        {"Filters": filters, "NextToken": "t"},
    )
    with stubber:
        sources = selected_sources(ec2, plan, "us-east-1")
    assert [(s.id, s.label) for s in sources] == [("vol-1", "vol-1 (data)"), ("vol-2", "vol-2")]
