"""Access-key audit at scale: IAM calls for the audit and the time of the decision logic.

A synthetic credential report of 10,000 users with two keys each (deterministic ages and last
uses) is served to the audit through botocore's Stubber on a real IAM client, so the printed
call count is what the audit asks IAM for. Targets: a constant number of audit calls (at most
3, whatever the number of users) and under 2 seconds for parsing and deciding every key.

    uv run python benchmarks/access_keys.py [--users N]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "functions")]

import boto3  # noqa: E402
from botocore.stub import Stubber  # noqa: E402

from access_keys.inventory import fetch_inventory  # noqa: E402
from access_keys.model import Action  # noqa: E402
from access_keys.policy import decide  # noqa: E402
from access_keys.settings import AccessKeySettings  # noqa: E402
from secauto_core import clients  # noqa: E402

NOW = datetime(2026, 3, 15, 6, tzinfo=UTC)
HEADER = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
    "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
    "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
    "access_key_2_last_used_region,access_key_2_last_used_service"
)
FMT = "%Y-%m-%dT%H:%M:%S+00:00"


def synthetic_report(users: int) -> bytes:
    rng = random.Random(42)
    lines = [HEADER]
    for index in range(users):
        slots = []
        for _ in range(2):
            created = NOW - timedelta(days=rng.randint(0, 400), seconds=rng.randint(0, 86_000))
            used = "N/A" if rng.random() < 0.1 else (NOW - timedelta(days=rng.randint(0, 200))).strftime(FMT)
            active = "true" if rng.random() < 0.9 else "false"
            slots.append(f"{active},{created.strftime(FMT)},{used},us-east-1,s3")
        lines.append(
            f"user-{index:05d},arn:aws:iam::123456789012:user/user-{index:05d},2024-01-01T00:00:00+00:00,"
            f"false,N/A,N/A,N/A,false,{slots[0]},{slots[1]}"
        )
    return ("\n".join(lines) + "\n").encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    args = parser.parse_args()
    content = synthetic_report(args.users)
    iam = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(iam)
    stubber.add_response("generate_credential_report", {"State": "COMPLETE"})
    stubber.add_response(
        "get_credential_report", {"Content": content, "ReportFormat": "text/csv", "GeneratedTime": NOW}
    )
    calls: list[str] = []
    iam.meta.events.register("before-parameter-build.iam", lambda model, **_: calls.append(model.name))
    stubber.activate()
    clients.client = lambda service, region_name=None: iam  # type: ignore[assignment]

    started = time.perf_counter()
    inventory = fetch_inventory(60, NOW)
    fetched = time.perf_counter()
    settings = AccessKeySettings()
    plans = [decide(key, settings, NOW) for key in inventory.keys]
    decided = time.perf_counter()
    counts = {action.value: sum(plan.action is action for plan in plans) for action in Action}

    logic = decided - started
    print(f"users: {args.users:,}; keys in the report: {len(inventory.keys):,} (source: {inventory.source})")
    print(f"IAM calls for the audit: {len(calls)} ({', '.join(calls)})")
    print(
        f"parse report: {fetched - started:.3f} s; decide every key: {decided - fetched:.3f} s; "
        f"logic total: {logic:.3f} s"
    )
    print(f"plan: {counts}")
    ok = len(calls) <= 3 and logic < 2.0
    print(f"targets: <= 3 audit calls and < 2 s of logic: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
