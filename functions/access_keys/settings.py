"""Access-key expiry settings (`SECAUTO_ACCESS_KEYS_*`), from `capabilities.accessKeys` in cdk.json."""

from __future__ import annotations

from pydantic import Field

from secauto_core.settings import EnvSettings

__all__ = ["AccessKeySettings"]


class AccessKeySettings(EnvSettings):
    env_prefix = "SECAUTO_ACCESS_KEYS_"

    #: Dry run unless true: the plan is computed and reported, no key is changed.
    enforce: bool = False
    warn_age_days: int = Field(default=80, ge=1)
    warn_unused_days: int = Field(default=45, ge=1)
    deactivate_age_days: int = Field(default=90, ge=1)
    deactivate_unused_days: int = Field(default=90, ge=1)
    #: Delete a key this many days after it was deactivated (None: never delete; opt-in).
    delete_inactive_days: int | None = Field(default=None, ge=1)
    #: A key never used is left alone this many days after its creation.
    never_used_grace_days: int = Field(default=7, ge=0)
    #: When a run would deactivate every working key of a user, the most recently used one is
    #: warned instead and deactivated this many days after it was first spared (0: no grace, the
    #: user may lose every key in one run). At most 30, so the last key's grace stays short.
    last_key_grace_days: int = Field(default=7, ge=0, le=30)
    exempt_tag_key: str = "secauto:key-exempt"
    exempt_groups: tuple[str, ...] = ()
    owner_tag_key: str = "secauto:owner"
    #: A warned key is announced again after this many days (not every run).
    reminder_days: int = Field(default=7, ge=1)
    #: How long to wait for a new credential report before falling back to listing users.
    report_wait_seconds: int = Field(default=60, ge=1)
