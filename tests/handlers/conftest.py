"""Fixtures for invoking handlers against the embedded moto account and a loopback Slack."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from secauto_cli.embedded_account import EmbeddedAccount, embedded_account
from secauto_cli.lambda_context import LocalLambdaContext
from secauto_cli.slack_capture import SlackCapture


@pytest.fixture(scope="session")
def slack_server() -> Iterator[SlackCapture]:
    with SlackCapture() as capture:
        yield capture


@pytest.fixture
def slack(slack_server: SlackCapture) -> SlackCapture:
    slack_server.respond_with(200)
    slack_server.received()
    return slack_server


@dataclass
class Invocation:
    result: Any
    logs: list[dict[str, Any]]
    metrics: dict[str, float]
    #: Every EMF document the invocation printed (`_aws` records), in output order.
    emf: list[dict[str, Any]] = field(default_factory=list)

    def log_messages(self, level: str | None = None) -> list[str]:
        return [r["message"] for r in self.logs if level is None or r.get("level") == level]


def _parse_stdout(text: str) -> tuple[list[dict[str, Any]], dict[str, float], list[dict[str, Any]]]:
    logs: list[dict[str, Any]] = []
    metrics: dict[str, float] = {}
    emf: list[dict[str, Any]] = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "_aws" in record:
            emf.append(record)
            for definition in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                value = record[definition["Name"]]
                metrics[definition["Name"]] = sum(value) if isinstance(value, list) else value
        else:
            logs.append(record)
    return logs, metrics, emf


@pytest.fixture
def make_account(slack: SlackCapture) -> Callable[..., Any]:
    """Factory: `with make_account(capability, **env) as account:`."""

    def factory(capability: str, **environment: str) -> Any:
        return embedded_account(
            slack_url=slack.url,
            extra_environment={
                "SECAUTO_CAPABILITY": capability,
                "POWERTOOLS_SERVICE_NAME": f"secauto-{capability}",
                "SECAUTO_SECURITYHUB_RETRY_BASE_SECONDS": "0.01",
                **environment,
            },
        )

    return factory


@pytest.fixture
def invoke(capsys: pytest.CaptureFixture[str]) -> Callable[[str, Any], Invocation]:
    """Invoke `<capability>.handler.lambda_handler` and parse what it logged and measured."""

    def run(capability: str, event: Any) -> Invocation:
        from secauto_core.observability import logger

        handler = logger.registered_handler
        capsys.readouterr()
        # The Logger keeps the stream it was created with; point it at the captured stdout.
        previous, handler.stream = handler.stream, sys.stdout
        try:
            module = importlib.import_module(f"{capability}.handler")
            result = module.lambda_handler(event, LocalLambdaContext(function_name=f"secauto-{capability}"))
        finally:
            handler.stream = previous
        logs, metrics, emf = _parse_stdout(capsys.readouterr().out)
        return Invocation(result, logs, metrics, emf)

    return run


__all__ = ["EmbeddedAccount", "Invocation"]
