"""The `secauto` context object: defaults, camelCase keys, and readable errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from infra_testlib import FULL_CONFIG

from secauto_infra.app_builder import CAPABILITIES, cdk_json_context
from secauto_infra.config import LOG_RETENTION_DAYS, CapabilitiesConfig, ConfigError, parse_config
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
    assert parse_config(raw).capabilities.enabled() == []


def test_every_capability_in_the_config_has_a_builder() -> None:
    assert set(CAPABILITIES) == set(CapabilitiesConfig.model_fields)


def test_every_retention_period_maps_to_cdk() -> None:
    assert set(RETENTION) == set(LOG_RETENTION_DAYS)
