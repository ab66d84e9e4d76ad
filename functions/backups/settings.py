"""Backup settings (`SECAUTO_BACKUPS_*`): the plans, dry run, the run's time budget, the tag prefix.

`SECAUTO_BACKUPS_PLANS` is a JSON list of plans with snake_case keys, e.g.
`[{"name": "daily", "resource_type": "instance", "select_tag": {"key": "secauto:backup",
"value": "daily"}, "mode": "snapshots", "period_hours": 24, "retain_days": 7, "min_keep": 2,
"copy_to": {"region": "us-west-2", "retain_days": 14}}]`. A plan is run by the schedule rule
`secauto-backups-<name>`.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from secauto_core.settings import EnvSettings

__all__ = ["BackupPlan", "BackupSettings", "CopyTarget", "SelectTag"]

_REGION = r"^[a-z]{2}(-[a-z]+)+-\d+$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SelectTag(_Frozen):
    """The tag that selects a plan's instances or volumes (e.g. `secauto:backup` = `daily`)."""

    key: str = Field(min_length=1, max_length=128)
    value: str = Field(max_length=256)


class CopyTarget(_Frozen):
    """Where a plan's backups are copied, and how long the copies are kept there."""

    region: str = Field(pattern=_REGION)
    retain_days: int | None = Field(default=None, ge=1)
    retain_count: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _some_retention(self) -> Self:
        if self.retain_days is None and self.retain_count is None:
            raise ValueError("copy_to needs retain_days or retain_count (or both)")
        return self


class BackupPlan(_Frozen):
    """What to back up, how, how often, and how long to keep it."""

    name: str = Field(pattern=r"^[a-z0-9-]{1,40}$")
    resource_type: Literal["instance", "volume"]
    select_tag: SelectTag
    #: "snapshots": instances get one crash-consistent set of all their volumes (CreateSnapshots),
    #: volumes one snapshot each; "ami": instances get an AMI (CreateImage).
    mode: Literal["snapshots", "ami"] = "snapshots"
    #: The schedule's period: a run's slot, and the age past which a resource counts as unprotected.
    period_hours: int = Field(ge=1, le=24 * 366)
    retain_count: int | None = Field(default=None, ge=1)
    retain_days: int | None = Field(default=None, ge=1)
    #: The newest `min_keep` usable backups of each resource are kept, even when expired.
    min_keep: int = Field(default=1, ge=1)
    #: Instance snapshot sets only: leave the root volume out.
    exclude_boot_volume: bool = False
    #: AMIs only: create the image without rebooting the instance (crash-consistent).
    no_reboot: bool = True
    copy_to: CopyTarget | None = None
    #: Copy the instance's or volume's own tags onto its backups.
    copy_tags: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.retain_days is None and self.retain_count is None:
            raise ValueError(f"plan {self.name}: needs retain_days or retain_count (or both)")
        if self.mode == "ami" and self.resource_type != "instance":
            raise ValueError(f"plan {self.name}: mode 'ami' backs up instances only")
        if self.retain_count is not None and self.min_keep > self.retain_count:
            raise ValueError(f"plan {self.name}: min_keep ({self.min_keep}) exceeds retain_count")
        return self


class BackupSettings(EnvSettings):
    env_prefix = "SECAUTO_BACKUPS_"

    plans: tuple[BackupPlan, ...] = ()
    #: Plan and report only: nothing is created, copied or deleted.
    dry_run: bool = False
    #: A run stops creating, copying and pruning after this long (or sooner, with a margin before
    #: the Lambda timeout) and reports what it did not reach.
    max_runtime_seconds: int = Field(default=840, ge=10)
    #: Prefix of every tag secauto sets on its backups (`secauto:managed-by`, ...).
    tag_prefix: str = Field(default="secauto:", pattern=r"^[A-Za-z0-9_.:/=+@-]{1,40}$")

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [plan.name for plan in self.plans]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate plan names: {duplicates}")
        if self.tag_prefix.lower().startswith("aws:"):
            raise ValueError("tag_prefix: the aws: prefix is reserved by AWS")
        return self

    def plan(self, name: str) -> BackupPlan | None:
        return next((plan for plan in self.plans if plan.name == name), None)
