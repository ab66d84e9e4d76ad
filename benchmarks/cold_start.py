"""Cold-start import cost of every Lambda handler, against `import boto3` alone.

Each figure is the median wall time of the import in a fresh interpreter (so nothing is
cached in-process), with the environment a deployed function has. Target: every handler
imports in at most 1.5x the time of boto3 alone.

Some libraries are loaded on first use rather than at import (the X-Ray SDK behind Tracer,
Powertools idempotency and parameters, slack_sdk, pydantic schema building). The "ready"
column adds those, so the figure the first invocation really pays is reported too.

    uv run python benchmarks/cold_start.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ROOT / "functions"
TARGET_RATIO = 1.5
_PROBE = "import time; start = time.perf_counter(); import {module}; print(time.perf_counter() - start)"
#: What a first invocation loads on top of the handler's imports.
_FIRST_USE = (
    "import aws_lambda_powertools.utilities.idempotency, aws_lambda_powertools.utilities.parameters, "
    "slack_sdk.webhook; from secauto_core.observability import tracer; tracer.real"
)


def import_seconds(module: str, runs: int, then: str = "") -> float:
    environment = {
        **os.environ,
        "PYTHONPATH": str(FUNCTIONS),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "secauto-benchmark",
        "POWERTOOLS_METRICS_NAMESPACE": "secauto",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
    }
    samples = []
    for _ in range(runs):
        completed = subprocess.run(
            [sys.executable, "-c", _PROBE.format(module=f"{module}; {then}" if then else module)],
            capture_output=True,
            text=True,
            env=environment,
            cwd=FUNCTIONS,
            check=True,
        )
        samples.append(float(completed.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def handler_modules() -> list[str]:
    return sorted(f"{path.parent.name}.handler" for path in FUNCTIONS.glob("*/handler.py"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    import_seconds("boto3", 2)  # warm the file-system cache
    baseline = import_seconds("boto3", args.runs)
    print(f"{'module':32} {'import ms':>10} {'x boto3':>8} {'ready ms':>9}")
    print(f"{'boto3 (baseline)':32} {baseline * 1000:10.1f} {1.0:8.2f}")
    worst = 0.0
    for module in handler_modules():
        seconds = import_seconds(module, args.runs)
        ratio = seconds / baseline
        worst = max(worst, ratio)
        ready = import_seconds(module, args.runs, then=_FIRST_USE)
        verdict = "ok" if ratio <= TARGET_RATIO else "OVER TARGET"
        print(f"{module:32} {seconds * 1000:10.1f} {ratio:8.2f} {ready * 1000:9.1f}  {verdict}")
    print(f"target: every handler <= {TARGET_RATIO}x boto3; worst {worst:.2f}x ({args.runs} runs, median)")
    return 0 if worst <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
