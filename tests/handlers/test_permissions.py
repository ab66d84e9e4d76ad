"""Every AWS call a handler makes is one its capability declares (and so its role allows).

The infrastructure tests check that each function's role grants exactly the declared
permissions; this test closes the loop from the other side: it replays every sample event of a
capability (and a malformed one) against moto, records each API call the handler makes, and
requires each to be declared: in `PERMISSIONS` or in any other `*_PERMISSIONS` tuple of the
capability's permissions module (optional grants: cross-account roles, S3 flow logs, ...).
Events delivered to the function without a rule (`delivered_to`) are replayed too.
"""

from __future__ import annotations

import importlib
import json

import pytest

from secauto_cli.demo import sample_events
from secauto_cli.environment import environment
from secauto_cli.expectations import expectation
from secauto_cli.local_config import capability_environments
from secauto_cli.seeds import SEEDERS
from secauto_core import clients
from secauto_core.lifecycle import reset_runtime
from secauto_core.permissions import CORE_PERMISSIONS
from secauto_infra.rule_catalog import load_rules

CAPABILITIES = sorted({spec.capability for spec in load_rules()})


def declared_actions(capability: str) -> set[str]:
    module = importlib.import_module(f"{capability}.permissions")
    declared = [
        v for name, v in vars(module).items() if name.endswith("PERMISSIONS") and isinstance(v, tuple)
    ]
    return {
        action
        for permissions in (CORE_PERMISSIONS, *declared)
        for permission in permissions
        for action in permission.actions
    }


def handled(path) -> bool:
    """A sample event that reaches the capability's handler: it matches a rule, or is delivered."""
    expected = expectation(path)
    return expected is not None and bool(expected.rules or expected.delivered_to)


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_handler_calls_only_declared_actions(make_account, invoke, slack, capability):
    events = [
        json.loads(path.read_text())
        for path in sample_events()
        if path.parent.name == capability and handled(path)
    ]
    assert events, f"no sample events for {capability}"
    calls: set[str] = set()
    observer = lambda operation, _params: calls.add(operation)  # noqa: E731
    clients.add_call_observer(observer)
    try:
        with make_account(capability, **capability_environments()[capability]) as account:
            # What the replay puts into the account first (log objects, users, IP sets), and the
            # variables naming it, as `make demo` does.
            seeded = SEEDERS[capability](account) if capability in SEEDERS else None
            with environment(seeded or {}):
                reset_runtime()
                for event in [*events, *events[:1], {"id": "malformed", "detail": "not an object"}]:
                    invoke(capability, event)
    finally:
        clients.remove_call_observer(observer)
    assert calls, "the handler made no AWS call at all"
    assert calls - declared_actions(capability) == set()
