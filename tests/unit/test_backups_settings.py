"""Backup plans from the environment, the tags set at creation, the declared permissions."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from backups import permissions
from backups.handler import ScheduledEvent, plan_name
from backups.model import TagKeys
from backups.settings import BackupSettings
from backups.tagging import carried_tags, ownership_tags
from secauto_core.permissions import CoreResource
from secauto_core.settings import SettingsError

DAILY = {
    "name": "daily",
    "resource_type": "instance",
    "select_tag": {"key": "secauto:backup", "value": "daily"},
    "period_hours": 24,
    "retain_days": 7,
    "min_keep": 2,
    "copy_to": {"region": "us-west-2", "retain_days": 14},
}


def settings_of(*plans, **extra) -> BackupSettings:
    environ = {"SECAUTO_BACKUPS_PLANS": json.dumps(list(plans))}
    environ.update({f"SECAUTO_BACKUPS_{k.upper()}": v for k, v in extra.items()})
    return BackupSettings.from_environ(environ)


def test_plans_are_read_from_json_with_snake_case_keys():
    settings = settings_of(
        DAILY, {**DAILY, "name": "weekly-ami", "mode": "ami", "copy_to": None}, dry_run="true"
    )
    daily = settings.plan("daily")
    assert daily is not None and daily.copy_to is not None and daily.copy_to.retain_days == 14
    assert daily.mode == "snapshots" and daily.no_reboot and daily.copy_tags and daily.min_keep == 2
    assert settings.dry_run is True and settings.tag_prefix == "secauto:"
    assert settings.plan("missing") is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "Daily_Plan"}, "String should match pattern"),
        ({"retain_days": None}, "needs retain_days or retain_count"),
        ({"resource_type": "volume", "mode": "ami"}, "mode 'ami' backs up instances only"),
        ({"retain_days": None, "retain_count": 1, "min_keep": 2}, "min_keep (2) exceeds retain_count"),
        ({"copy_to": {"region": "us-west-2"}}, "copy_to needs retain_days or retain_count"),
        ({"copy_to": {"region": "mars", "retain_days": 1}}, "String should match pattern"),
        ({"unknown_key": 1}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_plans_are_refused_with_a_reason(change, message):
    with pytest.raises(SettingsError, match="SECAUTO_BACKUPS_") as raised:
        settings_of({**DAILY, **change})
    assert message in str(raised.value)


def test_duplicate_plan_names_and_the_aws_prefix_are_refused():
    with pytest.raises(SettingsError, match="duplicate plan names"):
        settings_of(DAILY, DAILY)
    with pytest.raises(SettingsError, match="aws: prefix is reserved"):
        settings_of(DAILY, tag_prefix="aws:")


def test_ownership_tags_and_the_source_tags_carried_over():
    keys = TagKeys()
    created = datetime(2026, 3, 15, 3, 0, 7, tzinfo=UTC)
    tags = ownership_tags(
        keys,
        plan="daily",
        source="i-1",
        created_at=created,
        expires_at=datetime(2026, 3, 22, 3, 0, 7, tzinfo=UTC),
        slot="daily/2026-03-15T00:00:00Z",
    )
    assert tags == {
        "secauto:managed-by": "secauto",
        "secauto:plan": "daily",
        "secauto:source": "i-1",
        "secauto:created-at": "2026-03-15T03:00:07Z",
        "secauto:expires-at": "2026-03-22T03:00:07Z",
        "secauto:slot": "daily/2026-03-15T00:00:00Z",
    }
    source_tags = {"Name": "web-1", "aws:cloudformation:stack-name": "x", "secauto:backup": "daily"}
    source_tags |= {f"k{i:02d}": "v" for i in range(60)}
    carried = carried_tags(keys, source_tags, room=50 - len(tags))
    assert len(carried) == 44 and "Name" in carried
    assert not any(key.startswith(("aws:", "secauto:")) for key in carried)


def _tick(resource: str, **changes) -> ScheduledEvent:
    event = {
        "id": "e",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-03-15T03:00:00Z",
        "region": "us-east-1",
        "resources": [resource],
        "detail": {},
    }
    return ScheduledEvent.model_validate({**event, **changes})


@pytest.mark.parametrize(
    ("resource", "changes", "expected"),
    [
        ("arn:aws:events:us-east-1:123456789012:rule/secauto-backups-daily", {}, "daily"),
        (
            "arn:aws:events:us-east-1:123456789012:rule/custom-bus/secauto-backups-weekly-ami",
            {},
            "weekly-ami",
        ),
        ("arn:aws:events:us-east-1:123456789012:rule/secauto-backups-", {}, None),
        ("arn:aws:events:us-east-1:123456789012:rule/nightly-backups", {}, None),
        ("arn:aws:events:us-east-1:123456789012:rule/secauto-backups-daily", {"source": "aws.ec2"}, None),
        ("arn:aws:ec2:us-east-1::snapshot/secauto-backups-daily", {}, None),
    ],
)
def test_the_plan_comes_from_the_schedule_rules_name(resource, changes, expected):
    assert plan_name(_tick(resource, **changes)) == expected


def test_permissions_scope_changes_by_our_managed_by_tag():
    conditions = permissions.TAG_CONDITIONS
    managed = {"aws:ResourceTag/secauto:managed-by": "secauto"}
    assert conditions["ec2:DeleteSnapshot"] == {"StringEquals": managed}
    assert conditions["ec2:DeregisterImage"] == {"StringEquals": managed}
    for action in ("CreateSnapshots", "CreateSnapshot", "CreateImage", "CopySnapshot", "CopyImage"):
        assert conditions[f"ec2:{action}"] == {
            "StringEquals": {"aws:RequestTag/secauto:managed-by": "secauto"}
        }
    assert set(conditions["ec2:CreateTags"]["StringEquals"]["ec2:CreateAction"]) == set(
        permissions.CREATE_ACTIONS
    )
    declared = [*permissions.PERMISSIONS, *permissions.COPY_PERMISSIONS]
    for permission in declared:
        if permission.resource == "*":
            assert all(action.split(":")[1].startswith("Describe") for action in permission.actions)
        elif permission.resource == CoreResource.STATE_TABLE:
            # The ledger and the open findings: only items whose partition key starts backups#.
            assert permission.conditions == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": "backups#*"}}
        elif isinstance(permission.resource, str) and (
            "::snapshot/" in permission.resource or "::image/" in permission.resource
        ):
            # Every grant on snapshots and images carries its tag condition.
            assert permission.conditions == conditions[permission.actions[0]]
    assert all("{copy_region}" in p.resource for p in permissions.COPY_PERMISSIONS)
    custom = permissions.tag_conditions("acme:")
    assert custom["ec2:DeleteSnapshot"] == {"StringEquals": {"aws:ResourceTag/acme:managed-by": "secauto"}}
