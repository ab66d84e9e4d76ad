"""The dedupe state in DynamoDB (moto): optimistic locking and giving back a claim."""

from __future__ import annotations

from datetime import timedelta

from findings_factories import T0

from findings.policy import NotificationState
from findings.state import NotificationStateStore
from secauto_cli.embedded_account import embedded_account
from secauto_core.severity import Severity


def store(account):
    return NotificationStateStore(account.state_table, timedelta(days=90))


def test_state_round_trips_through_dynamodb():
    with embedded_account() as account:
        states = store(account)
        assert states.load("k") is None
        state = NotificationState(updated_at=T0, notified_severity=Severity.HIGH, notified_count=3, version=1)
        assert states.save("k", state, expected_version=None)
        assert states.load("k") == state
        item = account.client("dynamodb").get_item(
            TableName=account.state_table, Key={"pk": {"S": "findings#k"}, "sk": {"S": "notification"}}
        )["Item"]
        assert int(item["ttl"]["N"]) == int((T0 + timedelta(days=90)).timestamp())


def test_a_writer_with_a_stale_version_loses():
    with embedded_account() as account:
        states = store(account)
        first = NotificationState(updated_at=T0, version=1)
        assert states.save("k", first, None)
        assert not states.save("k", NotificationState(updated_at=T0, version=1), None)  # both saw "new"
        assert states.save("k", NotificationState(updated_at=T0, version=2), 1)
        assert not states.save("k", NotificationState(updated_at=T0, version=2), 1)  # lost the race


def test_release_gives_the_notification_back():
    with embedded_account() as account:
        states = store(account)
        previous = NotificationState(
            updated_at=T0, notified_severity=Severity.MEDIUM, notified_count=2, version=1
        )
        states.save("k", previous, None)
        claimed = NotificationState(
            updated_at=T0, notified_severity=Severity.HIGH, notified_count=9, version=2
        )
        states.save("k", claimed, 1)
        states.release("k", claimed, previous)
        restored = states.load("k")
        assert restored is not None
        assert (restored.notified_severity, restored.notified_count, restored.version) == (
            Severity.MEDIUM,
            2,
            3,
        )


def test_without_a_table_state_lives_in_memory():
    states = NotificationStateStore(None, timedelta(days=1))
    state = NotificationState(updated_at=T0, version=1)
    assert states.save("k", state, None)
    assert states.load("k") == state
    assert not states.save("k", state, None)
