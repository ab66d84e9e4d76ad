"""What a run tells people: one summary per run, and a finding per unprotected resource.

The summary goes out when a run has anything to tell (created, copied, pruned, planned,
skipped, failed, not reached, unprotected); a re-run of a slot that finds everything done is
quiet. Backups tagged as ours that secauto did not record (kept, never pruned) are listed in
every summary that goes out, without making a run eventful on their own: after an upgrade, the
backups made before the ledger would otherwise make every quiet re-run speak. A selected
resource without a usable backup in the plan's current period gets a HIGH finding, archived
once it is backed up again or no longer selected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from secauto_core.alert import Alert, Fact
from secauto_core.asff import AsffResource, FindingSpec, build_finding
from secauto_core.console_links import console_base_url, partition_of
from secauto_core.severity import Severity

if TYPE_CHECKING:
    from datetime import datetime

    from backups.runner import Item, RunResult
    from backups.settings import BackupPlan

__all__ = ["CAPABILITY", "protection_finding", "summary_alert"]

CAPABILITY = "backups"
#: Per kind of item, at most this many lines in a message (the counts say how many in all).
_SHOWN = 10
_FINDING_TYPE = "Software and Configuration Checks/AWS Security Best Practices/Backup"


def _console(region: str, plan: BackupPlan) -> str:
    page = "Images" if plan.mode == "ami" else "Snapshots"
    return f"{console_base_url(region)}/ec2/home?region={region}#{page}:"


def _lines(label: str, items: list[Item]) -> list[Fact]:
    facts = [
        Fact(
            label=label, value=f"{item.target} [{item.region}]" + (f": {item.detail}" if item.detail else "")
        )
        for item in items[:_SHOWN]
    ]
    if len(items) > _SHOWN:
        facts.append(Fact(label=label, value=f"... and {len(items) - _SHOWN} more"))
    return facts


def summary_alert(result: RunResult, account: str, alias: str | None) -> Alert | None:
    """The run's summary, or None when it has nothing to tell."""
    if not result.eventful:
        return None
    plan = result.plan
    counts = result.counts()
    shown = (
        "created",
        "copied",
        "pruned",
        "planned",
        "skipped",
        "not_recorded",
        "failed",
        "not_reached",
        "unprotected",
    )
    headline = ", ".join(f"{counts[name]} {name.replace('_', ' ')}" for name in shown if counts[name])
    severity = Severity.INFORMATIONAL
    if result.skipped or result.unrecorded:
        severity = Severity.LOW
    if result.failed or result.not_reached or result.unprotected:
        severity = Severity.HIGH
    mode = "dry run: nothing was changed" if result.dry_run else "enforced"
    selector = f"{plan.select_tag.key}={plan.select_tag.value}"
    facts = [
        Fact(
            label="Plan",
            value=f"{plan.name} ({plan.resource_type}s tagged {selector}, {plan.mode})",
        ),
        Fact(label="Slot", value=result.slot),
        Fact(label="Selected", value=str(counts["selected"]) if result.sources is not None else "unknown"),
        Fact(label="Mode", value=mode),
    ]
    if counts["already_in_slot"]:
        facts.append(Fact(label="Already backed up in this slot", value=str(counts["already_in_slot"])))
    if counts["copies_waiting"]:
        facts.append(Fact(label="Copies waiting for their source", value=str(counts["copies_waiting"])))
    facts += _lines("Failed", result.failed)
    facts += _lines("Not reached", result.not_reached)
    facts += [
        Fact(label="Unprotected", value=f"{source.label}: no backup in this period")
        for source in result.unprotected[:_SHOWN]
    ]
    facts += _lines("Created", result.created)
    facts += _lines("Copied", result.copied)
    facts += _lines("Pruned", result.pruned)
    facts += _lines("Planned", result.planned)
    facts += _lines("Skipped", result.skipped)
    facts += _lines("Not recorded (kept)", result.unrecorded)
    return Alert(
        capability=CAPABILITY,
        severity=severity,
        title=f"Backups {plan.name}: {headline or 'nothing to do'}",
        summary=f"Scheduled backup run of plan {plan.name} ({mode}).",
        account_id=account,
        account_alias=alias,
        region=result.region,
        time=result.run_at,
        facts=tuple(facts),
        labels=("dry run",) if result.dry_run else (),
        console_url=_console(result.region, plan),
        subject_id=f"backups/{result.slot}",
    )


def protection_finding(
    plan: BackupPlan,
    source_id: str,
    *,
    account: str,
    region: str,
    opened_at: datetime,
    now: datetime,
    last_backup: datetime | None,
    active: bool,
    name: str | None = None,
) -> dict[str, Any]:
    """The ASFF finding of one resource without a backup in its plan's period (or archived)."""
    kind = "instance" if plan.resource_type == "instance" else "volume"
    arn = f"arn:{partition_of(region)}:ec2:{region}:{account}:{kind}/{source_id}"
    last = last_backup.strftime("%Y-%m-%dT%H:%M:%SZ") if last_backup else "never"
    label = f"{source_id} ({name})" if name else source_id
    description = (
        f"{label} is selected by backup plan {plan.name} ({plan.select_tag.key}={plan.select_tag.value}) "
        f"but has no successful backup within the plan's period of {plan.period_hours} hours. "
        f"Last backup: {last}."
        if active
        else f"{label} is backed up again by plan {plan.name}, or no longer selected. Last backup: {last}."
    )
    return build_finding(
        FindingSpec(
            capability=CAPABILITY,
            natural_key=f"{plan.name}/{source_id}",
            generator_id=f"secauto/{CAPABILITY}/{plan.name}",
            account_id=account,
            region=region,
            title=f"No successful backup within its plan's period ({plan.name})",
            description=description,
            severity=Severity.HIGH if active else Severity.INFORMATIONAL,
            types=[_FINDING_TYPE],
            resources=[
                AsffResource(
                    type="AwsEc2Instance" if kind == "instance" else "AwsEc2Volume", id=arn, region=region
                )
            ],
            created_at=opened_at,
            updated_at=now,
            source_url=_console(region, plan),
            product_fields={"secauto/Plan": plan.name, "secauto/LastBackup": last},
            record_state="ACTIVE" if active else "ARCHIVED",
        )
    )
