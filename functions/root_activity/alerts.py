"""Turning a classified root event into an `Alert` and an ASFF `FindingSpec`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from root_activity.classify import Classification, RootActivityKind
from secauto_core.alert import Alert, Fact
from secauto_core.asff import AsffResource, FindingSpec, inbound_network
from secauto_core.console_links import cloudtrail_event_url

if TYPE_CHECKING:
    from root_activity.models import RootActivityEvent

__all__ = ["CAPABILITY", "build_alert", "build_finding_spec"]

CAPABILITY = "root_activity"

_SUMMARY = {
    RootActivityKind.CONSOLE_SIGNIN: "The root user signed in to the AWS console.",
    RootActivityKind.CONSOLE_SIGNIN_FAILURE: "Someone failed to sign in to the AWS console as the root user.",
    RootActivityKind.API_CALL: "The root user's credentials were used to call an AWS API.",
    RootActivityKind.ASSUMED_ROOT_API_CALL: (
        "An AWS API was called in a privileged root session created with sts:AssumeRoot "
        "(centralized root access from the management account)."
    ),
}
_TYPES = {
    RootActivityKind.CONSOLE_SIGNIN: ["Unusual Behaviors/User/Root Console Sign-In"],
    RootActivityKind.CONSOLE_SIGNIN_FAILURE: ["TTPs/Credential Access/Root Console Sign-In Failure"],
    RootActivityKind.API_CALL: ["Unusual Behaviors/User/Root API Call"],
    RootActivityKind.ASSUMED_ROOT_API_CALL: ["Unusual Behaviors/User/AssumeRoot Session Activity"],
}
_NO_MFA_TYPE = "Software and Configuration Checks/AWS Security Best Practices/Root Sign-In Without MFA"


def _facts(event: RootActivityEvent, classification: Classification) -> tuple[Fact, ...]:
    detail = event.detail
    facts = [
        Fact(label="Event", value=f"{detail.event_source} {detail.event_name}"),
        Fact(label="Source IP", value=detail.source_ip_address or "unknown"),
        Fact(label="User agent", value=detail.user_agent or "unknown"),
        Fact(label="CloudTrail event id", value=detail.event_id),
        Fact(label="Event Region", value=detail.aws_region),
    ]
    if classification.mfa_used is not None:
        facts.append(Fact(label="MFA used", value="yes" if classification.mfa_used else "NO"))
    if detail.error_code or detail.error_message:
        facts.append(
            Fact(label="Error", value=" ".join(filter(None, [detail.error_code, detail.error_message])))
        )
    context = detail.user_identity.session_context
    if classification.kind is RootActivityKind.ASSUMED_ROOT_API_CALL and context and context.session_issuer:
        facts.append(Fact(label="AssumeRoot issuer", value=context.session_issuer.arn or "unknown"))
    if detail.user_identity.access_key_id:
        facts.append(Fact(label="Access key", value=detail.user_identity.access_key_id))
    return tuple(facts)


def build_alert(event: RootActivityEvent, classification: Classification, account_alias: str | None) -> Alert:
    detail = event.detail
    return Alert(
        capability=CAPABILITY,
        severity=classification.severity,
        title=classification.title,
        summary=_SUMMARY[classification.kind],
        account_id=event.account,
        account_alias=account_alias,
        region=detail.aws_region,
        time=detail.event_time,
        facts=_facts(event, classification),
        labels=classification.labels,
        console_url=cloudtrail_event_url(detail.aws_region, detail.event_id),
        subject_id=detail.event_id,
    )


def build_finding_spec(
    event: RootActivityEvent, classification: Classification, alert: Alert, home_region: str
) -> FindingSpec:
    """The finding, imported in `home_region` (where the function runs) about the event's Region."""
    detail = event.detail
    types = list(_TYPES[classification.kind])
    if classification.mfa_used is False:
        types.append(_NO_MFA_TYPE)
    description = " ".join(
        [alert.summary, *(f"{fact.label}: {fact.value}." for fact in alert.facts), *alert.labels]
    )
    return FindingSpec(
        capability=CAPABILITY,
        natural_key=detail.event_id,
        generator_id=f"secauto/{CAPABILITY}/{classification.kind.value}",
        account_id=event.account,
        region=home_region,
        title=classification.title,
        description=description,
        severity=classification.severity,
        types=types,
        resources=[
            AsffResource(type="AwsAccount", id=f"AWS::::Account:{event.account}", region=detail.aws_region)
        ],
        created_at=detail.event_time,
        updated_at=detail.event_time,
        first_observed_at=detail.event_time,
        last_observed_at=detail.event_time,
        source_url=alert.console_url,
        network=inbound_network(detail.source_ip_address),
        product_fields={
            "secauto/cloudtrail/EventId": detail.event_id,
            "secauto/cloudtrail/EventName": detail.event_name,
            "secauto/cloudtrail/EventSource": detail.event_source,
            "secauto/cloudtrail/SourceIp": detail.source_ip_address or "",
            "secauto/cloudtrail/UserAgent": detail.user_agent or "",
            "secauto/Kind": classification.kind.value,
            "secauto/Labels": "; ".join(classification.labels),
        },
    )
