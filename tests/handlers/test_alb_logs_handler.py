"""ALB access logs end to end: S3 "Object Created" event -> streamed object (moto S3) -> EMF
metrics per load balancer and minute, the file summary and request samples in the log.

The expected figures were counted by hand from `events/alb_logs/logs/*.log` (see the comments);
`ElbStatus_*` are classes of `elb_status_code` over every response, as the README defines them.

"""

from __future__ import annotations

import copy
import gzip
import json
import re
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from secauto_cli.seeds import ALB_LOG_SOURCES, gzip_members, seed_alb_logs
from secauto_core.log_stream import BLOCK_SIZE

CAPABILITY = "alb_logs"
SETTINGS = {"SECAUTO_ALB_LOGS_KEY_PREFIX": "alb/", "SECAUTO_ALB_LOGS_WORKERS": "1"}
NAMESPACE = "secauto/AlbLogs"
EVENTS = ALB_LOG_SOURCES.parent
SHOP_LB = "app/shop-prod/50dc6c495c0c9188"
API_LB = "app/api-internal/6d0ecf831eec9f09"
SHOP_EVENT = "shop_prod_access_log_delivered"
API_EVENT = "api_internal_access_log_delivered"
SHOP_LOG = ALB_LOG_SOURCES / (
    "123456789012_elasticloadbalancing_us-east-1_app.shop-prod.50dc6c495c0c9188_20261124T1005Z_10.0.1.23_5tz5yp4b.log"
)

Invoke = Callable[[str, Any], Any]
MakeAccount = Callable[..., Any]


def load(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    return event


def with_key(event: dict[str, Any], key: str, *, etag: str | None = None) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    changed["detail"]["object"]["key"] = key
    if etag is not None:
        changed["detail"]["object"]["etag"] = etag
    return changed


def location(event: dict[str, Any]) -> tuple[str, str]:
    return event["detail"]["bucket"]["name"], event["detail"]["object"]["key"]


def put(account: Any, event: dict[str, Any], body: bytes) -> None:
    bucket, key = location(event)
    s3 = account.client("s3")
    if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=body)


@contextmanager
def alb_account(make_account: MakeAccount, **overrides: str) -> Iterator[Any]:
    with make_account(CAPABILITY, **{**SETTINGS, **overrides}) as account:
        yield account


def epoch_ms(minute: str) -> int:
    return int(datetime.fromisoformat(minute).replace(tzinfo=UTC).timestamp() * 1000)


def documents(emf: list[dict[str, Any]], namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    return [d for d in emf if d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == namespace]


def dimensions(document: dict[str, Any]) -> dict[str, str]:
    [names] = document["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    return {name: document[name] for name in names}


def values(document: dict[str, Any]) -> dict[str, list[float]]:
    return {m["Name"]: document[m["Name"]] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]}


def units(document: dict[str, Any]) -> dict[str, str]:
    return {m["Name"]: m["Unit"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]}


def by_minute_and_dimensions(emf: list[dict[str, Any]]) -> dict[tuple[int, tuple[tuple[str, str], ...]], Any]:
    table = {}
    for document in documents(emf):
        key = (document["_aws"]["Timestamp"], tuple(sorted(dimensions(document).items())))
        assert key not in table, f"two documents for {key}"
        table[key] = values(document)
    return table


def core_metrics(emf: list[dict[str, Any]]) -> dict[str, float]:
    """The function's own metrics (namespace `secauto`), summed over its documents."""
    totals: dict[str, float] = {}
    for document in documents(emf, "secauto"):
        for name, amounts in values(document).items():
            totals[name] = totals.get(name, 0) + sum(amounts)
    return totals


def the_log(invocation: Any, message: str) -> dict[str, Any]:
    [record] = [r for r in invocation.logs if r["message"] == message]
    return dict(record)


def samples(invocation: Any, kind: str) -> list[dict[str, Any]]:
    return [r["request"] for r in invocation.logs if r["message"] == f"ALB {kind} sample"]


def counts(n: float) -> list[float]:
    return [float(n)]


# --------------------------------------------------------------------------------------------------
# The shop load balancer's file (23 lines: 22 entries, line 17 truncated).

MINUTE_1000 = epoch_ms("2026-11-24T10:00")
MINUTE_1001 = epoch_ms("2026-11-24T10:01")


def test_shop_file_metrics_per_load_balancer_and_minute(make_account: MakeAccount, invoke: Invoke) -> None:
    with alb_account(make_account) as account:
        seed_alb_logs(account)
        invocation = invoke(CAPABILITY, load(SHOP_EVENT))

    result = invocation.result
    assert (result["status"], result["lines"], result["requests"], result["bad_lines"]) == (
        "processed",
        23,
        22,
        1,
    )
    assert (result["minutes"], result["load_balancers"]) == (2, [SHOP_LB])

    emf = documents(invocation.emf)
    assert [d["_aws"]["Timestamp"] for d in emf] == [MINUTE_1000] * 4 + [MINUTE_1001] * 3  # minute order
    assert all(d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == NAMESPACE for d in emf)
    assert all(dimensions(d)["LoadBalancer"] == SHOP_LB for d in emf)
    assert {tuple(dimensions(d)) for d in emf} == {
        ("LoadBalancer",),
        ("LoadBalancer", "TLSProtocol"),
        ("LoadBalancer", "DesyncClassification"),
    }, "no service dimension, no client address or URL dimension"
    table = by_minute_and_dimensions(invocation.emf)
    lb = (("LoadBalancer", SHOP_LB),)

    assert table[MINUTE_1000, lb] == {
        "RequestCount": counts(16),  # lines 1-16
        "ElbStatus_2XX_Count": counts(4),  # lines 1, 2, 6, 16
        "ElbStatus_3XX_Count": counts(1),  # line 5: redirect
        "ElbStatus_4XX_Count": counts(7),  # lines 3, 4 (WAF 403), 11-15 (404)
        "ElbStatus_5XX_Count": counts(3),  # lines 7 (504), 8 (503), 9 (500); line 10 is a 101
        "TargetStatus_2XX_Count": counts(4),
        "TargetStatus_3XX_Count": counts(0),
        "TargetStatus_4XX_Count": counts(5),
        "TargetStatus_5XX_Count": counts(1),  # line 9
        "ALBGeneratedErrorCount": counts(4),  # lines 3, 4, 7, 8: no target status
        "WAFActedRequestCount": counts(2),  # lines 3, 4: actions "waf" only
        "ReceivedBytes": counts(412 + 380 + 301 + 298 + 96 + 1024 + 880 + 640 + 402 + 620 + 5 * 210 + 512),
        "SentBytes": counts(5120 + 2288 + 412 + 412 + 221 + 18322 + 202 + 336 + 1190 + 245 + 5 * 548 + 7003),
        # Every target_processing_time but -1 (lines 3, 4, 5, 8): the 504's 30.002 included.
        "TargetResponseTime": [
            0.002,
            0.003,
            0.003,
            0.003,
            0.003,
            0.003,
            0.021,
            0.034,
            0.05,
            0.118,
            0.412,
            30.002,
        ],
    }
    assert table[MINUTE_1000, (*lb, ("TLSProtocol", "TLSv1.2"))] == {"RequestCount": counts(9)}
    assert table[MINUTE_1000, (*lb, ("TLSProtocol", "TLSv1.3"))] == {
        "RequestCount": counts(6)
    }  # + 1 plain http
    assert table[MINUTE_1000, (("DesyncClassification", "Ambiguous"), *lb)] == {"RequestCount": counts(1)}

    assert table[MINUTE_1001, lb] == {
        "RequestCount": counts(6),  # lines 18-23
        "ElbStatus_2XX_Count": counts(3),
        "ElbStatus_3XX_Count": counts(1),  # 302 from the target
        "ElbStatus_4XX_Count": counts(1),  # 460: the client closed the connection
        "ElbStatus_5XX_Count": counts(1),
        "TargetStatus_2XX_Count": counts(3),
        "TargetStatus_3XX_Count": counts(1),
        "TargetStatus_4XX_Count": counts(0),
        "TargetStatus_5XX_Count": counts(1),
        "ALBGeneratedErrorCount": counts(1),  # the 460
        "WAFActedRequestCount": counts(0),  # "authenticate,waf,forward" was forwarded
        "ReceivedBytes": counts(415 + 455 + 120 + 398 + 300 + 420),
        "SentBytes": counts(5120 + 310 + 0 + 2201 + 162 + 5120),
        "TargetResponseTime": [0.016, 0.029, 0.041, 0.077, 0.25],
    }
    assert table[MINUTE_1001, (*lb, ("TLSProtocol", "TLSv1.2"))] == {"RequestCount": counts(3)}
    assert table[MINUTE_1001, (*lb, ("TLSProtocol", "TLSv1.3"))] == {"RequestCount": counts(3)}
    assert len(table) == 7  # no desync document for 10:01: every classification is "-"

    [base, *_] = emf
    assert units(base)["RequestCount"] == "Count" and units(base)["ReceivedBytes"] == "Bytes"
    assert units(base)["TargetResponseTime"] == "Seconds"
    assert core_metrics(invocation.emf) == {"AlbLogBadLines": 1, "AlbLogFilesProcessed": 1, "AlbLogLines": 23}


def test_shop_file_summary_and_request_samples_are_logged(make_account: MakeAccount, invoke: Invoke) -> None:
    with alb_account(make_account) as account:
        seed_alb_logs(account)
        invocation = invoke(CAPABILITY, load(SHOP_EVENT))
    bucket, key = location(load(SHOP_EVENT))

    summary = the_log(invocation, "ALB log file summary")["summary"]
    assert (summary["bucket"], summary["key"]) == (bucket, key)
    assert (summary["lines"], summary["requests"], summary["bad_lines"], summary["blank_lines"]) == (
        23,
        22,
        1,
        0,
    )
    assert (summary["first_time"], summary["last_time"]) == (
        "2026-11-24T10:00:01.052311Z",
        "2026-11-24T10:01:58.999000Z",
    )
    assert summary["load_balancers"] == [SHOP_LB]
    assert summary["top_clients"][:2] == [
        {"client_ip": "198.51.100.77", "count": 8},  # the scanner: 2 WAF 403s, 5 404s, a 502
        {"client_ip": "203.0.113.24", "count": 6},
    ]
    assert {"client_ip": "2001:db8:4a7f::1c2", "count": 2} in summary["top_clients"]  # IPv6, unbracketed
    assert summary["top_error_clients"][:2] == [
        {"client_ip": "198.51.100.77", "count": 8},
        {"client_ip": "203.0.113.50", "count": 2},  # the 504 and the 503
    ]
    assert summary["top_5xx_urls"][0] == {"url": "https://shop.example.com:443/api/items/9921", "count": 2}
    assert sorted(u["url"] for u in summary["top_5xx_urls"][1:]) == [
        "https://shop.example.com:443/api/payments",
        "https://shop.example.com:443/cgi-bin/test.cgi",
    ]
    assert summary["top_counts_error_bound"] == 0 and summary["read_error"] is None
    [bad] = summary["bad_line_samples"]
    assert bad["line_number"] == 17
    assert "fields" in bad["reason"] and bad["excerpt"].endswith("203.0.113.9:4")

    warning = the_log(invocation, "Unparseable ALB log lines skipped")
    assert warning["level"] == "WARNING" and warning["bad_lines"] == 1
    assert warning["samples"] == summary["bad_line_samples"]

    errors = {r["time"]: r for r in samples(invocation, "5xx response")}
    assert sorted(r["elb_status_code"] for r in errors.values()) == [500, 502, 503, 504]
    timeout = errors["2026-11-24T10:00:12.004102Z"]
    assert timeout["elb_status_code"] == 504 and timeout["target_status_code"] is None
    assert (timeout["client_ip"], timeout["client_port"]) == ("203.0.113.50", 44218)
    assert (timeout["target_ip"], timeout["target_port"]) == ("10.0.2.31", 8080)
    assert (timeout["target_processing_time"], timeout["response_processing_time"]) == (30.002, -1.0)
    assert (timeout["request_verb"], timeout["request_url"], timeout["request_proto"]) == (
        "POST",
        "https://shop.example.com:443/api/payments",
        "HTTP/1.1",
    )
    assert timeout["actions_executed"] == "waf,forward" and timeout["conn_trace_id"] == "TID_0010a88417489bf6"

    waf = {r["time"]: r for r in samples(invocation, "WAF-answered request")}
    blocked = waf["2026-11-24T10:00:03.119020Z"]
    assert blocked["user_agent"] == 'sqlmap/1.8 ("https://sqlmap.org")'  # escaped quotes resolved
    assert (blocked["elb_status_code"], blocked["target_ip"], blocked["actions_executed"]) == (
        403,
        None,
        "waf",
    )
    assert blocked["request_url"] == "https://shop.example.com:443/?id=1%27%20OR%201=1"
    assert "2026-11-24T10:00:03.118846Z" in waf


def test_shop_file_waf_samples_are_the_requests_waf_answered(
    make_account: MakeAccount, invoke: Invoke
) -> None:
    with alb_account(make_account) as account:
        seed_alb_logs(account)
        invocation = invoke(CAPABILITY, load(SHOP_EVENT))

    waf = samples(invocation, "WAF-answered request")
    assert sorted(r["time"] for r in waf) == ["2026-11-24T10:00:03.118846Z", "2026-11-24T10:00:03.119020Z"]


def test_api_internal_file_lambda_and_grpc_targets(make_account: MakeAccount, invoke: Invoke) -> None:
    with alb_account(make_account) as account:
        seed_alb_logs(account)
        invocation = invoke(CAPABILITY, load(API_EVENT))

    result = invocation.result
    assert (result["status"], result["lines"], result["requests"], result["bad_lines"]) == (
        "processed",
        5,
        5,
        0,
    )
    assert result["load_balancers"] == [API_LB]
    table = by_minute_and_dimensions(invocation.emf)
    minute, lb = epoch_ms("2026-11-24T10:03"), (("LoadBalancer", API_LB),)
    assert set(table) == {
        (minute, lb),
        (minute, (*lb, ("TLSProtocol", "TLSv1.2"))),
        (minute, (*lb, ("TLSProtocol", "TLSv1.3"))),
    }
    assert table[minute, lb] == {
        "RequestCount": counts(5),
        "ElbStatus_2XX_Count": counts(3),  # two gRPC calls to IPv6 targets, one Lambda answer
        "ElbStatus_3XX_Count": counts(0),
        "ElbStatus_4XX_Count": counts(1),  # fixed-response 404
        "ElbStatus_5XX_Count": counts(1),  # LambdaUnhandled -> 502
        "TargetStatus_2XX_Count": counts(3),  # the Lambda target's 200 counts: target "-", status 200
        "TargetStatus_3XX_Count": counts(0),
        "TargetStatus_4XX_Count": counts(0),
        "TargetStatus_5XX_Count": counts(0),
        "ALBGeneratedErrorCount": counts(2),  # the 502 (no target status) and the fixed-response 404
        "WAFActedRequestCount": counts(0),
        "ReceivedBytes": counts(196 + 203 + 5520 + 5520 + 91),
        "SentBytes": counts(88 + 94 + 870 + 277 + 120),
        "TargetResponseTime": [0.005, 0.008, 0.015, 0.214],  # the fixed response's -1 left out
    }
    assert table[minute, (*lb, ("TLSProtocol", "TLSv1.2"))] == {"RequestCount": counts(2)}
    assert table[minute, (*lb, ("TLSProtocol", "TLSv1.3"))] == {"RequestCount": counts(3)}

    [failed] = samples(invocation, "5xx response")
    assert failed["lambda_error_reason"] == "LambdaUnhandled"
    assert (failed["elb_status_code"], failed["target_status_code"], failed["target_ip"]) == (502, None, None)
    assert failed["target_group_arn"].endswith(":targetgroup/thumbnailer-fn/0f3a1b2c4d5e6f70")
    assert samples(invocation, "WAF-answered request") == []
    summary = the_log(invocation, "ALB log file summary")["summary"]
    assert summary["top_clients"][0] == {"client_ip": "10.20.7.3", "count": 2}
    assert {c["client_ip"] for c in summary["top_clients"]} == {
        "10.20.4.17",
        "10.20.4.18",
        "10.20.7.3",
        "10.20.9.44",
    }
    assert summary["top_5xx_urls"] == [{"url": "https://api.internal.example.com:443/thumbnails", "count": 1}]


# --------------------------------------------------------------------------------------------------
# A damaged object.


def truncated_shop_object(fraction: float = 0.9) -> tuple[bytes, int]:
    """The shop file gzipped and cut; and how many whole lines decompress before the cut."""
    compressed = gzip.compress(SHOP_LOG.read_bytes(), mtime=0)
    cut = compressed[: int(len(compressed) * fraction)]
    readable = zlib.decompressobj(wbits=31).decompress(cut)
    return cut, readable.count(b"\n")


def test_a_truncated_object_is_reported_partial_without_raising(
    make_account: MakeAccount, invoke: Invoke
) -> None:
    event = load(SHOP_EVENT)
    cut, _ = truncated_shop_object()
    with alb_account(make_account) as account:
        put(account, event, cut)
        invocation = invoke(CAPABILITY, event)

    result = invocation.result
    assert result["status"] == "partial"
    error = the_log(invocation, "ALB log file could not be read to its end: partial results")
    assert error["level"] == "ERROR"
    assert "truncated gzip data" in error["reason"] and location(event)[1] in error["reason"]
    assert error["summary"]["read_error"] == error["reason"]
    assert error["summary"]["lines"] == result["lines"] and error["summary"]["requests"] == result["requests"]
    assert "ALB log file summary" not in invocation.log_messages()
    metrics = core_metrics(invocation.emf)
    assert (metrics["AlbLogFilesUnreadable"], metrics["AlbLogFilesProcessed"]) == (1, 1)
    assert metrics["AlbLogLines"] == result["lines"]
    # The metrics cover exactly what was read.
    requests = [
        d["RequestCount"][0] for d in documents(invocation.emf) if set(dimensions(d)) == {"LoadBalancer"}
    ]
    assert sum(requests) == result["requests"]


def test_a_truncated_object_keeps_the_lines_before_the_damage(
    make_account: MakeAccount, invoke: Invoke
) -> None:
    event = load(SHOP_EVENT)
    cut, whole_lines = truncated_shop_object()
    assert whole_lines == 20  # lines 1-20 decompress before the cut (line 17 is the bad one)
    with alb_account(make_account) as account:
        put(account, event, cut)
        invocation = invoke(CAPABILITY, event)

    lines, requests = invocation.result["lines"], invocation.result["requests"]
    # Some decoder buffering may be lost at the damage, but not everything, and nothing invented.
    assert 0 < lines <= whole_lines
    assert requests == lines - (lines >= 17)
    minutes = by_minute_and_dimensions(invocation.emf)
    assert minutes[MINUTE_1000, (("LoadBalancer", SHOP_LB),)]["RequestCount"] == counts(min(requests, 16))


# --------------------------------------------------------------------------------------------------
# Objects that are not this account's access logs, or no longer exist.

OUTSIDE_PREFIX = location(load(SHOP_EVENT))[1].replace("alb/AWSLogs/", "other/AWSLogs/", 1)
NOT_UNDER = "not under alb/AWSLogs/123456789012/elasticloadbalancing/"


@pytest.mark.parametrize(
    ("event_name", "key", "reason"),
    [
        ("shop_prod_connection_log_delivered", None, "an ALB connection log, not an access log"),
        ("partner_account_access_log_delivered", None, NOT_UNDER),
        (SHOP_EVENT, OUTSIDE_PREFIX, NOT_UNDER),
    ],
    ids=["connection-log", "another-account", "outside-the-prefix"],
)
def test_objects_that_are_not_this_accounts_access_logs_are_skipped_unread(
    make_account: MakeAccount, invoke: Invoke, event_name: str, key: str | None, reason: str
) -> None:
    event = load(event_name) if key is None else with_key(load(event_name), key)
    with alb_account(make_account) as account:
        put(account, event, gzip_members(SHOP_LOG.read_bytes()))  # readable, were it read
        invocation = invoke(CAPABILITY, event)

    assert invocation.result == {"status": "skipped", "reason": reason, "key": location(event)[1]}
    assert documents(invocation.emf) == []
    record = the_log(invocation, "Object is not one of this account's ALB access logs: skipped")
    assert record["reason"] == reason
    assert core_metrics(invocation.emf) == {"AlbLogObjectsSkipped": 1}


def test_an_object_deleted_before_it_was_read_is_skipped(make_account: MakeAccount, invoke: Invoke) -> None:
    event = load(SHOP_EVENT)
    with alb_account(make_account) as account:
        account.client("s3").create_bucket(Bucket=location(event)[0])
        invocation = invoke(CAPABILITY, event)

    assert invocation.result == {
        "status": "skipped",
        "reason": "object no longer exists",
        "key": location(event)[1],
    }
    assert documents(invocation.emf) == []
    assert the_log(invocation, "Log object no longer exists: skipped")["level"] == "WARNING"
    assert core_metrics(invocation.emf) == {"AlbLogObjectsSkipped": 1}


# --------------------------------------------------------------------------------------------------
# Each object version once; malformed events parked.


def test_a_redelivered_event_returns_the_stored_result_and_emits_no_metrics_again(
    make_account: MakeAccount, invoke: Invoke
) -> None:
    event = load(SHOP_EVENT)
    replayed = {**copy.deepcopy(event), "id": "another-delivery-of-the-same-object"}
    new_version = with_key(event, location(event)[1], etag="0f0e0d0c0b0a09080706050403020100")
    with alb_account(make_account) as account:
        seed_alb_logs(account)
        first = invoke(CAPABILITY, event)
        again = invoke(CAPABILITY, event)
        replay = invoke(CAPABILITY, replayed)
        changed = invoke(CAPABILITY, new_version)

    assert first.result["status"] == "processed" and "duplicate" not in first.result
    assert len(documents(first.emf)) == 7
    for duplicate in (again, replay):  # keyed on bucket, key and ETag, not on the event id
        assert duplicate.result == {**first.result, "duplicate": True}
        assert documents(duplicate.emf) == []
        assert "ALB log file summary" not in duplicate.log_messages()
        assert core_metrics(duplicate.emf) == {"DuplicateEventsSkipped": 1}
    assert changed.result == first.result  # a new object version is read again
    assert documents(changed.emf) == documents(first.emf)


@pytest.mark.parametrize(
    ("mangle", "where"),
    [
        (lambda e: e["detail"].pop("object"), "detail.object"),
        (lambda e: e["detail"]["bucket"].update(name=""), "detail.bucket.name"),
        (lambda e: e.pop("detail"), "detail"),
    ],
    ids=["no-object", "empty-bucket-name", "no-detail"],
)
def test_a_malformed_event_is_rejected_and_parked_in_the_dlq(
    make_account: MakeAccount, invoke: Invoke, mangle: Callable[[dict[str, Any]], Any], where: str
) -> None:
    event = load(SHOP_EVENT)
    mangle(event)
    with alb_account(make_account) as account:
        seed_alb_logs(account)
        invocation = invoke(CAPABILITY, event)
        parked = account.dlq_messages()

    result = invocation.result
    assert (result["status"], result["parked"]) == ("rejected", True)
    assert result["reason"].startswith(f"not an S3 Object Created event: {where}:")
    assert parked == [event]
    assert documents(invocation.emf) == []
    assert "Rejected an event that cannot be processed" in invocation.log_messages("ERROR")
    assert core_metrics(invocation.emf) == {"InvalidEvents": 1}


# --------------------------------------------------------------------------------------------------
# Worker processes: the same figures as one process.


def shifted(line: bytes, minutes: int) -> bytes:
    """`line` with its times (10:00 or 10:01) moved `minutes` later."""
    return re.sub(rb"T10:0([01]):", lambda m: b"T10:%02d:" % (int(m[1]) + minutes), line)


def larger_log(copies: int = 260) -> bytes:
    """The shop file repeated with other minutes (10:00 to 10:09) and clients (at most 40 more)."""
    template = SHOP_LOG.read_bytes().splitlines(keepends=True)
    lines = []
    for copy_index in range(copies):
        client = f"203.0.113.{100 + copy_index % 40}:".encode()
        for line in template:
            lines.append(shifted(line, 2 * (copy_index % 5)).replace(b"203.0.113.24:", client))
    return b"".join(lines)


def test_one_or_two_workers_give_the_same_metrics_and_summary(
    make_account: MakeAccount, invoke: Invoke
) -> None:
    event = with_key(load(SHOP_EVENT), location(load(SHOP_EVENT))[1].replace("5tz5yp4b", "larger01"))
    raw = larger_log()
    assert len(raw) > 2 * BLOCK_SIZE, "several blocks, so the workers share the file"
    body = gzip_members(raw, members=3)
    runs = {}
    for workers in ("1", "2"):
        with alb_account(
            make_account, SECAUTO_ALB_LOGS_WORKERS=workers, SECAUTO_ALB_LOGS_TOP_N="100"
        ) as account:
            put(account, event, body)
            runs[workers] = invoke(CAPABILITY, event)
    one, two = runs["1"], runs["2"]

    assert one.result == two.result
    assert (one.result["lines"], one.result["requests"], one.result["bad_lines"]) == (260 * 23, 260 * 22, 260)
    assert one.result["minutes"] == 10
    assert documents(one.emf) == documents(two.emf)
    assert sum(
        d["RequestCount"][0] for d in documents(one.emf) if set(dimensions(d)) == {"LoadBalancer"}
    ) == (260 * 22)
    first, second = (the_log(run, "ALB log file summary")["summary"] for run in (one, two))
    for name in ("top_clients", "top_error_clients", "top_5xx_urls"):  # ties may list in any order
        first[name], second[name] = (
            sorted(tuple(entry.values()) for entry in first[name]),
            sorted(tuple(entry.values()) for entry in second[name]),
        )
    assert first == second
    assert [bad["line_number"] for bad in first["bad_line_samples"]] == [17, 40, 63, 86, 109]
