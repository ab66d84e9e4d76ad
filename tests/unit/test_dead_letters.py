"""park_event: unprocessable events go to the DLQ with their reason; failures never raise."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from secauto_cli.embedded_account import embedded_account
from secauto_core.dead_letters import park_event


def receive(account) -> list[dict]:
    response = account.client("sqs").receive_message(
        QueueUrl=account.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    return response.get("Messages", [])


def test_event_is_parked_with_reason_and_capability():
    bad = {"id": "e-1", "source": "aws.guardduty", "detail": {"severity": "not a number"}}
    with embedded_account(extra_environment={"SECAUTO_CAPABILITY": "findings"}) as account:
        assert park_event(bad, "detail.severity: not a number") is True
        messages = receive(account)
    assert len(messages) == 1
    assert json.loads(messages[0]["Body"]) == bad
    attributes = {name: value["StringValue"] for name, value in messages[0]["MessageAttributes"].items()}
    assert attributes == {"reason": "detail.severity: not a number", "capability": "findings"}


def test_long_reason_is_cut_and_empty_reason_is_unknown():
    with embedded_account() as account:
        assert park_event({"id": "a"}, "r" * 5000)
        assert park_event({"id": "b"}, "")
        messages = {json.loads(m["Body"])["id"]: m for m in receive(account)}
    assert messages["a"]["MessageAttributes"]["reason"]["StringValue"] == "r" * 1024
    assert messages["b"]["MessageAttributes"]["reason"]["StringValue"] == "unknown"


def test_non_json_values_and_non_dict_events_are_kept():
    moment = datetime(2024, 5, 1, tzinfo=UTC)
    with embedded_account() as account:
        assert park_event({"id": "c", "at": moment}, "bad time")
        assert park_event("not even an object", "not JSON")
        bodies = sorted(json.dumps(json.loads(m["Body"])) for m in receive(account))
    assert bodies == sorted([json.dumps({"id": "c", "at": str(moment)}), json.dumps("not even an object")])


def test_a_huge_event_still_fits_in_one_message():
    with embedded_account() as account:
        assert park_event({"id": "big", "blob": "x" * 400_000}, "too big to parse")
        messages = receive(account)
    assert len(messages) == 1
    assert len(messages[0]["Body"]) == 250_000


def test_without_a_dlq_nothing_is_sent(monkeypatch):
    monkeypatch.delenv("SECAUTO_DLQ_URL", raising=False)
    assert park_event({"id": "e"}, "reason") is False


def test_a_missing_queue_returns_false_instead_of_raising():
    with embedded_account() as account:
        account.client("sqs").delete_queue(QueueUrl=account.dlq_url)
        assert park_event({"id": "e"}, "reason") is False
