"""Settings read from the environment: decoding, validation errors, per-class caching."""

from __future__ import annotations

import pydantic
import pytest
from pydantic import Field

from secauto_core.settings import EnvSettings, RuntimeSettings, SettingsError, forget_settings, get_settings


class ScannerSettings(EnvSettings):
    env_prefix = "SECAUTO_SCAN_"

    allowed_ports: list[int] = Field(default_factory=list)
    exempt_accounts: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    threshold: float = 1.5
    enabled: bool = False
    name: str = "default"


def test_defaults_when_environment_is_empty():
    settings = RuntimeSettings.from_environ({})
    assert settings.capability == "unknown"
    assert settings.topic_arn is None
    assert settings.securityhub_import is True
    assert settings.slack_secret_max_age_seconds == 300
    assert settings.idempotency_ttl_minutes == 24 * 60


def test_values_are_read_from_prefixed_upper_case_variables():
    settings = RuntimeSettings.from_environ(
        {
            "SECAUTO_CAPABILITY": "root_activity",
            "SECAUTO_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
            "SECAUTO_SLACK_SECRET_MAX_AGE_SECONDS": "60",
            "SECAUTO_SECURITYHUB_IMPORT": "false",
            "SECAUTO_SECURITYHUB_RETRY_BASE_SECONDS": "0.25",
            "capability": "lower-case names are not read",
        }
    )
    assert settings.capability == "root_activity"
    assert settings.topic_arn == "arn:aws:sns:us-east-1:123456789012:alerts"
    assert settings.slack_secret_max_age_seconds == 60
    assert settings.securityhub_import is False
    assert settings.securityhub_retry_base_seconds == 0.25


def test_empty_variable_means_default():
    settings = RuntimeSettings.from_environ({"SECAUTO_CAPABILITY": "", "SECAUTO_IDEMPOTENCY_TTL_MINUTES": ""})
    assert settings.capability == "unknown"
    assert settings.idempotency_ttl_minutes == 24 * 60


def test_json_lists_and_objects_are_decoded():
    settings = ScannerSettings.from_environ(
        {
            "SECAUTO_SCAN_ALLOWED_PORTS": "[22, 443]",
            "SECAUTO_SCAN_EXEMPT_ACCOUNTS": '["111111111111", "222222222222"]',
            "SECAUTO_SCAN_TAGS": '{"team": "sec"}',
            "SECAUTO_SCAN_THRESHOLD": "2",
            "SECAUTO_SCAN_ENABLED": "1",
        }
    )
    assert settings.allowed_ports == [22, 443]
    assert settings.exempt_accounts == ["111111111111", "222222222222"]
    assert settings.tags == {"team": "sec"}
    assert settings.threshold == 2.0
    assert settings.enabled is True


def test_subclass_prefix_does_not_read_the_base_prefix():
    settings = ScannerSettings.from_environ({"SECAUTO_NAME": "base", "SECAUTO_SCAN_NAME": "scan"})
    assert settings.name == "scan"


@pytest.mark.parametrize(
    ("cls", "name", "raw"),
    [
        (RuntimeSettings, "SECAUTO_SLACK_SECRET_MAX_AGE_SECONDS", "five minutes"),
        (RuntimeSettings, "SECAUTO_SECURITYHUB_IMPORT", "perhaps"),
        (RuntimeSettings, "SECAUTO_IDEMPOTENCY_TTL_MINUTES", "1.5"),
        (RuntimeSettings, "SECAUTO_TOPIC_ARN", '{"not": "a string"}'),
        (ScannerSettings, "SECAUTO_SCAN_ALLOWED_PORTS", "[22, 443"),  # broken JSON stays a string
        (ScannerSettings, "SECAUTO_SCAN_ALLOWED_PORTS", '["ssh"]'),
        (ScannerSettings, "SECAUTO_SCAN_ALLOWED_PORTS", "22"),
        (ScannerSettings, "SECAUTO_SCAN_TAGS", '{"team": ["a"]}'),
    ],
)
def test_bad_values_raise_settings_error_naming_the_class(cls, name, raw):
    with pytest.raises(SettingsError) as caught:
        cls.from_environ({name: raw})
    assert cls.__name__ in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_settings_are_frozen():
    settings = RuntimeSettings.from_environ({})
    with pytest.raises(pydantic.ValidationError):
        settings.capability = "changed"  # type: ignore[misc]


def test_current_is_cached_until_forget_settings(monkeypatch):
    monkeypatch.setenv("SECAUTO_CAPABILITY", "first")
    first = get_settings()
    monkeypatch.setenv("SECAUTO_CAPABILITY", "second")
    assert get_settings() is first
    assert RuntimeSettings.current().capability == "first"
    forget_settings()
    assert get_settings().capability == "second"
    assert get_settings() is not first


def test_current_is_cached_per_class(monkeypatch):
    monkeypatch.setenv("SECAUTO_CAPABILITY", "root_activity")
    monkeypatch.setenv("SECAUTO_SCAN_ALLOWED_PORTS", "[80]")
    runtime = RuntimeSettings.current()
    scanner = ScannerSettings.current()
    assert isinstance(runtime, RuntimeSettings)
    assert isinstance(scanner, ScannerSettings)
    assert scanner.allowed_ports == [80]
    assert ScannerSettings.current() is scanner


def test_current_raises_on_bad_environment_and_caches_nothing(monkeypatch):
    monkeypatch.setenv("SECAUTO_IDEMPOTENCY_TTL_MINUTES", "forever")
    with pytest.raises(SettingsError):
        get_settings()
    monkeypatch.setenv("SECAUTO_IDEMPOTENCY_TTL_MINUTES", "10")
    assert get_settings().idempotency_ttl_minutes == 10
