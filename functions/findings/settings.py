"""Findings fan-out settings (`SECAUTO_FINDINGS_*`), set from `capabilities.findings` in cdk.json."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from secauto_core.settings import EnvSettings
from secauto_core.severity import Severity

__all__ = ["FindingSource", "FindingsSettings", "IntegrationMode"]


class IntegrationMode(StrEnum):
    #: Import every finding into Security Hub under our own product ARN.
    IMPORT = "import"
    #: AWS's own integration imports the findings: never import; notify and link to AWS's copy.
    NATIVE = "native"
    #: Ask Security Hub which products already import, per source, and cache the answer.
    AUTO = "auto"


class FindingSource(StrEnum):
    GUARDDUTY = "guardduty"
    MACIE = "macie"
    INSPECTOR = "inspector"


class FindingsSettings(EnvSettings):
    env_prefix = "SECAUTO_FINDINGS_"

    integration_mode: IntegrationMode = IntegrationMode.AUTO
    #: The lowest severity notified, per source; findings below it are imported but not notified.
    min_severity: dict[FindingSource, Severity] = Field(
        default_factory=lambda: {
            FindingSource.GUARDDUTY: Severity.MEDIUM,
            FindingSource.MACIE: Severity.MEDIUM,
            FindingSource.INSPECTOR: Severity.HIGH,
        }
    )
    notify_samples: bool = False
    notify_archived: bool = False
    #: A known finding is notified again when its count reaches this factor times the count
    #: last notified (GuardDuty re-sends findings with a growing count).
    count_jump_factor: float = Field(default=10.0, gt=1.0)
    #: Role assumed in a member account to import its findings (unset: such findings are skipped).
    cross_account_role_name: str | None = None
    #: The member accounts whose findings may be imported; empty: any account of the organisation
    #: (IAM limits the role to it with `aws:ResourceOrgID`). Others are skipped, not retried.
    member_account_ids: tuple[str, ...] = ()
    #: The suppression rules file, relative to the code root (or absolute).
    suppressions_file: str = "rules/suppressions/findings.json"
    #: How long the `auto` mode's answer (which products import natively) is cached.
    product_cache_minutes: int = Field(default=60, ge=1)
    #: Days a finding's notification state is kept after its last update.
    state_ttl_days: int = Field(default=90, ge=1)
