"""park_event and parse_or_reject: unprocessable events go to the DLQ with their reason; never raise."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from secauto_cli.embedded_account import embedded_account
from secauto_core.dead_letters import inert_reason, park_event
from secauto_core.intake import MalformedEvent, Rejection, parse_or_reject
from secauto_core.observability import logger


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


def test_a_reason_is_cut_and_made_printable_for_sqs_and_logs():
    assert inert_reason("detail.\x00key\u202e: bad\n", limit=12) == "detail.?key?"
    with embedded_account() as account:
        assert park_event({"id": "d"}, "where\x00: why\u2028")
        [message] = receive(account)
    assert message["MessageAttributes"]["reason"]["StringValue"] == "where?: why?"


def test_an_event_with_a_lone_surrogate_is_parked_as_ascii_json():
    with embedded_account() as account:
        assert park_event({"id": "s", "text": "a\ud800b"}, "reason")
        [message] = receive(account)
    assert message["Body"] == '{"id": "s", "text": "a\\ud800b"}'


# parse_or_reject: the one way every handler parses ------------------------------------------------


class _Event(BaseModel):
    account: str = Field(pattern=r"^[0-9]{12}$")
    detail: dict[str, int]


def test_a_valid_event_is_parsed_and_nothing_is_parked():
    with embedded_account() as account:
        parsed = parse_or_reject(
            _Event.model_validate, {"account": "123456789012", "detail": {}}, expected="x"
        )
        assert isinstance(parsed, _Event)
        assert receive(account) == []


def test_a_validation_error_names_where_and_why_never_the_values():
    secret = "s3cr3t-value-" + "v" * 5000
    event = {"account": secret, "detail": {"k" * 500: "not a number"}}
    with embedded_account() as account:
        rejection = parse_or_reject(_Event.model_validate, event, expected="an example event")
        [message] = receive(account)
    assert isinstance(rejection, Rejection) and rejection.parked is True
    assert rejection.reason.startswith("not an example event: account: String should match pattern")
    assert "s3cr3t" not in rejection.reason
    assert f"detail.{'k' * 40}: Input should be a valid integer" in rejection.reason
    assert rejection.as_dict() == {"status": "rejected", "reason": rejection.reason, "parked": True}
    assert json.loads(message["Body"]) == event


def test_only_the_first_problems_are_named():
    with embedded_account():
        rejection = parse_or_reject(
            _Event.model_validate, {"detail": {str(i): "x" for i in range(10)}}, expected="x"
        )
    assert isinstance(rejection, Rejection)
    assert rejection.reason.endswith("(and 8 more)") and rejection.reason.count(": ") == 4


def test_a_parsers_own_errors_give_their_message_as_the_reason():
    def parse(_: Any) -> None:
        raise KeyError("the decoder's own words")

    def malformed(_: Any) -> None:
        raise MalformedEvent("not a tick of our schedule")

    with embedded_account():
        own = parse_or_reject(parse, {}, expected="x", errors=(KeyError,))
        plain = parse_or_reject(malformed, {}, expected="x")
    assert isinstance(own, Rejection) and own.reason == '"the decoder\'s own words"'
    assert isinstance(plain, Rejection) and plain.reason == "not a tick of our schedule"


def test_an_unexpected_parsing_error_is_a_rejection_logged_with_its_traceback(capsys, monkeypatch):
    import zlib

    def parse(_: Any) -> None:
        raise zlib.error("invalid block type")

    monkeypatch.setattr(logger.registered_handler, "stream", sys.stdout)
    with embedded_account():
        rejection = parse_or_reject(parse, {"awslogs": {}}, expected="a subscription")
    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines() if text.startswith("{")]
    assert isinstance(rejection, Rejection)
    assert rejection.reason == "not a subscription: zlib.error while parsing: invalid block type"
    assert (
        line["message"] == "Rejected an event that cannot be processed" and line["reason"] == rejection.reason
    )
    assert "zlib.error" in line["exception"] and "Traceback" in line["exception"]
