"""Root-activity settings (`SECAUTO_ROOT_*`), set from the `rootActivity` context in cdk.json."""

from __future__ import annotations

from datetime import datetime
from ipaddress import IPv4Network, IPv6Network

from pydantic import BaseModel, ConfigDict, Field, model_validator

from secauto_core.settings import EnvSettings

__all__ = ["BreakGlassWindow", "RootActivitySettings"]


class BreakGlassWindow(BaseModel):
    """A planned period of root use: activity inside it is labelled expected and lowered."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime
    reason: str = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> BreakGlassWindow:
        if self.end <= self.start:
            raise ValueError("a break-glass window must end after it starts")
        return self

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


class RootActivitySettings(EnvSettings):
    env_prefix = "SECAUTO_ROOT_"

    #: Source networks root activity is expected from (e.g. the office of the break-glass owner).
    expected_source_cidrs: tuple[IPv4Network | IPv6Network, ...] = ()
    break_glass_windows: tuple[BreakGlassWindow, ...] = ()
    #: Failed root sign-ins within the window that make a burst (HIGH instead of MEDIUM).
    failure_burst_threshold: int = Field(default=3, ge=2)
    failure_burst_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
