"""Every access key of the account: from the credential report, or by listing when it fails.

The credential report costs a constant number of calls whatever the number of users
(generate, then get; AWS regenerates it at most every four hours and answers from the last one
meanwhile). When no report can be had in `report_wait_seconds`, the fallback pages through
`ListUsers`, `ListAccessKeys` and `GetAccessKeyLastUsed` (1 + N + K calls), and asks
`GetAccountSummary` whether the root user has keys.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from access_keys.model import ROOT_USER, KeyRecord
from secauto_core import clients
from secauto_core.observability import logger

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Inventory", "ReportUnavailableError", "fetch_inventory", "list_keys", "parse_credential_report"]

_MISSING = {"", "N/A", "not_supported", "no_information"}


class ReportUnavailableError(RuntimeError):
    """The credential report could not be had in time."""


@dataclass(frozen=True)
class Inventory:
    keys: tuple[KeyRecord, ...]
    #: "credential-report" or "listing"
    source: str
    generated_at: datetime


def _time(value: str) -> datetime | None:
    if value in _MISSING:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def parse_credential_report(content: bytes | str) -> list[KeyRecord]:
    """The keys listed in a credential report (CSV); a slot never used for a key is skipped."""
    text = content.decode("utf-8") if isinstance(content, bytes) else content
    keys = []
    for row in csv.DictReader(io.StringIO(text)):
        for slot in (1, 2):
            created = _time(row.get(f"access_key_{slot}_last_rotated", "N/A"))
            if created is None:
                continue
            keys.append(
                KeyRecord(
                    user=row["user"],
                    user_arn=row["arn"],
                    slot=slot,
                    active=row.get(f"access_key_{slot}_active", "false") == "true",
                    created_at=created,
                    last_used_at=_time(row.get(f"access_key_{slot}_last_used_date", "N/A")),
                )
            )
    return keys


def _credential_report(wait_seconds: int, sleep: Callable[[float], None]) -> Inventory:
    iam = clients.client("iam")
    deadline = time.monotonic() + wait_seconds
    delay = 1.0
    iam.generate_credential_report()
    while True:
        try:
            report = iam.get_credential_report()
        except (
            iam.exceptions.CredentialReportNotReadyException,
            iam.exceptions.CredentialReportNotPresentException,
        ):
            if time.monotonic() + delay > deadline:
                raise ReportUnavailableError(f"no credential report within {wait_seconds} s") from None
            sleep(delay)
            delay = min(delay * 2, 15.0)
            continue
        generated = report["GeneratedTime"]
        return Inventory(tuple(parse_credential_report(report["Content"])), "credential-report", generated)


def list_keys(user: str, user_arn: str) -> list[KeyRecord]:
    """The user's keys, live, with their ids and last use."""
    iam = clients.client("iam")
    records = []
    for slot, key in enumerate(iam.list_access_keys(UserName=user)["AccessKeyMetadata"], start=1):
        last_used = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
        records.append(
            KeyRecord(
                user=user,
                user_arn=user_arn,
                slot=slot,
                active=key["Status"] == "Active",
                created_at=key["CreateDate"].astimezone(UTC),
                last_used_at=last_used.get("LastUsedDate"),
                key_id=key["AccessKeyId"],
            )
        )
    return records


def _listing(now: datetime) -> Inventory:
    iam = clients.client("iam")
    keys: list[KeyRecord] = []
    for page in iam.get_paginator("list_users").paginate():
        for user in page["Users"]:
            keys.extend(list_keys(user["UserName"], user["Arn"]))
    summary: dict[str, Any] = iam.get_account_summary()["SummaryMap"]
    if summary.get("AccountAccessKeysPresent"):
        keys.append(KeyRecord(ROOT_USER, "", 0, True, now, None))
    return Inventory(tuple(keys), "listing", now)


def fetch_inventory(
    wait_seconds: int, now: datetime, sleep: Callable[[float], None] = time.sleep
) -> Inventory:
    try:
        return _credential_report(wait_seconds, sleep)
    except Exception as exc:  # report limits, throttling, access: the listing still gets every key
        logger.warning("Credential report unavailable: listing users instead", extra={"reason": str(exc)})
        return _listing(now)
