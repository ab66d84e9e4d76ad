"""Seed data for the embedded account, per capability, so `secauto demo` shows real plans.

moto creates every key "now" and never records a last use; the demo needs keys of every age,
so the seeding backdates moto's own key records (fixture data only: production code never
touches moto).

A seeder may return extra environment variables for its capability's function: the ids of what
it created (an IP set's id, a network ACL's id) that a deployed stack would pass the same way.
`ReplaySession` lays them over the environment the configuration gives that capability.
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

__all__ = [
    "ALB_LOG_SOURCES",
    "FLOW_LOG_SOURCES",
    "SEEDERS",
    "SeededEnvironment",
    "add_user_key",
    "gzip_members",
    "seed_access_keys",
    "seed_account",
    "seed_alb_logs",
    "seed_auto_block",
    "seed_log_objects",
]


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


#: `events/<capability>/`: the sample events of each capability, and the plain-text log files
#: (`logs/`) their "Object Created" events name.
EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"
#: Plain-text ALB log files; a sample event whose object key ends in `<name>.gz` is replayed
#: with `<name>` from here, gzipped, as its object.
ALB_LOG_SOURCES = EVENTS_DIR / "alb_logs" / "logs"
#: Plain-text VPC flow-log files (header line first), the same way.
FLOW_LOG_SOURCES = EVENTS_DIR / "auto_block" / "logs"

#: What a seeder may hand back: extra environment variables for its capability's function
#: (the ids of what it created, as the CDK stack would pass them), or None.
SeededEnvironment = dict[str, str] | None


def gzip_members(data: bytes, members: int = 2) -> bytes:
    """`data` gzipped as `members` concatenated gzip members (split at a line end), as ELB may write."""
    lines = data.splitlines(keepends=True)
    cut = max(1, len(lines) // members)
    parts = [b"".join(lines[i : i + cut]) for i in range(0, len(lines), cut)] or [b""]
    return b"".join(gzip.compress(part, mtime=0) for part in parts)


def seed_log_objects(account: EmbeddedAccount, events_dir: Path, sources: Path, *, members: int = 1) -> None:
    """Put every log object the "Object Created" sample events in `events_dir` name into its bucket.

    The object `<...>/<name>.gz` is `sources/<name>` gzipped (as `members` gzip members); a key
    without `.gz` gets the plain text. The bucket of every such event is created, even when the
    object has no source (an event the rules must not match names no real log file).
    """
    s3 = account.client("s3")
    buckets: set[str] = set()
    for path in sorted(events_dir.glob("*.json")):
        event = json.loads(path.read_text(encoding="utf-8"))
        detail = event.get("detail") if isinstance(event, dict) else None
        if event.get("detail-type") != "Object Created" or not isinstance(detail, dict):
            continue
        bucket, key = detail["bucket"]["name"], detail["object"]["key"]
        source = sources / key.rsplit("/", 1)[-1].removesuffix(".gz")
        if bucket not in buckets:
            with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
                s3.create_bucket(Bucket=bucket)
            buckets.add(bucket)
        if source.is_file():
            body = source.read_bytes()
            if key.endswith(".gz"):
                body = gzip_members(body, members)
            s3.put_object(Bucket=bucket, Key=key, Body=body)


def seed_alb_logs(account: EmbeddedAccount, events_dir: Path | None = None) -> None:
    """Put every sample log object the `alb_logs` sample events name into its bucket."""
    # ELB may write a file as several gzip members: the handler must read past the first.
    seed_log_objects(account, events_dir or ALB_LOG_SOURCES.parent, ALB_LOG_SOURCES, members=2)


#: The embedded account's VPC and the rule window secauto owns in its network ACL.
DEMO_VPC_CIDR = "10.0.0.0/16"
NACL_WINDOW = {"first_rule": 1, "size": 10, "quota": 20}
#: The ACL's own allow-everything ingress rules, after the window (rules are evaluated in order).
NACL_ALLOW_RULES = {200: "0.0.0.0/0", 201: "::/0"}
WAF_IP_SET_NAMES = {"IPV4": "secauto-blocklist-regional-ipv4", "IPV6": "secauto-blocklist-regional-ipv6"}


def seed_auto_block(account: EmbeddedAccount, events_dir: Path | None = None) -> dict[str, str]:
    """What the auto-block stack and its operator provide: a VPC (IPv4 and IPv6 ranges, the
    own-VPC allowlist), a network ACL with a reserved deny window before its allow rules, the two
    empty REGIONAL WAF IP sets, and the flow-log objects the sample events name.

    Returns the function's `SECAUTO_AUTO_BLOCK_WAF_IP_SETS` and `SECAUTO_AUTO_BLOCK_NETWORK_ACLS`.
    """
    ec2 = account.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock=DEMO_VPC_CIDR, AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
    acl_id: str = ec2.create_network_acl(
        VpcId=vpc_id,
        TagSpecifications=[
            {"ResourceType": "network-acl", "Tags": [{"Key": "Name", "Value": "public-subnets"}]}
        ],
    )["NetworkAcl"]["NetworkAclId"]
    for rule_number, cidr in NACL_ALLOW_RULES.items():
        ec2.create_network_acl_entry(
            NetworkAclId=acl_id,
            RuleNumber=rule_number,
            Protocol="-1",
            RuleAction="allow",
            Egress=False,
            **({"Ipv6CidrBlock": cidr} if ":" in cidr else {"CidrBlock": cidr}),
        )
    waf = account.client("wafv2")
    ip_sets = []
    for ip_version, name in WAF_IP_SET_NAMES.items():
        summary = waf.create_ip_set(
            Name=name,
            Scope="REGIONAL",
            IPAddressVersion=ip_version,
            Addresses=[],
            Description="Sources secauto auto-block blocks (managed by secauto: do not edit)",
        )["Summary"]
        ip_sets.append({"name": name, "id": summary["Id"], "scope": "REGIONAL", "ip_version": ip_version})
    seed_log_objects(account, events_dir or FLOW_LOG_SOURCES.parent, FLOW_LOG_SOURCES)
    return {
        "SECAUTO_AUTO_BLOCK_WAF_IP_SETS": json.dumps(ip_sets),
        "SECAUTO_AUTO_BLOCK_NETWORK_ACLS": json.dumps([{"acl_id": acl_id, **NACL_WINDOW}]),
    }


#: Per capability, what the embedded account needs beyond the core resources. A seeder may
#: return extra environment variables for its capability's function (None otherwise).
SEEDERS: dict[str, Callable[[EmbeddedAccount], SeededEnvironment]] = {
    "access_keys": seed_access_keys,
    "alb_logs": seed_alb_logs,
    "auto_block": seed_auto_block,
}


def seed_account(account: EmbeddedAccount) -> dict[str, dict[str, str]]:
    """Run every seeder; per capability, the extra environment variables its seeder returned."""
    extra: dict[str, dict[str, str]] = {}
    for capability, seed in SEEDERS.items():
        variables = seed(account)
        if variables:
            extra[capability] = dict(variables)
    return extra
