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
    "CDK_JSON",
    "CONFIG_CONTEXT_KEY",
    "FINDINGS_SUPPRESSIONS_FILE",
    "LOG_RETENTION_DAYS",
    "SIGNIN_REGION",
    "SUPPRESSIONS_DIR",
    "AccessKeysConfig",
    "BreakGlassWindow",
    "CapabilitiesConfig",
    "CapabilityConfig",
    "CisAlarmConfig",
    "ConfigError",
    "FindingsConfig",
    "FindingsMinSeverity",
    "RootActivityConfig",
    "SecautoConfig",
    "SeverityLabel",
    "cdk_json_context",
    "load_config",
    "parse_config",
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
        return env


def _schedule_expression(value: str) -> str:
    """Validate an EventBridge schedule expression (what `PutRule` would reject, refused here)."""
    rate = _RATE.match(value)
    if rate:
        amount, unit = int(rate["value"]), rate["unit"]
        # EventBridge wants `rate(1 day)` but `rate(2 days)`.
        if (amount == 1) != (not unit.endswith("s")):
            raise ValueError(f"schedule {value!r}: the unit is singular for 1 and plural otherwise")
        minutes = amount * _MINUTES_PER_UNIT[unit.rstrip("s")]
        if minutes < ACCESS_KEYS_MIN_INTERVAL_MINUTES:
            raise ValueError(
                f"schedule {value!r}: audit at most every {ACCESS_KEYS_MIN_INTERVAL_MINUTES} minutes "
                "(one audit can take that long)"
            )
        return value
    cron = _CRON.match(value)
    if cron:
        fields = cron["fields"].split()
        if len(fields) != 6:
            raise ValueError(
                f"schedule {value!r}: cron() takes 6 fields (minutes hours day-of-month month "
                "day-of-week year)"
            )
        if (fields[2] == "?") == (fields[4] == "?"):
            raise ValueError(f"schedule {value!r}: exactly one of day-of-month and day-of-week must be '?'")
        return value
    raise ValueError(f"schedule {value!r}: expected an EventBridge 'rate(...)' or 'cron(...)' expression")


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
            "SECAUTO_ACCESS_KEYS_EXEMPT_TAG_KEY": self.exempt_tag_key,
            "SECAUTO_ACCESS_KEYS_EXEMPT_GROUPS": json.dumps(list(self.exempt_groups)),
            "SECAUTO_ACCESS_KEYS_OWNER_TAG_KEY": self.owner_tag_key,
            "SECAUTO_ACCESS_KEYS_REMINDER_DAYS": str(self.reminder_days),
            "SECAUTO_ACCESS_KEYS_REPORT_WAIT_SECONDS": str(self.report_wait_seconds),
        }
        if self.delete_inactive_days is not None:
            env["SECAUTO_ACCESS_KEYS_DELETE_INACTIVE_DAYS"] = str(self.delete_inactive_days)
        return env


class CapabilitiesConfig(_Model):
    """One entry per capability (albLogs, autoBlock, backups come later)."""

    root_activity: RootActivityConfig = RootActivityConfig()
    findings: FindingsConfig = FindingsConfig()
    access_keys: AccessKeysConfig = AccessKeysConfig()

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
