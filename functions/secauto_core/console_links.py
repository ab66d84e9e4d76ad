"""Deep links into the AWS console, per partition."""

from __future__ import annotations

from urllib.parse import quote

__all__ = ["cloudtrail_event_url", "console_base_url", "securityhub_finding_url"]

_CONSOLE_DOMAIN = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def console_base_url(region: str) -> str:
    domain = _CONSOLE_DOMAIN[partition_of(region)]
    return f"https://{region}.{domain}"


def cloudtrail_event_url(region: str, event_id: str) -> str:
    """The CloudTrail event-history page of one event."""
    return f"{console_base_url(region)}/cloudtrail/home?region={region}#/events/{quote(event_id, safe='')}"


def securityhub_finding_url(region: str, finding_id: str) -> str:
    """The Security Hub findings page filtered to one finding id."""
    search = quote(f"Id=\\operator\\:EQUALS\\:{finding_id}", safe="")
    return f"{console_base_url(region)}/securityhub/home?region={region}#/findings?search={search}"
