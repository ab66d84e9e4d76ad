"""Scheduled backups end to end against moto EC2 (two Regions), SNS, Security Hub and DynamoDB.

Where moto falls short (each worked around here, never by mocking boto3):

- CreateImage with `snapshot` TagSpecifications raises NotImplementedError, CopyImage ignores
  TagSpecifications, DeregisterImage ignores DeleteAssociatedSnapshots: the embedded account is
  taught them by `secauto_cli.seeds.fill_moto_ec2_gaps` (as for `make demo`).
- CreateSnapshots ignores CopyTagsFromSource: the request is checked instead (call observer).
- Every snapshot is "completed" at once and every AMI "available" (AWS takes minutes): a new
  backup still counts as in progress within its run, as the create call answered.
- DescribeSnapshots / DescribeImages / DescribeVolumes ignore MaxResults and NextToken: their
  pagination is a Stubber test (tests/unit/test_backups_runtime.py). DescribeInstances pages
  (100 reservations) in moto, shown here.
- moto never throttles: `RequestLimitExceeded` and `SnapshotCreationPerVolumeRateExceeded` are
  injected with a `before-send` hook on our client (the request still reaches moto afterwards);
  an access-denied create is short-circuited with `before-call`.
- `InvalidSnapshot.InUse` is moto's own: deleting a snapshot an AMI was made from.
- DescribeImageReferences is not implemented (NotImplementedError): the reference check notes it
  and relies on launch templates, launch configurations and instances.

Backups "of earlier runs" are made here by tagging snapshots and recording their ids in the state
table's ledger, as those runs would have (`record`); a snapshot tagged but not recorded is not ours.

One embedded account serves the whole module, and one botocore session all its clients (a
fresh session per client re-reads the endpoint rules and service models: about 0.2 s a client);
each test has its own plan name and select tag, so their instances and backups never meet.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from secauto_cli.embedded_account import embedded_account
from secauto_cli.environment import environment
from secauto_cli.lambda_context import LocalLambdaContext
from secauto_cli.seeds import BACKUP_PLANS, backup_tags, fill_moto_ec2_gaps, seed_backups
from secauto_cli.slack_capture import SlackCapture
from secauto_core import clients
from secauto_core.lifecycle import reset_runtime
from tests.conftest import load_event

CAPABILITY = "backups"
NOW = datetime(2026, 3, 15, 3, 0, 5, tzinfo=UTC)
WEST = "us-west-2"


@pytest.fixture(scope="module")
def account(slack_server: SlackCapture) -> Iterator[Any]:
    import botocore.session

    fill_moto_ec2_gaps()
    clients.set_session(botocore.session.get_session())
    with embedded_account(
        slack_url=slack_server.url,
        extra_environment={
            "SECAUTO_CAPABILITY": CAPABILITY,
            "POWERTOOLS_SERVICE_NAME": "secauto-backups",
            "SECAUTO_SECURITYHUB_RETRY_BASE_SECONDS": "0.01",
        },
    ) as account:
        try:
            yield account
        finally:
            clients.set_session(None)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The run's clock (`backups.runner._now`): set `clock[0]`."""
    moment = [NOW]
    monkeypatch.setattr("backups.runner._now", lambda: moment[0])
    return moment


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every `time.sleep` (ours and botocore's retries), recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr("time.sleep", recorded.append)
    return recorded


def plan(name: str, **overrides: Any) -> dict[str, Any]:
    return {
        "name": name,
        "resource_type": "instance",
        "select_tag": {"key": "secauto:backup", "value": name},
        "mode": "snapshots",
        "period_hours": 24,
        "retain_days": 7,
        "min_keep": 2,
        **overrides,
    }


def use(account: Any, *plans: dict[str, Any], **variables: str) -> Any:
    """The function's environment for the `with` block: these plans, and a fresh runtime."""
    values = {"SECAUTO_BACKUPS_PLANS": json.dumps(list(plans))}
    values.update({f"SECAUTO_BACKUPS_{k.upper()}": v for k, v in variables.items()})
    account.sns_messages()
    reset_runtime()
    return environment(values)


def tick(plan_name: str, when: datetime = NOW, event_id: str | None = None) -> dict[str, Any]:
    event = load_event("backups/scheduled_daily_plan.json")
    event["id"] = event_id or f"{plan_name}-{when.isoformat()}"
    event["time"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    event["resources"] = [f"arn:aws:events:us-east-1:123456789012:rule/secauto-backups-{plan_name}"]
    return event


def launch(account: Any, name: str, tag_value: str | None, extra_volumes: int = 0) -> tuple[str, list[str]]:
    ec2 = account.client("ec2")
    tags = [{"Key": "Name", "Value": name}, {"Key": "team", "Value": "shop"}]
    if tag_value:
        tags.append({"Key": "secauto:backup", "Value": tag_value})
    instance = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        Placement={"AvailabilityZone": "us-east-1a"},
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )["Instances"][0]
    volumes = [instance["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]]
    for index in range(extra_volumes):
        volume = ec2.create_volume(Size=10, AvailabilityZone="us-east-1a")["VolumeId"]
        ec2.attach_volume(VolumeId=volume, InstanceId=instance["InstanceId"], Device=f"/dev/sd{'fgh'[index]}")
        volumes.append(volume)
    return instance["InstanceId"], volumes


def record(
    account: Any,
    backup_id: str,
    tags: list[dict[str, str]],
    *,
    kind: str = "snapshot",
    region: str = "us-east-1",
) -> str:
    """Record `backup_id` in the ledger, as the run that made it (with these tags) would have."""
    from backups.ledger import DynamoLedger, Record
    from backups.model import Backup, TagKeys

    backup = Backup.from_tags(
        TagKeys(),
        kind="image" if kind == "image" else "snapshot",
        backup_id=backup_id,
        region=region,
        tags={tag["Key"]: tag["Value"] for tag in tags},
        state="completed",
        started=None,
    )
    assert backup is not None
    DynamoLedger(account.state_table, account.account_id).record([Record.of(backup)])
    return backup_id


def old_snapshot(
    account: Any,
    plan_name: str,
    source: str,
    volume: str,
    age_days: float,
    *,
    region: str = "us-east-1",
    retain_days: int | None = 7,
    recorded: bool = True,
    **tag_options: Any,
) -> str:
    """A snapshot made `age_days` before NOW, tagged (and, unless told, recorded) as an earlier
    run would have."""
    ec2 = ec2_in(region)
    tags = backup_tags(
        plan_name, source, NOW - timedelta(days=age_days), retain_days=retain_days, **tag_options
    )
    snapshot_id = str(
        ec2.create_snapshot(VolumeId=volume, TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags}])[
            "SnapshotId"
        ]
    )
    return record(account, snapshot_id, tags, region=region) if recorded else snapshot_id


def ec2_in(region: str) -> Any:
    import boto3

    return boto3.client("ec2", region_name=region)


def snapshots(plan_name: str | None = None, region: str = "us-east-1") -> dict[str, dict[str, str]]:
    """Snapshot id -> tags, of one plan (or all of them)."""
    found = {}
    for page in ec2_in(region).get_paginator("describe_snapshots").paginate(OwnerIds=["self"]):
        for snapshot in page["Snapshots"]:
            tags = {tag["Key"]: tag["Value"] for tag in snapshot.get("Tags", [])}
            if plan_name is None or tags.get("secauto:plan") == plan_name:
                found[snapshot["SnapshotId"]] = tags
    return found


def images(plan_name: str) -> dict[str, dict[str, Any]]:
    found = {}
    for image in ec2_in("us-east-1").describe_images(Owners=["self"])["Images"]:
        tags = {tag["Key"]: tag["Value"] for tag in image.get("Tags", [])}
        if tags.get("secauto:plan") == plan_name:
            found[image["ImageId"]] = {
                "tags": tags,
                "snapshots": [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"]],
            }
    return found


class Calls:
    """Every AWS call our clients make, with its parameters."""

    def __init__(self) -> None:
        self.made: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, operation: str, params: dict[str, Any]) -> None:
        self.made.append((operation, params))

    def of(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.made if name == operation]


@pytest.fixture
def calls() -> Iterator[Calls]:
    recorder = Calls()
    clients.add_call_observer(recorder)
    yield recorder
    clients.remove_call_observer(recorder)


def tag_list(specification: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in specification["Tags"]}


# --- creating ---------------------------------------------------------------------------------


@pytest.mark.parametrize("exclude_boot", [False, True])
def test_a_multi_volume_instance_gets_one_crash_consistent_set_tagged_at_creation(
    account, invoke, clock, calls, exclude_boot
):
    name = f"multi-{str(exclude_boot).lower()}"
    instance, _ = launch(account, "web-1", name, extra_volumes=2)
    launch(account, "scratch-1", None)
    with use(account, plan(name, exclude_boot_volume=exclude_boot)):
        result = invoke(CAPABILITY, tick(name)).result
    [request] = calls.of("ec2:CreateSnapshots")
    assert request["InstanceSpecification"] == {"InstanceId": instance, "ExcludeBootVolume": exclude_boot}
    assert request["CopyTagsFromSource"] == "volume"
    assert calls.of("ec2:CreateTags") == []  # tagged by the create call itself, never afterwards
    made = snapshots(name)
    assert len(made) == (2 if exclude_boot else 3)
    expected = {
        "secauto:managed-by": "secauto",
        "secauto:plan": name,
        "secauto:source": instance,
        "secauto:created-at": "2026-03-15T03:00:05Z",
        "secauto:expires-at": "2026-03-22T03:00:05Z",
        "secauto:slot": f"{name}/2026-03-15T00:00:00Z",
    }
    assert all(tags == expected for tags in made.values())
    assert (
        result["status"] == "done" and result["counts"]["created"] == 1 and result["counts"]["selected"] == 1
    )
    assert result["created"][0]["detail"].startswith(f"{instance} (web-1): snap-")


def test_a_volume_plan_snapshots_each_volume_with_its_own_tags(account, invoke, clock):
    ec2 = account.client("ec2")
    volume = ec2.create_volume(
        Size=5,
        AvailabilityZone="us-east-1a",
        TagSpecifications=[
            {
                "ResourceType": "volume",
                "Tags": [{"Key": "secauto:backup", "Value": "vols"}, {"Key": "team", "Value": "data"}],
            }
        ],
    )["VolumeId"]
    with use(account, plan("vols", resource_type="volume", retain_days=None, retain_count=3)):
        result = invoke(CAPABILITY, tick("vols")).result
    [tags] = snapshots("vols").values()
    assert tags["secauto:source"] == volume and tags["team"] == "data" and "secauto:backup" not in tags
    assert "secauto:expires-at" not in tags  # kept by count only
    assert result["counts"]["created"] == 1


def test_an_ami_plan_creates_and_later_prunes_amis_with_their_snapshots(account, invoke, clock, calls):
    instance, _ = launch(account, "build-1", "amis")
    amis = plan("amis", mode="ami", retain_days=None, retain_count=2, min_keep=1)
    made = []
    with use(account, amis):
        for day in range(3):
            clock[0] = NOW + timedelta(days=day)
            result = invoke(CAPABILITY, tick("amis", clock[0])).result
            made.append(result["created"][0]["detail"].split(": ")[1])
            if day == 1:
                between, between_snapshots = images("amis"), snapshots("amis")
    request = calls.of("ec2:CreateImage")[0]
    assert request["NoReboot"] is True and request["InstanceId"] == instance
    assert [spec["ResourceType"] for spec in request["TagSpecifications"]] == ["image", "snapshot"]
    # After the second run both AMIs stand, and their snapshots (tagged ours) were never pruned alone.
    assert set(between) == set(made[:2])
    ami_snapshots = {sid for image in between.values() for sid in image["snapshots"]}
    assert all(between_snapshots[sid]["secauto:managed-by"] == "secauto" for sid in ami_snapshots)
    # The third makes three: the oldest goes, deregistered with its snapshots.
    assert set(images("amis")) == set(made[1:])
    assert [row["target"] for row in result["pruned"]] == [made[0]]
    assert "beyond retain_count 2" in result["pruned"][0]["detail"]
    [deregister] = calls.of("ec2:DeregisterImage")
    assert deregister == {"ImageId": made[0], "DeleteAssociatedSnapshots": True}
    assert calls.of("ec2:DeleteSnapshot") == []
    assert between[made[0]]["snapshots"][0] not in snapshots("amis")


def test_a_re_run_of_a_slot_creates_nothing_new(account, invoke, clock, slack_server):
    launch(account, "web-2", "rerun")
    with use(account, plan("rerun")):
        first = invoke(CAPABILITY, tick("rerun", event_id="rerun-1")).result
        redelivered = invoke(CAPABILITY, tick("rerun", event_id="rerun-1")).result
        clock[0] = NOW + timedelta(minutes=20)
        second = invoke(CAPABILITY, tick("rerun", NOW + timedelta(minutes=15), event_id="rerun-2")).result
        assert len(snapshots("rerun")) == 1
        messages = account.sns_messages()
        clock[0] = NOW + timedelta(days=1)
        next_slot = invoke(CAPABILITY, tick("rerun", clock[0], event_id="rerun-3")).result
    assert first["counts"]["created"] == 1 and redelivered["duplicate"] is True
    assert second["counts"]["created"] == 0 and second["counts"]["already_in_slot"] == 1
    assert second["notifications"] == [] and len(messages) == 1  # the quiet re-run sends nothing
    assert next_slot["counts"]["created"] == 1 and len(snapshots("rerun")) == 2


def test_every_selected_instance_is_found_across_describe_pages(account, invoke, clock):
    ec2 = account.client("ec2")
    for _ in range(101):  # one reservation each: moto pages DescribeInstances at 100 reservations
        ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": "secauto:backup", "Value": "many"}]}
            ],
        )
    with use(account, plan("many"), dry_run="true"):
        result = invoke(CAPABILITY, tick("many")).result
    assert result["counts"]["selected"] == 101 and result["counts"]["planned"] == 101


# --- pruning ----------------------------------------------------------------------------------


def test_a_missed_run_prunes_on_the_next_and_min_keep_holds_when_all_expired(account, invoke, clock):
    instance, volumes = launch(account, "db-1", "missed")
    expired = {age: old_snapshot(account, "missed", instance, volumes[0], age) for age in (9, 10, 11, 12)}
    with use(account, plan("missed", min_keep=2)):
        result = invoke(CAPABILITY, tick("missed")).result
    # No run for 9 days: everything expired meanwhile; the newest two usable ones stay (min_keep 2),
    # since the snapshot just made is still in progress.
    remaining = set(snapshots("missed"))
    assert {expired[9], expired[10]} <= remaining and not {expired[11], expired[12]} & remaining
    assert {row["target"] for row in result["pruned"]} == {expired[11], expired[12]}
    assert all(
        row["detail"].startswith(f"snapshot of {instance} (db-1): expired at 2026-03-1")
        for row in result["pruned"]
    )


def test_what_is_not_ours_is_never_deleted(account, invoke, clock):
    instance, volumes = launch(account, "web-3", "foreign")
    ec2 = account.client("ec2")
    foreign = {
        "untagged": ec2.create_snapshot(VolumeId=volumes[0])["SnapshotId"],
        "other tool": old_snapshot(
            account, "foreign", instance, volumes[0], 90, managed_by="other-tool", recorded=False
        ),
        "copied tags": old_snapshot(account, "foreign", instance, volumes[0], 90, recorded=False),
        "other plan": old_snapshot(account, "retired", instance, volumes[0], 90),
    }
    no_plan_tag = [
        tag
        for tag in backup_tags("foreign", instance, NOW - timedelta(days=90), retain_days=1)
        if tag["Key"] != "secauto:plan"
    ]
    foreign["no plan tag"] = ec2.create_snapshot(
        VolumeId=volumes[0], TagSpecifications=[{"ResourceType": "snapshot", "Tags": no_plan_tag}]
    )["SnapshotId"]
    golden = ec2.create_image(InstanceId=instance, Name="golden-foreign")["ImageId"]
    with use(account, plan("foreign", min_keep=1)):
        result = invoke(CAPABILITY, tick("foreign")).result
        [summary] = account.sns_messages()
    assert set(foreign.values()) <= set(snapshots())
    assert golden in {image["ImageId"] for image in ec2.describe_images(Owners=["self"])["Images"]}
    assert result["pruned"] == [] and result["counts"]["created"] == 1
    [unrecorded] = result["not_recorded"]
    assert (
        unrecorded["target"] == foreign["copied tags"] and "not recorded by secauto" in unrecorded["detail"]
    )
    assert f"Not recorded (kept): {foreign['copied tags']} [us-east-1]" in summary["message"]
    assert "1 not recorded" in summary["subject"]


def test_a_snapshot_in_use_by_an_ami_is_skipped_and_the_prune_goes_on(account, invoke, clock):
    instance, volumes = launch(account, "web-4", "inuse")
    ec2 = account.client("ec2")
    # Someone registered an AMI from one of our (expired) snapshots: moto says InvalidSnapshot.InUse.
    image = ec2.create_image(InstanceId=instance, Name="made-from-our-snapshot")["ImageId"]
    in_use = ec2.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    in_use_tags = backup_tags("inuse", instance, NOW - timedelta(days=12), retain_days=7)
    ec2.create_tags(Resources=[in_use], Tags=in_use_tags)
    record(account, in_use, in_use_tags)
    others = [old_snapshot(account, "inuse", instance, volumes[0], age) for age in (10, 11)]
    recent = [old_snapshot(account, "inuse", instance, volumes[0], age) for age in (1, 2)]
    with use(account, plan("inuse")):
        invocation = invoke(CAPABILITY, tick("inuse"))
    result = invocation.result
    [skipped] = result["skipped"]
    assert skipped["target"] == in_use and skipped["detail"].startswith("in use by an AMI")
    assert {row["target"] for row in result["pruned"]} == set(others)  # tried after the in-use one
    assert set(recent) | {in_use} <= set(snapshots("inuse"))
    assert invocation.log_messages("ERROR") == []
    assert "Snapshot in use by an AMI: not deleted" in invocation.log_messages("WARNING")


# --- copying ----------------------------------------------------------------------------------


def test_the_cross_region_copy_carries_its_own_expiry_and_is_pruned_there(account, invoke, clock, calls):
    instance, volumes = launch(account, "web-5", "copies")
    home = old_snapshot(account, "copies", instance, volumes[0], 2)
    west_volume = ec2_in(WEST).create_volume(Size=10, AvailabilityZone="us-west-2a")["VolumeId"]
    kept = [
        old_snapshot(
            account,
            "copies",
            instance,
            west_volume,
            age,
            region=WEST,
            retain_days=14,
            copied_from=f"snap-{age}",
        )
        for age in (3, 4)
    ]
    expired = old_snapshot(
        account, "copies", instance, west_volume, 20, region=WEST, retain_days=14, copied_from="snap-x"
    )
    copying = plan("copies", copy_to={"region": WEST, "retain_days": 14})
    with use(account, copying):
        result = invoke(CAPABILITY, tick("copies")).result
    copies = snapshots("copies", WEST)
    [copy_id] = set(copies) - {*kept, expired}
    created = (NOW - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert copies[copy_id]["secauto:copied-from"] == home
    assert copies[copy_id]["secauto:created-at"] == created  # the data's age, not the copy's
    assert copies[copy_id]["secauto:expires-at"] == (NOW + timedelta(days=12)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert snapshots("copies")[home]["secauto:expires-at"] == (NOW + timedelta(days=5)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    [request] = calls.of("ec2:CopySnapshot")
    assert request["SourceSnapshotId"] == home and request["SourceRegion"] == "us-east-1"
    assert tag_list(request["TagSpecifications"][0])["secauto:managed-by"] == "secauto"
    # The copy Region's own rules: the 20-day copy is past its 14 days, the others are kept.
    assert expired not in copies and set(kept) <= set(copies)
    assert [(row["target"], row["region"]) for row in result["pruned"]] == [(expired, WEST)]
    assert result["counts"]["copies_waiting"] == 1  # today's snapshot: pending on AWS, copied next run


def test_an_ami_copy_is_tagged_by_the_copy_call(account, invoke, clock, calls):
    instance, _ = launch(account, "build-2", "amicopy")
    ec2 = account.client("ec2")
    tags = backup_tags("amicopy", instance, NOW - timedelta(days=3), retain_days=None)
    image = ec2.create_image(
        InstanceId=instance,
        Name="secauto-amicopy-old",
        TagSpecifications=[
            {"ResourceType": "image", "Tags": tags},
            {"ResourceType": "snapshot", "Tags": tags},
        ],
    )["ImageId"]
    record(account, image, tags, kind="image")
    amis = plan(
        "amicopy",
        mode="ami",
        retain_days=None,
        retain_count=3,
        min_keep=1,
        copy_to={"region": WEST, "retain_count": 2},
    )
    with use(account, amis):
        result = invoke(CAPABILITY, tick("amicopy")).result
    [request] = calls.of("ec2:CopyImage")
    assert request["SourceImageId"] == image and request["Name"] == f"secauto-copy-{image}"
    specs = {spec["ResourceType"]: tag_list(spec) for spec in request["TagSpecifications"]}
    assert specs["image"] == specs["snapshot"] and specs["image"]["secauto:copied-from"] == image
    assert "secauto:expires-at" not in specs["image"]  # the copy Region keeps by count
    [west_image] = ec2_in(WEST).describe_images(
        Owners=["self"], ImageIds=[result["copied"][0]["detail"].split()[0]]
    )["Images"]
    assert {t["Key"]: t["Value"] for t in west_image["Tags"]}["secauto:plan"] == "amicopy"


# --- failures, throttling, deadline, dry run --------------------------------------------------


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _inject(action: str, code: str, times: int = 1, only: str = "", status: int = 400) -> dict[str, int]:
    """Answer our client's next `times` calls of `action` (naming `only`, when given) with `code`.

    A `before-call` answer stops the call before it reaches moto (a `before-send` one would not:
    moto's own handler would still carry the call out) and before botocore's retries, so what is
    retried here is our own backoff, as after botocore has given up.
    """
    remaining = {"n": times}

    def before_call(params: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if remaining["n"] <= 0 or only not in str(params.get("body", "")):
            return None
        remaining["n"] -= 1
        error = {"Code": code, "Message": f"{code} (injected)"}
        return AWSResponse("https://ec2.us-east-1.amazonaws.com/", status, {}, _Raw(b"")), {"Error": error}

    ec2 = clients.client("ec2", region_name="us-east-1")
    ec2.meta.events.register_first(f"before-call.ec2.{action}", before_call)
    return remaining


def test_throttling_is_retried(account, invoke, clock, waits):
    launch(account, "web-6", "throttled", extra_volumes=1)
    volume = account.client("ec2").create_volume(
        Size=5,
        AvailabilityZone="us-east-1a",
        TagSpecifications=[
            {"ResourceType": "volume", "Tags": [{"Key": "secauto:backup", "Value": "throttled-vols"}]}
        ],
    )["VolumeId"]
    plans = (plan("throttled"), plan("throttled-vols", resource_type="volume"))
    with use(account, *plans):
        limited = _inject("CreateSnapshots", "RequestLimitExceeded", 2, status=503)
        rate = _inject("CreateSnapshot", "SnapshotCreationPerVolumeRateExceeded")
        first = invoke(CAPABILITY, tick("throttled")).result
        second = invoke(CAPABILITY, tick("throttled-vols")).result
    assert limited["n"] == 0 and rate["n"] == 0
    assert first["counts"]["created"] == 1 and second["counts"]["created"] == 1
    assert len(waits) == 3 and waits[2] == 15.0  # one snapshot per volume per 15 s
    assert 1.0 <= waits[0] <= 2.0 and 2.0 <= waits[1] <= 4.0  # jittered, doubling backoff
    assert [tags["secauto:source"] for tags in snapshots("throttled-vols").values()] == [volume]
    assert len(snapshots("throttled")) == 2  # one crash-consistent set (root and the extra volume), once


def test_a_failed_backup_raises_a_finding_and_an_alert_archived_when_backed_up_again(account, invoke, clock):
    failing, _ = launch(account, "db-2", "failing")
    launch(account, "web-7", "failing")
    with use(account, plan("failing")):
        denied = _inject("CreateSnapshots", "UnauthorizedOperation", only=failing)
        invocation = invoke(CAPABILITY, tick("failing"))
        assert denied["n"] == 0
        [summary] = account.sns_messages()
        opened = [
            f for f in account.new_securityhub_findings() if f["GeneratorId"] == "secauto/backups/failing"
        ]
        clock[0] = NOW + timedelta(days=1)
        invoke(CAPABILITY, tick("failing", clock[0]))
        closed = [
            f for f in account.new_securityhub_findings() if f["GeneratorId"] == "secauto/backups/failing"
        ]
    result = invocation.result
    [failed] = result["failed"]
    assert failed["target"] == failing and failed["detail"].startswith("UnauthorizedOperation")
    assert result["counts"]["created"] == 1 and result["unprotected"] == [failing]
    assert "Backup action failed" in invocation.log_messages("ERROR")
    assert summary["attributes"]["severity"] == "HIGH"
    assert f"Failed: {failing} [us-east-1]: UnauthorizedOperation" in summary["message"]
    assert f"Unprotected: {failing} (db-2): no backup in this period" in summary["message"]
    [finding] = opened
    assert finding["Severity"]["Label"] == "HIGH" and finding["RecordState"] == "ACTIVE"
    assert finding["Resources"][0]["Id"] == f"arn:aws:ec2:us-east-1:123456789012:instance/{failing}"
    [archived] = closed
    assert archived["Id"] == finding["Id"] and archived["RecordState"] == "ARCHIVED"


def test_the_deadline_stops_the_run_and_reports_the_rest_as_not_reached(account, clock):
    instance, _ = launch(account, "web-8", "late")
    from backups.handler import lambda_handler

    with use(account, plan("late")):
        # 20 s left: less than the 30 s kept for reporting, so nothing is started.
        result = lambda_handler(tick("late"), LocalLambdaContext("secauto-backups", timeout_seconds=20))
        [summary] = account.sns_messages()
    assert result["status"] == "partial" and result["counts"]["created"] == 0
    assert result["not_reached"] == [
        {"action": "create", "target": instance, "region": "us-east-1", "detail": ""}
    ]
    assert summary["attributes"]["severity"] == "HIGH" and "Not reached: " in summary["message"]
    assert snapshots("late") == {}


def test_a_dry_run_changes_nothing_and_plans_exactly_what_a_run_does(account, invoke, clock):
    fill_moto_ec2_gaps()
    seeded = seed_backups(account)
    assert json.loads(seeded["SECAUTO_BACKUPS_PLANS"]) == BACKUP_PLANS
    before = (set(snapshots()), set(snapshots(region=WEST)))
    with use(account, *BACKUP_PLANS, dry_run="true"):
        dry = invoke(CAPABILITY, tick("daily", event_id="dry")).result
        [summary] = account.sns_messages()
        assert (set(snapshots()), set(snapshots(region=WEST))) == before
        assert [
            f
            for f in account.new_securityhub_findings()
            if f["GeneratorId"].startswith("secauto/backups/daily")
        ] == []
    with use(account, *BACKUP_PLANS):
        real = invoke(CAPABILITY, tick("daily", event_id="real")).result
    planned = {(row["action"], row["target"]) for row in dry["planned"]}
    assert planned == {
        *(("create", row["target"]) for row in real["created"]),
        *(("prune", row["target"]) for row in real["pruned"]),
        *(("copy", row["target"]) for row in real["copied"]),
    }
    assert dry["status"] == "dry-run" and dry["counts"]["created"] == 0 and dry["securityhub"] is None
    assert "Label: dry run" in summary["message"]


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"not": "an event"}, "not a scheduled event"),
        ("text", "not a scheduled event"),
        (tick("hourly"), "unknown backup plan 'hourly' (configured: parked)"),
        (
            load_event("backups/other_schedule_tick.json"),
            "not a tick of a secauto-backups-<plan> schedule rule",
        ),
        (
            load_event("backups/ec2_snapshot_created_event.json"),
            "not a tick of a secauto-backups-<plan> schedule rule",
        ),
    ],
)
def test_what_is_not_a_tick_of_a_configured_plan_is_rejected_and_parked(account, invoke, event, reason):
    with use(account, plan("parked")):
        result = invoke(CAPABILITY, event).result
        parked = account.dlq_messages()
    assert result["status"] == "rejected" and result["reason"].startswith(reason)
    assert result["parked"] is True and len(parked) == 1


def test_a_failing_copy_region_is_reported_and_the_home_region_still_done(account, invoke, clock):
    instance, volumes = launch(account, "web-9", "westdown")
    expired = old_snapshot(account, "westdown", instance, volumes[0], 12)
    for age in (1, 2):
        old_snapshot(account, "westdown", instance, volumes[0], age)
    with use(account, plan("westdown", copy_to={"region": WEST, "retain_days": 14})):
        west = clients.client("ec2", region_name=WEST)
        west.meta.events.register_first(
            "before-call.ec2.DescribeSnapshots",
            lambda **_: (
                AWSResponse("https://ec2.us-west-2.amazonaws.com/", 401, {}, _Raw(b"")),
                {"Error": {"Code": "AuthFailure", "Message": "Region not enabled"}},
            ),
        )
        invocation = invoke(CAPABILITY, tick("westdown"))
    result = invocation.result
    assert result["failed"] == [
        {"action": "inventory", "target": WEST, "region": WEST, "detail": "AuthFailure: Region not enabled"}
    ]
    assert result["counts"]["created"] == 1 and [row["target"] for row in result["pruned"]] == [expired]


def test_a_run_stopped_by_its_deadline_reports_what_it_did_not_reach(account, clock):
    from backups.deadline import Deadline
    from backups.runner import BackupRunner
    from backups.settings import BackupPlan, BackupSettings

    made = sorted(launch(account, f"app-{n}", "partial")[0] for n in range(3))
    ticks = iter(range(100))
    deadline = Deadline(stop_at=1.5, clock=lambda: next(ticks))  # reached at the third check
    runner = BackupRunner(BackupSettings(), "us-east-1", deadline)
    with use(account):
        result = runner.run(BackupPlan.model_validate(plan("partial")), NOW)
    assert result.status == "partial"
    assert [item.target for item in result.created] == made[:2]
    assert [item.target for item in result.not_reached] == made[2:]
    assert [source.id for source in result.unprotected] == made[2:]
