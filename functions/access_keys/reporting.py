"""What an audit run tells people: one summary, a message per owner, one finding per key."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from access_keys.model import Action, KeyPlan
from secauto_core.alert import Alert, Fact
from secauto_core.asff import AsffResource, FindingSpec, build_finding
from secauto_core.console_links import console_base_url
from secauto_core.severity import Severity

if TYPE_CHECKING:
    from access_keys.audit import AuditResult
    from access_keys.state import KeyState

__all__ = ["archived_finding", "key_finding", "owner_alerts", "summary_alert"]

CAPABILITY = "access_keys"
_TITLES = {
    Action.WARN: "IAM access key due for rotation",
    Action.DEACTIVATE: "IAM access key past its maximum age or unused period",
    Action.DELETE: "Inactive IAM access key past its retention",
    Action.REPORT: "The root user has an access key",
}
_SPARED_TITLE = "Last working IAM access key past its limit: deactivation deferred"
_SPARED_FACT = (
    "warned instead of deactivated, so that no user loses every key in one run; each is "
    "deactivated at its deadline unless rotated"
)
_OWNER_SUMMARY = "These access keys are due for rotation or will be (or were) deactivated."
_OWNER_SPARED = (
    " A spared key is its user's last working key: create a new key and move to it before the "
    "deadline, or the old one is deactivated then."
)


def _key_label(plan: KeyPlan) -> str:
    key = plan.key
    return f"{key.user} {key.key_id or f'key {key.slot}'}"


def _line(plan: KeyPlan) -> str:
    owner = f"; owner {plan.owner}" if plan.owner else ""
    if plan.spared_until is not None:
        # The spared line leads ("spared: last working key of user X, deactivated on <date> ...").
        spared, *reasons = plan.reasons
        return f"{spared} ({plan.outcome}); {', '.join(reasons)}{owner}"
    return f"{plan.action.value} ({plan.outcome}): {', '.join(plan.reasons)}{owner}"


def _counts(result: AuditResult) -> str:
    spared = len(result.spared)
    parts = []
    for action in (Action.WARN, Action.DEACTIVATE, Action.DELETE, Action.REPORT, Action.EXEMPT):
        if result.count(action):
            extra = f" ({spared} spared)" if action is Action.WARN and spared else ""
            parts.append(f"{result.count(action)} {action.value}{extra}")
    return ", ".join(parts)


def _iam_console(region: str) -> str:
    return f"{console_base_url(region)}/iam/home#/users"


def summary_alert(result: AuditResult, account: str, region: str, alias: str | None) -> Alert | None:
    """One message for the run, or None when there is nothing new to tell."""
    announced = result.announced
    if not announced:
        return None
    mode = "enforced" if result.enforce else "dry run: nothing was changed"
    counts = _counts(result)
    facts = [
        Fact(label="Keys audited", value=f"{len(result.plans)} (source: {result.source})"),
        Fact(label="Plan", value=counts or "no action"),
        Fact(label="Mode", value=mode),
    ]
    if result.failures:
        facts.append(Fact(label="Failed", value=str(len(result.failures))))
    if result.spared:
        spared = len(result.spared)
        keys = "last working key" if spared == 1 else "last working keys"
        facts.append(Fact(label="Spared", value=f"{spared} {keys} {_SPARED_FACT}"))
    facts += [Fact(label=_key_label(plan), value=_line(plan)) for plan in announced if plan.non_compliant]
    facts += [Fact(label="Warning", value=warning) for plan in announced for warning in plan.warnings]
    severity = max((plan.severity for plan in announced), default=Severity.LOW)
    if result.failures:
        severity = max(severity, Severity.HIGH)
    return Alert(
        capability=CAPABILITY,
        severity=severity,
        title=f"IAM access keys: {counts or 'warnings'}",
        summary=f"Daily access-key audit ({mode}).",
        account_id=account,
        account_alias=alias,
        region=region,
        time=result.run_at,
        facts=tuple(facts),
        labels=() if result.enforce else ("dry run",),
        console_url=_iam_console(region),
        subject_id=f"access-key-audit/{result.run_at.date().isoformat()}",
    )


def owner_alerts(result: AuditResult, account: str, region: str, alias: str | None) -> list[Alert]:
    """One SNS message per owner tag, with an `owner` attribute owners can subscribe to."""
    by_owner: dict[str, list[KeyPlan]] = defaultdict(list)
    for plan in result.announced:
        if plan.owner and plan.non_compliant:
            by_owner[plan.owner].append(plan)
    return [
        Alert(
            capability=CAPABILITY,
            severity=max(plan.severity for plan in plans),
            title=f"IAM access keys of {owner}: action needed",
            summary=_OWNER_SUMMARY + (_OWNER_SPARED if any(p.spared_until for p in plans) else ""),
            account_id=account,
            account_alias=alias,
            region=region,
            time=result.run_at,
            facts=tuple(Fact(label=_key_label(plan), value=_line(plan)) for plan in plans),
            console_url=_iam_console(region),
            subject_id=f"access-key-audit/{result.run_at.date().isoformat()}/{owner}",
            attributes=(("owner", owner),),
        )
        for owner, plans in sorted(by_owner.items())
    ]


def _spec(
    identity: str, plan: KeyPlan | None, account: str, region: str, now: datetime, state: str
) -> FindingSpec:
    user, _, created = identity.partition("#")
    reasons: tuple[str, ...] = ()
    controls: tuple[str, ...] = ()
    if plan is None:
        title, severity = "IAM access key no longer present", Severity.INFORMATIONAL
        created_at = datetime.fromisoformat(created.replace("Z", "+00:00"))
        key_resource = f"AWS::IAM::AccessKey:{user}/{created}"
    else:
        created_at = plan.key.created_at
        title = _SPARED_TITLE if plan.spared_until else _TITLES.get(plan.action, "IAM access key compliant")
        severity, reasons, controls = plan.severity, plan.reasons, plan.controls
        key_resource = f"AWS::IAM::AccessKey:{plan.key.key_id or user + '/' + created}"
    resources = [AsffResource(type="AwsIamAccessKey", id=key_resource, region=region)]
    if plan is not None and plan.key.user_arn:
        resources.append(AsffResource(type="AwsIamUser", id=plan.key.user_arn, region=region))
    best_practices = "Software and Configuration Checks/AWS Security Best Practices"
    types = [f"{best_practices}/{control}" for control in controls] or [f"{best_practices}/IAM.3"]
    return FindingSpec(
        capability=CAPABILITY,
        natural_key=identity,
        generator_id=f"secauto/{CAPABILITY}/key-expiry",
        account_id=account,
        region=region,
        title=title,
        description=f"{user}: {'; '.join(reasons) or 'resolved'}.",
        severity=severity if state == "ACTIVE" else Severity.INFORMATIONAL,
        types=types,
        resources=resources,
        created_at=created_at,
        updated_at=now,
        source_url=_iam_console(region),
        product_fields={
            "secauto/Action": plan.action.value if plan else "removed",
            "secauto/Owner": (plan.owner or "") if plan else "",
        },
        record_state="ACTIVE" if state == "ACTIVE" else "ARCHIVED",
    )


def key_finding(plan: KeyPlan, account: str, region: str, now: datetime) -> dict[str, Any]:
    state = "ACTIVE" if plan.non_compliant and plan.outcome != "done" else "ARCHIVED"
    return build_finding(_spec(plan.key.identity, plan, account, region, now, state))


def archived_finding(state: KeyState, account: str, region: str, now: datetime) -> dict[str, Any]:
    return build_finding(_spec(state.identity, None, account, region, now, "ARCHIVED"))
