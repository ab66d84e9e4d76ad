"""What is ours: the ledger's records against a Region's tagged backups (pure), and the ledger in
DynamoDB (moto) and in memory."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from backups.ledger import PARTITION_PREFIX, DynamoLedger, MemoryLedger, Record
from backups.model import Backup, TagKeys, format_time
from backups.ownership import split_by_ledger

NOW = datetime(2026, 3, 15, 3, tzinfo=UTC)
KEYS = TagKeys()
TABLE = "secauto-state"


def tagged(backup_id: str, *, kind: str = "snapshot", age_days: float = 10, **changes: Any) -> Backup:
    created = NOW - timedelta(days=age_days)
    tags = {
        KEYS.managed_by: "secauto",
        KEYS.plan: "daily",
        KEYS.source: "i-1",
        KEYS.created_at: format_time(created),
    }
    values: dict[str, Any] = {
        "kind": kind,
        "id": backup_id,
        "plan": "daily",
        "source": "i-1",
        "created_at": created,
        "expires_at": created + timedelta(days=7),
        "region": "us-east-1",
        "tags": tags,
        **changes,
    }
    return Backup(**values)


def test_recorded_backups_are_ours_with_their_recorded_values() -> None:
    made = tagged("snap-1")
    record = Record.of(made)
    # Since then someone re-tagged it to expire long ago: the record, not the tag, says when.
    tampered = tagged("snap-1", expires_at=datetime(1970, 1, 1, tzinfo=UTC), source="i-other")
    owned = split_by_ledger([tampered, tagged("snap-2")], {record.key: record})
    assert [(b.id, b.expires_at, b.source) for b in owned.ours] == [("snap-1", made.expires_at, "i-1")]
    assert [b.id for b in owned.unrecorded] == ["snap-2"]
    assert owned.new_records == []


def test_an_id_recorded_in_another_region_or_as_another_kind_is_not_ours() -> None:
    other_region = Record.of(tagged("snap-1", region="us-west-2"))
    as_image = Record.of(tagged("ami-1", kind="image"))
    impostor = Record(**{**vars(as_image), "id": "snap-3"})
    records = {r.key: r for r in (other_region, as_image, impostor)}
    owned = split_by_ledger([tagged("snap-1"), tagged("snap-3")], records)
    assert owned.ours == [] and [b.id for b in owned.unrecorded] == ["snap-1", "snap-3"]


def test_a_recorded_amis_snapshots_become_ours_and_are_to_be_recorded() -> None:
    image = tagged("ami-1", kind="image", snapshot_ids=("snap-a", "snap-b"))
    foreign_image = tagged("ami-2", kind="image", snapshot_ids=("snap-c",))
    record = Record.of(image)
    inventory = [image, foreign_image, tagged("snap-a"), tagged("snap-b"), tagged("snap-c")]
    owned = split_by_ledger(inventory, {record.key: record})
    assert [(r.id, r.kind, r.image_id, r.created_at) for r in owned.new_records] == [
        ("snap-a", "snapshot", "ami-1", image.created_at),
        ("snap-b", "snapshot", "ami-1", image.created_at),
    ]
    assert {b.id for b in owned.ours} == {"ami-1", "snap-a", "snap-b"}
    assert {b.id for b in owned.unrecorded} == {"ami-2", "snap-c"}  # an unrecorded AMI vouches for nothing


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


@pytest.mark.parametrize("kind", ["dynamodb", "memory"])
def test_the_ledger_records_checks_and_forgets_per_plan_and_region(
    kind: str, request: pytest.FixtureRequest
) -> None:
    ledger = DynamoLedger(TABLE, "123456789012") if kind == "dynamodb" else MemoryLedger()
    if kind == "dynamodb":
        request.getfixturevalue("dynamodb")
    copy = Record.of(tagged("snap-2", region="us-west-2", copied_from="snap-1", slot="daily/x"))
    ledger.record([Record.of(tagged("snap-1")), copy, Record.of(tagged("snap-9", plan="weekly"))])
    assert set(ledger.recorded("daily")) == {("us-east-1", "snap-1"), ("us-west-2", "snap-2")}
    assert ledger.recorded("daily")[copy.key] == copy
    assert ledger.is_recorded("daily", "us-west-2", "snap-2")
    assert not ledger.is_recorded("daily", "us-east-1", "snap-2")  # not in that Region
    assert not ledger.is_recorded("daily", "us-east-1", "snap-9")  # recorded under another plan
    ledger.forget("daily", "us-west-2", ["snap-2"])
    assert set(ledger.recorded("daily")) == {("us-east-1", "snap-1")}


def test_an_item_the_ledger_did_not_write_is_no_licence(dynamodb: Any) -> None:
    partition = f"{PARTITION_PREFIX}123456789012#created#daily"
    for sort_key, extra in (
        ("us-east-1#", {}),
        ("us-east-1#snap-1", {"kind": {"S": "volume"}}),
        ("us-east-1#snap-2", {}),
    ):
        dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": partition}, "sk": {"S": sort_key}, **extra})
    # No id, a kind we never write, no creation time: none of them counts as recorded.
    assert DynamoLedger(TABLE, "123456789012").recorded("daily") == {}
