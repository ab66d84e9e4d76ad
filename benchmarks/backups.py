"""Backup retention planning at scale: 100,000 snapshots of 5,000 instances, pure logic.

A synthetic inventory (deterministic): 5,000 instances under a daily plan (retain 7 days,
min_keep 2) each with snapshot sets of two volumes made over the last 10 days, some failed,
some still pending, a share of them copied to a second Region, plus snapshots that are not
ours (no tags, another tool's `managed-by`) and AMIs of a weekly plan with their snapshots.
`plan_retention` groups by (plan, source, Region) once and sorts each group once. Target: < 1 s.

    uv run python benchmarks/backups.py [--snapshots N] [--instances N]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "functions")]

from backups.ledger import recorded_keys  # noqa: E402
from backups.model import Backup, TagKeys, format_time  # noqa: E402
from backups.retention import plan_retention  # noqa: E402
from backups.settings import BackupPlan  # noqa: E402
from backups.slots import slot_start, slot_value  # noqa: E402

NOW = datetime(2026, 11, 24, 3, tzinfo=UTC)
KEYS = TagKeys()
PLANS = [
    BackupPlan.model_validate(
        {
            "name": "daily",
            "resource_type": "instance",
            "select_tag": {"key": "secauto:backup", "value": "daily"},
            "period_hours": 24,
            "retain_days": 7,
            "min_keep": 2,
            "copy_to": {"region": "us-west-2", "retain_days": 14},
        }
    ),
    BackupPlan.model_validate(
        {
            "name": "weekly",
            "resource_type": "instance",
            "select_tag": {"key": "secauto:backup", "value": "weekly"},
            "mode": "ami",
            "period_hours": 168,
            "retain_count": 4,
        }
    ),
]


def synthetic_inventory(snapshots: int, instances: int) -> list[Backup]:
    rng = random.Random(42)
    inventory: list[Backup] = []
    per_instance = max(1, snapshots // instances)
    for number in range(snapshots):
        source = f"i-{number // per_instance % instances:017x}"
        day = (number % per_instance) // 2  # two volumes per run
        created = NOW - timedelta(days=day, minutes=rng.randint(0, 30))
        copy = rng.random() < 0.2
        region = "us-west-2" if copy else "us-east-1"
        tags = {KEYS.managed_by: "secauto", KEYS.plan: "daily", KEYS.source: source}
        roll = rng.random()
        if roll < 0.02:
            tags = {}  # a manual snapshot
        elif roll < 0.03:
            tags[KEYS.managed_by] = "other-tool"
        state = "error" if rng.random() < 0.01 else "pending" if day == 0 else "completed"
        retain = 14 if copy else 7
        created = created.replace(minute=0, second=0, microsecond=0)
        inventory.append(
            Backup(
                kind="snapshot",
                id=f"snap-{number:017x}",
                plan="daily",
                source=source,
                created_at=created,
                expires_at=created + timedelta(days=retain),
                region=region,
                tags=tags,
                state=state,
                slot=slot_value("daily", slot_start(created, 24)),
                copied_from=f"snap-src-{number}" if copy else None,
            )
        )
    for number in range(instances // 10):  # weekly AMIs of a tenth of the instances
        source = f"i-{number:017x}"
        for week in range(6):
            created = NOW - timedelta(days=7 * week)
            tags = {KEYS.managed_by: "secauto", KEYS.plan: "weekly", KEYS.source: source}
            tags[KEYS.created_at] = format_time(created)
            inventory.append(
                Backup(
                    kind="image",
                    id=f"ami-{number:08x}{week:02d}",
                    plan="weekly",
                    source=source,
                    created_at=created,
                    expires_at=None,
                    region="us-east-1",
                    tags=tags,
                    snapshot_ids=(f"snap-ami-{number}-{week}",),
                    state="available",
                    slot=slot_value("weekly", slot_start(created, 168)),
                )
            )
    return inventory


def _category(reason: str | None) -> str:
    if reason is None:
        return "within retention"
    if "but kept" in reason:
        return "kept by min_keep (" + reason.split(" at ")[0].split(" (")[0] + ")"
    return reason.split(" at ")[0].split(" (")[0].split(":")[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=int, default=100_000)
    parser.add_argument("--instances", type=int, default=5_000)
    args = parser.parse_args()
    started = time.perf_counter()
    inventory = synthetic_inventory(args.snapshots, args.instances)
    built = time.perf_counter()
    result = plan_retention(inventory, PLANS, NOW, recorded=recorded_keys(inventory))
    planned = time.perf_counter()
    planning = planned - built
    kinds = Counter(f"{b.kind}s" for b in inventory)
    listed = ", ".join(f"{count:,} {kind}" for kind, count in sorted(kinds.items()))
    print(
        f"inventory: {len(inventory):,} backups ({listed}) of {args.instances:,} instances, "
        f"built in {built - started:.3f} s"
    )
    print(f"plan: delete {len(result.delete):,}, keep {len(result.keep):,}")
    for verb, backups in (("delete", result.delete), ("keep", result.keep)):
        reasons = Counter(_category(result.reasons.get(b.id)) for b in backups)
        for reason, count in reasons.most_common():
            print(f"  {verb} {count:>7,}  {reason}")
    print(f"planning time: {planning:.3f} s")
    ok = planning < 1.0
    print(f"target: < 1 s of planning: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
