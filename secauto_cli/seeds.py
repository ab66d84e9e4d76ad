"""Seed data for the embedded account, per capability, so `secauto demo` shows real plans.

moto creates every key "now" and never records a last use; the demo needs keys of every age,
so the seeding backdates moto's own key records (fixture data only: production code never
touches moto).
"""

from __future__ import annotations

import contextlib
import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from secauto_cli.embedded_account import EmbeddedAccount

__all__ = ["ALB_LOG_SOURCES", "SEEDERS", "add_user_key", "gzip_members", "seed_access_keys", "seed_alb_logs"]


def add_user_key(
    account: EmbeddedAccount,
    user: str,
    *,
    age_days: int,
    used_days_ago: int | None,
    active: bool = True,
    tags: dict[str, str] | None = None,
    now: datetime | None = None,
) -> str:
    """Create `user` if needed and give it a key of the given age and last use; its id."""
    from moto.iam.models import AccessKeyLastUsed, iam_backends

    now = now or datetime.now(UTC)
    iam = account.client("iam")
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_user(UserName=user, Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()])
    key_id: str = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    if not active:
        iam.update_access_key(UserName=user, AccessKeyId=key_id, Status="Inactive")
    record: Any = iam_backends[account.account_id]["global"].access_keys[key_id]
    record.create_date = (now - timedelta(days=age_days)).replace(microsecond=0, tzinfo=None)
    if used_days_ago is not None:
        record.last_used = AccessKeyLastUsed(now - timedelta(days=used_days_ago), "s3", "us-east-1")
    return key_id


def seed_access_keys(account: EmbeddedAccount) -> None:
    """Users and keys exercising every branch of the access-key policy."""
    add_user_key(account, "alice", age_days=120, used_days_ago=2, tags={"secauto:owner": "alice@example.com"})
    add_user_key(account, "alice", age_days=10, used_days_ago=1)
    add_user_key(account, "bob", age_days=85, used_days_ago=0, tags={"secauto:owner": "@bob"})
    add_user_key(account, "carol", age_days=60, used_days_ago=50)
    add_user_key(account, "dave", age_days=3, used_days_ago=None)
    add_user_key(account, "erin", age_days=50, used_days_ago=None)
    add_user_key(
        account,
        "frank",
        age_days=200,
        used_days_ago=1,
        tags={"secauto:key-exempt": "CI deploy key, rotated by Vault|2099-06-30"},
    )
    add_user_key(
        account,
        "grace",
        age_days=150,
        used_days_ago=3,
        tags={"secauto:key-exempt": "legacy batch job|2025-01-01"},
    )
    add_user_key(account, "heidi", age_days=300, used_days_ago=0)
    account.client("iam").create_group(GroupName="break-glass")
    account.client("iam").add_user_to_group(GroupName="break-glass", UserName="heidi")
    add_user_key(account, "ivan", age_days=100, used_days_ago=95, active=False)


#: Plain-text ALB log files; a sample event whose object key ends in `<name>.gz` is replayed
#: with `<name>` from here, gzipped, as its object.
ALB_LOG_SOURCES = Path(__file__).resolve().parents[1] / "events" / "alb_logs" / "logs"


def gzip_members(data: bytes, members: int = 2) -> bytes:
    """`data` gzipped as `members` concatenated gzip members (split at a line end), as ELB may write."""
    lines = data.splitlines(keepends=True)
    cut = max(1, len(lines) // members)
    parts = [b"".join(lines[i : i + cut]) for i in range(0, len(lines), cut)] or [b""]
    return b"".join(gzip.compress(part, mtime=0) for part in parts)


def seed_alb_logs(account: EmbeddedAccount, events_dir: Path | None = None) -> None:
    """Put every sample log object the `alb_logs` sample events name into its bucket."""
    folder = events_dir or ALB_LOG_SOURCES.parent
    s3 = account.client("s3")
    buckets: set[str] = set()
    for path in sorted(folder.glob("*.json")):
        event = json.loads(path.read_text(encoding="utf-8"))
        detail = event.get("detail") if isinstance(event, dict) else None
        if event.get("detail-type") != "Object Created" or not isinstance(detail, dict):
            continue
        bucket, key = detail["bucket"]["name"], detail["object"]["key"]
        source = ALB_LOG_SOURCES / key.rsplit("/", 1)[-1].removesuffix(".gz")
        if bucket not in buckets:
            with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
                s3.create_bucket(Bucket=bucket)
            buckets.add(bucket)
        if source.is_file():
            body = source.read_bytes()
            s3.put_object(Bucket=bucket, Key=key, Body=gzip_members(body) if key.endswith(".gz") else body)


#: Per capability, what the embedded account needs beyond the core resources.
SEEDERS: dict[str, Callable[[EmbeddedAccount], None]] = {
    "access_keys": seed_access_keys,
    "alb_logs": seed_alb_logs,
}
