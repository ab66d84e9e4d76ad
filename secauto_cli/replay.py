"""Replaying sample events against an embedded account: which rule matched, what happened.

For each event file: load it, find every rule in `rules/` whose pattern matches it (AWS's
pattern semantics through `rule_matcher`), invoke each matched capability's handler in-process
against the embedded moto account, and collect the effects: Slack posts received on the
loopback server, SNS messages read back from the topic, Security Hub findings imported or
updated, events parked in the DLQ, metrics emitted (EMF) and the AWS calls made.

Not every input of a handler is an EventBridge event: a CloudWatch Logs subscription invokes
its function directly and matches no rule. Such a sample names its capability with
`delivered_to` in its folder's expectations; the replayer then invokes that handler directly
and reports it like a matched event. Without it, an event matching no rule is an error.

Capabilities that change AWS resources register effect collectors (`effect_collectors`), so a
replay shows what each event changed, e.g. the auto-block WAF IP sets and network ACL entries.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import ipaddress
import json
import logging
import warnings
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

__all__ = ["BlocklistCollector", "EffectCollector", "ReplayOutcome", "Replayer", "effect_collectors"]

#: A later capability adds its own sinks (IAM keys changed, IP sets, ...) as collectors:
#: called before and after each event with the account, returning what changed since the
#: previous call.
EffectCollector = Callable[[EmbeddedAccount], list[Any]]


@dataclass(frozen=True)
class _AclEntry:
    action: str
    cidr: str

    def __str__(self) -> str:
        return f"{self.action.upper()} {self.cidr}"


@dataclass
class _BlocklistState:
    #: IP set name -> its addresses.
    ip_sets: dict[str, set[str]] = field(default_factory=dict)
    #: ACL id -> rule number (in the window) -> the entry.
    acls: dict[str, dict[int, _AclEntry]] = field(default_factory=dict)
    #: Targets that could not be read, with why.
    unreadable: dict[str, str] = field(default_factory=dict)


class BlocklistCollector:
    """Effect collector "blocks": what an event changed in the auto-block targets.

    The WAF IP sets' addresses and the ingress entries in each network ACL's reserved window,
    compared with the previous call (the first call only takes the baseline). One line per
    change target with its size before and after, then one per added or removed entry.
    """

    def __init__(
        self, ip_sets: Sequence[Mapping[str, Any]], acl_windows: Sequence[Mapping[str, Any]]
    ) -> None:
        self.ip_sets = [dict(ref) for ref in ip_sets]
        self.acl_windows = [dict(window) for window in acl_windows]
        self._last: _BlocklistState | None = None

    @classmethod
    def from_environment(cls, variables: Mapping[str, str]) -> BlocklistCollector | None:
        """From the auto-block function's environment (`SECAUTO_AUTO_BLOCK_WAF_IP_SETS`,
        `SECAUTO_AUTO_BLOCK_NETWORK_ACLS`); None when it names no target."""
        ip_sets = json.loads(variables.get("SECAUTO_AUTO_BLOCK_WAF_IP_SETS") or "[]")
        acl_windows = json.loads(variables.get("SECAUTO_AUTO_BLOCK_NETWORK_ACLS") or "[]")
        return cls(ip_sets, acl_windows) if ip_sets or acl_windows else None

    def snapshot(self, account: EmbeddedAccount) -> _BlocklistState:
        state = _BlocklistState()
        waf = account.client("wafv2")
        for ref in self.ip_sets:
            try:
                ip_set = waf.get_ip_set(Name=ref["name"], Scope=ref["scope"], Id=ref["id"])["IPSet"]
            except Exception as exc:  # a missing set is worth a line, not a crash
                state.unreadable[f"waf {ref['name']}"] = str(exc)
                continue
            state.ip_sets[ref["name"]] = set(ip_set.get("Addresses", []))
        ec2 = account.client("ec2")
        for window in self.acl_windows:
            acl_id = window["acl_id"]
            numbers = range(int(window["first_rule"]), int(window["first_rule"]) + int(window["size"]))
            try:
                [acl] = ec2.describe_network_acls(NetworkAclIds=[acl_id])["NetworkAcls"]
            except Exception as exc:
                state.unreadable[f"nacl {acl_id}"] = str(exc)
                continue
            state.acls[acl_id] = {
                int(entry["RuleNumber"]): _AclEntry(
                    str(entry.get("RuleAction", "?")),
                    entry.get("CidrBlock") or entry.get("Ipv6CidrBlock", "?"),
                )
                for entry in acl.get("Entries", [])
                if not entry.get("Egress") and int(entry["RuleNumber"]) in numbers
            }
        return state

    def __call__(self, account: EmbeddedAccount) -> list[str]:
        state = self.snapshot(account)
        before, self._last = self._last, state
        changes = [f"{target}: cannot read: {why}" for target, why in state.unreadable.items()]
        if before is None:
            return changes
        for name, addresses in state.ip_sets.items():
            previous = before.ip_sets.get(name, set())
            if addresses == previous:
                continue
            changes.append(f"waf {name}: {len(previous)} -> {len(addresses)} address(es)")
            changes += [f"waf {name}: + {address}" for address in _ordered(addresses - previous)]
            changes += [f"waf {name}: - {address}" for address in _ordered(previous - addresses)]
        for window in self.acl_windows:
            acl_id = window["acl_id"]
            if acl_id not in state.acls:
                continue
            entries, previous_entries = state.acls[acl_id], before.acls.get(acl_id, {})
            if entries == previous_entries:
                continue
            last = int(window["first_rule"]) + int(window["size"]) - 1
            changes.append(
                f"nacl {acl_id}: window {window['first_rule']}-{last}: "
                f"{len(previous_entries)} -> {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
            )
            for number in sorted(set(entries) | set(previous_entries)):
                now, was = entries.get(number), previous_entries.get(number)
                if now == was:
                    continue
                if now is None:
                    changes.append(f"nacl {acl_id}: rule {number} removed (was {was})")
                else:
                    changes.append(f"nacl {acl_id}: rule {number} {now}" + (f" (was {was})" if was else ""))
        return changes


def _ordered(addresses: set[str]) -> list[str]:
    def key(address: str) -> tuple[int, Any, str]:
        try:
            network = ipaddress.ip_network(address, strict=False)
        except ValueError:
            return (9, 0, address)
        return (network.version, network, address)

    return sorted(addresses, key=key)


def _has_handler(capability: str) -> bool:
    """Whether `functions/<capability>/handler.py` exists (without importing the handler)."""
    try:
        return importlib.util.find_spec(f"{capability}.handler") is not None
    except (ImportError, ValueError):  # no such package, or not a module name
        return False


def effect_collectors(environments: Mapping[str, Mapping[str, str]]) -> dict[str, EffectCollector]:
    """The collectors the capabilities' environments call for, by effect name."""
    collectors: dict[str, EffectCollector] = {}
    blocks = BlocklistCollector.from_environment(environments.get("auto_block", {}))
    if blocks is not None:
        collectors["blocks"] = blocks
    return collectors


@dataclass
class ReplayOutcome:
    event: str
    rules: list[str] = field(default_factory=list)
    #: The capability the event was handed to directly (no rule: e.g. a Logs subscription).
    delivered_to: str | None = None
    handlers: list[str] = field(default_factory=list)
    results: list[Any] = field(default_factory=list)
    effects: dict[str, list[Any]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "rules": self.rules,
            "delivered_to": self.delivered_to,
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

    def replay_file(self, path: Path, *, delivered_to: str | None = None) -> ReplayOutcome:
        """Replay one event file; `delivered_to` names a capability invoked without a rule."""
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
        return self.replay_event(event, outcome, delivered_to=delivered_to)

    def replay_event(
        self, event: Any, outcome: ReplayOutcome, *, delivered_to: str | None = None
    ) -> ReplayOutcome:
        """Invoke the handler of every capability a rule matches, and of `delivered_to`."""
        if not isinstance(event, dict):
            kind = "an event delivered to a function" if delivered_to else "an EventBridge event"
            outcome.errors.append(f"{outcome.event}: {kind} must be a JSON object")
            return outcome
        matched = matching_rules(event, self.rules)
        outcome.rules = [spec.name for spec in matched]
        capabilities = list(dict.fromkeys(spec.capability for spec in matched))
        if delivered_to:
            outcome.delivered_to = delivered_to
            if not _has_handler(delivered_to):
                outcome.errors.append(f"{outcome.event}: delivered_to {delivered_to!r}: no such capability")
                return outcome
            capabilities = list(dict.fromkeys([*capabilities, delivered_to]))
        if not capabilities:
            outcome.errors.append(f"{outcome.event}: no rule in rules/ matches this event")
            return outcome
        self._drain_effects()
        calls: list[str] = []

        def record_call(operation: str, _params: dict[str, Any]) -> None:
            calls.append(operation)

        clients.add_call_observer(record_call)
        try:
            for capability in capabilities:
                outcome.handlers.append(f"{capability}.handler.lambda_handler")
                outcome.results.append(self._invoke(capability, event, outcome))
        finally:
            clients.remove_call_observer(record_call)
        outcome.effects.update(self._drain_effects())
        outcome.effects["aws_calls"] = calls
        return outcome

    def handler_environment(self, capability: str) -> dict[str, str]:
        """The variables `capability`'s handler runs with, over the account's own."""
        return {
            "SECAUTO_CAPABILITY": capability,
            "POWERTOOLS_SERVICE_NAME": f"secauto-{capability}",
            **self.capability_environment.get(capability, {}),
        }

    def _invoke(self, capability: str, event: dict[str, Any], outcome: ReplayOutcome) -> Any:
        handler = importlib.import_module(f"{capability}.handler").lambda_handler
        variables = self.handler_environment(capability)
        output = io.StringIO()
        result: Any = None
        with environment(variables), _captured_output(output), warnings.catch_warnings():
            # Powertools warns on stderr when an invocation emitted no metric (a skipped event).
            warnings.filterwarnings("ignore", message="No application metrics to publish")
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
