"""(b) Every recorded event matches exactly its expected rules; (c) the corpus and its
expectations agree; (d) every rule is exercised both ways; plus checks that the events are
well-formed EventBridge envelopes (or, with `delivered_to`, CloudWatch Logs subscription payloads
handed to a function directly) and use documentation-only addresses."""

from __future__ import annotations

import base64
import copy
import gzip
import importlib.util
import ipaddress
import json
import re
import uuid
from datetime import datetime

import pytest
from rules_testlib import (
    EVENTS_DIR,
    EXPECTATIONS_FILE,
    EventCase,
    capability_dirs,
    event_cases,
    load_expectations,
)

from secauto_cli.rule_matcher import matching_rules
from secauto_infra.rule_catalog import RuleSpec, load_rules

RULES = load_rules()
RULE_NAMES = {spec.name for spec in RULES}
CASES = event_cases()


def _ids(case: EventCase) -> str:
    return case.case_id


def _delivered_to(case: EventCase) -> str | None:
    """The capability a non-EventBridge input is handed to directly (`delivered_to`), or None."""
    return load_expectations(case.path.parent)[case.stem].get("delivered_to")


def _subscription_payload(event: dict) -> dict:
    """A CloudWatch Logs subscription event's payload: `awslogs.data` is base64(gzip(JSON))."""
    return json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"], validate=True)))


# --- (b) each event matches exactly the expected set ----------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_event_matches_exactly_the_expected_rules(case: EventCase) -> None:
    matched = {spec.name for spec in matching_rules(case.load(), RULES)}
    assert matched == set(case.expected_rules), (
        f"{case.case_id} ({case.description})\n"
        f"  unexpected matches: {sorted(matched - case.expected_rules)}\n"
        f"  missing matches:    {sorted(case.expected_rules - matched)}"
    )


# --- (c) files and expectations agree --------------------------------------------------------------


def test_corpus_is_not_empty() -> None:
    assert CASES


@pytest.mark.parametrize("cap_dir", capability_dirs(), ids=lambda p: p.name)
def test_every_event_file_has_an_expectation_and_vice_versa(cap_dir) -> None:
    assert (cap_dir / EXPECTATIONS_FILE).is_file(), f"events/{cap_dir.name}/ has no {EXPECTATIONS_FILE}"
    files = {p.stem for p in cap_dir.glob("*.json")}
    entries = set(load_expectations(cap_dir))
    assert not files - entries, f"event files without an expectations entry: {sorted(files - entries)}"
    assert not entries - files, f"expectations entries without an event file: {sorted(entries - files)}"


#: `events/<capability>/logs/` holds the objects sample events name (log files put into the
#: embedded account's bucket by the replay), as plain text.
OBJECTS_DIR = "logs"


def test_no_stray_files_in_events() -> None:
    allowed = {".json", ".toml"}
    stray = [
        p.relative_to(EVENTS_DIR).as_posix()
        for p in EVENTS_DIR.rglob("*")
        if p.is_file()
        and p.parent != EVENTS_DIR
        and (p.parent.parent != EVENTS_DIR or p.suffix not in allowed)
        and not (p.parent.name == OBJECTS_DIR and p.parent.parent.parent == EVENTS_DIR)
    ]
    # The one top-level file: the context the local replay lays over cdk.json.
    stray += [p.name for p in EVENTS_DIR.iterdir() if p.is_file() and p.name != "replay_context.toml"]
    assert not stray, f"events/ holds only <capability>/<case>.json and <capability>/{EXPECTATIONS_FILE}"


@pytest.mark.parametrize("cap_dir", capability_dirs(), ids=lambda p: p.name)
def test_expectation_entries_are_well_formed(cap_dir) -> None:
    for stem, entry in load_expectations(cap_dir).items():
        where = f"events/{cap_dir.name}/{EXPECTATIONS_FILE} [{stem}]"
        assert re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", stem), f"{where}: file stems are snake_case"
        assert isinstance(entry, dict), f"{where}: must be a table"
        unknown = set(entry) - {"rules", "description", "delivered_to"}
        assert not unknown, f"{where}: unknown keys {sorted(unknown)}"
        if "delivered_to" in entry:
            # Not an EventBridge event: no rule may match it; it goes straight to one handler.
            target = entry["delivered_to"]
            assert isinstance(target, str) and importlib.util.find_spec(f"{target}.handler"), (
                f"{where}: `delivered_to` names a capability with a handler"
            )
            assert entry.get("rules") == [], f"{where}: a direct delivery matches no rule (`rules = []`)"
        assert "rules" in entry, f"{where}: `rules` is required (use [] for events no rule may match)"
        rules = entry["rules"]
        assert isinstance(rules, list), f"{where}: `rules` is a list of rule names"
        assert all(isinstance(r, str) for r in rules), f"{where}: `rules` is a list of rule names"
        assert len(rules) == len(set(rules)), f"{where}: duplicate rule names"
        assert set(rules) <= RULE_NAMES, f"{where}: unknown rules {sorted(set(rules) - RULE_NAMES)}"
        assert isinstance(entry.get("description", ""), str)


# --- (d) every rule has a positive and a negative in its capability folder ----------------------


@pytest.mark.parametrize("spec", RULES, ids=lambda spec: spec.name)
def test_rule_has_positive_and_negative_events(spec: RuleSpec) -> None:
    own = [case for case in CASES if case.capability == spec.capability]
    assert any(spec.name in case.expected_rules for case in own), (
        f"{spec.name}: no event in events/{spec.capability}/ is expected to match it"
    )
    assert any(spec.name not in case.expected_rules for case in own), (
        f"{spec.name}: no event in events/{spec.capability}/ is expected NOT to match it"
    )


def test_rules_are_disjoint_on_the_corpus() -> None:
    # A capability's rules feed one handler: an event matching two of them would be handled twice.
    for case in CASES:
        matched = [spec.name for spec in matching_rules(case.load(), RULES)]
        capabilities = [name.partition(".")[0] for name in matched]
        assert len(capabilities) == len(set(capabilities)), f"{case.case_id} matches {matched}"


# --- the events look like what EventBridge delivers ----------------------------------------------

ENVELOPE_KEYS = {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
DOC_NETWORKS = [
    ipaddress.ip_network(n)
    for n in (
        "192.0.2.0/24",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "2001:db8::/32",
        # Private VPC addresses (load balancer nodes, targets) identify no one outside a VPC.
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "fd00::/8",
    )
]


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_event_is_an_eventbridge_envelope(case: EventCase) -> None:
    event = case.load()
    if _delivered_to(case):
        assert set(event) == {"awslogs"}, "a direct delivery is a CloudWatch Logs subscription event"
        payload = _subscription_payload(event)
        assert payload["messageType"] in ("DATA_MESSAGE", "CONTROL_MESSAGE")
        assert all(isinstance(item["message"], str) for item in payload["logEvents"])
        return
    assert set(event) == ENVELOPE_KEYS
    assert event["version"] == "0"
    assert uuid.UUID(event["id"]).version == 4
    assert re.fullmatch(r"\d{12}", event["account"])
    assert re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", event["region"])
    assert datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")
    assert isinstance(event["resources"], list)
    # A scheduled event is the one AWS event whose detail is empty.
    assert isinstance(event["detail"], dict) and (
        event["detail"] or event["detail-type"] == "Scheduled Event"
    )
    detail = event["detail"]
    if "eventID" in detail:  # a CloudTrail record: the envelope mirrors it
        assert uuid.UUID(detail["eventID"])
        assert event["time"] == detail["eventTime"]
        assert event["region"] == detail["awsRegion"]
        assert event["account"] == detail["recipientAccountId"]


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_event_uses_documentation_addresses_only(case: EventCase) -> None:
    event = case.load()
    texts = list(_strings(event))
    if _delivered_to(case):  # the records are inside the compressed payload, space-separated
        texts += [word for text in _strings(_subscription_payload(event)) for word in text.split()]
    for text in texts:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            continue
        assert any(address in net for net in DOC_NETWORKS), f"{case.case_id}: {text} is a real address"


# --- negatives fail for the intended reason ---------------------------------------------------------
# Each negative is a near miss: changing the one field a rule guards makes it match. Without this a
# negative could pass for an accidental reason (a typo in the event) and prove nothing.


DELETE = object()
API_CALL = "AWS API Call via CloudTrail"
SIGNIN = "root_activity.console_signin"
API = "root_activity.api_call"


def _edit(event: dict, changes: dict) -> dict:
    """A copy of `event` with each "a/b/c" path set to a value, or removed for DELETE."""
    event = copy.deepcopy(event)
    for path, value in changes.items():
        *parents, leaf = path.split("/")
        node = event
        for key in parents:
            node = node[key]
        if value is DELETE:
            del node[leaf]
        else:
            node[leaf] = value
    return event


NEAR_MISSES = [
    pytest.param(
        "iam_user_console_signin", {"detail/userIdentity/type": "Root"}, {SIGNIN}, id="user-as-root"
    ),
    pytest.param("assumed_role_api_call", {"detail/userIdentity/type": "Root"}, {API}, id="role-as-root"),
    pytest.param(
        "root_api_call_invoked_by_cloudformation",
        {"detail/userIdentity/invokedBy": DELETE},
        {API},
        id="without-invokedBy",
    ),
    # The eventType guard on its own: relabelled as an API call, a service event still does not match.
    pytest.param("root_aws_service_event", {"detail-type": API_CALL}, set(), id="service-event-as-api-call"),
    pytest.param(
        "root_aws_service_event",
        {"detail-type": API_CALL, "detail/eventType": "AwsApiCall"},
        {API},
        id="service-event-made-api-call",
    ),
    # Disjointness: a root ConsoleLogin that arrived as an API call would still feed one rule only.
    pytest.param("root_console_signin_failure", {"detail-type": API_CALL}, {SIGNIN}, id="signin-as-api-call"),
    pytest.param(
        "root_console_signin_success_no_mfa",
        {"detail-type": API_CALL, "detail/eventType": "AwsApiCall"},
        {SIGNIN},
        id="signin-as-api-call-event-type",
    ),
    # The console rule is about ConsoleLogin only, not every step of a sign-in.
    pytest.param(
        "root_console_signin_success_no_mfa", {"detail/eventName": "CheckMfa"}, set(), id="checkmfa"
    ),
]


@pytest.mark.parametrize(("stem", "changes", "expected"), NEAR_MISSES)
def test_near_miss(stem: str, changes: dict, expected: set[str]) -> None:
    case = next(case for case in CASES if case.case_id == f"root_activity/{stem}")
    event = _edit(case.load(), changes)
    assert {spec.name for spec in matching_rules(event, RULES)} == expected


def test_every_sample_object_is_named_by_an_event() -> None:
    """A log file under events/<capability>/logs/ that no sample event names is never replayed."""
    for folder in EVENTS_DIR.glob(f"*/{OBJECTS_DIR}"):
        events_text = "".join(path.read_text(encoding="utf-8") for path in folder.parent.glob("*.json"))
        unused = [p.name for p in folder.iterdir() if p.is_file() and p.name not in events_text]
        assert not unused, f"{folder.relative_to(EVENTS_DIR)}: no sample event names {unused}"
