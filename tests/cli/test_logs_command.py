"""`secauto logs alb`: downloaded ALB access-log files as JSON records or as the function's output.

One JSON object per entry under the Athena table's column names; `--summary` prints the EMF
documents and then the file summary; `-` reads stdin; bad lines go to stderr with their line
number; a missing or damaged file makes the exit status 1 (what was read before the damage is
still printed).
"""

from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from alb_logs.fields import FIELD_NAMES
from secauto_cli.main import main
from secauto_cli.seeds import ALB_LOG_SOURCES, gzip_members

SHOP_LOG = ALB_LOG_SOURCES / (
    "123456789012_elasticloadbalancing_us-east-1_app.shop-prod.50dc6c495c0c9188_20261124T1005Z_10.0.1.23_5tz5yp4b.log"
)
API_LOG = ALB_LOG_SOURCES / (
    "123456789012_elasticloadbalancing_us-east-1_app.api-internal.6d0ecf831eec9f09_20261124T1005Z_10.20.1.5_2kq8wz1m.log"
)
#: AWS's Athena table for ALB logs, in column order (pinned to AWS's list in test_alb_parser).
ATHENA_COLUMNS = list(FIELD_NAMES)
BAD_LINE = 17


def run(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, list[dict[str, Any]], str]:
    """Exit status, stdout as JSON objects (one per line), stderr."""
    status = main(["logs", "alb", *arguments])
    captured = capsys.readouterr()
    return status, [json.loads(line) for line in captured.out.splitlines()], captured.err


def stdin_with(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def gz_file(tmp_path: Path, source: Path, data: bytes | None = None) -> Path:
    path = tmp_path / f"{source.name}.gz"
    path.write_bytes(gzip_members(source.read_bytes()) if data is None else data)
    return path


# --------------------------------------------------------------------------------------------------
# Records.


def test_records_are_json_objects_with_the_athena_column_names(capsys: pytest.CaptureFixture[str]) -> None:
    status, records, err = run(capsys, str(SHOP_LOG))

    assert status == 0
    assert len(records) == 22
    assert all(list(record)[: len(ATHENA_COLUMNS)] == ATHENA_COLUMNS for record in records)
    [newer] = [r for r in records if "additional_fields" in r]  # a field AWS added after ours
    assert newer["additional_fields"] == ["future-field"] and newer["time"] == "2026-11-24T10:01:02.100000Z"
    first = records[0]
    assert (first["client_ip"], first["client_port"], first["target_ip"], first["target_port"]) == (
        "203.0.113.24",
        51234,
        "10.0.1.17",
        8080,
    )
    assert (first["elb_status_code"], first["target_status_code"]) == (200, "200")
    assert (first["received_bytes"], first["sent_bytes"], first["target_processing_time"]) == (
        412,
        5120,
        0.034,
    )
    assert (first["request_verb"], first["request_url"], first["request_proto"]) == (
        "GET",
        "https://shop.example.com:443/",
        "HTTP/1.1",
    )
    scanner = next(r for r in records if r["user_agent"].startswith("sqlmap"))
    assert scanner["user_agent"] == 'sqlmap/1.8 ("https://sqlmap.org")'
    assert (scanner["target_ip"], scanner["target_port"], scanner["target_status_code"]) == (None, None, None)
    ipv6 = next(r for r in records if r["type"] == "h2")
    assert (ipv6["client_ip"], ipv6["client_port"]) == ("2001:db8:4a7f::1c2", 61002)
    malformed = records[-1]
    assert (malformed["request_verb"], malformed["request_url"], malformed["request_proto"]) == (
        None,
        None,
        None,
    )
    assert err == f"{SHOP_LOG}:{BAD_LINE}: skipped: 4 fields, an entry has at least 13\n"


def test_a_bad_line_is_reported_with_its_number_and_skipped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lines = SHOP_LOG.read_bytes().splitlines(keepends=True)
    path = tmp_path / "three.log"
    path.write_bytes(lines[0] + b"\n" + b'garbage "unbalanced\n' + lines[1])

    status, records, err = run(capsys, str(path))

    assert status == 0, "bad lines do not fail the run"
    assert [r["time"] for r in records] == ["2026-11-24T10:00:01.052311Z", "2026-11-24T10:00:02.410087Z"]
    [message] = err.splitlines()
    assert message.startswith(f"{path}:3: skipped: ")  # the blank line 2 is counted, not reported


def test_gzip_files_multi_member_and_several_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    shop, api = gz_file(tmp_path, SHOP_LOG), gz_file(tmp_path, API_LOG)

    status, records, err = run(capsys, str(shop), str(api))

    assert status == 0
    assert len(records) == 22 + 5
    grpc = next(r for r in records if r["type"] == "grpcs")
    assert (grpc["target_ip"], grpc["target_port"]) == ("fd00:ec2:0:4::a1", 50051)  # IPv6, last colon
    lambda_error = next(r for r in records if r["lambda_error_reason"])
    assert (lambda_error["lambda_error_reason"], lambda_error["elb_status_code"]) == ("LambdaUnhandled", 502)
    assert err == f"{shop}:{BAD_LINE}: skipped: 4 fields, an entry has at least 13\n"


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_dash_reads_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, compressed: bool
) -> None:
    data = SHOP_LOG.read_bytes()
    stdin_with(monkeypatch, gzip.compress(data, mtime=0) if compressed else data)

    status, records, err = run(capsys, "-")

    assert status == 0 and len(records) == 22
    assert err == f"<stdin>:{BAD_LINE}: skipped: 4 fields, an entry has at least 13\n"


# --------------------------------------------------------------------------------------------------
# --summary: what the alb_logs function would emit for the file.


def test_summary_prints_the_emf_documents_then_the_summary(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    shop = gz_file(tmp_path, SHOP_LOG)

    status, output, err = run(capsys, "--summary", str(shop))

    assert status == 0 and err == ""
    *emf, last = output
    assert list(last) == ["summary"]
    assert len(emf) == 7 and all("_aws" in d for d in emf)
    assert {d["_aws"]["CloudWatchMetrics"][0]["Namespace"] for d in emf} == {"secauto/AlbLogs"}
    base = [d for d in emf if d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["LoadBalancer"]]]
    assert [(d["_aws"]["Timestamp"], d["RequestCount"]) for d in base] == [
        (1795514400000, [16.0]),  # 2026-11-24T10:00Z
        (1795514460000, [6.0]),
    ]
    assert base[0]["WAFActedRequestCount"] == [2.0] and base[0]["ALBGeneratedErrorCount"] == [4.0]
    summary = last["summary"]
    assert summary["key"] == str(shop)
    assert (summary["lines"], summary["requests"], summary["bad_lines"]) == (23, 22, 1)
    assert summary["top_clients"][0] == {"client_ip": "198.51.100.77", "count": 8}
    assert [b["line_number"] for b in summary["bad_line_samples"]] == [BAD_LINE]
    assert summary["read_error"] is None


def test_summary_top_option_and_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin_with(monkeypatch, gzip_members(SHOP_LOG.read_bytes(), members=3))

    status, output, _ = run(capsys, "--summary", "--top", "1", "-")

    summary = output[-1]["summary"]
    assert status == 0
    assert summary["key"] == "<stdin>"
    assert summary["top_clients"] == [{"client_ip": "198.51.100.77", "count": 8}]
    assert len(summary["top_error_clients"]) == 1 and len(summary["top_5xx_urls"]) == 1


# --------------------------------------------------------------------------------------------------
# Missing and damaged files.


def test_a_missing_file_is_reported_and_the_others_still_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.log.gz"

    status, records, err = run(capsys, str(missing), str(API_LOG))

    assert status == 1
    assert len(records) == 5
    assert err == f"{missing}: cannot open: No such file or directory\n"


def test_a_truncated_gzip_prints_the_records_before_the_damage_and_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    compressed = gzip.compress(SHOP_LOG.read_bytes(), mtime=0)
    path = gz_file(tmp_path, SHOP_LOG, compressed[: int(len(compressed) * 0.9)])
    _, complete, _ = run(capsys, str(SHOP_LOG))

    status, records, err = run(capsys, str(path))

    assert status == 1
    assert 0 < len(records) < len(complete)
    assert records == complete[: len(records)], "whole records of a prefix, in order"
    assert ": truncated gzip data" in err
    assert err.endswith("(the records before the damage were printed)\n")
    assert err.startswith(f"{path}")


def test_a_truncated_gzip_fails_the_summary_too(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    compressed = gzip.compress(SHOP_LOG.read_bytes(), mtime=0)
    path = gz_file(tmp_path, SHOP_LOG, compressed[: len(compressed) // 2])

    status, output, err = run(capsys, "--summary", str(path))

    assert status == 1
    summary = output[-1]["summary"]
    assert "truncated gzip data" in summary["read_error"]
    assert err == f"{path}: {summary['read_error']} (the summary covers what was read)\n"


def test_a_corrupt_file_does_not_stop_the_next_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    corrupt = tmp_path / "corrupt.log.gz"
    corrupt.write_bytes(b"\x1f\x8b" + b"definitely not deflate data\n" * 10)

    status, records, err = run(capsys, str(corrupt), str(API_LOG))

    assert status == 1
    assert len(records) == 5
    assert "corrupt gzip data" in err and "(the records before the damage were printed)" in err
