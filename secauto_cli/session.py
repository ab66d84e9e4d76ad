"""One replay session: the embedded account, the Slack stand-in and the replayer, together."""

from __future__ import annotations

import json
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from secauto_cli.embedded_account import EmbeddedAccount, embedded_account
from secauto_cli.expectations import apply_expectation, expected_rules
from secauto_cli.local_config import capability_environments
from secauto_cli.replay import Replayer, ReplayOutcome
from secauto_cli.report import describe_outcome
from secauto_cli.seeds import SEEDERS
from secauto_cli.slack_capture import SlackCapture
from secauto_infra.rule_catalog import load_rules

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["ReplaySession"]


class ReplaySession:
    """`with ReplaySession() as session:` gives `session.replayer`, ready to replay events."""

    def __init__(self, show_logs: bool = False) -> None:
        self._show_logs = show_logs
        self._stack = ExitStack()
        self.account: EmbeddedAccount
        self.slack: SlackCapture
        self.replayer: Replayer

    def __enter__(self) -> ReplaySession:
        self.slack = self._stack.enter_context(SlackCapture())
        self.account = self._stack.enter_context(embedded_account(slack_url=self.slack.url))
        for seed in SEEDERS.values():
            seed(self.account)
        self.replayer = Replayer(self.account, self.slack, load_rules(), capability_environments())
        self.replayer.show_logs = self._show_logs
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()

    def replay(self, path: Path, *, as_json: bool, shown_as: str | None = None) -> ReplayOutcome:
        """Replay one file, check it against its folder's expectations, and print the outcome."""
        outcome = self.replayer.replay_file(path)
        if shown_as:
            outcome.event = shown_as
        expected = expected_rules(path)
        apply_expectation(outcome, expected)
        self.print_outcome(outcome, as_json=as_json, expected_no_match=expected == [])
        return outcome

    @staticmethod
    def print_outcome(outcome: ReplayOutcome, *, as_json: bool, expected_no_match: bool = False) -> None:
        if as_json:
            print(json.dumps(outcome.as_dict(), default=str))
        else:
            print("\n".join(describe_outcome(outcome, expected_no_match)))
