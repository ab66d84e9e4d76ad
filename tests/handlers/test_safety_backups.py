"""Safety of scheduled backups, searched for counterexamples against moto (EC2, Auto Scaling,
DynamoDB in the embedded account).

Two invariants of issue #11:

- only backups that secauto recorded when it created them (the ledger, `backups.ledger`) and that
  carry its tags are ever deleted: forged or copied tags, hostile tag values, a record dropped by
  a concurrent run while this one prunes, two runs pruning the same plan at once;
- an AMI that a launch template version, a launch configuration or an existing instance uses is
  never deregistered, and its snapshots stay; when the references cannot all be read, no AMI is.

Where moto falls short: DescribeImageReferences is not implemented (the code notes it and relies
on the other checks; an answer is injected where one is needed), DescribeLaunchTemplateVersions
ignores `ResolveAlias` (a `resolve:ssm:` alias comes back as it is: the fail-safe path), and
DeregisterImage's DeleteAssociatedSnapshots is taught by `fill_moto_ec2_gaps`.

Each example gets its own plan name, so its backups and ledger partition never meet another's.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backups.actions import DeletionRefusedError, copy_backup, create_backup, delete_backup
from backups.deadline import Deadline
from backups.ledger import DynamoLedger, MemoryLedger, ledger_for
from backups.model import Backup, Source, TagKeys, format_time
from backups.references import find_references
from backups.runner import BackupRunner, RunResult
from backups.settings import BackupPlan, BackupSettings
from backups.slots import slot_start, slot_value
from secauto_cli.embedded_account import embedded_account
from secauto_cli.seeds import fill_moto_ec2_gaps
from secauto_cli.slack_capture import SlackCapture
from secauto_core import clients

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
HOME, WEST = "us-east-1", "us-west-2"
KEYS = TagKeys()
_plan_numbers = itertools.count()
FAST = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


class World:
    """The module's account: a volume and an instance per Region to back up or forge from."""

    def __init__(self, account: Any) -> None:
        self.account = account
        self.ledger = DynamoLedger(account.state_table, account.account_id)
        self.ec2 = {region: clients.client("ec2", region_name=region) for region in (HOME, WEST)}
        self.autoscaling = clients.client("autoscaling", region_name=HOME)
        self.volume: dict[str, str] = {}
        self.instance = ""
        for region, zone in ((HOME, "us-east-1a"), (WEST, "us-west-2a")):
            self.volume[region] = self.ec2[region].create_volume(Size=8, AvailabilityZone=zone)["VolumeId"]
        self.instance = self.ec2[HOME].run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)[
            "Instances"
        ][0]["InstanceId"]

    def snapshots(self, region: str) -> dict[str, dict[str, str]]:
        pages = self.ec2[region].get_paginator("describe_snapshots").paginate(OwnerIds=["self"])
        return {s["SnapshotId"]: _tags(s) for page in pages for s in page["Snapshots"]}

    def images(self, region: str) -> dict[str, tuple[str, ...]]:
        """Image id -> its snapshots."""
        found = self.ec2[region].describe_images(Owners=["self"])["Images"]
        return {
            image["ImageId"]: tuple(
                m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m
            )
            for image in found
        }

    def view(self) -> View:
        return View(
            {region: self.snapshots(region) for region in (HOME, WEST)},
            {region: self.images(region) for region in (HOME, WEST)},
        )

    def existing(self) -> set[tuple[str, str]]:
        return self.view().existing


class View:
    """Every snapshot (with its tags) and image (with its snapshots) of the account, per Region."""

    def __init__(
        self, snapshots: dict[str, dict[str, dict[str, str]]], images: dict[str, dict[str, tuple[str, ...]]]
    ) -> None:
        self.snapshots, self.images = snapshots, images
        self.existing = {
            (region, i) for region in (HOME, WEST) for i in [*snapshots[region], *images[region]]
        }
        self.in_images = {
            (region, sid) for region in (HOME, WEST) for snaps in images[region].values() for sid in snaps
        }


def _tags(resource: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


@pytest.fixture(scope="module")
def world(slack_server: SlackCapture) -> Iterator[World]:
    import botocore.session

    fill_moto_ec2_gaps()
    clients.set_session(botocore.session.get_session())
    with embedded_account(slack_url=slack_server.url) as account:
        try:
            yield World(account)
        finally:
            clients.set_session(None)


def new_plan(**overrides: Any) -> BackupPlan:
    values: dict[str, Any] = {
        "name": f"safe-{next(_plan_numbers)}",
        "resource_type": "volume",
        # Selects nothing: each test makes the backups it needs itself.
        "select_tag": {"key": "secauto-test:none", "value": "none"},
        "period_hours": 24,
        "retain_days": 7,
        "min_keep": 1,
        **overrides,
    }
    return BackupPlan.model_validate(values)


def runner(world: World, plan: BackupPlan, ledger: Any = None) -> BackupRunner:
    return BackupRunner(
        BackupSettings(plans=(plan,)),
        HOME,
        Deadline(stop_at=float("inf")),
        now=lambda: NOW,
        sleep=lambda _: None,
        ledger=ledger or world.ledger,
    )


def make_genuine(world: World, plan: BackupPlan, kind: str, age_days: float) -> list[Backup]:
    """A backup made by secauto's own create call `age_days` before NOW (so, recorded)."""
    when = NOW - timedelta(days=age_days)
    start = slot_start(when, plan.period_hours)
    if kind == "image":
        creating = plan.model_copy(update={"mode": "ami", "resource_type": "instance"})
        source = Source("instance", world.instance, HOME)
    else:
        creating, source = plan, Source("volume", world.volume[HOME], HOME)
    return create_backup(
        world.ec2[HOME],
        KEYS,
        creating,
        source,
        now=when,
        slot=slot_value(plan.name, start),
        slot_start=start,
        region=HOME,
        ledger=world.ledger,
    )


def forge(world: World, kind: str, tags: dict[str, str], region: str = HOME) -> str:
    """A snapshot or an AMI someone else made, carrying `tags` (never recorded)."""
    listed = [{"Key": key, "Value": value} for key, value in tags.items()]
    if kind == "image" and region == HOME:
        return str(
            world.ec2[HOME].create_image(
                InstanceId=world.instance,
                Name=f"forged-{next(_plan_numbers)}",
                TagSpecifications=[
                    {"ResourceType": "image", "Tags": listed},
                    {"ResourceType": "snapshot", "Tags": listed},
                ],
            )["ImageId"]
        )
    specs = [{"ResourceType": "snapshot", "Tags": listed}] if listed else []
    return str(
        world.ec2[region].create_snapshot(VolumeId=world.volume[region], TagSpecifications=specs)[
            "SnapshotId"
        ]
    )


# --- strategies ---------------------------------------------------------------------------------

#: Tag values that are valid EC2 tag values but hostile to a parser: times out of range or not
#: times at all, lookalikes of ours, long strings, odd characters.
HOSTILE = st.one_of(
    st.sampled_from(
        [
            "",
            "1970-01-01T00:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2026-06-01T03:00:00+14:00",
            "not-a-time",
            "secauto",
            "SECAUTO",
            " secauto",
            "snap-00000000000000000",
        ]
    ),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=64),
)


@st.composite
def plans(draw: st.DrawFn, *, with_copies: bool) -> BackupPlan:
    retain_days = draw(st.sampled_from([None, 1, 7, 30]))
    retain_count = draw(st.sampled_from([None, 1, 2, 5] if retain_days else [1, 2, 5]))
    min_keep = draw(st.integers(1, min(3, retain_count or 3)))
    copy_to = None
    if with_copies and draw(st.booleans()):
        copy_to = {"region": WEST, "retain_days": draw(st.sampled_from([1, 14])), "retain_count": None}
    return new_plan(retain_days=retain_days, retain_count=retain_count, min_keep=min_keep, copy_to=copy_to)


def forged_tags(draw: st.DrawFn, plan: BackupPlan, genuine_tags: list[dict[str, str]]) -> dict[str, str]:
    """Copied from one of ours, or ours with hostile values, or almost ours."""
    recipe = draw(
        st.sampled_from(["copied", "hostile", "lookalike"] if genuine_tags else ["hostile", "lookalike"])
    )
    if recipe == "copied":  # a restored volume snapshotted with copy-tags; DLM or AWS Backup copying
        return dict(draw(st.sampled_from(genuine_tags)))
    tags = {
        KEYS.managed_by: "secauto",
        KEYS.plan: plan.name,
        KEYS.source: draw(st.one_of(HOSTILE, st.just("vol-1"))),
        KEYS.created_at: draw(st.one_of(HOSTILE, st.just(format_time(NOW - timedelta(days=90))))),
        KEYS.expires_at: draw(st.one_of(HOSTILE, st.just(format_time(NOW - timedelta(days=60))))),
        KEYS.slot: draw(HOSTILE),
    }
    if draw(st.booleans()):
        tags[KEYS.copied_from] = draw(HOSTILE)
    if recipe == "lookalike":  # not ours by its tags at all
        tags[draw(st.sampled_from([KEYS.managed_by, KEYS.plan]))] = draw(
            st.sampled_from(["Secauto", "secauto ", "other-tool", f"{plan.name}-x", plan.name.upper()])
        )
    return tags


# --- the invariant: only recorded and tagged ----------------------------------------------------


def _reasons(result: RunResult) -> set[str]:
    return {item.target for item in [*result.kept, *result.skipped, *result.failed, *result.not_reached]}


class Before:
    """The account and the plan's ledger just before the run."""

    def __init__(self, world: World, plan: BackupPlan) -> None:
        view = world.view()
        self.existing = view.existing
        self.recorded = world.ledger.recorded(plan.name)
        self.image_snapshots = {
            (region, image_id): snapshots
            for region in (HOME, WEST)
            for image_id, snapshots in view.images[region].items()
        }


def _check_only_recorded_deleted(
    world: World,
    plan: BackupPlan,
    before: Before,
    foreign: set[tuple[str, str]],
    revoked: set[tuple[str, str]],
    results: list[RunResult],
) -> View:
    """Check the invariant after the run; the account as it is then."""
    view = world.view()
    after, recorded = view.existing, before.recorded
    # A deregistered AMI of ours takes its snapshots with it (DeleteAssociatedSnapshots).
    with_images = {
        (region, snapshot_id)
        for (region, image_id), record in recorded.items()
        if record.kind == "image" and (region, image_id) not in after
        for snapshot_id in before.image_snapshots.get((region, image_id), ())
    }
    deleted = before.existing - after
    assert deleted <= set(recorded) | with_images, f"deleted without a record: {deleted - set(recorded)}"
    assert foreign <= after, f"foreign backups deleted: {foreign - after}"
    assert not (revoked & deleted), f"deleted after its record was dropped: {revoked & deleted}"
    reasons = set().union(*(_reasons(result) for result in results))
    for key, record in recorded.items():
        expired = record.expires_at is not None and record.expires_at < NOW
        if key in after and expired and key not in revoked:
            assert record.id in reasons, f"{record.id} expired, kept, and no reason given"
    ledger_now = world.ledger.recorded(plan.name)
    assert not (set(ledger_now) & deleted), "a deleted backup's record was left behind"
    for result in results:
        assert result.failed == [], result.failed
    return view


@settings(FAST, max_examples=14)
@given(data=st.data())
def test_invariant_only_recorded_and_tagged_backups_are_deleted(world: World, data: st.DataObject) -> None:
    plan = data.draw(plans(with_copies=True), label="plan")
    # Ours: made by secauto's own create (and copy) calls, so recorded.
    genuine: list[Backup] = []
    for kind, age in data.draw(
        st.lists(
            st.tuples(st.sampled_from(["snapshot", "image"]), st.integers(0, 45)),
            max_size=6,
            unique_by=lambda x: x,
        ),
        label="genuine",
    ):
        genuine += make_genuine(world, plan, kind, age + 0.25)
    if plan.copy_to is not None:
        for backup in [b for b in genuine if b.kind == "snapshot"][:2]:
            genuine.append(
                copy_backup(world.ec2[WEST], KEYS, plan, backup, target_region=WEST, ledger=world.ledger)
            )
    genuine_tags = [dict(b.tags) for b in genuine]
    # Not ours: forged or copied tags, in both Regions; and one of ours recorded under another plan.
    foreign: set[tuple[str, str]] = set()
    for kind, region in data.draw(
        st.lists(
            st.tuples(st.sampled_from(["snapshot", "image"]), st.sampled_from([HOME, WEST])), max_size=6
        ),
        label="foreign",
    ):
        foreign.add((region, forge(world, kind, forged_tags(data.draw, plan, genuine_tags), region)))
    if data.draw(st.booleans(), label="recorded under another plan"):
        other = new_plan()
        [elsewhere] = make_genuine(world, other, "snapshot", 40)
        retagged = {**elsewhere.tags, KEYS.plan: plan.name}
        world.ec2[HOME].create_tags(
            Resources=[elsewhere.id], Tags=[{"Key": k, "Value": v} for k, v in retagged.items()]
        )
        foreign.add((HOME, elsewhere.id))
    before = Before(world, plan)
    # A concurrent run deletes some of ours and drops their records while this one prunes.
    recorded = sorted(before.recorded)
    revoked_pick = data.draw(st.sets(st.sampled_from(recorded), max_size=3) if recorded else st.just(set()))
    revoked: set[tuple[str, str]] = set()

    fired: list[str] = []

    def concurrent(operation: str, params: dict[str, Any]) -> None:
        """At the run's first delete call (already checked), drop other records."""
        if operation in ("ec2:DeleteSnapshot", "ec2:DeregisterImage") and not fired:
            in_flight = params.get("SnapshotId") or params.get("ImageId")
            fired.append(in_flight)
            for region, backup_id in revoked_pick - {(HOME, in_flight), (WEST, in_flight)}:
                world.ledger.forget(plan.name, region, [backup_id])
                revoked.add((region, backup_id))

    clients.add_call_observer(concurrent)
    try:
        result = runner(world, plan).run(plan, NOW)
    finally:
        clients.remove_call_observer(concurrent)
    after = _check_only_recorded_deleted(world, plan, before, foreign, revoked, [result])
    # Every forged backup tagged exactly ours for this plan was reported as not recorded.
    reported = {item.target for item in result.unrecorded}
    inventoried = {HOME} if plan.copy_to is None else {HOME, WEST}
    for region, backup_id in foreign:
        if region not in inventoried:
            continue
        tags = after.snapshots[region].get(backup_id) or {}
        if KEYS.is_ours(tags, plan.name) and (region, backup_id) not in after.in_images:
            assert backup_id in reported, (backup_id, tags)


@settings(FAST, max_examples=5)
@given(data=st.data())
def test_invariant_holds_when_two_runs_prune_the_same_plan_at_once(world: World, data: st.DataObject) -> None:
    plan = new_plan(retain_days=3, min_keep=1)
    genuine = [
        b
        for age in data.draw(st.sets(st.integers(1, 30), min_size=2, max_size=6))
        for b in make_genuine(world, plan, "snapshot", age + 0.5)
    ]
    foreign = {(HOME, forge(world, "snapshot", dict(b.tags))) for b in genuine[:3]}
    before = Before(world, plan)
    results: list[RunResult] = []
    start = threading.Barrier(2)

    def run() -> None:
        start.wait()
        results.append(runner(world, plan).run(plan, NOW))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2
    _check_only_recorded_deleted(world, plan, before, foreign, set(), results)
    pruned = [item.target for result in results for item in result.pruned]
    assert len(pruned) == len(set(pruned))  # each deleted once; the other run found it gone or refused


# --- crash between create and record; the delete action's own checks ------------------------------


class FailingLedger(MemoryLedger):
    """A ledger whose writes fail (DynamoDB down, or the process dying right after the create)."""

    def record(self, records: Any) -> None:
        raise RuntimeError("state table unavailable")


def test_a_backup_created_but_not_recorded_is_kept_and_reported_never_deleted(world: World) -> None:
    plan = new_plan(retain_days=1, min_keep=1)
    volume = Source("volume", world.volume[HOME], HOME)
    start = slot_start(NOW - timedelta(days=20), 24)
    made_by_crashed_run = create_backup  # the call EC2 answered; the record then failed
    with pytest.raises(RuntimeError, match="could not record"):
        made_by_crashed_run(
            world.ec2[HOME],
            KEYS,
            plan,
            volume,
            now=NOW - timedelta(days=20),
            slot=slot_value(plan.name, start),
            slot_start=start,
            region=HOME,
            ledger=FailingLedger(),
        )
    [orphan] = [sid for sid, tags in world.snapshots(HOME).items() if tags.get(KEYS.plan) == plan.name]
    newer = [b.id for age in (1, 2, 3) for b in make_genuine(world, plan, "snapshot", age + 0.5)]
    result = runner(world, plan).run(plan, NOW)
    assert orphan in world.snapshots(HOME)  # expired 19 days ago by its tags: kept all the same
    assert [item.target for item in result.unrecorded] == [orphan]
    assert {item.target for item in result.pruned} == set(newer[1:])  # min_keep 1: the newest stays
    assert result.counts()["not_recorded"] == 1


def test_the_delete_action_refuses_what_is_not_recorded_or_not_checked(world: World) -> None:
    plan = new_plan()
    [snapshot] = make_genuine(world, plan, "snapshot", 30)
    [image] = make_genuine(world, plan, "image", 30)
    forged = Backup(
        **{
            **{name: getattr(snapshot, name) for name in Backup.__slots__},
            "id": forge(world, "snapshot", dict(snapshot.tags)),
        }
    )
    calls: list[str] = []
    observer = lambda operation, _params: calls.append(operation)  # noqa: E731
    clients.add_call_observer(observer)
    try:
        with pytest.raises(DeletionRefusedError, match="not recorded"):
            delete_backup(world.ec2[HOME], KEYS, forged, ledger=world.ledger)
        with pytest.raises(DeletionRefusedError, match="not checked"):
            delete_backup(world.ec2[HOME], KEYS, image, ledger=world.ledger)  # no reference check
        untagged = Backup(**{**{name: getattr(snapshot, name) for name in Backup.__slots__}, "tags": {}})
        with pytest.raises(DeletionRefusedError, match="not tagged"):
            delete_backup(world.ec2[HOME], KEYS, untagged, ledger=world.ledger)
        unchecked = find_references(world.ec2[HOME], world.autoscaling, [], HOME)
        with pytest.raises(DeletionRefusedError, match="not checked"):
            delete_backup(world.ec2[HOME], KEYS, image, ledger=world.ledger, references=unchecked)
    finally:
        clients.remove_call_observer(observer)
    assert not {"ec2:DeleteSnapshot", "ec2:DeregisterImage"} & set(calls)
    assert {forged.id, snapshot.id} <= set(world.snapshots(HOME)) and image.id in world.images(HOME)
    delete_backup(world.ec2[HOME], KEYS, snapshot, ledger=world.ledger)
    assert snapshot.id not in world.snapshots(HOME)
    assert (HOME, snapshot.id) not in world.ledger.recorded(plan.name)  # dropped after the delete
    assert isinstance(ledger_for(None, "123456789012"), MemoryLedger)


def test_an_amis_snapshots_are_recorded_and_pruned_once_orphaned(world: World) -> None:
    keep_all = new_plan(retain_days=None, retain_count=5, min_keep=1)
    images = [make_genuine(world, keep_all, "image", age)[0] for age in (9, 10)]
    snapshot_ids = [world.images(HOME)[image.id][0] for image in images]
    runner(world, keep_all).run(keep_all, NOW)  # sees the AMIs' mappings: records their snapshots
    recorded = world.ledger.recorded(keep_all.name)
    assert [recorded[(HOME, sid)].image_id for sid in snapshot_ids] == [image.id for image in images]
    # Someone deregisters both AMIs but keeps their snapshots: ours, and prunable on their own.
    for image in images:
        world.ec2[HOME].deregister_image(ImageId=image.id)
    one = keep_all.model_copy(update={"retain_count": 1})
    result = runner(world, one).run(one, NOW)
    assert [item.target for item in result.pruned] == [snapshot_ids[1]]  # the older; min_keep 1
    assert snapshot_ids[0] in world.snapshots(HOME)


def test_copies_are_recorded_in_their_own_region(world: World) -> None:
    plan = new_plan(copy_to={"region": WEST, "retain_days": 14})
    [original] = make_genuine(world, plan, "snapshot", 2)
    result = runner(world, plan).run(plan, NOW)
    [copied] = result.copied
    copy_id = copied.detail.split()[0]
    record = world.ledger.recorded(plan.name)[(WEST, copy_id)]
    assert (record.copied_from, record.region) == (original.id, WEST)
    assert (HOME, copy_id) not in world.ledger.recorded(plan.name)


# --- the invariant: referenced AMIs stay ---------------------------------------------------------

REFERENCES = ("template-latest", "template-old-version", "launch-configuration", "running", "stopped")


def _reference(world: World, image_id: str, how: str, template: str) -> None:
    ec2 = world.ec2[HOME]
    if how == "template-latest":
        ec2.create_launch_template_version(
            LaunchTemplateName=template, LaunchTemplateData={"ImageId": image_id}
        )
    elif how == "template-old-version":  # an Auto Scaling group may pin an old version
        ec2.create_launch_template_version(
            LaunchTemplateName=template, LaunchTemplateData={"ImageId": image_id}
        )
        ec2.create_launch_template_version(
            LaunchTemplateName=template, LaunchTemplateData={"ImageId": "ami-12c6146b"}
        )
    elif how == "launch-configuration":
        world.autoscaling.create_launch_configuration(
            LaunchConfigurationName=f"lc-{image_id}-{next(_plan_numbers)}",
            ImageId=image_id,
            InstanceType="t3.micro",
        )
    else:
        instance = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        if how == "stopped":
            ec2.stop_instances(InstanceIds=[instance])


@settings(FAST, max_examples=10)
@given(data=st.data())
def test_invariant_referenced_amis_are_never_deregistered(world: World, data: st.DataObject) -> None:
    plan = new_plan(mode="ami", resource_type="instance", retain_days=None, retain_count=1, min_keep=1)
    ages = data.draw(st.lists(st.integers(1, 60), min_size=2, max_size=6, unique=True), label="ages")
    images = [make_genuine(world, plan, "image", age)[0] for age in sorted(ages)]
    newest, deletable = images[0], images[1:]
    template = f"lt-{plan.name}"
    # A template whose first version names AWS's public parameter: never one of our AMIs.
    world.ec2[HOME].create_launch_template(
        LaunchTemplateName=template,
        LaunchTemplateData={
            "ImageId": "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
        },
    )
    referenced: dict[str, list[str]] = {}
    for image in deletable:
        hows = data.draw(
            st.lists(st.sampled_from(REFERENCES), max_size=2, unique=True), label=f"refs {image.id}"
        )
        for how in hows:
            _reference(world, image.id, how, template)
        if hows:
            referenced[image.id] = hows
    # An instance launched from one and terminated since uses nothing.
    if data.draw(st.booleans(), label="terminated"):
        launched = world.ec2[HOME].run_instances(ImageId=deletable[-1].id, MinCount=1, MaxCount=1)
        world.ec2[HOME].terminate_instances(InstanceIds=[launched["Instances"][0]["InstanceId"]])
    snapshots_of = world.images(HOME)
    result = runner(world, plan).run(plan, NOW)
    images_after, snapshots_after = world.images(HOME), world.snapshots(HOME)
    skipped = {item.target: item.detail for item in result.skipped}
    for image_id, hows in referenced.items():
        assert image_id in images_after, (image_id, hows)
        assert set(snapshots_of[image_id]) <= set(snapshots_after)
        assert "in use by" in skipped[image_id]
    # Liveness: what nothing references went, with its snapshots; the newest stayed (min_keep).
    for image in deletable:
        if image.id not in referenced:
            assert image.id not in images_after and not set(snapshots_of[image.id]) & set(snapshots_after)
    assert newest.id in images_after and result.failed == []


# --- an incomplete reference check deregisters nothing ----------------------------------------


class _Raw:
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield b""


def _answer(client: Any, operation: str, code: str | None, parsed: dict[str, Any] | None = None) -> Any:
    """Answer `client`'s `operation` with an error `code` (or the `parsed` response) before moto."""

    def before_call(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        status = 403 if code else 200
        response = AWSResponse("https://example.invalid/", status, {}, _Raw())
        return response, (
            {"Error": {"Code": code, "Message": f"{code} (injected)"}} if code else parsed or {}
        )

    event = f"before-call.{client.meta.service_model.service_name}.{operation}"
    client.meta.events.register_first(event, before_call)
    return lambda: client.meta.events.unregister(event, before_call)


@pytest.mark.parametrize(
    ("service", "operation", "code"),
    [
        ("ec2", "DescribeLaunchTemplates", "UnauthorizedOperation"),
        ("ec2", "DescribeLaunchTemplateVersions", "OptInRequired"),
        ("autoscaling", "DescribeLaunchConfigurations", "AccessDenied"),
        ("ec2", "DescribeImageReferences", "UnauthorizedOperation"),  # not "unavailable": a refusal
    ],
)
def test_a_failed_reference_lookup_deregisters_nothing(
    world: World, service: str, operation: str, code: str
) -> None:
    plan = new_plan(mode="ami", resource_type="instance", retain_days=None, retain_count=1, min_keep=1)
    images = [make_genuine(world, plan, "image", age)[0] for age in (1, 2, 3)]
    world.ec2[HOME].create_launch_template(
        LaunchTemplateName=f"lt-{plan.name}", LaunchTemplateData={"ImageId": "ami-12c6146b"}
    )
    client = world.ec2[HOME] if service == "ec2" else world.autoscaling
    restore = _answer(client, operation, code)
    try:
        result = runner(world, plan).run(plan, NOW)
    finally:
        restore()
    assert {image.id for image in images} <= set(world.images(HOME))
    assert result.pruned == [] and result.failed == []
    assert {item.target for item in result.skipped} == {image.id for image in images[1:]}
    assert all("reference check incomplete" in item.detail and code in item.detail for item in result.skipped)


def test_an_unresolved_launch_template_alias_deregisters_nothing(world: World) -> None:
    plan = new_plan(mode="ami", resource_type="instance", retain_days=None, retain_count=1, min_keep=1)
    images = [make_genuine(world, plan, "image", age)[0] for age in (1, 2)]
    template = world.ec2[HOME].create_launch_template(
        LaunchTemplateName=f"lt-{plan.name}", LaunchTemplateData={"ImageId": "resolve:ssm:/golden/web"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    try:
        result = runner(world, plan).run(plan, NOW)
    finally:  # the module's other tests share this Region
        world.ec2[HOME].delete_launch_template(LaunchTemplateId=template)
    assert images[1].id in world.images(HOME)
    [skipped] = result.skipped
    assert "resolve:ssm:/golden/web not resolved" in skipped.detail


def test_describe_image_references_is_used_where_ec2_offers_it(world: World) -> None:
    plan = new_plan(mode="ami", resource_type="instance", retain_days=None, retain_count=1, min_keep=1)
    images = [make_genuine(world, plan, "image", age)[0] for age in (1, 2, 3)]
    used = images[1].id
    arn = "arn:aws:ec2:us-east-1:123456789012:launch-template/lt-0123456789abcdef0"
    answer = {"ImageReferences": [{"ImageId": used, "ResourceType": "ec2:LaunchTemplate", "Arn": arn}]}
    restore = _answer(world.ec2[HOME], "DescribeImageReferences", None, answer)
    try:
        result = runner(world, plan).run(plan, NOW)
    finally:
        restore()
    assert used in world.images(HOME) and images[2].id not in world.images(HOME)
    [skipped] = result.skipped
    assert skipped.target == used and f"ec2:LaunchTemplate {arn}" in skipped.detail


def test_a_deregistered_amis_snapshots_are_not_copied_afterwards(world: World) -> None:
    # Found by the first invariant: the pruned AMI's snapshots once became copy candidates.
    plan = new_plan(
        mode="ami",
        resource_type="instance",
        retain_days=None,
        retain_count=1,
        min_keep=1,
        copy_to={"region": WEST, "retain_count": 1},
    )
    older, newer = (make_genuine(world, plan, "image", age)[0] for age in (2, 1))
    runner(world, plan).run(plan, NOW)  # records the AMIs' snapshots (kept by retain_count 2 here?)
    result = runner(world, plan).run(plan, NOW)
    assert older.id not in world.images(HOME) and result.failed == []
    assert newer.id in world.images(HOME)
