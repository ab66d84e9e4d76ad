"""`secauto demo` (what `make demo` runs): synthesize every stack, then replay every sample event.

Synthesis runs with cdk-nag (a violation fails it) and without bundling (no pip download):
it shows what `cdk deploy` would create. The replay runs every `events/<capability>/*.json`
against one embedded moto account, in file order, and checks each event against its folder's
`expectations.toml`: events expected to match no rule must match none.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from secauto_cli.expectations import expected_rules
from secauto_cli.session import ReplaySession

__all__ = ["expected_rules", "run_demo", "sample_events"]

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"


def sample_events(events_dir: Path = EVENTS_DIR) -> list[Path]:
    return sorted(path for path in events_dir.glob("*/*.json"))


def synthesize() -> list[str]:
    """Synthesize the app into a temporary folder; one summary line per stack."""
    # jsii prints a Node end-of-life banner on every start; it says nothing about our stacks.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from secauto_infra.app_builder import build_app

    lines = []
    with tempfile.TemporaryDirectory(prefix="secauto-synth-") as outdir:
        started = time.monotonic()
        app = build_app({"aws:cdk:bundling-stacks": []}, outdir=outdir)
        assembly = app.synth()
        for stack in assembly.stacks:
            resources: dict[str, Any] = stack.template.get("Resources", {})
            kinds: dict[str, int] = {}
            for resource in resources.values():
                kinds[resource["Type"]] = kinds.get(resource["Type"], 0) + 1
            summary = ", ".join(
                f"{count} {kind.split('::')[-1]}"
                for kind, count in sorted(kinds.items())
                if kind.startswith("AWS::")
            )
            lines.append(
                f"  {stack.stack_name} ({stack.environment.region}): {len(resources)} resources: {summary}"
            )
        lines.append(
            f"  synthesized {len(assembly.stacks)} stacks in {time.monotonic() - started:.1f} s; "
            "cdk-nag AwsSolutions: no unacknowledged findings"
        )
    return lines


def run_demo(*, as_json: bool = False, synthesize_stacks: bool = True) -> int:
    out = sys.stdout
    if synthesize_stacks:
        print("== Synthesizing every stack (cdk.json context, cdk-nag on, bundling skipped)", file=out)
        print("\n".join(synthesize()), file=out)
    events = sample_events()
    print(f"\n== Replaying {len(events)} sample events against an embedded moto account", file=out)
    failures = 0
    with ReplaySession() as session:
        for path in events:
            outcome = session.replay(path, shown_as=str(path.relative_to(EVENTS_DIR.parent)), as_json=as_json)
            failures += bool(outcome.errors)
    verdict = "all as expected" if not failures else f"{failures} event(s) not as expected"
    print(f"\n== {len(events)} events replayed: {verdict}", file=out)
    if as_json:
        print(json.dumps({"events": len(events), "failures": failures}), file=sys.stderr)
    return 1 if failures else 0
