"""Deciding what a root event is and how severe it is. Pure: no AWS, no clock, no I/O.

- console sign-in without MFA: CRITICAL; with MFA: HIGH;
- failed console sign-in: MEDIUM; the Nth failure within the burst window: HIGH;
- root API call: HIGH; an API call in an sts:AssumeRoot session (centralized root access from
  the management account) is its own kind, MEDIUM, labelled, never taken for a password login;
- activity from an expected source network or inside a break-glass window is labelled and
  lowered one band: never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from ipaddress import ip_address
from typing import TYPE_CHECKING

from secauto_core.severity import Severity

if TYPE_CHECKING:
    from root_activity.models import CloudTrailDetail
    from root_activity.settings import RootActivitySettings

__all__ = ["Classification", "RootActivityKind", "classify", "is_console_signin", "signin_failed"]


class RootActivityKind(StrEnum):
    CONSOLE_SIGNIN = "console-signin"
    CONSOLE_SIGNIN_FAILURE = "console-signin-failure"
    API_CALL = "api-call"
    ASSUMED_ROOT_API_CALL = "assumed-root-api-call"


@dataclass(frozen=True)
class Classification:
    kind: RootActivityKind
    severity: Severity
    title: str
    labels: tuple[str, ...] = ()
    #: None when the event says nothing about MFA (API calls).
    mfa_used: bool | None = None
    expected: bool = False


def is_console_signin(detail: CloudTrailDetail) -> bool:
    return detail.event_name == "ConsoleLogin" and detail.event_source == "signin.amazonaws.com"


def signin_failed(detail: CloudTrailDetail) -> bool:
    outcome = (detail.response_elements or {}).get("ConsoleLogin")
    if outcome is not None:
        return str(outcome).lower() != "success"
    return bool(detail.error_message or detail.error_code)


def _mfa_used(detail: CloudTrailDetail) -> bool:
    return str((detail.additional_event_data or {}).get("MFAUsed", "")).lower() == "yes"


def _expected_reasons(detail: CloudTrailDetail, settings: RootActivitySettings) -> list[str]:
    reasons = []
    try:
        source = ip_address(detail.source_ip_address or "")
    except ValueError:  # service names such as "AWS Internal" are not addresses
        source = None
    if source is not None:
        network = next((n for n in settings.expected_source_cidrs if source in n), None)
        if network is not None:
            reasons.append(f"expected source network {network}")
    window = next((w for w in settings.break_glass_windows if w.contains(detail.event_time)), None)
    if window is not None:
        reasons.append(f"break-glass window: {window.reason}")
    return reasons


def classify(
    detail: CloudTrailDetail,
    settings: RootActivitySettings,
    recent_failures: int = 0,
) -> Classification:
    """Classify one root event; `recent_failures` counts failed sign-ins in the burst window."""
    labels: list[str] = []
    mfa: bool | None = None
    if is_console_signin(detail) and signin_failed(detail):
        kind = RootActivityKind.CONSOLE_SIGNIN_FAILURE
        severity, title = Severity.MEDIUM, "Failed root console sign-in"
        if recent_failures >= settings.failure_burst_threshold:
            severity, title = Severity.HIGH, "Burst of failed root console sign-ins"
            labels.append(f"burst: {recent_failures} failures in {settings.failure_burst_window_minutes} min")
    elif is_console_signin(detail):
        kind = RootActivityKind.CONSOLE_SIGNIN
        mfa = _mfa_used(detail)
        if mfa:
            severity, title = Severity.HIGH, "Root console sign-in (MFA used)"
        else:
            severity, title = Severity.CRITICAL, "Root console sign-in without MFA"
    elif detail.is_assumed_root:
        kind = RootActivityKind.ASSUMED_ROOT_API_CALL
        severity = Severity.MEDIUM
        title = f"AssumeRoot session call: {detail.event_source} {detail.event_name}"
        labels.append("AssumeRoot session (centralized root access)")
    else:
        kind = RootActivityKind.API_CALL
        severity, title = Severity.HIGH, f"Root API call: {detail.event_source} {detail.event_name}"
    if detail.error_code and kind in (RootActivityKind.API_CALL, RootActivityKind.ASSUMED_ROOT_API_CALL):
        labels.append(f"call failed: {detail.error_code}")
    expected = _expected_reasons(detail, settings)
    if expected:
        severity = severity.lowered()
        labels.extend(f"expected: {reason}" for reason in expected)
    return Classification(kind, severity, title, tuple(labels), mfa, expected=bool(expected))
