"""Access-key expiry end to end against moto IAM (Stubber where moto cannot), SNS, Security Hub."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from access_keys import audit as audit_module
from access_keys.state import KeyState, KeyStateStore
from secauto_cli.seeds import add_user_key, seed_access_keys
from secauto_core import clients
from tests.conftest import load_event

CAPABILITY = "access_keys"
ENFORCE = {"SECAUTO_ACCESS_KEYS_ENFORCE": "true", "SECAUTO_ACCESS_KEYS_EXEMPT_GROUPS": '["break-glass"]'}
DRY_RUN = {"SECAUTO_ACCESS_KEYS_EXEMPT_GROUPS": '["break-glass"]'}


def tick(event_id: str = "tick-1") -> dict[str, Any]:
    event = load_event("access_keys/scheduled_audit.json")
    event["id"] = event_id
    return event


def key_statuses(account) -> dict[str, str]:
    iam = account.client("iam")
    statuses = {}
    for user in iam.list_users()["Users"]:
        for key in iam.list_access_keys(UserName=user["UserName"])["AccessKeyMetadata"]:
            statuses[key["AccessKeyId"]] = key["Status"]
    return statuses


def remembered(account) -> dict[str, KeyState]:
    return KeyStateStore(account.state_table, account.account_id).load_all()


def plan_of(result: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(row["user"], row["key"]): row["action"] for row in result["plan"]}


def test_enforcement_deactivates_only_the_old_key_of_a_user(make_account, invoke):
    with make_account(CAPABILITY, **ENFORCE) as account:
        old = add_user_key(account, "alice", age_days=120, used_days_ago=2)
        fresh = add_user_key(account, "alice", age_days=10, used_days_ago=1)
        result = invoke(CAPABILITY, tick()).result
        statuses = key_statuses(account)
    assert statuses == {old: "Inactive", fresh: "Active"}
    [row] = [r for r in result["plan"] if r["user"] == "alice"]
    assert (row["key"], row["action"], row["outcome"]) == (old, "deactivate", "done")


def test_a_user_whose_two_keys_are_due_keeps_the_one_used_last(make_account, invoke):
    # Defect 7: both keys past the deactivation age, one used today: the user kept no key at all.
    with make_account(CAPABILITY, **ENFORCE) as account:
        used_today = add_user_key(account, "alice", age_days=120, used_days_ago=0)
        stale = add_user_key(account, "alice", age_days=100, used_days_ago=30)
        result = invoke(CAPABILITY, tick()).result
        statuses = key_statuses(account)
        [summary, *_] = account.sns_messages()
        states = remembered(account)
    assert statuses == {used_today: "Active", stale: "Inactive"}
    rows = {row["key"]: row for row in result["plan"]}
    deadline = (datetime.now(UTC) + timedelta(days=7)).date().isoformat()
    assert rows[stale]["action"] == "deactivate" and rows[stale]["outcome"] == "done"
    assert rows[used_today]["action"] == "warn" and rows[used_today]["spared_until"] == deadline
    line = f"spared: last working key of user alice, deactivated on {deadline} unless rotated"
    assert rows[used_today]["reasons"][0] == line
    assert result["counts"]["spared"] == 1
    assert line in summary["message"] and "1 warn (1 spared)" in summary["message"]
    assert [s.spared_since is not None for s in states.values()].count(True) == 1


def test_the_grace_is_remembered_and_then_the_last_key_goes(make_account, invoke):
    with make_account(CAPABILITY, **ENFORCE) as account:
        last = add_user_key(account, "alice", age_days=120, used_days_ago=0)
        first = invoke(CAPABILITY, tick("tick-1")).result
        [started] = [s.spared_since for s in remembered(account).values()]
        again = invoke(CAPABILITY, tick("tick-2")).result  # the same day: the grace does not restart
        [kept] = remembered(account).values()
        assert kept.spared_since == started and key_statuses(account) == {last: "Active"}
        store = KeyStateStore(account.state_table, account.account_id)
        store.save(replace(kept, spared_since=started - timedelta(days=7)), datetime.now(UTC))
        final = invoke(CAPABILITY, tick("tick-3")).result  # seven days later
        statuses = key_statuses(account)
    assert first["plan"][0]["spared_until"] and again["plan"][0]["announced"] is False
    assert statuses == {last: "Inactive"}
    assert (final["plan"][0]["action"], final["plan"][0]["outcome"]) == ("deactivate", "done")


def test_a_dry_run_spares_the_same_key_but_starts_no_grace(make_account, invoke):
    with make_account(CAPABILITY, **DRY_RUN) as account:
        add_user_key(account, "alice", age_days=120, used_days_ago=0)
        result = invoke(CAPABILITY, tick()).result
        states = remembered(account)
    assert result["plan"][0]["spared_until"] and result["plan"][0]["outcome"] == "planned (dry run)"
    assert all(state.spared_since is None for state in states.values())


def test_a_sibling_deactivated_after_the_report_leaves_the_due_key_spared(make_account, invoke, monkeypatch):
    # The report still shows bob's fresh key active; by the time the audit acts, it is not.
    with make_account(CAPABILITY, **ENFORCE) as account:
        due = add_user_key(account, "bob", age_days=120, used_days_ago=1)
        fresh = add_user_key(account, "bob", age_days=10, used_days_ago=0)
        real = audit_module.fetch_inventory

        def report_then_deactivate(*args: Any, **kwargs: Any):
            inventory = real(*args, **kwargs)
            account.client("iam").update_access_key(UserName="bob", AccessKeyId=fresh, Status="Inactive")
            return inventory

        monkeypatch.setattr(audit_module, "fetch_inventory", report_then_deactivate)
        result = invoke(CAPABILITY, tick()).result
        statuses = key_statuses(account)
    assert statuses == {due: "Active", fresh: "Inactive"}
    [row] = [row for row in result["plan"] if row["key"] == due]
    assert row["action"] == "warn" and row["spared_until"]


def test_dry_run_changes_nothing_and_plans_exactly_what_enforcement_does(make_account, invoke):
    with make_account(CAPABILITY, **DRY_RUN) as account:
        seed_access_keys(account)
        before = key_statuses(account)
        dry = invoke(CAPABILITY, tick()).result
        assert key_statuses(account) == before
        [summary, *_] = account.sns_messages()
    assert dry["enforce"] is False and "Label: dry run" in summary["message"]
    with make_account(CAPABILITY, **ENFORCE) as account:
        seed_access_keys(account)
        enforced = invoke(CAPABILITY, tick()).result
        after = key_statuses(account)
    strip = lambda plan: {(user, action) for (user, _key), action in plan.items()}  # noqa: E731
    assert strip(plan_of(dry)) == strip(plan_of(enforced))
    deactivated = {row["user"] for row in enforced["plan"] if row["outcome"] == "done"}
    assert deactivated == {row["user"] for row in dry["plan"] if row["action"] == "deactivate"} == {"alice"}
    # grace's only key is due too, but it is her last working key: spared in both modes.
    spared = {row["user"] for row in enforced["plan"] if row["spared_until"]}
    assert spared == {row["user"] for row in dry["plan"] if row["spared_until"]} == {"grace"}
    assert list(after.values()).count("Inactive") == 2  # alice's old key, and ivan's that already was


def test_grace_exemptions_and_expired_exemptions(make_account, invoke):
    with make_account(CAPABILITY, **ENFORCE) as account:
        seed_access_keys(account)
        result = invoke(CAPABILITY, tick()).result
    rows = {row["user"]: row for row in result["plan"]}
    assert "dave" not in rows  # never used, 3 days old: within the grace period
    assert rows["erin"]["action"] == "warn" and rows["erin"]["reasons"] == ["never used in 50 days"]
    assert rows["frank"]["action"] == "exempt" and rows["frank"]["outcome"] != "done"
    assert rows["heidi"]["action"] == "exempt"  # member of the exempt group
    # An expired exemption is ignored: grace's key is due, and spared only as her last working key.
    assert rows["grace"]["action"] == "warn" and rows["grace"]["spared_until"]
    assert rows["grace"]["reasons"][0].startswith("spared: last working key of user grace, deactivated on")
    assert "exemption expired on 2025-01-01" in rows["grace"]["warnings"][0]
    assert "IAM denies secauto any change to this user's keys" in rows["grace"]["warnings"][0]


def test_owner_tag_in_the_message_and_as_an_sns_attribute(make_account, invoke):
    with make_account(CAPABILITY, **DRY_RUN) as account:
        seed_access_keys(account)
        invoke(CAPABILITY, tick())
        messages = account.sns_messages()
    summary = messages[0]
    assert "owner alice@example.com" in summary["message"]
    owned = {m["attributes"].get("owner"): m for m in messages if "owner" in m["attributes"]}
    assert set(owned) == {"alice@example.com", "@bob"}
    assert "alice" in owned["alice@example.com"]["message"]


def test_a_second_run_the_same_day_sends_no_duplicate_warnings(make_account, invoke, slack):
    with make_account(CAPABILITY, **DRY_RUN) as account:
        seed_access_keys(account)
        first = invoke(CAPABILITY, tick("tick-1")).result
        second = invoke(CAPABILITY, tick("tick-2")).result
        assert len(account.sns_messages()) == 3  # one summary, two owners: all from the first run
    assert first["notifications"] and second["notifications"] == []
    assert all(row["announced"] is False for row in second["plan"] if row["action"] != "exempt")
    assert len(slack.received()) == 1


def test_more_than_100_users_are_all_audited(make_account, invoke):
    with make_account(CAPABILITY, **DRY_RUN) as account:
        for index in range(130):
            add_user_key(account, f"user-{index:03d}", age_days=85, used_days_ago=1)
        result = invoke(CAPABILITY, tick()).result
    assert result["counts"]["keys"] == 130
    assert result["counts"]["warn"] == 130


def test_the_listing_fallback_pages_through_every_user(monkeypatch):
    # moto ignores MaxItems, so ListUsers pagination is shown with botocore's Stubber.
    iam = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(iam)
    created = datetime(2025, 1, 1, tzinfo=UTC)
    stubber.add_client_error("generate_credential_report", "LimitExceeded")
    stubber.add_response("list_users", {"Users": [_user("u1")], "IsTruncated": True, "Marker": "m1"})
    _key_responses(stubber, "u1", "AKIAU1EXAMPLE0000001", created)
    stubber.add_response("list_users", {"Users": [_user("u2")], "IsTruncated": False}, {"Marker": "m1"})
    _key_responses(stubber, "u2", "AKIAU2EXAMPLE0000002", created)
    stubber.add_response("get_account_summary", {"SummaryMap": {"AccountAccessKeysPresent": 1}})
    stubber.activate()
    monkeypatch.setattr(clients, "client", lambda service, region_name=None: iam)
    from access_keys.inventory import fetch_inventory

    inventory = fetch_inventory(5, datetime(2026, 3, 15, tzinfo=UTC), sleep=lambda _s: None)
    stubber.assert_no_pending_responses()
    assert inventory.source == "listing"
    assert [(k.user, k.key_id) for k in inventory.keys][:2] == [
        ("u1", "AKIAU1EXAMPLE0000001"),
        ("u2", "AKIAU2EXAMPLE0000002"),
    ]
    assert inventory.keys[-1].is_root


def _user(name: str) -> dict[str, Any]:
    return {
        "UserName": name,
        "UserId": f"AIDA{name.upper():X<16}",
        "Arn": f"arn:aws:iam::123456789012:user/{name}",
        "Path": "/",
        "CreateDate": datetime(2024, 1, 1, tzinfo=UTC),
    }


def _key_responses(stubber: Stubber, user: str, key_id: str, created: datetime) -> None:
    stubber.add_response(
        "list_access_keys",
        {
            "AccessKeyMetadata": [
                {"UserName": user, "AccessKeyId": key_id, "Status": "Active", "CreateDate": created}
            ]
        },
        {"UserName": user},
    )
    stubber.add_response(
        "get_access_key_last_used",
        {
            "UserName": user,
            "AccessKeyLastUsed": {"ServiceName": "s3", "Region": "us-east-1", "LastUsedDate": created},
        },
        {"AccessKeyId": key_id},
    )


def test_root_keys_are_critical_and_never_changed(make_account, invoke, monkeypatch):
    # moto's credential report has no root row: the report content is stubbed.
    now = datetime.now(UTC)
    report = (
        "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
        "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
        "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
        "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
        "access_key_2_last_used_region,access_key_2_last_used_service\n"
        f"<root_account>,arn:aws:iam::123456789012:root,2020-01-01T00:00:00+00:00,not_supported,N/A,"
        f"not_supported,not_supported,true,true,{(now - timedelta(days=400)).strftime('%Y-%m-%dT%H:%M:%S+00:00')},"
        "N/A,N/A,N/A,false,N/A,N/A,N/A,N/A\n"
    )
    iam = boto3.client("iam", region_name="us-east-1")
    stubber = Stubber(iam)
    stubber.add_response("generate_credential_report", {"State": "COMPLETE"})
    stubber.add_response(
        "get_credential_report",
        {"Content": report.encode(), "ReportFormat": "text/csv", "GeneratedTime": now},
    )
    stubber.activate()
    with make_account(CAPABILITY, SECAUTO_ACCESS_KEYS_ENFORCE="true") as account:
        real = clients.client
        monkeypatch.setattr(
            clients,
            "client",
            lambda service, region_name=None: iam if service == "iam" else real(service, region_name),
        )
        result = invoke(CAPABILITY, tick()).result
        [summary] = account.sns_messages()
        [finding] = account.securityhub_findings()
    stubber.assert_no_pending_responses()  # no UpdateAccessKey, no DeleteAccessKey: nothing was changed
    [row] = result["plan"]
    assert (row["user"], row["action"]) == ("<root_account>", "report")
    assert summary["attributes"]["severity"] == "CRITICAL"
    assert finding["Severity"]["Label"] == "CRITICAL"
    assert finding["Types"] == ["Software and Configuration Checks/AWS Security Best Practices/IAM.4"]


def test_a_key_rotated_after_the_report_is_not_touched(make_account, invoke, monkeypatch):
    with make_account(CAPABILITY, **ENFORCE) as account:
        old = add_user_key(account, "alice", age_days=120, used_days_ago=2)
        real = audit_module.fetch_inventory

        def report_then_rotate(*args: Any, **kwargs: Any):
            inventory = real(*args, **kwargs)
            iam = account.client("iam")
            iam.delete_access_key(UserName="alice", AccessKeyId=old)  # the owner rotates it meanwhile
            iam.create_access_key(UserName="alice")
            return inventory

        monkeypatch.setattr(audit_module, "fetch_inventory", report_then_rotate)
        result = invoke(CAPABILITY, tick()).result
        statuses = key_statuses(account)
    [row] = result["plan"]
    assert row["outcome"].startswith("skipped: the key was rotated or deleted after the report")
    assert list(statuses.values()) == ["Active"]


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any):
        yield self._body


_THROTTLED = (
    b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
    b"</Error><RequestId>r</RequestId></ErrorResponse>"
)


def _throttle(operation: str, times: int):
    remaining = {"n": times}

    def before_send(request: Any, **_: Any):
        if (
            f"Action={operation}"
            in (request.body.decode() if isinstance(request.body, bytes) else str(request.body))
            and remaining["n"] > 0
        ):
            remaining["n"] -= 1
            return AWSResponse(request.url, 400, {}, _Raw(_THROTTLED))
        return None

    clients.client("iam").meta.events.register_first("before-send.iam", before_send)
    return remaining


def test_iam_throttling_is_retried(make_account, invoke):
    with make_account(CAPABILITY, **ENFORCE) as account:
        old = add_user_key(account, "alice", age_days=120, used_days_ago=2)
        fresh = add_user_key(account, "alice", age_days=10, used_days_ago=1)  # so `old` is not her last
        remaining = _throttle("UpdateAccessKey", 2)
        result = invoke(CAPABILITY, tick()).result
        assert key_statuses(account) == {old: "Inactive", fresh: "Active"}
    assert remaining["n"] == 0 and result["plan"][0]["outcome"] == "done"


def _always_throttled(request: Any = None, **_: Any):
    """What UpdateAccessKey answers once botocore's retries are spent (short-circuits the call)."""
    response = AWSResponse("https://iam.amazonaws.com/", 400, {}, _Raw(_THROTTLED))
    return response, {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}, "ResponseMetadata": {}}


def test_a_key_that_still_fails_is_reported_not_skipped(make_account, invoke):
    with make_account(CAPABILITY, **ENFORCE) as account:
        old = add_user_key(account, "alice", age_days=120, used_days_ago=2)
        fresh = add_user_key(account, "alice", age_days=10, used_days_ago=1)  # so `old` is not her last
        clients.client("iam").meta.events.register_first("before-call.iam.UpdateAccessKey", _always_throttled)
        invocation = invoke(CAPABILITY, tick())
        [summary, *_] = account.sns_messages()
        assert key_statuses(account) == {old: "Active", fresh: "Active"}
    [row] = invocation.result["plan"]
    assert row["outcome"] == "failed: Throttling"
    assert invocation.result["counts"]["failed"] == 1
    assert "Failed: 1" in summary["message"] and summary["attributes"]["severity"] == "HIGH"
    assert "Access key action failed" in invocation.log_messages("ERROR")
    assert invocation.metrics.get("AccessKeyActionsFailed") == 1


def test_findings_are_archived_when_a_key_becomes_compliant(make_account, invoke):
    with make_account(CAPABILITY, **DRY_RUN) as account:
        key = add_user_key(account, "bob", age_days=85, used_days_ago=0)
        invoke(CAPABILITY, tick("tick-1"))
        [open_finding] = account.securityhub_findings()
        account.client("iam").delete_access_key(UserName="bob", AccessKeyId=key)
        invoke(CAPABILITY, tick("tick-2"))
        [closed] = account.securityhub_findings()
    assert open_finding["RecordState"] == "ACTIVE" and closed["RecordState"] == "ARCHIVED"
    assert open_finding["Id"] == closed["Id"]


@pytest.mark.parametrize("event", [{"not": "an event"}, "text"])
def test_a_malformed_tick_is_rejected_and_parked(make_account, invoke, event):
    with make_account(CAPABILITY) as account:
        result = invoke(CAPABILITY, event).result
        assert len(account.dlq_messages()) == 1
    assert result["status"] == "rejected"
