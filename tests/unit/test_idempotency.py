"""run_once: an event id is processed once; re-deliveries get the stored result, marked duplicate."""

from __future__ import annotations

import functools
import time

import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyKeyError

from secauto_cli.embedded_account import embedded_account
from secauto_core.idempotency import run_once

# Without a Lambda context Powertools cannot bound the in-progress lock by the remaining time.
pytestmark = pytest.mark.filterwarnings("ignore:Couldn't determine the remaining time left")


class Counter:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def __call__(self, event: dict) -> dict:
        self.events.append(event)
        return {"processed": event["id"], "run": len(self.events)}


def event(event_id: str, **detail) -> dict:
    return {"id": event_id, "source": "aws.signin", "detail": detail}


def test_a_redelivered_event_returns_the_stored_result_without_running_again():
    process = Counter()
    with embedded_account():
        first = run_once(process, event("e-1"))
        second = run_once(process, event("e-1"))
    assert first == {"processed": "e-1", "run": 1}
    assert "duplicate" not in first
    assert second == {"processed": "e-1", "run": 1, "duplicate": True}
    assert len(process.events) == 1


def test_the_key_is_the_event_id_not_the_payload():
    process = Counter()
    with embedded_account():
        run_once(process, event("e-1", attempt=1))
        again = run_once(process, event("e-1", attempt=2))
    assert again["duplicate"] is True
    assert process.events == [event("e-1", attempt=1)]


def test_different_event_ids_are_processed_separately():
    process = Counter()
    with embedded_account():
        results = [run_once(process, event(f"e-{i}")) for i in range(3)]
    assert [r["run"] for r in results] == [1, 2, 3]
    assert not any("duplicate" in r for r in results)


def test_different_functions_do_not_share_records():
    def other(event: dict) -> dict:
        return {"other": True}

    process = Counter()
    with embedded_account():
        run_once(process, event("e-1"))
        assert run_once(other, event("e-1")) == {"other": True}


def test_the_record_lives_in_the_configured_table_with_the_configured_ttl():
    with embedded_account(
        extra_environment={"SECAUTO_IDEMPOTENCY_TTL_MINUTES": "5", "SECAUTO_CAPABILITY": "root"}
    ) as account:
        before = time.time()
        run_once(Counter(), event("e-ttl"))
        items = account.client("dynamodb").scan(TableName=account.idempotency_table)["Items"]
    assert len(items) == 1
    item = items[0]
    assert item["id"]["S"].startswith("secauto.root.")
    assert item["status"]["S"] == "COMPLETED"
    expiration = int(item["expiration"]["N"])
    assert before + 5 * 60 - 5 <= expiration <= time.time() + 5 * 60 + 5


def test_an_event_without_an_id_is_refused():
    process = Counter()
    with embedded_account(), pytest.raises(IdempotencyKeyError):
        run_once(process, {"source": "aws.signin"})
    assert process.events == []


def test_a_failing_run_is_not_remembered():
    calls = []

    def flaky(event: dict) -> dict:
        calls.append(event["id"])
        if len(calls) == 1:
            raise RuntimeError("transient")
        return {"ok": True}

    with embedded_account():
        with pytest.raises(RuntimeError):
            run_once(flaky, event("e-1"))
        assert run_once(flaky, event("e-1")) == {"ok": True}
    assert calls == ["e-1", "e-1"]


def test_without_a_table_the_function_simply_runs(monkeypatch):
    monkeypatch.delenv("SECAUTO_IDEMPOTENCY_TABLE", raising=False)
    process = Counter()
    assert run_once(process, event("e-1")) == {"processed": "e-1", "run": 1}
    assert run_once(process, event("e-1")) == {"processed": "e-1", "run": 2}


class FakeLambdaContext:
    function_name = "secauto-root"
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 20_000


def test_with_a_lambda_context_the_in_progress_lock_is_bounded():
    with embedded_account() as account:
        before = time.time()
        run_once(Counter(), event("e-ctx"), context=FakeLambdaContext())  # type: ignore[arg-type]
        item = account.client("dynamodb").scan(TableName=account.idempotency_table)["Items"][0]
        assert run_once(Counter(), event("e-ctx"), context=FakeLambdaContext())["duplicate"] is True  # type: ignore[arg-type]
    lock_until_ms = int(item["in_progress_expiration"]["N"])
    assert before * 1000 + 19_000 <= lock_until_ms <= time.time() * 1000 + 21_000


def test_different_partials_do_not_share_records():
    def handle(kind: str, event: dict) -> dict:
        return {"kind": kind}

    with embedded_account():
        with pytest.raises(TypeError, match="name="):
            run_once(functools.partial(handle, "notify"), event("e-1"))
        assert run_once(functools.partial(handle, "notify"), event("e-1"), name="notify") == {
            "kind": "notify"
        }
        assert run_once(functools.partial(handle, "import"), event("e-1"), name="import") == {
            "kind": "import"
        }
