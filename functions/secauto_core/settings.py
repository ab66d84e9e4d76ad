"""Runtime settings, read once from the environment the CDK function construct sets.

Every variable is `SECAUTO_` + the upper-cased field name; lists and objects are JSON. Each
capability subclasses `EnvSettings` with its own prefix (e.g. `SECAUTO_ROOT_`).

Why not pydantic-settings: it pulls asyncio and its CLI and cloud-secret providers into every
cold start (about 100 ms measured here) to do what `EnvSettings.from_environ` does in a few
lines; validation is still pydantic's.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["EnvSettings", "RuntimeSettings", "SettingsError", "forget_settings", "get_settings"]


class SettingsError(ValueError):
    """An environment variable holds a value its setting cannot take."""


class EnvSettings(BaseModel):
    """A frozen pydantic model filled from prefixed environment variables."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    env_prefix: ClassVar[str] = "SECAUTO_"

    @classmethod
    def current(cls) -> Self:
        """This process's settings of this class, read from the environment on first use."""
        instance = _instances.get(cls)
        if instance is None:
            instance = _instances[cls] = cls.from_environ()
        return instance  # type: ignore[return-value]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Self:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = environ.get(f"{cls.env_prefix}{name.upper()}")
            if raw is None or raw == "":
                continue
            values[name] = _decode(raw)
        try:
            return cls.model_validate(values)
        except ValueError as exc:
            raise SettingsError(f"{cls.__name__}: invalid environment ({cls.env_prefix}*): {exc}") from exc


_instances: dict[type[EnvSettings], EnvSettings] = {}


def forget_settings() -> None:
    """Drop every cached settings object (tests and the local replay change the environment)."""
    _instances.clear()


def _decode(raw: str) -> Any:
    """JSON for lists and objects, the plain string otherwise (pydantic coerces numbers, bools)."""
    if raw[:1] in "[{":
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


class RuntimeSettings(EnvSettings):
    """What every secauto function needs to know about its deployment."""

    capability: str = "unknown"
    #: SNS topic every alert is published to; unset disables SNS (local runs only).
    topic_arn: str | None = None
    #: Name or ARN of the Secrets Manager secret holding the Slack incoming-webhook URL.
    slack_secret_name: str | None = None
    #: How long the webhook URL is cached in memory before Secrets Manager is asked again.
    slack_secret_max_age_seconds: int = 300
    idempotency_table: str | None = None
    state_table: str | None = None
    #: URL of the dead-letter queue where events that cannot be parsed are parked.
    dlq_url: str | None = None
    account_alias: str | None = None
    #: Import ASFF findings into Security Hub (BatchImportFindings).
    securityhub_import: bool = True
    #: First delay before re-sending findings Security Hub rejected (doubles per attempt).
    securityhub_retry_base_seconds: float = 0.5
    #: Minutes a processed event id is remembered, so a re-delivery is recognised.
    idempotency_ttl_minutes: int = 24 * 60


def get_settings() -> RuntimeSettings:
    """The runtime settings of this process, read on first use."""
    return RuntimeSettings.current()
