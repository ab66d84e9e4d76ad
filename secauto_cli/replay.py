"""Replaying sample events against an embedded account: which rule matched, what happened.

For each event file: load it, find every rule in `rules/` whose pattern matches it (AWS's
pattern semantics through `rule_matcher`), invoke each matched capability's handler in-process
against the embedded moto account, and collect the effects: Slack posts received on the
loopback server, SNS messages read back from the topic, Security Hub findings imported or
updated, events parked in the DLQ, metrics emitted (EMF) and the AWS calls made.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from secauto_cli.embedded_account import EmbeddedAccount
from secauto_cli.environment import environment
from secauto_cli.lambda_context import LocalLambdaContext
from secauto_cli.rule_matcher import matching_rules
from secauto_core import clients
from secauto_core.lifecycle import reset_runtime
from secauto_core.observability import logger

if TYPE_CHECKING:
    from pathlib import Path

    from secauto_cli.slack_capture import SlackCapture
    from secauto_infra.rule_catalog import RuleSpec

__all__ = ["EffectCollector", "ReplayOutcome", "Replayer"]

#: A later capability adds its own sinks (IAM keys changed, IP sets, ...) as collectors:
#: called after each event with the account, returning what changed.
EffectCollector = Callable[[EmbeddedAccount], list[Any]]


@dataclass
class ReplayOutcome:
    event: str
    rules: list[str] = field(default_factory=list)
    handlers: list[str] = field(default_factory=list)
    results: list[Any] = field(default_factory=list)
    effects: dict[str, list[Any]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "rules": self.rules,
            "handlers": self.handlers,
            "results": self.results,
            "effects": self.effects,
            "errors": self.errors,
        }


@dataclass
class _Captured:
    logs: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    other: list[str] = field(default_factory=list)


def _parse_output(text: str) -> _Captured:
    captured = _Captured()
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if line.strip():
                captured.other.append(line)
            continue
        if isinstance(record, dict) and "_aws" in record:
            directives = record["_aws"].get("CloudWatchMetrics", [{}])[0]
            names = [m["Name"] for m in directives.get("Metrics", [])]
            captured.metrics.append(
                {
                    "namespace": directives.get("Namespace"),
                    "dimensions": {
                        d: record.get(d) for group in directives.get("Dimensions", []) for d in group
                    },
                    "values": {name: record.get(name) for name in names},
                }
            )
        elif isinstance(record, dict):
            captured.logs.append(record)
    return captured


@contextlib.contextmanager
def _captured_output(buffer: io.StringIO) -> Iterator[None]:
    """Send the handler's logs (Powertools Logger keeps its own stream) and EMF lines to `buffer`."""
    handler = logger.registered_handler
    if not isinstance(handler, logging.StreamHandler):
        raise TypeError("the Powertools logger is expected to log through a StreamHandler")
    # Swapped directly: setStream() would flush the previous stream, which may be closed.
    previous, handler.stream = handler.stream, buffer
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    finally:
        handler.stream = previous


class Replayer:
    """Replays events against `account`, capturing Slack posts with `slack`."""

    def __init__(
        self,
        account: EmbeddedAccount,
        slack: SlackCapture,
        rules: Sequence[RuleSpec],
        capability_environment: Mapping[str, Mapping[str, str]] | None = None,
        collectors: Mapping[str, EffectCollector] | None = None,
    ) -> None:
        self.account = account
        self.slack = slack
        self.rules = list(rules)
        self.capability_environment = capability_environment or {}
        self.collectors = dict(collectors or {})
        self.show_logs = False

    def replay_file(self, path: Path) -> ReplayOutcome:
        outcome = ReplayOutcome(event=str(path))
        try:
            event = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            outcome.errors.append(f"{path}: no such file")
            return outcome
        except (OSError, UnicodeDecodeError) as exc:
            outcome.errors.append(f"{path}: cannot read: {exc}")
            return outcome
        except json.JSONDecodeError as exc:
            outcome.errors.append(f"{path}: not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
            return outcome
        return self.replay_event(event, outcome)

    def replay_event(self, event: Any, outcome: ReplayOutcome) -> ReplayOutcome:
        if not isinstance(event, dict):
            outcome.errors.append(f"{outcome.event}: an EventBridge event must be a JSON object")
            return outcome
        matched = matching_rules(event, self.rules)
        outcome.rules = [spec.name for spec in matched]
        if not matched:
            outcome.errors.append(f"{outcome.event}: no rule in rules/ matches this event")
            return outcome
        self._drain_effects()
        calls: list[str] = []

        def record_call(operation: str, _params: dict[str, Any]) -> None:
            calls.append(operation)

        clients.add_call_observer(record_call)
        try:
            for capability in dict.fromkeys(spec.capability for spec in matched):
                outcome.handlers.append(f"{capability}.handler.lambda_handler")
                outcome.results.append(self._invoke(capability, event, outcome))
        finally:
            clients.remove_call_observer(record_call)
        outcome.effects.update(self._drain_effects())
        outcome.effects["aws_calls"] = calls
        return outcome

    def _invoke(self, capability: str, event: dict[str, Any], outcome: ReplayOutcome) -> Any:
        handler = importlib.import_module(f"{capability}.handler").lambda_handler
        variables = {
            "SECAUTO_CAPABILITY": capability,
            "POWERTOOLS_SERVICE_NAME": f"secauto-{capability}",
            **self.capability_environment.get(capability, {}),
        }
        output = io.StringIO()
        result: Any = None
        with environment(variables), _captured_output(output):
            reset_runtime()
            try:
                result = handler(event, LocalLambdaContext(function_name=f"secauto-{capability}"))
            except Exception as exc:
                outcome.errors.append(f"{capability} handler raised {type(exc).__name__}: {exc}")
        captured = _parse_output(output.getvalue())
        outcome.effects.setdefault("metrics", []).extend(captured.metrics)
        for record in captured.logs:
            if record.get("level") in ("ERROR", "CRITICAL"):
                detail = {k: v for k, v in record.items() if k in ("reason", "failed_findings", "exception")}
                outcome.errors.append(
                    f"{capability}: {record.get('message')} {json.dumps(detail) if detail else ''}".strip()
                )
        if self.show_logs:
            outcome.effects.setdefault("logs", []).extend(captured.logs)
        return result

    def _drain_effects(self) -> dict[str, list[Any]]:
        effects: dict[str, list[Any]] = {
            "slack": self.slack.received(),
            "sns": self.account.sns_messages(),
            "securityhub": self.account.new_securityhub_findings(),
            "dlq": self.account.dlq_messages(),
        }
        for name, collect in self.collectors.items():
            effects[name] = collect(self.account)
        return effects
