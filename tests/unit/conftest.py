"""Unit-test fixtures: a clean runtime per test, alert/finding builders, Slack stand-ins."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from unit_factories import SlackEndpoint

from secauto_cli.slack_capture import WEBHOOK_PATH, SlackCapture
from secauto_core.lifecycle import reset_runtime


@pytest.fixture(autouse=True)
def _clean_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No cached client, setting, secret provider or idempotency store crosses a test boundary."""
    import os

    for name in list(os.environ):
        if name.startswith("SECAUTO_"):
            monkeypatch.delenv(name)
    reset_runtime()
    yield
    reset_runtime()


@pytest.fixture(scope="session")
def _slack_server() -> Iterator[SlackCapture]:
    with SlackCapture() as capture:
        yield capture


@pytest.fixture
def slack(_slack_server: SlackCapture) -> SlackEndpoint:
    """The loopback Slack webhook, answering 200 "ok", with no request seen yet."""
    return SlackEndpoint(_slack_server)


@pytest.fixture
def refused_url() -> str:
    """A webhook URL on a loopback port nobody listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
