"""The outcome of delivering one alert to one sink."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["DeliveryResult", "DeliveryStatus"]


class DeliveryStatus(StrEnum):
    SENT = "sent"
    FAILED = "failed"
    DISABLED = "disabled"


@dataclass(frozen=True)
class DeliveryResult:
    status: DeliveryStatus
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not DeliveryStatus.FAILED
