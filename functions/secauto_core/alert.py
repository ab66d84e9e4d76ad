"""The alert model every capability hands to the notifiers (Slack, SNS)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from secauto_core.severity import Severity

__all__ = ["Alert", "Fact"]


class Fact(BaseModel):
    """One labelled value shown in a message. Values may be attacker-controlled text."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    label: str
    value: str


class Alert(BaseModel):
    """What happened, how bad it is, and where to look; rendered by each notifier."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    capability: str
    severity: Severity
    title: str
    summary: str
    account_id: str
    account_alias: str | None = None
    region: str
    time: datetime
    facts: tuple[Fact, ...] = ()
    #: Short qualifiers such as "expected: break-glass window", shown next to the title.
    labels: tuple[str, ...] = ()
    console_url: str | None = None
    #: Stable id of what the alert is about (e.g. the CloudTrail event id).
    subject_id: str = Field(min_length=1)
    #: Extra SNS message attributes subscribers can filter on (e.g. an owner).
    attributes: tuple[tuple[str, str], ...] = ()

    @property
    def account_display(self) -> str:
        return f"{self.account_id} ({self.account_alias})" if self.account_alias else self.account_id
