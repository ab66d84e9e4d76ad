"""Access keys as the audit sees them, and the plan it makes for each."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

    from secauto_core.severity import Severity

__all__ = ["ROOT_USER", "SPARED", "Action", "KeyPlan", "KeyRecord"]

#: The user name the credential report gives the root user.
ROOT_USER = "<root_account>"
#: How a spared key (a warned last working key) is announced and remembered.
SPARED = "spared"


class Action(StrEnum):
    NONE = "none"
    WARN = "warn"
    DEACTIVATE = "deactivate"
    DELETE = "delete"
    #: Root keys: reported as CRITICAL, never changed.
    REPORT = "report"
    EXEMPT = "exempt"


@dataclass(frozen=True)
class KeyRecord:
    """One access key: from the credential report (slot, no id) or from a live listing (id)."""

    user: str
    user_arn: str
    slot: int
    active: bool
    created_at: datetime
    last_used_at: datetime | None
    key_id: str | None = None

    @property
    def is_root(self) -> bool:
        return self.user == ROOT_USER

    @property
    def identity(self) -> str:
        """Stable across runs: the user and the key's creation time (the report has no key ids)."""
        return f"{self.user}#{self.created_at.strftime('%Y-%m-%dT%H:%M:%SZ')}"


@dataclass
class KeyPlan:
    """What the audit decided for one key, and what happened when the plan was carried out."""

    key: KeyRecord
    action: Action
    reasons: tuple[str, ...]
    severity: Severity
    controls: tuple[str, ...] = ()
    owner: str | None = None
    exemption: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: False when the same warning was announced within the reminder cadence.
    announce: bool = True
    #: "planned" (dry run), "done", "skipped: ..." or "failed: ..."
    outcome: str = "planned"
    #: Set when the key is its user's last working key and was warned instead of deactivated
    #: (`last_key.plan_user`): the day it is deactivated unless rotated.
    spared_until: datetime | None = None

    @property
    def non_compliant(self) -> bool:
        return self.action in (Action.WARN, Action.DEACTIVATE, Action.DELETE, Action.REPORT)

    @property
    def announcement(self) -> str:
        """What was announced, for the reminder cadence: a spared key is news even after a warning."""
        return SPARED if self.spared_until is not None else self.action.value
