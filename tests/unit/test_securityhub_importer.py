"""FindingsImporter: batching, retries of rejected findings, throttling, and reporting failures.

moto imports whatever it gets, so rejections (FailedFindings) and throttling come from botocore's
Stubber on a real client; the happy path runs against moto.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import botocore.serialize
import botocore.session
import pytest
from botocore.stub import Stubber
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from unit_factories import make_finding

from secauto_cli.embedded_account import embedded_account
from secauto_core import clients
from secauto_core.asff_validator import MAX_FINDING_BYTES
from secauto_core.securityhub import (
    MAX_BATCH_BYTES,
    MAX_BATCH_FINDINGS,
    FailedFinding,
    FindingsImporter,
    batches,
)


def ok(count: int) -> dict[str, Any]:
    return {"FailedCount": 0, "SuccessCount": count, "FailedFindings": []}


def rejected(total: int, *failures: tuple[str, str]) -> dict[str, Any]:
    return {
        "FailedCount": len(failures),
        "SuccessCount": total - len(failures),
        "FailedFindings": [
            {"Id": i, "ErrorCode": code, "ErrorMessage": f"{code} for {i}"} for i, code in failures
        ],
    }


@pytest.fixture
def stubbed():
    client = botocore.session.get_session().create_client(
        "securityhub", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def importer_for(client, sleeps: list[float] | None = None, **options) -> FindingsImporter:
    record = sleeps.append if sleeps is not None else (lambda seconds: None)
    return FindingsImporter(client=lambda: client, sleep=record, **options)


# Against moto ----------------------------------------------------------------------------------


def test_250_findings_in_three_calls_all_readable_back():
    findings = [make_finding(i) for i in range(250)]
    calls: list[str] = []

    def observer(action, params):
        calls.append(f"{action}:{len(params['Findings'])}")

    with embedded_account() as account:
        clients.add_call_observer(observer)
        try:
            report = FindingsImporter(sleep=lambda seconds: None).import_findings(findings)
        finally:
            clients.remove_call_observer(observer)
        stored = account.securityhub_findings()
    assert report.ok
    assert (report.imported, report.calls, report.retried, report.failed) == (250, 3, 0, [])
    assert calls == [
        "securityhub:BatchImportFindings:100",
        "securityhub:BatchImportFindings:100",
        "securityhub:BatchImportFindings:50",
    ]
    assert sorted(f["Id"] for f in stored) == sorted(f["Id"] for f in findings)
    by_id = {f["Id"]: f for f in stored}
    assert by_id[findings[7]["Id"]]["Title"] == "Finding 7"


def test_reimporting_the_same_subject_updates_instead_of_duplicating():
    with embedded_account() as account:
        importer = FindingsImporter(sleep=lambda seconds: None)
        importer.import_findings([make_finding(1), make_finding(2)])
        importer.import_findings([make_finding(1)])
        assert len(account.securityhub_findings()) == 2


def test_nothing_to_import_makes_no_call(stubbed):
    client, _ = stubbed
    report = importer_for(client).import_findings([])
    assert (report.imported, report.calls, report.failed) == (0, 0, [])


# Stubbed rejections and errors -----------------------------------------------------------------


def test_rejected_findings_are_retried_until_accepted(stubbed):
    client, stubber = stubbed
    findings = [make_finding(i) for i in range(3)]
    second = findings[1]["Id"]
    stubber.add_response(
        "batch_import_findings", rejected(3, (second, "InternalException")), {"Findings": findings}
    )
    stubber.add_response(
        "batch_import_findings", rejected(1, (second, "LimitExceededException")), {"Findings": [findings[1]]}
    )
    stubber.add_response("batch_import_findings", ok(1), {"Findings": [findings[1]]})
    sleeps: list[float] = []
    report = importer_for(
        client, sleeps, base_delay_seconds=1.0, min_call_interval_seconds=0
    ).import_findings(findings)
    assert report.ok
    assert (report.imported, report.calls, report.retried) == (3, 3, 2)
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.5  # base delay with +-50 % jitter
    assert 1.0 <= sleeps[1] <= 3.0  # doubled


def test_a_permanent_rejection_is_reported_not_raised_or_retried(stubbed):
    client, stubber = stubbed
    findings = [make_finding(i) for i in range(3)]
    bad = findings[2]["Id"]
    stubber.add_response(
        "batch_import_findings", rejected(3, (bad, "InvalidInputException")), {"Findings": findings}
    )
    report = importer_for(client).import_findings(findings)
    assert not report.ok
    assert (report.imported, report.calls, report.retried) == (2, 1, 0)
    assert report.failed == [FailedFinding(bad, "InvalidInputException", f"InvalidInputException for {bad}")]
    assert report.as_dict()["failed"] == [
        {
            "id": bad,
            "error_code": "InvalidInputException",
            "error_message": f"InvalidInputException for {bad}",
        }
    ]


def test_a_rejection_that_never_clears_is_reported_after_the_last_attempt(stubbed):
    client, stubber = stubbed
    findings = [make_finding(i) for i in range(2)]
    flaky = findings[0]["Id"]
    stubber.add_response(
        "batch_import_findings", rejected(2, (flaky, "InternalException")), {"Findings": findings}
    )
    for _ in range(2):
        stubber.add_response(
            "batch_import_findings", rejected(1, (flaky, "InternalException")), {"Findings": [findings[0]]}
        )
    report = importer_for(client, max_attempts=3).import_findings(findings)
    assert (report.imported, report.calls, report.retried) == (1, 3, 2)
    assert [(f.id, f.error_code) for f in report.failed] == [(flaky, "InternalException")]


def test_throttling_error_is_retried(stubbed):
    client, stubber = stubbed
    findings = [make_finding(i) for i in range(5)]
    stubber.add_client_error(
        "batch_import_findings",
        service_error_code="ThrottlingException",
        http_status_code=429,
        expected_params={"Findings": findings},
    )
    stubber.add_client_error(
        "batch_import_findings", service_error_code="TooManyRequestsException", http_status_code=429
    )
    stubber.add_response("batch_import_findings", ok(5), {"Findings": findings})
    report = importer_for(client).import_findings(findings)
    assert report.ok
    assert (report.imported, report.calls, report.retried) == (5, 3, 10)


def test_access_denied_fails_the_batch_without_retrying(stubbed):
    client, stubber = stubbed
    findings = [make_finding(i) for i in range(2)]
    stubber.add_client_error(
        "batch_import_findings", service_error_code="AccessDeniedException", http_status_code=403
    )
    report = importer_for(client).import_findings(findings)
    assert report.calls == 1 and report.imported == 0
    assert {(f.id, f.error_code) for f in report.failed} == {
        (f["Id"], "AccessDeniedException") for f in findings
    }


def test_a_too_large_finding_is_reported_without_a_call(stubbed):
    client, _ = stubbed  # no response queued: any call would fail the test
    huge = make_finding(0)
    huge["Resources"][0]["Details"] = {"Other": {"Blob": "x" * MAX_FINDING_BYTES}}
    report = importer_for(client).import_findings([huge])
    assert report.calls == 0 and report.imported == 0
    assert len(report.failed) == 1
    assert report.failed[0].id == huge["Id"]
    assert report.failed[0].error_code == "FindingTooLarge"


def test_a_too_large_finding_does_not_hold_back_the_others(stubbed):
    client, stubber = stubbed
    small = [make_finding(i) for i in range(2)]
    huge = make_finding(9)
    huge["Resources"][0]["Details"] = {"Other": {"Blob": "x" * MAX_FINDING_BYTES}}
    stubber.add_response("batch_import_findings", ok(2), {"Findings": small})
    report = importer_for(client).import_findings([small[0], huge, small[1]])
    assert (report.imported, report.calls) == (2, 1)
    assert [f.error_code for f in report.failed] == ["FindingTooLarge"]


def test_calls_are_paced(stubbed):
    client, stubber = stubbed
    findings = [make_finding(i) for i in range(150)]
    stubber.add_response("batch_import_findings", ok(100), {"Findings": findings[:100]})
    stubber.add_response("batch_import_findings", ok(50), {"Findings": findings[100:]})
    sleeps: list[float] = []
    report = importer_for(client, sleeps, min_call_interval_seconds=60).import_findings(findings)
    assert report.calls == 2
    assert len(sleeps) == 1 and 59 < sleeps[0] <= 60


# Batching --------------------------------------------------------------------------------------


def padded(index: int, size: int) -> dict[str, Any]:
    return {"Id": f"f{index}", "Pad": "x" * size}


def compact_size(batch: list[dict[str, Any]]) -> int:
    return len(json.dumps({"Findings": batch}, separators=(",", ":")).encode())


sizes = st.lists(
    st.one_of(st.integers(min_value=0, max_value=2_000), st.integers(min_value=50_000, max_value=240_000)),
    max_size=260,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(sizes=sizes)
def test_batches_respect_both_limits_keep_order_and_lose_nothing(sizes):
    findings = [padded(i, size) for i, size in enumerate(sizes)]
    out = list(batches(findings))
    assert all(1 <= len(batch) <= MAX_BATCH_FINDINGS for batch in out)
    assert all(compact_size(batch) <= MAX_BATCH_BYTES for batch in out)
    assert [f["Id"] for batch in out for f in batch] == [f["Id"] for f in findings]
    # Greedy: a batch is only closed when the next finding would not fit.
    for batch, following in itertools.pairwise(out):
        assert (
            len(batch) == MAX_BATCH_FINDINGS or compact_size([*batch, following[0]]) > MAX_BATCH_BYTES - 1024
        )


def test_batches_split_on_bytes():
    findings = [padded(i, 200_000) for i in range(70)]
    out = list(batches(findings))
    assert [len(b) for b in out] == [31, 31, 8]
    assert all(compact_size(b) <= MAX_BATCH_BYTES for b in out)


def test_batches_fit_six_megabytes_on_the_wire():
    # The request body exactly as botocore's own serializer builds it for BatchImportFindings.
    client = botocore.session.get_session().create_client("securityhub", region_name="us-east-1")
    operation = client.meta.service_model.operation_model("BatchImportFindings")
    serializer = botocore.serialize.create_serializer(client.meta.service_model.metadata["protocol"])

    def keyed(index):
        finding = make_finding(index)
        finding["Resources"][0]["Details"] = {"Other": {f"k{j}": "v" * 40 for j in range(2_000)}}
        return finding

    findings = [keyed(i) for i in range(70)]
    out = list(batches(findings))
    assert len(out) == 2
    bodies = [len(serializer.serialize_to_request({"Findings": batch}, operation)["body"]) for batch in out]
    assert max(bodies) <= MAX_BATCH_BYTES, bodies


def test_one_malformed_finding_does_not_sink_its_batch():
    good = [make_finding(i) for i in range(3)]
    malformed = make_finding(99)
    del malformed["GeneratorId"]
    with embedded_account() as account:
        report = FindingsImporter(sleep=lambda seconds: None).import_findings(
            [good[0], malformed, good[1], good[2]]
        )
        stored = {f["Id"] for f in account.securityhub_findings()}
    assert [f.id for f in report.failed] == [malformed["Id"]]
    assert stored == {f["Id"] for f in good}
