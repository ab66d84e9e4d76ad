"""One replay session: the embedded account, the Slack stand-in and the replayer, together."""

from __future__ import annotations

import json
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from secauto_cli.embedded_account import EmbeddedAccount, embedded_account
from secauto_cli.expectations import apply_expectation, expectation
from secauto_cli.local_config import capability_environments
from secauto_cli.replay import Replayer, ReplayOutcome, effect_collectors
from secauto_cli.report import describe_outcome
from secauto_cli.seeds import seed_account
from secauto_cli.slack_capture import SlackCapture
from secauto_infra.rule_catalog import load_rules

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

__all__ = ["ReplaySession", "merge_environments"]


def merge_environments(
    base: Mapping[str, Mapping[str, str]], extra: Mapping[str, Mapping[str, str]]
) -> dict[str, dict[str, str]]:
    """Per capability, `base`'s variables with `extra`'s laid over them (what the seeders made)."""
    merged = {capability: dict(variables) for capability, variables in base.items()}
    for capability, variables in extra.items():
        merged.setdefault(capability, {}).update(variables)
    return merged


class ReplaySession:
    """`with ReplaySession() as session:` gives `session.replayer`, ready to replay events."""

    def __init__(self, show_logs: bool = False) -> None:
        self._show_logs = show_logs
        self._stack = ExitStack()
        self.account: EmbeddedAccount
        self.slack: SlackCapture
        self.replayer: Replayer
        #: Per capability, the environment its function gets (configuration, then seeders).
        self.environments: dict[str, dict[str, str]] = {}

    def __enter__(self) -> ReplaySession:
        self.slack = self._stack.enter_context(SlackCapture())
        self.account = self._stack.enter_context(embedded_account(slack_url=self.slack.url))
        self.environments = merge_environments(capability_environments(), seed_account(self.account))
        self.replayer = Replayer(
            self.account,
            self.slack,
            load_rules(),
            self.environments,
            collectors=effect_collectors(self.environments),
        )
        self.replayer.show_logs = self._show_logs
        return self

    def capability_environment(self, capability: str) -> dict[str, str]:
        """The variables `capability`'s function runs with in this session (as the replay sets them)."""
        return self.replayer.handler_environment(capability)

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()

    def replay(self, path: Path, *, as_json: bool, shown_as: str | None = None) -> ReplayOutcome:
        """Replay one file, check it against its folder's expectations, and print the outcome."""
        expected = expectation(path)
        outcome = self.replayer.replay_file(path, delivered_to=expected.delivered_to if expected else None)
        if shown_as:
            outcome.event = shown_as
        rules = expected.rules if expected else None
        apply_expectation(outcome, rules)
        self.print_outcome(outcome, as_json=as_json, expected_no_match=rules == [])
        return outcome

    @staticmethod
    def print_outcome(outcome: ReplayOutcome, *, as_json: bool, expected_no_match: bool = False) -> None:
        if as_json:
            print(json.dumps(outcome.as_dict(), default=str))
        else:
            print("\n".join(describe_outcome(outcome, expected_no_match)))
