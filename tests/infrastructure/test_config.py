"""The `secauto` context object: defaults, camelCase keys, and readable errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from infra_testlib import FULL_CONFIG

from access_keys.settings import AccessKeySettings
from findings.settings import FindingSource, FindingsSettings, IntegrationMode
from secauto_core.severity import Severity
from secauto_infra.app_builder import CAPABILITIES, cdk_json_context
from secauto_infra.config import (
    ACCESS_KEYS_MIN_INTERVAL_MINUTES,
    FINDINGS_SUPPRESSIONS_FILE,
    LOG_RETENTION_DAYS,
    AccessKeysConfig,
    CapabilitiesConfig,
    ConfigError,
    parse_config,
)
from secauto_infra.function import RETENTION


def test_defaults() -> None:
    config = parse_config(None)
    assert config.home_region == "us-east-1"
    assert config.regions == ("us-east-1",)
    assert config.other_regions == ()
    assert config.lambda_runtime == "python3.13"
    assert config.python_version == "3.13"
    assert config.powertools_layer_version == 27
    assert config.slack_webhook_secret_name is None
    root = config.capabilities.root_activity
    assert root.enabled
    assert (root.failure_burst_threshold, root.failure_burst_window_minutes) == (3, 15)
    assert not root.cis_alarm.enabled


def test_cdk_json_holds_a_valid_config() -> None:
    context = cdk_json_context()
    assert "secauto" in context
    parse_config(context["secauto"])


def test_full_config_parses_and_normalises() -> None:
    config = parse_config(FULL_CONFIG)
    assert config.other_regions == ("us-east-1", "ap-southeast-2")
    root = config.capabilities.root_activity
    assert root.expected_source_cidrs == ("203.0.113.0/24", "2001:db8::/32")
    assert root.break_glass_windows[0].as_env()["start"] == "2025-01-01T00:00:00+00:00"
    assert root.cis_alarm.cloud_trail_log_group_name == "aws-controltower/CloudTrailLogs"


def test_a_json_string_from_the_cli_is_accepted() -> None:
    assert parse_config(json.dumps({"homeRegion": "us-east-1"})).home_region == "us-east-1"


def _root(**settings: Any) -> dict[str, Any]:
    return {"capabilities": {"rootActivity": settings}}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"homeRegion": "Europe"}, "not an AWS Region name"),
        ({"homeRegion": "eu-west-1", "regions": ["us-east-1"]}, "must include homeRegion"),
        ({"homeRegion": "eu-west-1"}, "root console sign-ins"),
        ({"account": "12345"}, "account"),
        ({"logRetentionDays": 42}, "CloudWatch Logs accepts"),
        ({"lambdaRuntime": "python3.14"}, "lambdaRuntime"),
        ({"architecture": "aarch64"}, "architecture"),
        ({"homeRegoin": "us-east-1"}, "homeRegoin"),
        (_root(expectedSourceCidrs=["203.0.113.7/24"]), "host bits"),
        (_root(failureBurstThreshold=1), "failureBurstThreshold"),
        (_root(cisAlarm={"enabled": True}), "cloudTrailLogGroupName"),
        (
            _root(
                breakGlassWindows=[
                    {"start": "2025-01-02T00:00:00Z", "end": "2025-01-01T00:00:00Z", "reason": "x"}
                ]
            ),
            "end must be after start",
        ),
        (
            _root(
                breakGlassWindows=[
                    {"start": "2025-01-01T00:00:00", "end": "2025-01-02T00:00:00Z", "reason": "x"}
                ]
            ),
            "timezone",
        ),
        ("{not json", "not valid JSON"),
        (["us-east-1"], "must be a JSON object"),
    ],
)
def test_bad_config_is_a_clear_error(raw: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


def test_root_activity_off_does_not_need_us_east_1() -> None:
    raw = {"homeRegion": "eu-west-1", **_root(enabled=False)}
    assert parse_config(raw).capabilities.enabled() == [
        "findings",
        "access_keys",
        "alb_logs",
        "auto_block",
        "backups",
    ]


def test_every_capability_can_be_turned_off() -> None:
    raw = {
        "capabilities": {
            "rootActivity": {"enabled": False},
            "findings": {"enabled": False},
            "accessKeys": {"enabled": False},
            "albLogs": {"enabled": False},
            "autoBlock": {"enabled": False},
            "backups": {"enabled": False},
        }
    }
    assert parse_config(raw).capabilities.enabled() == []


# ---------------------------------------------------------------- findings


def _findings(**settings: Any) -> dict[str, Any]:
    return {"capabilities": {"findings": settings}}


def test_findings_defaults() -> None:
    findings = parse_config(None).capabilities.findings
    assert findings.enabled
    assert findings.integration_mode == "auto"
    assert findings.min_severity.model_dump() == {
        "guardduty": "MEDIUM",
        "macie": "MEDIUM",
        "inspector": "HIGH",
    }
    assert (findings.notify_samples, findings.notify_archived) == (False, False)
    assert findings.count_jump_factor == 10
    assert findings.cross_account_role_name is None
    assert (findings.product_cache_minutes, findings.state_ttl_days) == (60, 90)
    assert (findings.batch_size, findings.batching_window_seconds, findings.max_concurrency) == (100, 20, 2)


def test_findings_min_severity_is_per_source_with_defaults() -> None:
    findings = parse_config(_findings(minSeverity={"inspector": "CRITICAL"})).capabilities.findings
    assert findings.min_severity.model_dump() == {
        "guardduty": "MEDIUM",
        "macie": "MEDIUM",
        "inspector": "CRITICAL",
    }


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"integrationMode": "both"}, "integrationMode"),
        ({"minSeverity": {"securityhub": "LOW"}}, "securityhub"),
        ({"minSeverity": {"guardduty": "SEVERE"}}, "guardduty"),
        ({"countJumpFactor": 1}, "countJumpFactor"),
        ({"crossAccountRoleName": "*"}, "crossAccountRoleName"),
        ({"crossAccountRoleName": "secauto-*"}, "crossAccountRoleName"),
        ({"crossAccountRoleName": ""}, "crossAccountRoleName"),
        ({"productCacheMinutes": 0}, "productCacheMinutes"),
        ({"stateTtlDays": 0}, "stateTtlDays"),
        ({"batchSize": 0}, "batchSize"),
        ({"batchSize": 101}, "batchSize"),
        ({"batchingWindowSeconds": 301}, "batchingWindowSeconds"),
        ({"batchingWindowSeconds": -1}, "batchingWindowSeconds"),
        ({"maxConcurrency": 1}, "maxConcurrency"),
        ({"maxConcurrency": 11}, "maxConcurrency"),
        ({"batchSize": 11, "batchingWindowSeconds": 0}, "batchingWindowSeconds of at least 1"),
        ({"notifySample": True}, "notifySample"),
    ],
)
def test_bad_findings_config_is_a_clear_error(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(_findings(**settings))


def test_small_batches_need_no_batching_window() -> None:
    findings = parse_config(_findings(batchSize=10, batchingWindowSeconds=0)).capabilities.findings
    assert (findings.batch_size, findings.batching_window_seconds) == (10, 0)


@pytest.mark.parametrize("raw", [None, FULL_CONFIG], ids=["default", "full"])
def test_findings_environment_parses_back_into_the_handler_settings(raw: Any) -> None:
    wanted = parse_config(raw).capabilities.findings
    env = wanted.environment()
    assert all(key.startswith(FindingsSettings.env_prefix) for key in env)
    assert {key.removeprefix(FindingsSettings.env_prefix).lower() for key in env} <= set(
        FindingsSettings.model_fields
    )
    settings = FindingsSettings.from_environ(env)
    assert settings.integration_mode == IntegrationMode(wanted.integration_mode)
    assert settings.min_severity == {
        FindingSource(source): Severity(label) for source, label in wanted.min_severity.model_dump().items()
    }
    assert settings.notify_samples is wanted.notify_samples
    assert settings.notify_archived is wanted.notify_archived
    assert settings.count_jump_factor == wanted.count_jump_factor
    assert settings.cross_account_role_name == wanted.cross_account_role_name
    assert settings.suppressions_file == FINDINGS_SUPPRESSIONS_FILE
    assert settings.product_cache_minutes == wanted.product_cache_minutes
    assert settings.state_ttl_days == wanted.state_ttl_days
    # The role variable exists only when a role is configured.
    assert ("SECAUTO_FINDINGS_CROSS_ACCOUNT_ROLE_NAME" in env) is (wanted.cross_account_role_name is not None)


def test_findings_environment_defaults_equal_the_handler_defaults() -> None:
    # Deployed with no findings settings, the handler behaves as it does with none at all.
    assert FindingsSettings.from_environ(parse_config(None).capabilities.findings.environment()) == (
        FindingsSettings.from_environ({})
    )


# ---------------------------------------------------------------- access keys


def _access_keys(**settings: Any) -> dict[str, Any]:
    return {"capabilities": {"accessKeys": settings}}


#: The config's own keys; every other field is one of the handler's settings.
ACCESS_KEYS_DEPLOYMENT_FIELDS = {"enabled", "schedule"}


def test_access_keys_config_has_one_key_per_handler_setting() -> None:
    fields = set(AccessKeysConfig.model_fields) - ACCESS_KEYS_DEPLOYMENT_FIELDS
    assert fields == set(AccessKeySettings.model_fields)
    # Same defaults too: cdk.json's defaults are the handler's.
    config = AccessKeysConfig()
    handler = AccessKeySettings()
    assert {name: getattr(config, name) for name in fields} == {
        name: getattr(handler, name) for name in fields
    }


def test_access_keys_defaults() -> None:
    keys = parse_config(None).capabilities.access_keys
    assert keys.enabled
    assert keys.schedule == "rate(1 day)"
    assert keys.enforce is False  # a dry run unless told otherwise
    assert (keys.warn_age_days, keys.warn_unused_days) == (80, 45)
    assert (keys.deactivate_age_days, keys.deactivate_unused_days) == (90, 90)
    assert keys.delete_inactive_days is None  # deleting is opt-in
    assert (keys.never_used_grace_days, keys.reminder_days, keys.report_wait_seconds) == (7, 7, 60)
    assert keys.exempt_groups == ()


@pytest.mark.parametrize(
    "schedule",
    [
        "rate(1 day)",
        "rate(2 days)",
        "rate(1 hour)",
        "rate(12 hours)",
        f"rate({ACCESS_KEYS_MIN_INTERVAL_MINUTES} minutes)",
        "cron(0 6 * * ? *)",
        "cron(30 5 ? * MON-FRI *)",
    ],
)
def test_access_keys_schedules_eventbridge_accepts(schedule: str) -> None:
    assert parse_config(_access_keys(schedule=schedule)).capabilities.access_keys.schedule == schedule


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"schedule": "daily"}, "rate"),
        ({"schedule": "rate(1 days)"}, "singular for 1"),
        ({"schedule": "rate(2 day)"}, "singular for 1"),
        ({"schedule": "rate(0 days)"}, "rate"),
        ({"schedule": "rate(1 week)"}, "rate"),
        ({"schedule": "rate(5 minutes)"}, "at most every"),
        ({"schedule": "cron(0 6 * * *)"}, "6 fields"),
        ({"schedule": "cron(0 6 * * MON *)"}, "exactly one of day-of-month and day-of-week"),
        ({"schedule": "cron(0 6 ? * ? *)"}, "exactly one of day-of-month and day-of-week"),
        ({"warnAgeDays": 90}, "warnAgeDays must be below deactivateAgeDays"),
        ({"warnAgeDays": 100}, "warnAgeDays must be below deactivateAgeDays"),
        ({"warnUnusedDays": 90}, "warnUnusedDays must be below deactivateUnusedDays"),
        ({"deactivateUnusedDays": 30}, "warnUnusedDays must be below deactivateUnusedDays"),
        ({"neverUsedGraceDays": 90}, "neverUsedGraceDays must be below deactivateUnusedDays"),
        ({"neverUsedGraceDays": -1}, "neverUsedGraceDays"),
        ({"warnAgeDays": 0}, "warnAgeDays"),
        ({"deleteInactiveDays": 0}, "deleteInactiveDays"),
        ({"reminderDays": 0}, "reminderDays"),
        ({"reportWaitSeconds": 0}, "reportWaitSeconds"),
        ({"reportWaitSeconds": 601}, "reportWaitSeconds"),
        ({"exemptTagKey": ""}, "tag key"),
        ({"exemptTagKey": "aws:exempt"}, "tag key"),
        ({"ownerTagKey": "owner#team"}, "tag key"),
        ({"ownerTagKey": "secauto:key-exempt"}, "must differ"),
        ({"exemptGroups": ["break glass"]}, "group names"),
        ({"enforce": "maybe"}, "enforce"),
        ({"warnAgeDay": 10}, "warnAgeDay"),
    ],
)
def test_bad_access_keys_config_is_a_clear_error(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(_access_keys(**settings))


def test_access_keys_exempt_groups_lose_duplicates() -> None:
    keys = parse_config(_access_keys(exemptGroups=["a", "b", "a"])).capabilities.access_keys
    assert keys.exempt_groups == ("a", "b")


@pytest.mark.parametrize("raw", [None, FULL_CONFIG], ids=["default", "full"])
def test_access_keys_environment_parses_back_into_the_handler_settings(raw: Any) -> None:
    wanted = parse_config(raw).capabilities.access_keys
    env = wanted.environment()
    assert all(key.startswith(AccessKeySettings.env_prefix) for key in env)
    assert {key.removeprefix(AccessKeySettings.env_prefix).lower() for key in env} <= set(
        AccessKeySettings.model_fields
    )
    settings = AccessKeySettings.from_environ(env)
    for name in AccessKeySettings.model_fields:
        assert getattr(settings, name) == getattr(wanted, name), name
    # No variable for "never delete": the handler's default (None) stands.
    assert ("SECAUTO_ACCESS_KEYS_DELETE_INACTIVE_DAYS" in env) is (wanted.delete_inactive_days is not None)


def test_full_config_sets_every_access_keys_setting() -> None:
    # So the full app really exercises every variable (each one differs from its default).
    configured = FULL_CONFIG["capabilities"]["accessKeys"]
    defaults = AccessKeysConfig().model_dump(by_alias=True)
    assert set(configured) == set(defaults)
    assert [key for key in configured if key != "enabled" and configured[key] == defaults[key]] == []


def test_access_keys_environment_defaults_equal_the_handler_defaults() -> None:
    # Deployed with no access-key settings, the handler behaves as it does with none at all.
    assert AccessKeySettings.from_environ(parse_config(None).capabilities.access_keys.environment()) == (
        AccessKeySettings.from_environ({})
    )


def test_every_capability_in_the_config_has_a_builder() -> None:
    assert set(CAPABILITIES) == set(CapabilitiesConfig.model_fields)


def test_every_retention_period_maps_to_cdk() -> None:
    assert set(RETENTION) == set(LOG_RETENTION_DAYS)
