"""The deployment configuration of secauto: the `secauto` object of the CDK context.

One pydantic model validates everything before a single construct is built, so a bad
`cdk.json` fails with one readable message instead of a half-synthesized app. Keys are camelCase
in JSON (as in the rest of `cdk.json`); Python code uses the snake_case attributes.

Adding a capability: add a `CapabilityConfig` subclass and a field on `CapabilitiesConfig`, then
register its stack builder in `app_builder.CAPABILITIES` (a test checks the two lists agree).
This module imports nothing from the CDK, so the local tools can validate a config cheaply.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

__all__ = [
    "ACCESS_KEYS_MIN_INTERVAL_MINUTES",
    "ALB_LOGS_MAX_TIMEOUT_SECONDS",
    "AUTO_BLOCK_MAX_LOG_GROUPS",
    "AUTO_BLOCK_MIN_SWEEP_MINUTES",
    "BACKUPS_MAX_PLANS",
    "BACKUPS_MIN_INTERVAL_MINUTES",
    "BACKUPS_RULE_PREFIX",
    "BLOCKLIST_PREFIX",
    "CDK_JSON",
    "CLOUDFRONT_WAF_REGION",
    "CONFIG_CONTEXT_KEY",
    "DEFAULT_FLOW_LOG_FORMAT",
    "FINDINGS_SUPPRESSIONS_FILE",
    "LOG_RETENTION_DAYS",
    "NACL_MAX_RULE_NUMBER",
    "SIGNIN_REGION",
    "SUPPRESSIONS_DIR",
    "WAF_IP_VERSIONS",
    "AccessKeysConfig",
    "AlbLogsConfig",
    "AutoBlockConfig",
    "BackupCopyConfig",
    "BackupPlanConfig",
    "BackupSelectTag",
    "BackupsConfig",
    "BreakGlassWindow",
    "CapabilitiesConfig",
    "CapabilityConfig",
    "CisAlarmConfig",
    "ConfigError",
    "FindingsConfig",
    "FindingsMinSeverity",
    "NetworkAclWindow",
    "RootActivityConfig",
    "SecautoConfig",
    "SeverityLabel",
    "WafIpVersion",
    "WafScope",
    "backups_rule_name",
    "cdk_json_context",
    "load_config",
    "parse_config",
    "waf_ip_set_name",
    "waf_rule_group_name",
]

CDK_JSON = Path(__file__).resolve().parents[2] / "cdk.json"
#: The key of the secauto configuration object in the CDK context.
CONFIG_CONTEXT_KEY = "secauto"

#: Root console sign-ins are recorded in this Region only.
SIGNIN_REGION = "us-east-1"

#: The retention periods CloudWatch Logs accepts (days).
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)

#: Where the suppression rules are, relative to the repository root and to the code bundle's root
#: (`bundling` copies the folder there), so one relative path works locally and on Lambda.
SUPPRESSIONS_DIR = "rules/suppressions"
FINDINGS_SUPPRESSIONS_FILE = f"{SUPPRESSIONS_DIR}/findings.json"

#: ASFF severity labels (`Severity.Label`), lowest first.
SeverityLabel = Literal["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"]

_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")

#: EventBridge schedule expressions: `rate(value unit)` and `cron(6 fields)`.
_RATE = re.compile(r"^rate\((?P<value>[1-9]\d*) (?P<unit>minutes?|hours?|days?)\)$")
_CRON = re.compile(r"^cron\((?P<fields>[^()]+)\)$")
_MINUTES_PER_UNIT = {"minute": 1, "hour": 60, "day": 24 * 60}
#: The shortest audit `rate(...)`: a run may take the function's whole 15-minute timeout, and a
#: second audit starting meanwhile would only wait for it (the function runs one at a time).
ACCESS_KEYS_MIN_INTERVAL_MINUTES = 15
#: IAM tag keys (1-128 letters, digits, spaces and `_.:/=+-@`; `aws:` is AWS's own prefix).
_TAG_KEY = re.compile(r"^[\w .:/=+\-@]{1,128}$")
#: IAM group names.
_GROUP_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")
#: S3 general purpose bucket names: 3-63 lowercase letters, digits, dots and hyphens, starting and
#: ending with a letter or digit (the reserved prefixes and suffixes are checked separately).
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
#: The longest function timeout Lambda allows; a multi-gigabyte log file may need all of it.
ALB_LOGS_MAX_TIMEOUT_SECONDS = 900


class ConfigError(ValueError):
    """The `secauto` context object is not a valid configuration."""


class _Model(BaseModel):
    """camelCase in JSON, snake_case in Python; unknown keys are typos, so they are errors."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, validate_default=True
    )


class BreakGlassWindow(_Model):
    """A planned period of root use: alerts inside it are downgraded, not dropped."""

    start: AwareDatetime
    end: AwareDatetime
    reason: str = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> BreakGlassWindow:
        if self.end <= self.start:
            raise ValueError(f"break-glass window {self.reason!r}: end must be after start")
        return self

    def as_env(self) -> dict[str, str]:
        """The JSON object the handler reads."""
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "reason": self.reason}


class CisAlarmConfig(_Model):
    """CIS / Security Hub CloudWatch.1: a metric filter and alarm on the CloudTrail log group."""

    enabled: bool = False
    cloud_trail_log_group_name: str | None = None

    @model_validator(mode="after")
    def _log_group_when_enabled(self) -> CisAlarmConfig:
        if self.enabled and not self.cloud_trail_log_group_name:
            raise ValueError("cisAlarm.enabled needs cisAlarm.cloudTrailLogGroupName")
        return self


class CapabilityConfig(_Model):
    """Settings every capability has."""

    enabled: bool = True

    def environment(self) -> dict[str, str]:
        """The capability's own environment variables for its function (none by default).

        Kept here, free of CDK imports, so the local replay configures handlers exactly as a
        deployment does.
        """
        return {}


class RootActivityConfig(CapabilityConfig):
    """Alerts on any use of the root user."""

    expected_source_cidrs: tuple[str, ...] = ()
    break_glass_windows: tuple[BreakGlassWindow, ...] = ()
    failure_burst_threshold: int = Field(default=3, ge=2)
    failure_burst_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    cis_alarm: CisAlarmConfig = CisAlarmConfig()

    def environment(self) -> dict[str, str]:
        """The `SECAUTO_ROOT_*` variables the handler's settings read."""
        return {
            "SECAUTO_ROOT_EXPECTED_SOURCE_CIDRS": json.dumps(list(self.expected_source_cidrs)),
            "SECAUTO_ROOT_BREAK_GLASS_WINDOWS": json.dumps([w.as_env() for w in self.break_glass_windows]),
            "SECAUTO_ROOT_FAILURE_BURST_THRESHOLD": str(self.failure_burst_threshold),
            "SECAUTO_ROOT_FAILURE_BURST_WINDOW_MINUTES": str(self.failure_burst_window_minutes),
        }

    @field_validator("expected_source_cidrs")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # strict: "203.0.113.7/24" is a typo, not a /24; widening it silently would hide root use.
        try:
            return tuple(str(ipaddress.ip_network(cidr, strict=True)) for cidr in value)
        except ValueError as exc:
            raise ValueError(f"expectedSourceCidrs: {exc}") from exc


class FindingsMinSeverity(_Model):
    """The lowest severity notified, per source (lower ones are still imported, not notified)."""

    guardduty: SeverityLabel = "MEDIUM"
    macie: SeverityLabel = "MEDIUM"
    inspector: SeverityLabel = "HIGH"


class FindingsConfig(CapabilityConfig):
    """GuardDuty, Macie and Inspector findings: ASFF into Security Hub, notified on Slack and SNS."""

    #: `auto`: import a source's findings only when Security Hub's own integration for it is off;
    #: `import`: always import; `native`: never import (AWS's integrations do), only notify.
    integration_mode: Literal["auto", "import", "native"] = "auto"
    min_severity: FindingsMinSeverity = FindingsMinSeverity()
    notify_samples: bool = False
    notify_archived: bool = False
    #: A known finding is notified again when its count grows by this factor.
    count_jump_factor: float = Field(default=10.0, gt=1)
    #: Role (name, optionally with its path) assumed in member accounts to import their findings.
    cross_account_role_name: str | None = Field(default=None, pattern=r"^([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
    #: Where that role may be assumed (one of the two is required with `crossAccountRoleName`):
    #: any account of this organization (`aws:ResourceOrgID`), and/or exactly these accounts.
    organization_id: str | None = Field(default=None, pattern=r"^o-[a-z0-9]{10,32}$")
    member_account_ids: tuple[str, ...] = ()
    product_cache_minutes: int = Field(default=60, ge=1)
    state_ttl_days: int = Field(default=90, ge=1)
    #: Events per invocation: Security Hub imports at most 100 findings per call.
    batch_size: int = Field(default=100, ge=1, le=100)
    batching_window_seconds: int = Field(default=20, ge=0, le=300)
    #: Concurrent invocations (the SQS minimum is 2); keeps imports within ~10 calls/s.
    max_concurrency: int = Field(default=2, ge=2, le=10)

    @model_validator(mode="after")
    def _batching_window_for_large_batches(self) -> FindingsConfig:
        if self.batch_size > 10 and self.batching_window_seconds < 1:
            raise ValueError("findings: a batchSize above 10 needs batchingWindowSeconds of at least 1 (SQS)")
        return self

    @field_validator("member_account_ids")
    @classmethod
    def _account_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [account for account in value if not re.fullmatch(r"\d{12}", account)]
        if bad:
            raise ValueError(f"findings: memberAccountIds must be 12-digit account ids, not {bad}")
        return tuple(dict.fromkeys(value))  # drop duplicates, keep order

    def environment(self) -> dict[str, str]:
        """The `SECAUTO_FINDINGS_*` variables the handler's settings read."""
        env = {
            "SECAUTO_FINDINGS_INTEGRATION_MODE": self.integration_mode,
            "SECAUTO_FINDINGS_MIN_SEVERITY": json.dumps(self.min_severity.model_dump()),
            "SECAUTO_FINDINGS_NOTIFY_SAMPLES": json.dumps(self.notify_samples),
            "SECAUTO_FINDINGS_NOTIFY_ARCHIVED": json.dumps(self.notify_archived),
            "SECAUTO_FINDINGS_COUNT_JUMP_FACTOR": repr(self.count_jump_factor),
            "SECAUTO_FINDINGS_SUPPRESSIONS_FILE": FINDINGS_SUPPRESSIONS_FILE,
            "SECAUTO_FINDINGS_PRODUCT_CACHE_MINUTES": str(self.product_cache_minutes),
            "SECAUTO_FINDINGS_STATE_TTL_DAYS": str(self.state_ttl_days),
        }
        if self.cross_account_role_name:
            env["SECAUTO_FINDINGS_CROSS_ACCOUNT_ROLE_NAME"] = self.cross_account_role_name
        if self.member_account_ids:
            env["SECAUTO_FINDINGS_MEMBER_ACCOUNT_IDS"] = json.dumps(list(self.member_account_ids))
        return env


def _schedule_expression(
    value: str,
    *,
    min_minutes: int = ACCESS_KEYS_MIN_INTERVAL_MINUTES,
    too_often: str = "audit at most every {minutes} minutes (one audit can take that long)",
    key: str = "schedule",
) -> str:
    """Validate an EventBridge schedule expression (what `PutRule` would reject, refused here).

    A `rate(...)` shorter than `min_minutes` is refused with `too_often` (its `{minutes}` filled).
    """
    rate = _RATE.match(value)
    if rate:
        amount, unit = int(rate["value"]), rate["unit"]
        # EventBridge wants `rate(1 day)` but `rate(2 days)`.
        if (amount == 1) != (not unit.endswith("s")):
            raise ValueError(f"{key} {value!r}: the unit is singular for 1 and plural otherwise")
        minutes = amount * _MINUTES_PER_UNIT[unit.rstrip("s")]
        if minutes < min_minutes:
            raise ValueError(f"{key} {value!r}: {too_often.format(minutes=min_minutes)}")
        return value
    cron = _CRON.match(value)
    if cron:
        fields = cron["fields"].split()
        if len(fields) != 6:
            raise ValueError(
                f"{key} {value!r}: cron() takes 6 fields (minutes hours day-of-month month day-of-week year)"
            )
        if (fields[2] == "?") == (fields[4] == "?"):
            raise ValueError(f"{key} {value!r}: exactly one of day-of-month and day-of-week must be '?'")
        return value
    raise ValueError(f"{key} {value!r}: expected an EventBridge 'rate(...)' or 'cron(...)' expression")


class AccessKeysConfig(CapabilityConfig):
    """IAM access-key expiry: a scheduled audit of every key; warn, deactivate, delete per policy.

    One field per field of the handler's `AccessKeySettings` (same names, same defaults), plus
    `schedule`. A dry run (`enforce: false`) unless configured otherwise.
    """

    #: When the audit runs (EventBridge schedule expression, UTC).
    schedule: str = "rate(1 day)"
    enforce: bool = False
    warn_age_days: int = Field(default=80, ge=1)
    warn_unused_days: int = Field(default=45, ge=1)
    deactivate_age_days: int = Field(default=90, ge=1)
    deactivate_unused_days: int = Field(default=90, ge=1)
    #: Delete a key this many days after it was deactivated (None: never delete; opt-in).
    delete_inactive_days: int | None = Field(default=None, ge=1)
    never_used_grace_days: int = Field(default=7, ge=0)
    #: A user's last working key is warned, not deactivated with its sibling, for this many days
    #: (0: off; a user may then lose every key in one run).
    last_key_grace_days: int = Field(default=7, ge=0, le=30)
    exempt_tag_key: str = "secauto:key-exempt"
    exempt_groups: tuple[str, ...] = ()
    owner_tag_key: str = "secauto:owner"
    reminder_days: int = Field(default=7, ge=1)
    #: Waiting for a new credential report; at most 10 of the function's 15 minutes, so the
    #: fallback listing and the enforcement still have time.
    report_wait_seconds: int = Field(default=60, ge=1, le=600)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return _schedule_expression(value)

    @field_validator("exempt_tag_key", "owner_tag_key")
    @classmethod
    def _tag_key(cls, value: str) -> str:
        if not _TAG_KEY.match(value) or value.lower().startswith("aws:"):
            raise ValueError(f"not a usable IAM tag key: {value!r}")
        return value

    @field_validator("exempt_groups")
    @classmethod
    def _groups(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [name for name in value if not _GROUP_NAME.match(name)]
        if bad:
            raise ValueError(f"exemptGroups: not IAM group names: {bad}")
        return tuple(dict.fromkeys(value))

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> AccessKeysConfig:
        # A warning at or after the deactivation would never be seen.
        if self.warn_age_days >= self.deactivate_age_days:
            raise ValueError("accessKeys: warnAgeDays must be below deactivateAgeDays")
        if self.warn_unused_days >= self.deactivate_unused_days:
            raise ValueError("accessKeys: warnUnusedDays must be below deactivateUnusedDays")
        # Past its grace a never-used key counts its age as unused time: a grace as long as the
        # deactivation threshold would deactivate it the day the grace ends, unwarned.
        if self.never_used_grace_days >= self.deactivate_unused_days:
            raise ValueError("accessKeys: neverUsedGraceDays must be below deactivateUnusedDays")
        if self.exempt_tag_key == self.owner_tag_key:
            raise ValueError("accessKeys: exemptTagKey and ownerTagKey must differ")
        return self

    def environment(self) -> dict[str, str]:
        """The `SECAUTO_ACCESS_KEYS_*` variables the handler's settings read."""
        env = {
            "SECAUTO_ACCESS_KEYS_ENFORCE": json.dumps(self.enforce),
            "SECAUTO_ACCESS_KEYS_WARN_AGE_DAYS": str(self.warn_age_days),
            "SECAUTO_ACCESS_KEYS_WARN_UNUSED_DAYS": str(self.warn_unused_days),
            "SECAUTO_ACCESS_KEYS_DEACTIVATE_AGE_DAYS": str(self.deactivate_age_days),
            "SECAUTO_ACCESS_KEYS_DEACTIVATE_UNUSED_DAYS": str(self.deactivate_unused_days),
            "SECAUTO_ACCESS_KEYS_NEVER_USED_GRACE_DAYS": str(self.never_used_grace_days),
            "SECAUTO_ACCESS_KEYS_LAST_KEY_GRACE_DAYS": str(self.last_key_grace_days),
            "SECAUTO_ACCESS_KEYS_EXEMPT_TAG_KEY": self.exempt_tag_key,
            "SECAUTO_ACCESS_KEYS_EXEMPT_GROUPS": json.dumps(list(self.exempt_groups)),
            "SECAUTO_ACCESS_KEYS_OWNER_TAG_KEY": self.owner_tag_key,
            "SECAUTO_ACCESS_KEYS_REMINDER_DAYS": str(self.reminder_days),
            "SECAUTO_ACCESS_KEYS_REPORT_WAIT_SECONDS": str(self.report_wait_seconds),
        }
        if self.delete_inactive_days is not None:
            env["SECAUTO_ACCESS_KEYS_DELETE_INACTIVE_DAYS"] = str(self.delete_inactive_days)
        return env


def _bucket_name(value: str, key: str = "bucketName") -> str:
    """Validate an S3 general purpose bucket name (what `CreateBucket` would reject, refused here)."""
    if (
        not _BUCKET_NAME.match(value)
        or ".." in value
        or value.startswith(_BUCKET_RESERVED_PREFIXES)
        or value.endswith(_BUCKET_RESERVED_SUFFIXES)
    ):
        raise ValueError(f"{key}: not an S3 bucket name: {value!r}")
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return value
    raise ValueError(f"{key}: an S3 bucket name cannot look like an IP address: {value!r}")


#: Why a key prefix must not contain `AWSLogs`, per log producer (`_key_prefix`'s `producer`).
_AWSLOGS_IN_PREFIX = {
    "alb": "Elastic Load Balancing refuses prefixes containing 'AWSLogs' (it adds "
    "'AWSLogs/<account>/...' itself after the prefix)",
    "flow": "VPC Flow Logs adds 'AWSLogs/<account>/vpcflowlogs/...' itself after the folder of the "
    "flow log's destination ARN: give that folder only",
}
#: The example of a well-formed prefix, per log producer.
_PREFIX_EXAMPLE = {
    "alb": "the load balancers' prefix 'alb' writes keys 'alb/AWSLogs/...', so keyPrefix is 'alb/'",
    "flow": "a flow log to 'arn:aws:s3:::bucket/flow' writes keys 'flow/AWSLogs/...', so the prefix is "
    "'flow/'",
}


def _key_prefix(value: str, key: str = "keyPrefix", producer: Literal["alb", "flow"] = "alb") -> str:
    """Validate the key prefix logs are delivered under (`""`, or `"a/b/"`)."""
    if not value:
        return value
    if value.startswith("/"):
        raise ValueError(f"{key} {value!r}: S3 keys do not start with '/' (write 'alb/', not '/alb/')")
    if not value.endswith("/"):
        raise ValueError(f"{key} {value!r}: must end with '/' ({_PREFIX_EXAMPLE[producer]})")
    if "//" in value:
        raise ValueError(f"{key} {value!r}: empty path segment ('//')")
    if "*" in value or "?" in value:
        raise ValueError(f"{key} {value!r}: a literal prefix, not a wildcard")
    if "AWSLogs" in value:
        raise ValueError(f"{key} {value!r}: {_AWSLOGS_IN_PREFIX[producer]}")
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValueError(f"{key} {value!r}: control characters")
    return value


class AlbLogsConfig(CapabilityConfig):
    """ALB access-log parsing: each new log file the load balancers deliver is read and summarised.

    `bucketName` unset: the stack creates the log bucket (SSE-S3, TLS only, no public access,
    EventBridge notifications on, logs expire after `logExpirationDays`) with a bucket policy that
    lets Elastic Load Balancing deliver under `<keyPrefix>AWSLogs/<account>/`. `bucketName` set:
    the stack attaches to that existing bucket and changes nothing on it. Prerequisites for an
    existing bucket: it is in the home Region and this account, Amazon EventBridge notifications
    are turned on for it (S3 console: Properties, Amazon EventBridge, "Send notifications to
    Amazon EventBridge for all events in this bucket"; with the API, add
    `"EventBridgeConfiguration": {}` to the bucket's notification configuration, keeping what it
    holds, since `PutBucketNotificationConfiguration` replaces the whole of it), its default
    encryption is SSE-S3 (the only one ELB delivers to), and its policy already lets ELB write.
    Without EventBridge notifications nothing fails: the function is simply never invoked.

    `keyPrefix` is the prefix the load balancers are configured with (`access_logs.s3.prefix`)
    followed by `/`, or `""` for none. ALBs deliver only to a bucket in their own Region, so this
    covers the load balancers of the home Region. The other fields mirror the handler's
    `AlbLogSettings` (same names, defaults and bounds), plus the function's size.
    """

    #: An existing log bucket to attach to; None: the stack creates one.
    bucket_name: str | None = None
    #: The load balancers' key prefix followed by '/', or "" (no prefix).
    key_prefix: str = ""
    #: Days a log file is kept in the created bucket (ignored for an existing bucket).
    log_expiration_days: int = Field(default=90, ge=1)
    top_n: int = Field(default=10, ge=1, le=100)
    sample_size: int = Field(default=20, ge=0, le=200)
    bad_line_samples: int = Field(default=5, ge=0, le=100)
    #: Processes counting lines: 0 is one per vCPU Lambda gives the function; 1 counts in the
    #: handler's own process.
    workers: int = Field(default=0, ge=0, le=6)
    #: Lambda gives one vCPU per 1,769 MB: 3,538 MB gives two, which large files are counted on
    #: in parallel (`workers`). Billing is per GB-second, so for a large file twice the memory at
    #: about half the duration costs about the same; small files are counted in one process.
    memory_size: int = Field(default=3538, ge=128, le=10240)
    timeout_seconds: int = Field(default=ALB_LOGS_MAX_TIMEOUT_SECONDS, ge=1, le=ALB_LOGS_MAX_TIMEOUT_SECONDS)

    @field_validator("bucket_name")
    @classmethod
    def _bucket(cls, value: str | None) -> str | None:
        return None if value is None else _bucket_name(value)

    @field_validator("key_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return _key_prefix(value)

    def environment(self) -> dict[str, str]:
        """The `SECAUTO_ALB_LOGS_*` variables the handler's settings read."""
        return {
            "SECAUTO_ALB_LOGS_KEY_PREFIX": self.key_prefix,
            "SECAUTO_ALB_LOGS_TOP_N": str(self.top_n),
            "SECAUTO_ALB_LOGS_SAMPLE_SIZE": str(self.sample_size),
            "SECAUTO_ALB_LOGS_BAD_LINE_SAMPLES": str(self.bad_line_samples),
            "SECAUTO_ALB_LOGS_WORKERS": str(self.workers),
        }


#: NACL ids: `acl-` and 8 or 17 hexadecimal digits.
_ACL_ID = re.compile(r"^acl-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
#: The NACL rule numbers AWS accepts for the entries of a network ACL (32767 is the default rule).
NACL_MAX_RULE_NUMBER = 32766
#: CloudWatch Logs log group names.
_LOG_GROUP_NAME = re.compile(r"^[.\-_/#A-Za-z0-9]{1,512}$")
#: One field of a flow log's `LogFormat` (`${srcaddr}`), and the fields detection cannot do without
#: (the handler's `auto_block.flowlogs.parse_format` says the same at run time).
_LOG_FORMAT_FIELD = re.compile(r"^\$\{([a-z0-9-]+)\}$")
_LOG_FORMAT_REQUIRED = (
    ("dstport",),
    ("action",),
    ("log-status",),
    ("srcaddr", "pkt-srcaddr"),
    ("dstaddr", "pkt-dstaddr"),
)
#: VPC flow logs' default (version 2) format, as a `LogFormat`.
DEFAULT_FLOW_LOG_FORMAT = (
    "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} "
    "${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}"
)
#: Each flow-log group adds a statement to the function's resource policy (at most 20 KB).
AUTO_BLOCK_MAX_LOG_GROUPS = 40
#: The shortest sweeper `rate(...)`: EventBridge's own minimum.
AUTO_BLOCK_MIN_SWEEP_MINUTES = 1
#: Where WAF keeps CLOUDFRONT-scoped IP sets and rule groups.
CLOUDFRONT_WAF_REGION = "us-east-1"
#: Every WAF resource secauto creates is named with this prefix (the function's role may update
#: the IP sets named so, and no others).
BLOCKLIST_PREFIX = "secauto-blocklist-"

WafScope = Literal["REGIONAL", "CLOUDFRONT"]
WafIpVersion = Literal["IPV4", "IPV6"]
WAF_IP_VERSIONS: tuple[WafIpVersion, ...] = ("IPV4", "IPV6")


def waf_rule_group_name(scope: WafScope) -> str:
    """`secauto-blocklist-regional`: the rule group operators add to their web ACLs of `scope`."""
    return f"{BLOCKLIST_PREFIX}{scope.lower()}"


def waf_ip_set_name(scope: WafScope, ip_version: WafIpVersion) -> str:
    """`secauto-blocklist-regional-ipv4`: the IP set of one scope and IP version."""
    return f"{waf_rule_group_name(scope)}-{ip_version.lower()}"


class NetworkAclWindow(_Model):
    """The rule numbers of one network ACL's inbound entries reserved for secauto's deny entries.

    `firstRule` to `firstRule + size - 1`: secauto creates, replaces and deletes entries in this
    window and never touches the others. Rules are evaluated in ascending order, so the window
    must come before the ACL's allow rules for its denies to take effect. `quota` is the number
    of rules per direction and IP family the account may have per ACL (20 by default, 40 when
    raised), the default deny included: the window leaves room for it.
    """

    acl_id: str
    first_rule: int = Field(ge=1, le=NACL_MAX_RULE_NUMBER)
    size: int = Field(ge=1, le=39)
    quota: Literal[20, 40] = 20

    @field_validator("acl_id")
    @classmethod
    def _acl_id(cls, value: str) -> str:
        if not _ACL_ID.match(value):
            raise ValueError(
                f"aclId: not a network ACL id ('acl-' and 8 or 17 hexadecimal digits): {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _window_fits(self) -> NetworkAclWindow:
        if self.last_rule > NACL_MAX_RULE_NUMBER:
            raise ValueError(
                f"networkAcls {self.acl_id}: rules {self.first_rule}-{self.last_rule} go past "
                f"{NACL_MAX_RULE_NUMBER}, the highest rule number an entry can have"
            )
        if self.size > self.quota - 1:
            raise ValueError(
                f"networkAcls {self.acl_id}: size {self.size} does not fit a quota of {self.quota} rules "
                "(the default deny is one of them)"
            )
        return self

    @property
    def last_rule(self) -> int:
        return self.first_rule + self.size - 1

    def as_env(self) -> dict[str, str | int]:
        """The JSON object the handler reads (its `NaclWindow`)."""
        return {"acl_id": self.acl_id, "first_rule": self.first_rule, "size": self.size, "quota": self.quota}


def _log_format(value: str) -> str:
    """Validate a flow log's `LogFormat` (`${field} ${field} ...`) for what detection reads."""
    names = []
    for token in value.split(" "):
        match = _LOG_FORMAT_FIELD.match(token)
        if not match:
            raise ValueError(
                f"logFormat: {token!r} is not a field of a flow log's LogFormat ('${{srcaddr}}'), "
                "separated by single spaces"
            )
        names.append(match[1])
    if len(set(names)) != len(names):
        raise ValueError(f"logFormat names a field twice: {value!r}")
    missing = [" or ".join(group) for group in _LOG_FORMAT_REQUIRED if not set(group) & set(names)]
    if missing:
        raise ValueError(f"logFormat lacks fields detection reads: {', '.join(missing)}")
    return value


class AutoBlockConfig(CapabilityConfig):
    """Auto-blocking: sources that scan, sweep or flood (VPC flow logs), that GuardDuty reports
    probing or brute-forcing, or (optionally) ALB top talkers are blocked for a while, in WAF and
    in network ACLs; a scheduled sweeper lifts expired blocks. A dry run unless `enforce` is on.

    Inputs, all optional but GuardDuty (and the sweeper, always on):

    - `flowLogGroupNames`: CloudWatch Logs groups that flow logs are delivered to (home Region,
      this account). Each gets a subscription filter to the function; a log group takes at most
      two subscription filters. Their records have no header: `logFormat` is the flow logs'
      `LogFormat`.
    - `flowLogBucketName` (+ `flowLogKeyPrefix`): a bucket (home Region, this account) that flow
      logs are delivered to in the text format with the default (not Hive-compatible) prefixes,
      with Amazon EventBridge notifications on (see `AlbLogsConfig` for how), and encrypted with
      SSE-S3 (the function may read the flow-log files of this account under the prefix, and has
      no KMS key permission).
    - `guarddutyEnabled`: GuardDuty port-probe and SSH/RDP brute-force findings of the home
      Region.
    - `albTopTalkersEnabled`: the summaries of the `albLogs` capability (which must be enabled).

    Enforcement targets: a WAF rule group per scope in `wafScopes` (add it to your web ACLs; the
    stack outputs its ARN), and the reserved rule windows of `networkAcls`. The other fields
    mirror the handler's `AutoBlockSettings` (same names, defaults and bounds), plus the
    sweeper's schedule and the function's size.
    """

    enforce: bool = False
    window_seconds: int = Field(default=300, ge=60, le=3600)
    #: At most 256: the function keeps 256 distinct ports and addresses per source and window.
    port_scan_ports: int = Field(default=20, ge=2, le=256)
    host_sweep_hosts: int = Field(default=20, ge=2, le=256)
    reject_flood_rejects: int = Field(default=500, ge=10)
    alb_requests_per_file: int = Field(default=20_000, ge=100)
    guardduty_enabled: bool = True
    alb_top_talkers_enabled: bool = False
    allow_cidrs: tuple[str, ...] = ()
    allow_own_vpcs: bool = True
    allow_aws_ranges: bool = False
    #: Block private and shared sources outside the allowlist (RFC 1918, 100.64.0.0/10, IPv6
    #: unique-local, ...). Off by default, and leave it off when peered VPCs, transit gateways or
    #: VPN clients reach the protected VPCs: blocking them cuts off the organisation's own
    #: traffic. Loopback, link-local, multicast and reserved addresses are never blocked.
    allow_private_sources: bool = False
    #: The widest range `secauto block --range` may block (automation blocks single addresses
    #: only); anything wider, and 0.0.0.0/0 or ::/0 always, is refused everywhere.
    min_range_prefix_v4: int = Field(default=24, ge=16, le=32)
    min_range_prefix_v6: int = Field(default=48, ge=32, le=128)
    block_minutes: int = Field(default=60, ge=1)
    escalation: float = Field(default=4.0, ge=1.0)
    max_block_minutes: int = Field(default=7 * 24 * 60, ge=1)
    history_days: int = Field(default=30, ge=1)
    max_new_blocks_per_run: int = Field(default=100, ge=1, le=10_000)
    network_acls: tuple[NetworkAclWindow, ...] = ()
    #: The `LogFormat` of the flow logs delivered to `flowLogGroupNames`.
    log_format: str = DEFAULT_FLOW_LOG_FORMAT
    flow_log_group_names: tuple[str, ...] = ()
    flow_log_bucket_name: str | None = None
    #: The folder of the flow logs' S3 destination followed by '/', or "" (none).
    flow_log_key_prefix: str = ""
    waf_scopes: tuple[WafScope, ...] = ("REGIONAL",)
    #: When expired blocks are lifted (EventBridge schedule expression, UTC).
    sweeper_schedule: str = "rate(5 minutes)"
    memory_size: int = Field(default=1024, ge=128, le=10240)
    timeout_seconds: int = Field(default=300, ge=1, le=900)

    @field_validator("allow_cidrs")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # strict: "203.0.113.7/24" is a typo, not a /24; widening an allowlist silently is a hole.
        try:
            return tuple(dict.fromkeys(str(ipaddress.ip_network(cidr, strict=True)) for cidr in value))
        except ValueError as exc:
            raise ValueError(f"allowCidrs: {exc}") from exc

    @field_validator("log_format")
    @classmethod
    def _format(cls, value: str) -> str:
        return _log_format(value)

    @field_validator("flow_log_group_names")
    @classmethod
    def _log_groups(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [name for name in value if not _LOG_GROUP_NAME.match(name)]
        if bad:
            raise ValueError(f"flowLogGroupNames: not CloudWatch Logs log group names: {bad}")
        unique = tuple(dict.fromkeys(value))
        if len(unique) > AUTO_BLOCK_MAX_LOG_GROUPS:
            raise ValueError(
                f"flowLogGroupNames: at most {AUTO_BLOCK_MAX_LOG_GROUPS} log groups (each adds a statement "
                "to the function's resource policy, which holds 20 KB); deliver the flow logs to fewer "
                "log groups, or to S3"
            )
        return unique

    @field_validator("flow_log_bucket_name")
    @classmethod
    def _bucket(cls, value: str | None) -> str | None:
        return None if value is None else _bucket_name(value, "flowLogBucketName")

    @field_validator("flow_log_key_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return _key_prefix(value, "flowLogKeyPrefix", "flow")

    @field_validator("waf_scopes")
    @classmethod
    def _scopes(cls, value: tuple[WafScope, ...]) -> tuple[WafScope, ...]:
        return tuple(dict.fromkeys(value))

    @field_validator("sweeper_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        return _schedule_expression(
            value,
            min_minutes=AUTO_BLOCK_MIN_SWEEP_MINUTES,
            too_often="EventBridge runs a schedule at most every {minutes} minute",
            key="sweeperSchedule",
        )

    @model_validator(mode="after")
    def _consistent(self) -> AutoBlockConfig:
        if self.max_block_minutes < self.block_minutes:
            raise ValueError("autoBlock: maxBlockMinutes must be at least blockMinutes")
        if self.flow_log_key_prefix and self.flow_log_bucket_name is None:
            raise ValueError("autoBlock: flowLogKeyPrefix is the prefix in flowLogBucketName, which is unset")
        by_acl: dict[str, list[NetworkAclWindow]] = {}
        for window in self.network_acls:
            by_acl.setdefault(window.acl_id, []).append(window)
        for acl_id, windows in by_acl.items():
            ordered = sorted(windows, key=lambda window: window.first_rule)
            for before, after in itertools.pairwise(ordered):
                if after.first_rule <= before.last_rule:
                    raise ValueError(
                        f"networkAcls {acl_id}: rules {before.first_rule}-{before.last_rule} and "
                        f"{after.first_rule}-{after.last_rule} overlap"
                    )
            if len({window.quota for window in windows}) > 1:
                raise ValueError(
                    f"networkAcls {acl_id}: one ACL has one quota, not {sorted({w.quota for w in windows})}"
                )
            if sum(window.size for window in windows) > windows[0].quota - 1:
                raise ValueError(
                    f"networkAcls {acl_id}: the windows hold more rules than a quota of {windows[0].quota} "
                    "(the default deny included)"
                )
        if self.enforce and not (self.waf_scopes or self.network_acls):
            raise ValueError(
                "autoBlock: enforce needs somewhere to block: a WAF scope (wafScopes) or network ACLs "
                "(networkAcls)"
            )
        return self

    @property
    def network_acl_ids(self) -> tuple[str, ...]:
        """Each configured network ACL once, in configuration order."""
        return tuple(dict.fromkeys(window.acl_id for window in self.network_acls))

    def environment(self) -> dict[str, str]:
        """The `SECAUTO_AUTO_BLOCK_*` variables the handler's settings read, but the two the stack
        adds: `WAF_IP_SETS` (the ids of the IP sets it creates) and `ALB_SUMMARY_LOG_GROUPS` (the
        `albLogs` function's log group, when `albTopTalkersEnabled`)."""
        return {
            "SECAUTO_AUTO_BLOCK_ENFORCE": json.dumps(self.enforce),
            "SECAUTO_AUTO_BLOCK_WINDOW_SECONDS": str(self.window_seconds),
            "SECAUTO_AUTO_BLOCK_PORT_SCAN_PORTS": str(self.port_scan_ports),
            "SECAUTO_AUTO_BLOCK_HOST_SWEEP_HOSTS": str(self.host_sweep_hosts),
            "SECAUTO_AUTO_BLOCK_REJECT_FLOOD_REJECTS": str(self.reject_flood_rejects),
            "SECAUTO_AUTO_BLOCK_ALB_REQUESTS_PER_FILE": str(self.alb_requests_per_file),
            "SECAUTO_AUTO_BLOCK_GUARDDUTY_ENABLED": json.dumps(self.guardduty_enabled),
            "SECAUTO_AUTO_BLOCK_ALB_TOP_TALKERS_ENABLED": json.dumps(self.alb_top_talkers_enabled),
            "SECAUTO_AUTO_BLOCK_ALLOW_CIDRS": json.dumps(list(self.allow_cidrs)),
            "SECAUTO_AUTO_BLOCK_ALLOW_OWN_VPCS": json.dumps(self.allow_own_vpcs),
            "SECAUTO_AUTO_BLOCK_ALLOW_AWS_RANGES": json.dumps(self.allow_aws_ranges),
            "SECAUTO_AUTO_BLOCK_ALLOW_PRIVATE_SOURCES": json.dumps(self.allow_private_sources),
            "SECAUTO_AUTO_BLOCK_MIN_RANGE_PREFIX_V4": str(self.min_range_prefix_v4),
            "SECAUTO_AUTO_BLOCK_MIN_RANGE_PREFIX_V6": str(self.min_range_prefix_v6),
            "SECAUTO_AUTO_BLOCK_BLOCK_MINUTES": str(self.block_minutes),
            "SECAUTO_AUTO_BLOCK_ESCALATION": repr(self.escalation),
            "SECAUTO_AUTO_BLOCK_MAX_BLOCK_MINUTES": str(self.max_block_minutes),
            "SECAUTO_AUTO_BLOCK_HISTORY_DAYS": str(self.history_days),
            "SECAUTO_AUTO_BLOCK_MAX_NEW_BLOCKS_PER_RUN": str(self.max_new_blocks_per_run),
            "SECAUTO_AUTO_BLOCK_NETWORK_ACLS": json.dumps([window.as_env() for window in self.network_acls]),
            "SECAUTO_AUTO_BLOCK_LOG_FORMAT": self.log_format,
        }


#: Every backup plan's schedule rule is named `<prefix><plan name>`; the rule file
#: `rules/backups.scheduled.json` matches the events of exactly the rules named so.
BACKUPS_RULE_PREFIX = "secauto-backups-"
#: The most frequent backup `rate(...)`: one backup per resource per hour at most (a run snapshots
#: every selected resource, and EBS takes one snapshot per volume per 15 s).
BACKUPS_MIN_INTERVAL_MINUTES = 60
#: Each plan adds a schedule rule and a statement to the function's resource policy (20 KB).
BACKUPS_MAX_PLANS = 40
#: Backup plan names: they name the plan's schedule rule (`secauto-backups-<name>`, 64 characters
#: at most) and tag what the plan creates.
_PLAN_NAME = re.compile(r"^[a-z0-9-]{1,40}$")
#: EC2 tag values (0-256 characters of the same set as keys).
_TAG_VALUE = re.compile(r"^[\w .:/=+\-@]{0,256}$")
#: The tag secauto puts on every snapshot and image it creates; the function may delete only what
#: carries it. Selecting resources by it would make secauto's own backups look like sources.
_MANAGED_BY_TAG_KEY = "secauto:managed-by"


def backups_rule_name(plan: str) -> str:
    """`secauto-backups-<plan>`: the name of one backup plan's schedule rule."""
    return f"{BACKUPS_RULE_PREFIX}{plan}"


class BackupSelectTag(_Model):
    """The tag (key and exact value) that puts an instance or a volume into a plan."""

    key: str
    value: str

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _TAG_KEY.match(value) or value.lower().startswith("aws:"):
            raise ValueError(
                f"selectTag.key: not a usable EC2 tag key (1-128 letters, digits, spaces and _.:/=+-@, "
                f"not starting with 'aws:'): {value!r}"
            )
        if value == _MANAGED_BY_TAG_KEY:
            raise ValueError(f"selectTag.key: {_MANAGED_BY_TAG_KEY!r} marks secauto's own backups")
        return value

    @field_validator("value")
    @classmethod
    def _value(cls, value: str) -> str:
        if not _TAG_VALUE.match(value):
            raise ValueError(
                "selectTag.value: not an EC2 tag value (0-256 letters, digits, spaces and _.:/=+-@): "
                f"{value!r}"
            )
        return value

    def as_env(self) -> dict[str, str]:
        return {"key": self.key, "value": self.value}


class BackupCopyConfig(_Model):
    """A copy of each new backup in another Region, kept by its own retention."""

    region: str
    retain_days: int | None = Field(default=None, ge=1, le=3650)
    retain_count: int | None = Field(default=None, ge=1, le=1000)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION.match(value):
            raise ValueError(f"copyTo.region: not an AWS Region name: {value!r}")
        return value

    @model_validator(mode="after")
    def _retained(self) -> BackupCopyConfig:
        if self.retain_days is None and self.retain_count is None:
            raise ValueError(
                "copyTo: set retainDays or retainCount (or both): copies without a retention would pile up"
            )
        return self

    def as_env(self) -> dict[str, str | int | None]:
        return {"region": self.region, "retain_days": self.retain_days, "retain_count": self.retain_count}


class BackupPlanConfig(_Model):
    """One backup plan: which resources (by tag), how (EBS snapshots or AMIs), when, how long kept.

    A backup is pruned once it is past `retainDays` or beyond the newest `retainCount` (either
    that is set), but never below the newest `minKeep` of the resource.
    """

    name: str
    resource_type: Literal["instance", "volume"]
    select_tag: BackupSelectTag
    mode: Literal["snapshots", "ami"] = "snapshots"
    #: AMIs only: do not reboot the instance (the AMI is then crash-consistent, like a snapshot).
    no_reboot: bool = True
    #: Instance snapshots only: leave the root volume out.
    exclude_boot_volume: bool = False
    #: When the plan runs (EventBridge schedule expression, UTC).
    schedule: str = "rate(1 day)"
    #: The schedule's interval: one backup per resource per period (a second run in the same
    #: period creates nothing), and a resource without one in the last period is reported.
    period_hours: int = Field(default=24, ge=1, le=366 * 24)
    retain_count: int | None = Field(default=None, ge=1, le=1000)
    retain_days: int | None = Field(default=None, ge=1, le=3650)
    min_keep: int = Field(default=1, ge=1, le=1000)
    copy_to: BackupCopyConfig | None = None
    #: Copy the source's tags onto its backups (secauto's own tags always win).
    copy_tags: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _PLAN_NAME.match(value):
            raise ValueError(f"plan name: 1-40 lowercase letters, digits and hyphens, not {value!r}")
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        value = _schedule_expression(
            value,
            min_minutes=BACKUPS_MIN_INTERVAL_MINUTES,
            too_often="back up at most every {minutes} minutes",
        )
        cron = _CRON.match(value)
        if cron and not re.fullmatch(r"\d{1,2}", cron["fields"].split()[0]):
            raise ValueError(
                f"schedule {value!r}: back up at most every {BACKUPS_MIN_INTERVAL_MINUTES} minutes "
                "(give one minute of the hour, e.g. cron(0 3 * * ? *))"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> BackupPlanConfig:
        where = f"backups plan {self.name!r}"
        if self.mode == "ami" and self.resource_type != "instance":
            raise ValueError(f"{where}: mode 'ami' backs up instances (resourceType 'instance')")
        if self.exclude_boot_volume and not (self.resource_type == "instance" and self.mode == "snapshots"):
            raise ValueError(f"{where}: excludeBootVolume applies to instance snapshots only")
        if not self.no_reboot and self.mode != "ami":
            raise ValueError(f"{where}: noReboot applies to AMIs only (snapshots never reboot)")
        rate = _RATE.match(self.schedule)
        if rate and self.period_hours * 60 < int(rate["value"]) * _MINUTES_PER_UNIT[rate["unit"].rstrip("s")]:
            # The handler counts a resource without a backup in the last periodHours as unprotected.
            raise ValueError(
                f"{where}: periodHours ({self.period_hours}) is shorter than the schedule {self.schedule}: "
                "every run would report the resources unprotected; give the schedule's interval"
            )
        if self.retain_count is None and self.retain_days is None:
            raise ValueError(f"{where}: set retainCount or retainDays (or both): backups must expire")
        if self.retain_count is not None and self.min_keep > self.retain_count:
            raise ValueError(f"{where}: minKeep ({self.min_keep}) above retainCount ({self.retain_count})")
        return self

    @property
    def rule_name(self) -> str:
        """The name of the plan's schedule rule."""
        return backups_rule_name(self.name)

    def as_env(self) -> dict[str, Any]:
        """The JSON object the handler reads (snake_case keys)."""
        return {
            "name": self.name,
            "resource_type": self.resource_type,
            "select_tag": self.select_tag.as_env(),
            "mode": self.mode,
            "no_reboot": self.no_reboot,
            "exclude_boot_volume": self.exclude_boot_volume,
            "period_hours": self.period_hours,
            "retain_count": self.retain_count,
            "retain_days": self.retain_days,
            "min_keep": self.min_keep,
            "copy_to": None if self.copy_to is None else self.copy_to.as_env(),
            "copy_tags": self.copy_tags,
        }


class BackupsConfig(CapabilityConfig):
    """Scheduled EBS snapshot and AMI backups of tagged instances and volumes, in the home Region.

    Each plan has its own schedule rule (`secauto-backups-<name>`); with no plan there is nothing
    to deploy. `dryRun` computes and reports the same backups and prunes without making them.
    """

    dry_run: bool = False
    plans: tuple[BackupPlanConfig, ...] = ()
    memory_size: int = Field(default=512, ge=128, le=10240)
    timeout_seconds: int = Field(default=900, ge=1, le=900)

    @field_validator("plans")
    @classmethod
    def _plans(cls, value: tuple[BackupPlanConfig, ...]) -> tuple[BackupPlanConfig, ...]:
        names = [plan.name for plan in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"backups plans: names must be unique, found twice: {duplicates}")
        if len(value) > BACKUPS_MAX_PLANS:
            raise ValueError(
                f"backups plans: at most {BACKUPS_MAX_PLANS} (each adds a schedule rule and a statement to "
                "the function's resource policy)"
            )
        return value

    @property
    def copy_regions(self) -> tuple[str, ...]:
        """The Regions the plans copy to, each once, in plan order."""
        return tuple(dict.fromkeys(plan.copy_to.region for plan in self.plans if plan.copy_to is not None))

    def environment(self) -> dict[str, str]:
        """The `SECAUTO_BACKUPS_*` variables the handler's settings read."""
        return {
            "SECAUTO_BACKUPS_DRY_RUN": json.dumps(self.dry_run),
            "SECAUTO_BACKUPS_PLANS": json.dumps([plan.as_env() for plan in self.plans]),
        }


class CapabilitiesConfig(_Model):
    """One entry per capability."""

    root_activity: RootActivityConfig = RootActivityConfig()
    findings: FindingsConfig = FindingsConfig()
    access_keys: AccessKeysConfig = AccessKeysConfig()
    alb_logs: AlbLogsConfig = AlbLogsConfig()
    #: After `alb_logs`: its stack reads the ALB function's log group (ALB top talkers).
    auto_block: AutoBlockConfig = AutoBlockConfig()
    backups: BackupsConfig = BackupsConfig()

    def enabled(self) -> list[str]:
        """Names (snake_case field names) of the enabled capabilities."""
        return [name for name in type(self).model_fields if getattr(self, name).enabled]


class SecautoConfig(_Model):
    """Everything a deployment of secauto can be told."""

    home_region: str = "us-east-1"
    account: str | None = Field(default=None, pattern=r"^\d{12}$")
    #: Regions where root API calls are caught; events from others are forwarded home.
    regions: tuple[str, ...] = ()
    #: Name of an existing Secrets Manager secret; unset: the core stack creates an empty one.
    slack_webhook_secret_name: str | None = None
    account_alias: str | None = None
    security_hub_import: bool = True
    powertools_layer_version: int = Field(default=27, ge=1)
    lambda_runtime: Literal["python3.11", "python3.12", "python3.13"] = "python3.13"
    architecture: Literal["x86_64", "arm64"] = "x86_64"
    log_retention_days: int = 365
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    capabilities: CapabilitiesConfig = CapabilitiesConfig()

    @field_validator("home_region")
    @classmethod
    def _home_region(cls, value: str) -> str:
        if not _REGION.match(value):
            raise ValueError(f"not an AWS Region name: {value!r}")
        return value

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [region for region in value if not _REGION.match(region)]
        if bad:
            raise ValueError(f"not AWS Region names: {bad}")
        return tuple(dict.fromkeys(value))  # drop duplicates, keep order

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"CloudWatch Logs accepts one of {sorted(LOG_RETENTION_DAYS)}, not {value}")
        return value

    @model_validator(mode="after")
    def _region_coverage(self) -> SecautoConfig:
        if not self.regions:
            object.__setattr__(self, "regions", (self.home_region,))
        if self.home_region not in self.regions:
            raise ValueError(f"regions must include homeRegion {self.home_region!r}")
        if self.capabilities.root_activity.enabled and SIGNIN_REGION not in self.regions:
            raise ValueError(
                f"regions must include {SIGNIN_REGION!r}: AWS records root console sign-ins only there"
            )
        return self

    @model_validator(mode="after")
    def _auto_block_needs(self) -> SecautoConfig:
        auto_block = self.capabilities.auto_block
        if not auto_block.enabled:
            return self
        if "CLOUDFRONT" in auto_block.waf_scopes and self.home_region != CLOUDFRONT_WAF_REGION:
            raise ValueError(
                f"autoBlock.wafScopes: CLOUDFRONT needs homeRegion {CLOUDFRONT_WAF_REGION!r}: WAF keeps "
                f"CloudFront's IP sets and rule groups in {CLOUDFRONT_WAF_REGION} only, and the auto-block "
                f"stack (with its IP sets) is in the home Region {self.home_region!r}"
            )
        if auto_block.alb_top_talkers_enabled and not self.capabilities.alb_logs.enabled:
            raise ValueError(
                "autoBlock.albTopTalkersEnabled reads the summaries of the albLogs capability: enable "
                "capabilities.albLogs too"
            )
        return self

    @model_validator(mode="after")
    def _backups_copy_elsewhere(self) -> SecautoConfig:
        backups = self.capabilities.backups
        if not backups.enabled:
            return self
        for plan in backups.plans:
            if plan.copy_to is not None and plan.copy_to.region == self.home_region:
                raise ValueError(
                    f"backups plan {plan.name!r}: copyTo.region is the home Region {self.home_region!r}, "
                    "where the backups already are: copy to another Region"
                )
        return self

    @property
    def other_regions(self) -> tuple[str, ...]:
        """The configured Regions other than the home Region (each gets forwarder stacks)."""
        return tuple(region for region in self.regions if region != self.home_region)

    @property
    def python_version(self) -> str:
        """`3.13` for `python3.13`: pip's `--python-version`."""
        return self.lambda_runtime.removeprefix("python")


def parse_config(raw: Any) -> SecautoConfig:
    """Validate the `secauto` context value (a dict, a JSON string from `cdk -c`, or None)."""
    if raw is None:
        raw = {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"context 'secauto' is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"context 'secauto' must be a JSON object, not {type(raw).__name__}")
    try:
        return SecautoConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"invalid context 'secauto':\n{exc}") from exc


def cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """The `context` object of `cdk.json` (empty if the file is missing)."""
    if not path.is_file():
        return {}
    context = json.loads(path.read_text(encoding="utf-8")).get("context", {})
    if not isinstance(context, dict):
        raise ValueError(f"{path}: 'context' must be an object")
    return context


def load_config(overrides: Mapping[str, Any] | None = None, path: Path = CDK_JSON) -> SecautoConfig:
    """The configuration of `cdk.json`, with `overrides` laid over its `secauto` object."""
    raw = dict(cdk_json_context(path).get(CONFIG_CONTEXT_KEY) or {})
    return parse_config(_deep_merge(raw, dict(overrides or {})))


def _deep_merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
