"""Safety of access-key expiry: no user is left without a working key in one run (issue #11, item 7).

Two properties. The per-user step (`last_key.plan_user`), where the invariant is enforced, is
searched widely and purely (ages, last use, statuses, exemptions, settings, prior graces, keys the
re-check did not find). Then whole runs go through the handler against moto, with a hostile
change between the credential report and the re-check (a sibling deactivated, deleted, created or
used meanwhile), prior grace state in the state table, exemptions by tag and group. moto's
`GetAccessKeyLastUsed` always answers N/A, so last use is set on moto's own key records (the
layer the report and the re-check both read), as `secauto_cli.seeds.add_user_key` does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from access_keys import audit as audit_module
from access_keys.last_key import DESTRUCTIVE, plan_user, working
from access_keys.model import Action, KeyPlan, KeyRecord
from access_keys.policy import decide
from access_keys.settings import AccessKeySettings
from access_keys.state import KeyState, KeyStateStore
from secauto_cli.seeds import add_user_key
from secauto_core.settings import forget_settings
from tests.conftest import load_event

CAPABILITY = "access_keys"
NOW = datetime(2026, 3, 15, 6, tzinfo=UTC)


# ---------------------------------------------------------------- the per-user step, purely


@st.composite
def policies(draw: st.DrawFn) -> AccessKeySettings:
    deactivate_age = draw(st.integers(2, 200))
    deactivate_unused = draw(st.integers(2, 200))
    return AccessKeySettings(
        deactivate_age_days=deactivate_age,
        warn_age_days=draw(st.integers(1, deactivate_age - 1)),
        deactivate_unused_days=deactivate_unused,
        warn_unused_days=draw(st.integers(1, deactivate_unused - 1)),
        never_used_grace_days=draw(st.integers(0, deactivate_unused - 1)),
        delete_inactive_days=draw(st.none() | st.integers(1, 60)),
        last_key_grace_days=draw(st.integers(0, 30)),
    )


def _days_near(*limits: int) -> st.SearchStrategy[int]:
    """Days around the given limits (where decisions flip), or anywhere."""
    near = sorted({max(0, limit + delta) for limit in limits for delta in (-1, 0, 1)})
    return st.sampled_from(near) | st.integers(0, 400)


@dataclass(frozen=True)
class UserCase:
    policy: AccessKeySettings
    #: One user's keys (IAM allows two; three searches harder), each with "the re-check found it".
    keys: tuple[tuple[KeyRecord, bool], ...]
    exemption: str | None
    #: Key identity -> the first run that spared it.
    spared_since: dict[str, datetime]
    inactive_since: datetime


@st.composite
def user_cases(draw: st.DrawFn) -> UserCase:
    policy = draw(policies())
    grace = policy.last_key_grace_days
    keys, spared_since = [], {}
    for index in range(draw(st.integers(1, 3))):
        age = draw(_days_near(policy.warn_age_days, policy.deactivate_age_days))
        used = draw(st.none() | _days_near(policy.warn_unused_days, policy.deactivate_unused_days))
        created = NOW - timedelta(days=age, seconds=index)  # one identity per key
        last_used = NOW - timedelta(days=min(used, age)) if used is not None else None
        active = draw(st.sampled_from([True, True, True, False]))
        record = KeyRecord(
            "alice", "arn:aws:iam::123456789012:user/alice", index + 1, active, created, last_used
        )
        keys.append((record, index == 0 or draw(st.sampled_from([True, True, True, False]))))
        prior = draw(
            st.none() | st.sampled_from([0, max(0, grace - 1), grace, grace + 1]) | st.integers(0, 60)
        )
        if prior is not None:
            spared_since[record.identity] = NOW - timedelta(days=prior)
    return UserCase(
        policy,
        tuple(keys),
        draw(st.none() | st.just("vault-rotated (until 2099-01-01)")),
        spared_since,
        NOW - timedelta(days=draw(st.integers(0, 90))),
    )


def _expired(record: KeyRecord, spared_since: dict[str, datetime], grace: int) -> bool:
    started = spared_since.get(record.identity)
    return started is not None and started + timedelta(days=grace) <= NOW


@settings(max_examples=500, deadline=None)
@given(case=user_cases())
def test_invariant_no_user_left_without_a_working_key_by_the_per_user_step(case: UserCase) -> None:
    policy = case.policy
    plans = []
    for record, found in case.keys:
        plan = decide(record, policy, NOW, inactive_since=case.inactive_since, exemption=case.exemption)
        if not found:
            plan.outcome = "skipped: the key was rotated or deleted after the report was generated"
        plans.append(plan)
    before = [plan for plan in plans if working(plan)]
    result = plan_user(plans, policy, NOW, spared_since=case.spared_since).plans
    after = [plan for plan in result if working(plan) and plan.action not in DESTRUCTIVE]

    grace = policy.last_key_grace_days
    sole_and_expired = len(before) == 1 and _expired(before[0].key, case.spared_since, grace)
    event(
        f"working keys before: {len(before)}; all due: {bool(before) and all(p.action in DESTRUCTIVE for p in before)}"
    )
    if before and grace and not sole_and_expired:
        assert after, "the run would leave the user without a working key"
    _assert_at_most_the_last_key_spared(plans, result, before, policy, case.spared_since)


def _assert_at_most_the_last_key_spared(
    plans: list[KeyPlan],
    result: tuple[KeyPlan, ...],
    before: list[KeyPlan],
    policy: AccessKeySettings,
    spared_since: dict[str, datetime],
) -> None:
    changed = [(old, new) for old, new in zip(plans, result, strict=True) if old is not new]
    assert len(changed) <= 1
    for old, new in changed:
        # Only a working key the run would take away, and the most recently used such key.
        assert working(old) and old.action in DESTRUCTIVE and all(p.action in DESTRUCTIVE for p in before)
        assert new.action is Action.WARN and new.spared_until is not None and new.key == old.key
        started = spared_since.get(old.key.identity, NOW)
        assert new.spared_until == started + timedelta(days=policy.last_key_grace_days)
        last_used = [p.key.last_used_at for p in before if p.key.last_used_at is not None]
        if last_used:
            assert old.key.last_used_at == max(last_used)


# ---------------------------------------------------------------- whole runs against moto


@dataclass(frozen=True)
class SeedKey:
    age_days: int
    used_days_ago: int | None
    active: bool
    #: Days since the first run that spared it (prior grace state), or None.
    spared_days_ago: int | None


@dataclass(frozen=True)
class SeedUser:
    keys: tuple[SeedKey, ...]
    #: None, "tag" (valid), "expired-tag" or "group".
    exemption: str | None
    #: What someone does between the credential report and the audit's re-check.
    meanwhile: tuple[str, int] | None


@st.composite
def seed_keys(draw: st.DrawFn) -> SeedKey:
    # Near the default thresholds (warn at 80 days, deactivate at 90) and the sampled graces.
    age = draw(st.sampled_from([0, 10, 80, 89, 90, 91, 120, 200]) | st.integers(0, 200))
    return SeedKey(
        age_days=age,
        used_days_ago=draw(st.none() | st.integers(0, age)),
        active=draw(st.sampled_from([True, True, True, False])),
        spared_days_ago=draw(st.none() | st.sampled_from([0, 1, 2, 3, 6, 7, 8]) | st.integers(0, 12)),
    )


@st.composite
def seed_users(draw: st.DrawFn) -> SeedUser:
    keys = tuple(draw(st.lists(seed_keys(), min_size=1, max_size=2)))
    meanwhile = draw(
        st.none()
        | st.tuples(
            st.sampled_from(["deactivate", "reactivate", "delete", "use"]), st.integers(0, len(keys) - 1)
        )
        | st.just(("create", 0))
    )
    return SeedUser(keys, draw(st.none() | st.sampled_from(["tag", "expired-tag", "group"])), meanwhile)


_TAGS = {"tag": "CI deploy key|2099-06-30", "expired-tag": "legacy job|2025-01-01"}

#: Both keys past the deactivation age, one used today: the reproduced defect.
DEFECT_7 = SeedUser((SeedKey(120, 0, True, None), SeedKey(100, 30, True, None)), None, None)
#: The last key's grace is over, but its sibling is still active (its deactivation failed, or
#: enforcement was just turned on): the two never go in the same run.
PAST_GRACE_WITH_A_SIBLING = SeedUser((SeedKey(120, 0, True, 8), SeedKey(100, 30, True, None)), None, None)
#: The report shows a compliant sibling; by the re-check it is inactive.
SIBLING_DEACTIVATED_MEANWHILE = SeedUser(
    (SeedKey(120, 1, True, None), SeedKey(10, 0, True, None)), None, ("deactivate", 1)
)
#: An inactive key due for deletion is reactivated before the re-check; its sibling is due.
REACTIVATED_BEFORE_ITS_DELETION = SeedUser(
    (SeedKey(200, 150, False, None), SeedKey(120, 0, True, 20)), "expired-tag", ("reactivate", 0)
)


def _seed(account: Any, users: list[SeedUser], now: datetime) -> None:
    iam = account.client("iam")
    iam.create_group(GroupName="break-glass")
    store = KeyStateStore(account.state_table, account.account_id)
    for index, user in enumerate(users):
        name = f"user-{index}"
        tags = {"secauto:key-exempt": _TAGS[user.exemption]} if user.exemption in _TAGS else {}
        for slot, key in enumerate(user.keys):
            add_user_key(
                account,
                name,
                age_days=key.age_days,
                used_days_ago=key.used_days_ago,
                active=key.active,
                tags=tags,
                now=now - timedelta(seconds=slot),  # one creation second, so one identity, per key
            )
        if user.exemption == "group":
            iam.add_user_to_group(GroupName="break-glass", UserName=name)
        listed = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
        for key, metadata in zip(user.keys, listed, strict=True):
            identity = f"{name}#{metadata['CreateDate'].strftime('%Y-%m-%dT%H:%M:%SZ')}"
            spared = now - timedelta(days=key.spared_days_ago) if key.spared_days_ago is not None else None
            # An inactive key is due for deletion (deleteInactiveDays 1): a reactivated one must not go.
            inactive = None if key.active else now - timedelta(days=5)
            store.save(KeyState(identity, inactive_since=inactive, spared_since=spared), now)


def _meanwhile(account: Any, users: list[SeedUser], now: datetime) -> None:
    from moto.iam.models import AccessKeyLastUsed, iam_backends

    iam = account.client("iam")
    for index, user in enumerate(users):
        if user.meanwhile is None:
            continue
        name, (change, which) = f"user-{index}", user.meanwhile
        listed = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
        key_id = listed[which]["AccessKeyId"]
        if change in ("deactivate", "reactivate"):
            status = "Inactive" if change == "deactivate" else "Active"
            iam.update_access_key(UserName=name, AccessKeyId=key_id, Status=status)
        elif change == "delete":
            iam.delete_access_key(UserName=name, AccessKeyId=key_id)
        elif change == "use":
            record = iam_backends[account.account_id]["global"].access_keys[key_id]
            record.last_used = AccessKeyLastUsed(now, "s3", "us-east-1")
        elif len(listed) < 2:  # "create": IAM allows two keys per user
            iam.create_access_key(UserName=name)


def _active(account: Any, users: list[SeedUser]) -> dict[str, dict[str, datetime]]:
    """Each user's active keys: id -> creation time."""
    iam = account.client("iam")
    return {
        name: {
            key["AccessKeyId"]: key["CreateDate"]
            for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
            if key["Status"] == "Active"
        }
        for name in (f"user-{index}" for index in range(len(users)))
    }


def _sole_key_past_its_grace(created: datetime, user: SeedUser, now: datetime, grace: int) -> bool:
    """The user's only working key was spared `grace` days ago or more (its deadline has passed)."""
    for slot, key in enumerate(user.keys):
        seeded = now - timedelta(days=key.age_days, seconds=slot)
        if abs((seeded - created).total_seconds()) < 1:
            return key.spared_days_ago is not None and key.spared_days_ago >= grace
    return False  # created meanwhile: never spared before


def _fresh_account(account: Any) -> None:
    """Between examples: no IAM user, group or key, and no remembered key state (one embedded
    account serves every example: its boto3 clients are built once, which is most of the cost)."""
    from moto.iam.models import iam_backends

    iam_backends[account.account_id]["global"].reset()
    dynamodb = account.client("dynamodb")
    for page in dynamodb.get_paginator("scan").paginate(TableName=account.state_table):
        for item in page["Items"]:
            dynamodb.delete_item(TableName=account.state_table, Key={"pk": item["pk"], "sk": item["sk"]})


ENVIRONMENT = {
    "SECAUTO_ACCESS_KEYS_ENFORCE": "true",
    "SECAUTO_ACCESS_KEYS_EXEMPT_GROUPS": '["break-glass"]',
    "SECAUTO_ACCESS_KEYS_LAST_KEY_GRACE_DAYS": "7",
    "SECAUTO_ACCESS_KEYS_DELETE_INACTIVE_DAYS": "1",
}


def test_invariant_no_user_left_without_a_working_key(make_account, invoke):
    with make_account(CAPABILITY, **ENVIRONMENT) as account:

        @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(users=st.lists(seed_users(), min_size=1, max_size=3), grace=st.sampled_from([1, 3, 7]))
        @example(users=[DEFECT_7], grace=7)
        @example(users=[PAST_GRACE_WITH_A_SIBLING], grace=7)
        @example(users=[SIBLING_DEACTIVATED_MEANWHILE, REACTIVATED_BEFORE_ITS_DELETION], grace=3)
        def one_run(users: list[SeedUser], grace: int) -> None:
            _fresh_account(account)
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("SECAUTO_ACCESS_KEYS_LAST_KEY_GRACE_DAYS", str(grace))
                forget_settings()
                _check_one_run(account, invoke, patch, users, grace)
            forget_settings()

        one_run()


def _check_one_run(
    account: Any, invoke: Any, patch: pytest.MonkeyPatch, users: list[SeedUser], grace: int
) -> None:
    now = datetime.now(UTC)
    _seed(account, users, now)
    snapshot: dict[str, dict[str, dict[str, datetime]]] = {}
    real = audit_module.fetch_inventory

    def report_then_hostile_changes(*args: Any, **kwargs: Any) -> Any:
        inventory = real(*args, **kwargs)
        _meanwhile(account, users, now)
        snapshot["before"] = _active(account, users)  # what the re-check will see
        return inventory

    patch.setattr(audit_module, "fetch_inventory", report_then_hostile_changes)
    event = {**load_event("access_keys/scheduled_audit.json"), "id": str(uuid.uuid4())}
    result = invoke(CAPABILITY, event).result
    after = _active(account, users)
    assert result["status"] == "audited" and result["enforce"] is True
    for index, user in enumerate(users):
        name = f"user-{index}"
        before = snapshot["before"][name]
        if user.exemption in ("tag", "group"):
            assert after[name] == before, f"{name} is exempt: its keys must not change"
        if before and not after[name]:
            # Only a sole working key may go, and only once its grace has run out.
            assert len(before) == 1, (name, user, before, result["plan"])
            assert _sole_key_past_its_grace(next(iter(before.values())), user, now, grace), (name, user)
