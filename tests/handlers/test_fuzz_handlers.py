"""Fuzzing every handler with mutations of every sample event routed to it.

Each sample in `events/` goes to the handlers its folder's `expectations.toml` routes it to (the
capability of each rule it must match, or `delivered_to`). Hypothesis mutates it: keys dropped
at any depth, values replaced by wrong types, None, 100 KB strings, unicode (format characters,
bidirectional overrides, zero-width), CIDR-shaped addresses, negative and huge numbers, the
whole event replaced; strings tainted with invisible characters and Slack markup. Each mutation
is handed to the handler against one embedded account per module (seeded as `secauto demo`
seeds it), with the Slack stand-in on loopback and every AWS call the handler makes recorded.
Idempotency records are off: a mutation keeps its sample's event id, and a stored result would
hide what the handler does with it.

The invariant, per invocation:
- no exception escapes, but one: an S3 event naming a bucket that does not exist is refused by
  S3 itself (`NoSuchBucket`, in production `AccessDenied`: the role reads the log bucket only).
  That is an AWS-side error, raised on purpose so Lambda retries and then parks the event
  (`secauto_core.intake`); it must come before anything was sent;
- the result is a dict with a status;
- rejected: the reason is given, the event was parked (one `SendMessage` to the DLQ, the only
  AWS call made), one log line and one `InvalidEvents`; nothing went to Slack, SNS or
  Security Hub;
- accepted: every Slack payload is inert, every SNS message has a subject SNS takes and
  filterable attributes, every finding imported passes the ASFF validator.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib
import io
import json
import re
import tomllib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secauto_cli.environment import environment
from secauto_cli.lambda_context import LocalLambdaContext
from secauto_cli.session import ReplaySession
from secauto_core import clients
from secauto_core.asff_validator import validate_finding
from secauto_core.eventbridge import ACCOUNT_ID_PATTERN, REGION_PATTERN
from secauto_core.lifecycle import reset_runtime
from secauto_core.observability import logger
from secauto_core.slack_format import inert_problems
from tests.conftest import EVENTS_DIR

EXAMPLES_PER_HANDLER = 300
FUZZ = settings(
    max_examples=EXAMPLES_PER_HANDLER,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
REJECTED_LOG = "Rejected an event that cannot be processed"
#: Operations that deliver something to someone: none may follow from a rejected event.
SENDING = ("sns:Publish", "securityhub:BatchImportFindings")
#: AWS-side refusals an S3 event may meet after it parsed (see the module docstring).
AWS_SIDE_ERRORS = {"alb_logs": {"NoSuchBucket"}, "auto_block": {"NoSuchBucket"}}


# The samples, routed as EventBridge (and the expectations files) route them -------------------------


def _routed_samples() -> dict[str, list[tuple[str, Any]]]:
    routed: dict[str, list[tuple[str, Any]]] = {}
    for expectations in sorted(EVENTS_DIR.glob("*/expectations.toml")):
        for stem, entry in tomllib.loads(expectations.read_text(encoding="utf-8")).items():
            capabilities = {rule.split(".", 1)[0] for rule in entry.get("rules", [])}
            capabilities |= {entry["delivered_to"]} if entry.get("delivered_to") else set()
            path = expectations.parent / f"{stem}.json"
            event = json.loads(path.read_text(encoding="utf-8"))
            for capability in capabilities:
                routed.setdefault(capability, []).append((f"{expectations.parent.name}/{stem}", event))
    return routed


SAMPLES = _routed_samples()
CAPABILITIES = sorted(SAMPLES)


def test_every_handler_has_samples_to_fuzz():
    handlers = {path.parent.name for path in (EVENTS_DIR.parent / "functions").glob("*/handler.py")}
    assert set(CAPABILITIES) == handlers


# Mutations ---------------------------------------------------------------------------------------

Path = tuple[str | int, ...]
HUGE = "A" * 100_000
INVISIBLE = [
    "\u202e",
    "\u202d",
    "\u2066",
    "\u2069",
    "\u200b",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\u00ad",
    "\U000e0041",
]
CIDRS = ["0.0.0.0/0", "10.0.0.0/8", "::/0", "203.0.113.0/24", "198.51.100.7/32", "2001:db8::/32", "0.0.0.0"]
MARKUP = ["<!channel>", "@here", "<https://evil.example|login>", "&amp;", "*bold*", "\n", "\r\n"]

hostile_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([-1, 0, 2**31, 2**63, -(2**63), 10**30]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -1e308, -0.5]),
    # Unicode of every category but surrogates (format characters included).
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40),
    st.sampled_from(INVISIBLE + MARKUP).map(lambda s: f"x{s}y"),
    st.sampled_from(CIDRS),
    st.sampled_from([HUGE, "\u202e" * 50_000, "é" * 100_000]),
    st.sampled_from([[], {}, [None], {"": None}]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def paths_of(node: Any, prefix: Path = ()) -> list[Path]:
    """Every path to a value in `node`, at any depth (the root itself is `()`)."""
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += paths_of(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += paths_of(child, (*prefix, index))
    return found


def _at(node: Any, path: Path) -> Any:
    for part in path:
        node = node[part]
    return node


@dataclass
class Mutation:
    sample: str
    event: Any
    steps: list[str] = field(default_factory=list)

    def __repr__(self) -> str:  # what Hypothesis prints for a failing example: short
        return f"Mutation({self.sample}: {'; '.join(self.steps)})"


@st.composite
def mutations(draw: st.DrawFn, capability: str) -> Mutation:
    sample, original = draw(st.sampled_from(SAMPLES[capability]))
    mutation = Mutation(sample, copy.deepcopy(original))
    # Mostly one change, so that each check has to hold on its own; half of the changes near the
    # top, where the envelope and the fields handlers rely on most are.
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        paths = paths_of(mutation.event)
        shallow = [path for path in paths if len(path) <= 2]
        path = draw(st.sampled_from(shallow if draw(st.booleans()) else paths))
        target = _at(mutation.event, path)
        kind = draw(st.sampled_from(["drop", "set", "taint"] if isinstance(target, str) else ["drop", "set"]))
        if kind == "taint":
            fragment = draw(st.sampled_from(INVISIBLE + MARKUP))
            where = draw(st.integers(min_value=0, max_value=len(target)))
            value: Any = target[:where] + fragment + target[where:]
        elif kind == "set":
            value = draw(hostile_values)
        if not path:  # the whole event
            mutation.event = {} if kind == "drop" else value
        else:
            parent = _at(mutation.event, path[:-1])
            if kind == "drop":
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
        mutation.steps.append(f"{kind} {'.'.join(map(str, path)) or '<event>'}")
    return mutation


# One embedded account for the module; one invocation, observed ------------------------------------


@pytest.fixture(scope="module")
def session() -> Iterator[ReplaySession]:
    # moto's SQS allows one purge a minute by default, as SQS does; the fuzz purges per example.
    with environment({"MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR": "false"}), ReplaySession() as replay:
        yield replay


@contextlib.contextmanager
def handler_environment(session: ReplaySession, capability: str) -> Iterator[None]:
    # No idempotency records: a mutation keeps its sample's event id, and would otherwise get the
    # sample's stored result back without being processed at all.
    variables = {**session.capability_environment(capability), "SECAUTO_IDEMPOTENCY_TABLE": ""}
    with environment(variables):
        reset_runtime()
        try:
            yield
        finally:
            reset_runtime()


@dataclass
class Observed:
    result: Any
    error: Exception | None
    calls: list[tuple[str, dict[str, Any]]]
    slack_requests: int
    slack_payloads: list[dict[str, Any]]
    output: str

    def operations(self) -> list[str]:
        return [operation for operation, _ in self.calls]

    def params(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == operation]

    @functools.cached_property
    def records(self) -> list[dict[str, Any]]:
        records = []
        for line in self.output.splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                record = json.loads(line)
                if isinstance(record, dict):
                    records.append(record)
        return records

    def metric(self, name: str) -> float:
        """`name`'s total over the invocation's EMF documents (a value may be a list)."""
        values = [record.get(name, 0) for record in self.records if "_aws" in record]
        return sum(sum(value) if isinstance(value, list) else value for value in values)


def invoke(session: ReplaySession, capability: str, event: Any) -> Observed:
    handler = importlib.import_module(f"{capability}.handler").lambda_handler
    calls: list[tuple[str, dict[str, Any]]] = []
    output = io.StringIO()
    slack_before = session.slack.requests_seen
    stream = logger.registered_handler
    previous, stream.stream = stream.stream, output

    def record(operation: str, params: dict[str, Any]) -> None:
        calls.append((operation, params))

    clients.add_call_observer(record)
    result: Any = None
    error: Exception | None = None
    try:
        with contextlib.redirect_stdout(output), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="No application metrics to publish")
            result = handler(event, LocalLambdaContext(function_name=f"secauto-{capability}"))
    except ClientError as exc:
        error = exc
    finally:
        clients.remove_call_observer(record)
        stream.stream = previous
    return Observed(
        result,
        error,
        calls,
        session.slack.requests_seen - slack_before,
        session.slack.received(),
        output.getvalue(),
    )


@functools.cache
def _sqs(session: ReplaySession) -> Any:
    return session.account.client("sqs")  # a new client per call costs more than an invocation


def forget_what_was_sent(session: ReplaySession, observed: Observed) -> None:
    """Empty the DLQ and the SNS capture queue when this invocation used them (memory stays flat)."""
    sqs = _sqs(session)
    if observed.params("sqs:SendMessage"):
        sqs.purge_queue(QueueUrl=session.account.dlq_url)
    if observed.params("sns:Publish"):
        sqs.purge_queue(QueueUrl=session.account.sns_capture_queue_url)


# The checks --------------------------------------------------------------------------------------


def check_rejected(observed: Observed, session: ReplaySession) -> None:
    result = observed.result
    assert set(result) == {"status", "reason", "parked"}
    assert isinstance(result["reason"], str) and 0 < len(result["reason"]) <= 1024
    assert result["reason"].isprintable()
    assert result["parked"] is True
    # parked, and nothing else done: validation came before any side effect
    assert observed.operations() == ["sqs:SendMessage"]
    [parked] = observed.params("sqs:SendMessage")
    assert parked["QueueUrl"] == session.account.dlq_url
    assert observed.slack_requests == 0
    [line] = [record for record in observed.records if record.get("message") == REJECTED_LOG]
    assert line["level"] == "ERROR" and line["reason"] == result["reason"]
    assert observed.metric("InvalidEvents") == 1


def check_sent(observed: Observed) -> None:
    """Whatever an accepted event sent is well formed and inert."""
    for payload in observed.slack_payloads:
        assert inert_problems(payload) == []
    for message in observed.params("sns:Publish"):
        subject = message["Subject"]
        assert 0 < len(subject) <= 100 and subject.isascii() and subject.isprintable()
        assert isinstance(message["Message"], str) and message["Message"]
        attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
        assert all(isinstance(value, str) and value for value in attributes.values())
        assert re.fullmatch(ACCOUNT_ID_PATTERN, attributes["account"])
        assert re.fullmatch(REGION_PATTERN, attributes["region"])
    for batch in observed.params("securityhub:BatchImportFindings"):
        for finding in batch["Findings"]:
            assert validate_finding(finding) == []


def check_invocation(observed: Observed, session: ReplaySession, capability: str) -> None:
    if observed.error is not None:
        code = observed.error.response.get("Error", {}).get("Code")
        assert code in AWS_SIDE_ERRORS.get(capability, set()), observed.error
        assert observed.slack_requests == 0 and not any(op in SENDING for op in observed.operations())
        return
    result = observed.result
    assert isinstance(result, dict) and isinstance(result.get("status"), str), result
    if result["status"] == "rejected":
        check_rejected(observed, session)
    else:
        check_sent(observed)


# The properties ----------------------------------------------------------------------------------


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_invariant_every_handler_validates_before_any_side_effect(session, capability):
    with handler_environment(session, capability):
        seen: dict[str, int] = {}

        @FUZZ
        @given(mutation=mutations(capability))
        def fuzz(mutation: Mutation) -> None:
            observed = invoke(session, capability, copy.deepcopy(mutation.event))
            try:
                check_invocation(observed, session, capability)
            finally:
                forget_what_was_sent(session, observed)
            status = "error" if observed.error else observed.result["status"]
            seen[status] = seen.get(status, 0) + 1

        fuzz()
    # Both sides were explored: the mutations are neither all fatal nor all harmless.
    assert seen.get("rejected", 0) > 0 and sum(seen.values()) - seen.get("rejected", 0) > 0, seen


def sqs_batch(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {"messageId": f"m-{index}", "receiptHandle": f"r-{index}", "body": body, "eventSource": "aws:sqs"}
            for index, body in enumerate(bodies)
        ]
    }


def test_invariant_a_malformed_record_never_fails_its_batch(session):
    neighbour = dict(SAMPLES["findings"])["findings/guardduty_ssh_brute_force_1_first_delivery"]
    with handler_environment(session, "findings"):
        invoke(session, "findings", sqs_batch(json.dumps(neighbour)))  # notified once, before

        @settings(FUZZ, max_examples=100)
        @given(mutation=mutations("findings"))
        def fuzz(mutation: Mutation) -> None:
            # Given a mutated record next to a good one in one SQS batch
            body = mutation.event if isinstance(mutation.event, str) else json.dumps(mutation.event)
            observed = invoke(session, "findings", sqs_batch(body, json.dumps(neighbour)))
            try:
                # Then nothing escapes, the good record is processed and never reported failed
                assert observed.error is None
                assert set(observed.result) == {"batchItemFailures"}
                failed = {item["itemIdentifier"] for item in observed.result["batchItemFailures"]}
                assert "m-1" not in failed, "a malformed neighbour failed a good record"
                processed = [
                    r.get("finding") for r in observed.records if r.get("message") == "Finding processed"
                ]
                assert neighbour["detail"]["arn"] in processed
                if any(r.get("message") == REJECTED_LOG for r in observed.records):
                    # and a malformed record is parked (not retried) and sends nothing
                    assert failed == set() and len(observed.params("sqs:SendMessage")) == 1
                    assert observed.slack_requests == 0 and observed.params("sns:Publish") == []
                    assert len(processed) == 1
                check_sent(observed)
            finally:
                forget_what_was_sent(session, observed)

        fuzz()


# The defects the fuzzing found first, pinned ----------------------------------------------------


def _set(path: Path, value: Any) -> Any:
    def change(event: dict[str, Any]) -> None:
        _at(event, path[:-1])[path[-1]] = value

    return change


def _drop(path: Path) -> Any:
    def change(event: dict[str, Any]) -> None:
        del _at(event, path[:-1])[path[-1]]

    return change


PINNED = [
    ("root_activity", "root_activity/root_console_signin_failure", _set(("account",), "not-an-account")),
    ("alb_logs", "alb_logs/shop_prod_access_log_delivered", _drop(("detail", "object", "key"))),
    (
        "alb_logs",
        "alb_logs/shop_prod_access_log_delivered",
        _set(("detail", "bucket", "name"), "Not/A Bucket"),
    ),
    ("auto_block", "auto_block/flow_log_file_delivered", _drop(("detail", "object", "key"))),
    ("auto_block", "auto_block/flow_log_file_delivered", _set(("detail", "bucket"), "secauto-flow-logs")),
    ("auto_block", "auto_block/guardduty_ssh_brute_force", _set(("detail", "severity"), "high")),
    ("auto_block", "auto_block/guardduty_ssh_brute_force", _set(("detail", "service"), [])),
    (
        "auto_block",
        "auto_block/guardduty_ssh_brute_force",
        _set(
            ("detail", "service", "action", "networkConnectionAction", "remoteIpDetails", "ipAddressV4"),
            "0.0.0.0/0",
        ),
    ),
    (
        "auto_block",
        "auto_block/flow_logs_subscription",
        _set(("awslogs", "data"), "H4sIAAAAAAAA/wMAAAAAAAAAAAA="),
    ),
    # A gzip stream whose deflate data is damaged: zlib.error, which the decoder does not expect;
    # the last-resort guard of `parse_or_reject` rejects it all the same.
    ("auto_block", "auto_block/flow_logs_subscription", _set(("awslogs", "data"), "H4sIAAAAAAAAA/////8=")),
    (
        "findings",
        "findings/macie_sensitive_data_personal_high",
        _set(("detail", "accountId"), "١٢٣٤٥٦٧٨٩٠١٢"),
    ),
    (
        "findings",
        "findings/guardduty_archived_finding",
        _set(("detail", "updatedAt"), "9999-12-31T23:00:00-05:00"),
    ),
    ("findings", "findings/guardduty_archived_finding", _set(("detail", "id"), HUGE)),
    ("access_keys", "access_keys/scheduled_audit", _set(("account",), "123")),
    ("backups", "backups/scheduled_daily_plan", _set(("time",), "yesterday")),
]


@pytest.mark.parametrize(("capability", "sample", "change"), PINNED)
def test_pinned_malformed_events_are_rejected_before_anything_is_sent(session, capability, sample, change):
    event = copy.deepcopy(dict(SAMPLES[capability])[sample])
    change(event)
    with handler_environment(session, capability):
        observed = invoke(session, capability, event)
    try:
        assert observed.error is None and observed.result["status"] == "rejected", observed.result
        check_rejected(observed, session)
    finally:
        forget_what_was_sent(session, observed)
