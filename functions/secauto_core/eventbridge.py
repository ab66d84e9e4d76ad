"""The EventBridge envelope as a generic pydantic model.

It mirrors Powertools Parser's `EventBridgeModel` (same fields and aliases). Why not import
that one: `aws_lambda_powertools.utilities.parser` builds the schemas of some eighty event
models on import, about 100 ms of every cold start, for the one envelope we use.
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EventBridgeEvent"]

DetailT = TypeVar("DetailT")


class EventBridgeEvent(BaseModel, Generic[DetailT]):
    model_config = ConfigDict(populate_by_name=True, defer_build=True)

    version: str = "0"
    id: str = Field(min_length=1)
    source: str
    account: str
    time: datetime
    region: str
    resources: list[str] = Field(default_factory=list)
    detail_type: str = Field(alias="detail-type")
    detail: DetailT
    replay_name: str | None = Field(default=None, alias="replay-name")
