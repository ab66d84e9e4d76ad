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


# --- backups ------------------------------------------------------------------------------------

#: The plans the demo's backup function runs (as cdk.json's `capabilities.backups.plans` would).
BACKUP_PLANS: list[dict[str, Any]] = [
    {
        "name": "daily",
        "resource_type": "instance",
        "select_tag": {"key": "secauto:backup", "value": "daily"},
        "mode": "snapshots",
        "period_hours": 24,
        "retain_days": 7,
        "min_keep": 2,
        "copy_to": {"region": "us-west-2", "retain_days": 14},
    },
    {
        "name": "weekly-ami",
        "resource_type": "instance",
        "select_tag": {"key": "secauto:backup", "value": "weekly"},
        "mode": "ami",
        "period_hours": 168,
        "retain_count": 4,
    },
]


def fill_moto_ec2_gaps() -> None:
    """Teach moto (process-wide, once) three things AWS does that scheduled backups rely on.

    moto 5 raises NotImplementedError for CreateImage's `snapshot` TagSpecifications (AWS tags
    every snapshot of the new AMI), ignores CopyImage's TagSpecifications, and ignores
    DeregisterImage's DeleteAssociatedSnapshots. Fixture behaviour only: production code never
    touches moto.
    """
    from moto.ec2.models.amis import AmiBackend
    from moto.ec2.responses.amis import AmisResponse

    if getattr(AmiBackend, "_secauto_filled", False):
        return
    create_image, copy_image, deregister_image = (
        AmiBackend.create_image,
        AmisResponse.copy_image,
        AmisResponse.deregister_image,
    )

    def create_image_tagging_snapshots(
        self: Any, instance_id: str, name: str, description: str, tag_specifications: list[dict[str, Any]]
    ) -> Any:
        image_specs = [spec for spec in tag_specifications if spec["ResourceType"] != "snapshot"]
        ami = create_image(self, instance_id, name, description, image_specs)
        for spec in tag_specifications:
            if spec["ResourceType"] == "snapshot":
                for tag in spec["Tags"]:
                    ami.ebs_snapshot.add_tag(tag["Key"], tag["Value"])
        return ami

    def copy_image_with_tags(self: Any) -> Any:
        result: Any = copy_image(self)
        ami = self.ec2_backend.amis[result.result["ImageId"]]
        for spec in self._get_param("TagSpecifications", []):
            target = ami if spec["ResourceType"] == "image" else ami.ebs_snapshot
            for tag in spec["Tags"]:
                target.add_tag(tag["Key"], tag["Value"])
        return result

    def deregister_image_with_snapshots(self: Any) -> Any:
        ami = self.ec2_backend.amis.get(self._get_param("ImageId"))
        result = deregister_image(self)
        if ami is not None and str(self._get_param("DeleteAssociatedSnapshots")).lower() == "true":
            self.ec2_backend.snapshots.pop(ami.ebs_snapshot.id, None)
        return result

    AmiBackend.create_image = create_image_tagging_snapshots  # type: ignore[method-assign]
    AmisResponse.copy_image = copy_image_with_tags  # type: ignore[method-assign]
    AmisResponse.deregister_image = deregister_image_with_snapshots  # type: ignore[method-assign]
    AmiBackend._secauto_filled = True  # type: ignore[attr-defined]


def backup_tags(
    plan: str,
    source: str,
    created_at: datetime,
    *,
    retain_days: int | None,
    copied_from: str | None = None,
    managed_by: str = "secauto",
    period_hours: int = 24,
) -> list[dict[str, str]]:
    """The ownership tags scheduled backups set at creation (for fixtures of earlier runs)."""
    from backups.model import format_time
    from backups.slots import slot_start, slot_value

    tags = {
        "secauto:managed-by": managed_by,
        "secauto:plan": plan,
        "secauto:source": source,
        "secauto:created-at": format_time(created_at),
        "secauto:slot": slot_value(plan, slot_start(created_at, period_hours)),
    }
    if retain_days is not None:
        tags["secauto:expires-at"] = format_time(created_at + timedelta(days=retain_days))
    if copied_from:
        tags["secauto:copied-from"] = copied_from
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def seed_backups(account: EmbeddedAccount) -> dict[str, str]:
    """Instances and volumes to back up, and earlier backups (ours and others') to prune or spare.

    Earlier runs' backups are recorded in the state table's ledger, as those runs would have done
    (`backups.ledger`); a snapshot carrying a copy of our tags that secauto never recorded is kept,
    and so is an old AMI of ours that a launch template still uses.
    Returns the function's `SECAUTO_BACKUPS_PLANS` (`BACKUP_PLANS`).
    """
    from backups.ledger import DynamoLedger, Record
    from backups.model import Backup, TagKeys

    fill_moto_ec2_gaps()
    now = datetime.now(UTC)
    ec2, west = account.client("ec2"), boto3_client("ec2", "us-west-2")
    ledger = DynamoLedger(account.state_table, account.account_id)

    def record(
        backup_id: str, tags: list[dict[str, str]], *, kind: str = "snapshot", region: str = "us-east-1"
    ) -> str:
        backup = Backup.from_tags(
            TagKeys(),
            kind="image" if kind == "image" else "snapshot",
            backup_id=backup_id,
            region=region,
            tags={tag["Key"]: tag["Value"] for tag in tags},
            state="completed",
            started=None,
        )
        assert backup is not None
        ledger.record([Record.of(backup)])
        return backup_id

    def instance(name: str, backup: str | None, extra_volumes: int = 0) -> tuple[str, list[str]]:
        tags = [{"Key": "Name", "Value": name}, {"Key": "team", "Value": "shop"}]
        if backup:
            tags.append({"Key": "secauto:backup", "Value": backup})
        created = ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro",
            Placement={"AvailabilityZone": "us-east-1a"},
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )["Instances"][0]
        volumes = [created["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]]
        for index in range(extra_volumes):
            volume = ec2.create_volume(Size=20, AvailabilityZone="us-east-1a")["VolumeId"]
            ec2.attach_volume(
                VolumeId=volume, InstanceId=created["InstanceId"], Device=f"/dev/sd{'fg'[index]}"
            )
            volumes.append(volume)
        return created["InstanceId"], volumes

    def snapshot(client: Any, volume: str, tags: list[dict[str, str]]) -> str:
        specs = [{"ResourceType": "snapshot", "Tags": tags}] if tags else []
        return str(client.create_snapshot(VolumeId=volume, TagSpecifications=specs)["SnapshotId"])

    web, web_volumes = instance("web-1", "daily", extra_volumes=2)
    db, db_volumes = instance("db-1", "daily")
    build, _ = instance("build-1", "weekly")
    instance("scratch-1", None)
    ec2.create_volume(
        Size=50,
        AvailabilityZone="us-east-1a",
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "secauto:backup", "Value": "daily"}]}],
    )
    # web-1: backups of 1, 5 and 10 days ago (expired), the first two already copied to us-west-2,
    # where two older copies have expired.
    west_volume = west.create_volume(Size=20, AvailabilityZone="us-west-2a")["VolumeId"]
    for age in (1, 5, 10):
        made = now - timedelta(days=age, hours=2)
        tags = backup_tags("daily", web, made, retain_days=7)
        original = record(snapshot(ec2, web_volumes[1], tags), tags)
        if age < 10:
            tags = backup_tags("daily", web, made, retain_days=14, copied_from=original)
            record(snapshot(west, west_volume, tags), tags, region="us-west-2")
    for age in (16, 20):
        made = now - timedelta(days=age, hours=2)
        tags = backup_tags("daily", web, made, retain_days=14, copied_from="snap-gone")
        record(snapshot(west, west_volume, tags), tags, region="us-west-2")
    # db-1: three expired backups; min_keep 2 keeps the newest two.
    for age in (8, 9, 10):
        tags = backup_tags("daily", db, now - timedelta(days=age, hours=2), retain_days=7)
        record(snapshot(ec2, db_volumes[0], tags), tags)
    # Not ours: a manual snapshot, one another tool manages (with our tag names), and one carrying
    # an exact copy of our tags (a restored volume snapshotted with copy-tags) that secauto never
    # recorded: expired by its tags, yet kept and reported as not recorded.
    snapshot(ec2, web_volumes[1], [])
    old = now - timedelta(days=60)
    snapshot(ec2, web_volumes[2], backup_tags("daily", web, old, retain_days=1, managed_by="other-tool"))
    snapshot(ec2, web_volumes[2], backup_tags("daily", web, now - timedelta(days=30), retain_days=7))
    # build-1: five weekly AMIs of ours; the new one makes six, beyond retain_count 4. The oldest
    # (35 days) is what launch template web-asg still launches: kept with its snapshots, reported.
    for week in (1, 2, 3, 4, 5):
        made = now - timedelta(days=7 * week, hours=1)
        tags = backup_tags("weekly-ami", build, made, retain_days=None, period_hours=168)
        image = ec2.create_image(
            InstanceId=build,
            Name=f"secauto-weekly-ami-{build}-{made:%Y%m%dT%H%M%SZ}",
            NoReboot=True,
            TagSpecifications=[
                {"ResourceType": "image", "Tags": tags},
                {"ResourceType": "snapshot", "Tags": tags},
            ],
        )["ImageId"]
        record(image, tags, kind="image")
        if week == 5:
            ec2.create_launch_template(
                LaunchTemplateName="web-asg",
                LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"},
            )
    ec2.create_image(InstanceId=build, Name="golden-base", NoReboot=True)
    return {"SECAUTO_BACKUPS_PLANS": json.dumps(BACKUP_PLANS)}


def boto3_client(service: str, region: str) -> Any:
    import boto3

    return boto3.client(service, region_name=region)  # type: ignore[call-overload]


SEEDERS["backups"] = seed_backups
