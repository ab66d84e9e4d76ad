"""ALB access-log entries parsed into the columns of AWS's Athena table.

The lines below are hand-written in the shapes of AWS's documented examples (HTTP, HTTPS, HTTP/2,
gRPC, WebSockets, redirect, fixed response, Lambda, failed Lambda, WAF, desync classification):
space-separated tokens, text tokens double-quoted with `\\"` and `\\\\` escaped inside, `-` or
`"-"` for "no value", unbracketed IPv6 in `addr:port`, `-1` processing times when the request was
not dispatched, and new fields appended at the end over time.
"""

from __future__ import annotations

import contextlib
import string
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alb_logs.fields import FIELD_NAMES
from alb_logs.parser import LineError, parse_line

ATHENA_COLUMNS = (
    "type",
    "time",
    "elb",
    "client_ip",
    "client_port",
    "target_ip",
    "target_port",
    "request_processing_time",
    "target_processing_time",
    "response_processing_time",
    "elb_status_code",
    "target_status_code",
    "received_bytes",
    "sent_bytes",
    "request_verb",
    "request_url",
    "request_proto",
    "user_agent",
    "ssl_cipher",
    "ssl_protocol",
    "target_group_arn",
    "trace_id",
    "domain_name",
    "chosen_cert_arn",
    "matched_rule_priority",
    "request_creation_time",
    "actions_executed",
    "redirect_url",
    "lambda_error_reason",
    "target_port_list",
    "target_status_code_list",
    "classification",
    "classification_reason",
    "conn_trace_id",
    "transformed_host",
    "transformed_uri",
    "request_transform_status",
)

LB = "app/shop-frontend/8f3e2a1b9c4d5e6f"
TG_WEB = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/shop-web/0a1b2c3d4e5f6a7b"
TG_API = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/shop-api/1122334455667788"
TG_FN = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/shop-fn/99aa88bb77cc66dd"
CERT = "arn:aws:acm:eu-west-1:111122223333:certificate/0f1e2d3c-4b5a-6978-8091-a2b3c4d5e6f7"

# --------------------------------------------------------------------------------------------------
# Hand-written entries.

HTTP = (
    f"http 2025-03-14T09:26:53.589793Z {LB} 203.0.113.24:51234 10.20.1.17:8080 0.001 0.047 0.000 200 200 "
    '412 5120 "GET http://shop.example.org:80/catalog?page=2&sort=asc HTTP/1.1" '
    '"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0" - - '
    f'{TG_WEB} "Root=1-67d3f5ad-0123456789abcdef01234567" "-" "-" 3 2025-03-14T09:26:53.541000Z '
    '"forward" "-" "-" "10.20.1.17:8080" "200" "-" "-" TID_5f0c1e2d3a4b5c6d7e8f90a1b2c3d4e5 "-" "-" "-"\n'
)

HTTP_FIELDS: dict[str, object] = {
    "type": "http",
    "time": "2025-03-14T09:26:53.589793Z",
    "elb": LB,
    "client_ip": "203.0.113.24",
    "client_port": 51234,
    "target_ip": "10.20.1.17",
    "target_port": 8080,
    "request_processing_time": 0.001,
    "target_processing_time": 0.047,
    "response_processing_time": 0.0,
    "elb_status_code": 200,
    "target_status_code": "200",
    "received_bytes": 412,
    "sent_bytes": 5120,
    "request_verb": "GET",
    "request_url": "http://shop.example.org:80/catalog?page=2&sort=asc",
    "request_proto": "HTTP/1.1",
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "ssl_cipher": None,
    "ssl_protocol": None,
    "target_group_arn": TG_WEB,
    "trace_id": "Root=1-67d3f5ad-0123456789abcdef01234567",
    "domain_name": None,
    "chosen_cert_arn": None,
    "matched_rule_priority": "3",
    "request_creation_time": "2025-03-14T09:26:53.541000Z",
    "actions_executed": "forward",
    "redirect_url": None,
    "lambda_error_reason": None,
    "target_port_list": "10.20.1.17:8080",
    "target_status_code_list": "200",
    "classification": None,
    "classification_reason": None,
    "conn_trace_id": "TID_5f0c1e2d3a4b5c6d7e8f90a1b2c3d4e5",
    "transformed_host": None,
    "transformed_uri": None,
    "request_transform_status": None,
}

HTTPS = (
    f"https 2025-03-14T09:27:10.004211Z {LB} 198.51.100.7:40022 10.20.2.9:8443 0.012 0.230 0.001 201 201 "
    '2048 311 "POST https://shop.example.org:443/api/orders HTTP/1.1" "python-requests/2.32.3" '
    f'ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 {TG_API} "Root=1-67d3f5be-aabbccddeeff001122334455" '
    f'"shop.example.org" "{CERT}" 7 2025-03-14T09:27:09.761000Z "authenticate,forward" "-" "-" '
    '"10.20.2.9:8443" "201" "-" "-" TID_0123456789abcdef0123456789abcdef "orders.internal" "/v2/orders" "-"\n'
)

HTTPS_FIELDS: dict[str, object] = {
    "type": "https",
    "time": "2025-03-14T09:27:10.004211Z",
    "elb": LB,
    "client_ip": "198.51.100.7",
    "client_port": 40022,
    "target_ip": "10.20.2.9",
    "target_port": 8443,
    "request_processing_time": 0.012,
    "target_processing_time": 0.23,
    "response_processing_time": 0.001,
    "elb_status_code": 201,
    "target_status_code": "201",
    "received_bytes": 2048,
    "sent_bytes": 311,
    "request_verb": "POST",
    "request_url": "https://shop.example.org:443/api/orders",
    "request_proto": "HTTP/1.1",
    "user_agent": "python-requests/2.32.3",
    "ssl_cipher": "ECDHE-RSA-AES128-GCM-SHA256",
    "ssl_protocol": "TLSv1.2",
    "target_group_arn": TG_API,
    "trace_id": "Root=1-67d3f5be-aabbccddeeff001122334455",
    "domain_name": "shop.example.org",
    "chosen_cert_arn": CERT,
    "matched_rule_priority": "7",
    "request_creation_time": "2025-03-14T09:27:09.761000Z",
    "actions_executed": "authenticate,forward",
    "redirect_url": None,
    "lambda_error_reason": None,
    "target_port_list": "10.20.2.9:8443",
    "target_status_code_list": "201",
    "classification": None,
    "classification_reason": None,
    "conn_trace_id": "TID_0123456789abcdef0123456789abcdef",
    "transformed_host": "orders.internal",
    "transformed_uri": "/v2/orders",
    "request_transform_status": None,
}

IPV6 = (
    f"h2 2025-03-14T10:01:02.123456Z {LB} 2001:db8:4006:812::200e:62011 2600:1f18:abc:de00::17:8080 "
    '0.000 0.015 0.000 200 200 95 1840 "GET https://shop.example.org:443/static/app.js HTTP/2.0" '
    f'"curl/8.5.0" TLS_AES_128_GCM_SHA256 TLSv1.3 {TG_WEB} "Root=1-67d40256-00112233445566778899aabb" '
    f'"shop.example.org" "{CERT}" 1 2025-03-14T10:01:02.100000Z "forward" "-" "-" '
    '"2600:1f18:abc:de00::17:8080" "200" "-" "-" TID_aa11bb22cc33dd44ee55ff6600778899 "-" "-" "-"\n'
)

NO_TARGET_503 = (
    f"https 2025-03-14T11:00:00.000100Z {LB} 192.0.2.44:33210 - -1 -1 -1 503 - 220 345 "
    '"GET https://shop.example.org:443/checkout HTTP/1.1" "Mozilla/5.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 '
    f'{TG_WEB} "Root=1-67d40a10-0a0b0c0d0e0f101112131415" "shop.example.org" "{CERT}" 2 '
    '2025-03-14T11:00:00.000000Z "forward" "-" "-" "-" "-" "-" "-" TID_00000000000000000000000000000001 "-" "-" "-"\n'
)

CLIENT_CLOSED_460 = (
    f"http 2025-03-14T11:00:05.250000Z {LB} 192.0.2.45:33211 10.20.1.17:8080 0.000 -1 -1 460 - 310 0 "
    f'"POST http://shop.example.org:80/upload HTTP/1.1" "okhttp/4.12.0" - - {TG_WEB} '
    '"Root=1-67d40a15-1a1b1c1d1e1f202122232425" "-" "-" 4 2025-03-14T11:00:01.000000Z "forward" "-" "-" '
    '"10.20.1.17:8080" "-" "-" "-" TID_00000000000000000000000000000002 "-" "-" "-"\n'
)

WAF_BLOCKED = (
    f"https 2025-03-14T12:30:00.400000Z {LB} 203.0.113.99:41000 - -1 -1 -1 403 - 512 120 "
    '"GET https://shop.example.org:443/wp-login.php?redirect=%3Cscript%3E HTTP/1.1" "sqlmap/1.8.2" '
    'ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 - "Root=1-67d41f48-3a3b3c3d3e3f404142434445" "shop.example.org" '
    f'"{CERT}" - 2025-03-14T12:30:00.390000Z "waf" "-" "-" "-" "-" "-" "-" '
    'TID_00000000000000000000000000000003 "-" "-" "-"\n'
)

REDIRECT = (
    f"http 2025-03-14T12:31:00.000500Z {LB} 198.51.100.23:50500 - -1 -1 -1 301 - 97 221 "
    '"GET http://shop.example.org:80/cart?id=9 HTTP/1.1" "Mozilla/5.0" - - - '
    '"Root=1-67d41f84-4a4b4c4d4e4f505152535455" "-" "-" 1 2025-03-14T12:31:00.000000Z "redirect" '
    '"https://shop.example.org:443/cart?id=9" "-" "-" "-" "-" "-" TID_00000000000000000000000000000004 "-" "-" "-"\n'
)

FIXED_RESPONSE = (
    f"https 2025-03-14T12:32:00.000700Z {LB} 198.51.100.24:50501 - -1 -1 -1 404 - 130 180 "
    '"GET https://shop.example.org:443/.env HTTP/1.1" "Go-http-client/1.1" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 - '
    f'"Root=1-67d41fc0-5a5b5c5d5e5f606162636465" "shop.example.org" "{CERT}" 5 2025-03-14T12:32:00.000000Z '
    '"fixed-response" "-" "-" "-" "-" "-" "-" TID_00000000000000000000000000000005 "-" "-" "-"\n'
)

LAMBDA_OK = (
    f"http 2025-03-14T13:00:00.120000Z {LB} 192.0.2.60:40100 - 0.000 0.118 0.000 200 200 88 402 "
    f'"GET http://fn.example.org:80/hello HTTP/1.1" "curl/8.5.0" - - {TG_FN} '
    '"Root=1-67d42680-6a6b6c6d6e6f707172737475" "-" "-" 10 2025-03-14T13:00:00.000000Z "forward" "-" "-" '
    '"-" "-" "-" "-" TID_00000000000000000000000000000006 "-" "-" "-"\n'
)

LAMBDA_FAILED = (
    f"http 2025-03-14T13:00:01.600000Z {LB} 192.0.2.61:40101 - 0.000 0.512 0.000 502 - 88 110 "
    f'"GET http://fn.example.org:80/hello HTTP/1.1" "curl/8.5.0" - - {TG_FN} '
    '"Root=1-67d42681-7a7b7c7d7e7f808182838485" "-" "-" 10 2025-03-14T13:00:01.000000Z "forward" "-" '
    '"LambdaUnhandled" "-" "-" "-" "-" TID_00000000000000000000000000000007 "-" "-" "-"\n'
)

GRPCS = (
    f"grpcs 2025-03-14T14:00:00.004000Z {LB} 10.0.3.7:51000 10.0.4.8:50051 0.000 0.004 0.000 200 200 312 96 "
    '"POST https://grpc.example.org:443/inventory.v1.Stock/Reserve HTTP/2.0" "grpc-go/1.64.0" '
    f'ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 {TG_API} "Root=1-67d434a0-8a8b8c8d8e8f909192939495" '
    f'"grpc.example.org" "{CERT}" 20 2025-03-14T14:00:00.000000Z "forward" "-" "-" "10.0.4.8:50051" "200" '
    '"-" "-" TID_00000000000000000000000000000008 "-" "-" "-"\n'
)

WS = (
    f"ws 2025-03-14T15:10:00.000000Z {LB} 10.0.0.140:40914 10.0.1.192:8010 0.001 0.003 0.000 101 101 218 587 "
    f'"GET http://chat.example.org:80/socket HTTP/1.1" "-" - - {TG_WEB} '
    '"Root=1-67d44500-9a9b9c9d9e9fa0a1a2a3a4a5" "-" "-" 6 2025-03-14T15:00:00.000000Z "forward" "-" "-" '
    '"10.0.1.192:8010" "101" "-" "-" TID_00000000000000000000000000000009 "-" "-" "-"\n'
)

WSS = (
    f"wss 2025-03-14T15:20:00.000000Z {LB} 10.0.0.141:44244 10.0.1.193:8010 0.000 0.001 0.000 101 101 218 786 "
    f'"GET https://chat.example.org:443/socket HTTP/1.1" "-" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 {TG_WEB} '
    f'"Root=1-67d44760-aaabacadaeafb0b1b2b3b4b5" "chat.example.org" "{CERT}" 6 2025-03-14T15:00:10.000000Z '
    '"forward" "-" "-" "10.0.1.193:8010" "101" "-" "-" TID_0000000000000000000000000000000a "-" "-" "-"\n'
)


def with_request(request: str, line: str = HTTP) -> str:
    """`line` with its quoted request token replaced (`request` is the raw text between the quotes)."""
    old = '"GET http://shop.example.org:80/catalog?page=2&sort=asc HTTP/1.1"'
    assert old in line
    return line.replace(old, f'"{request}"')


def tokens_of(line: str) -> list[str]:
    """The tokens of a hand-written line that has no spaces inside its quoted tokens except the two below."""
    ua = '"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"'
    req = '"GET http://shop.example.org:80/catalog?page=2&sort=asc HTTP/1.1"'
    body = line.rstrip("\n").replace(ua, "\0UA").replace(req, "\0REQ")
    return [tok.replace("\0UA", ua).replace("\0REQ", req) for tok in body.split(" ")]


def subset(record: dict[str, Any], keys: dict[str, object]) -> dict[str, Any]:
    return {key: record[key] for key in keys}


# --------------------------------------------------------------------------------------------------
# Field names.


def test_field_names_are_the_athena_columns_in_order() -> None:
    assert ATHENA_COLUMNS == FIELD_NAMES
    assert len(FIELD_NAMES) == 37


# --------------------------------------------------------------------------------------------------
# Field by field.


@pytest.mark.parametrize(
    ("line", "expected"), [(HTTP, HTTP_FIELDS), (HTTPS, HTTPS_FIELDS)], ids=["http", "https"]
)
def test_every_field_of_an_ipv4_entry(line: str, expected: dict[str, object]) -> None:
    """Given a complete modern entry, every Athena column comes back with its documented type."""
    record = parse_line(line)

    assert record == expected
    assert list(record) == list(FIELD_NAMES), "columns in the table's order, and no additional_fields"
    for name in ("client_port", "target_port", "elb_status_code", "received_bytes", "sent_bytes"):
        assert type(record[name]) is int, name
    for name in ("request_processing_time", "target_processing_time", "response_processing_time"):
        assert type(record[name]) is float, name


def test_bytes_and_str_input_and_line_endings_give_the_same_record() -> None:
    body = HTTP.rstrip("\n")
    variants: list[str | bytes] = [
        body,
        body + "\n",
        body + "\r\n",
        body.encode(),
        (body + "\n").encode(),
        (body + "\r\n").encode(),
    ]
    for variant in variants:
        assert parse_line(variant) == HTTP_FIELDS, repr(variant[-3:])


def test_ipv6_client_and_target_split_on_the_last_colon() -> None:
    record = parse_line(IPV6)

    assert subset(record, {"client_ip": 0, "client_port": 0, "target_ip": 0, "target_port": 0}) == {
        "client_ip": "2001:db8:4006:812::200e",
        "client_port": 62011,
        "target_ip": "2600:1f18:abc:de00::17",
        "target_port": 8080,
    }
    assert record["type"] == "h2"
    assert record["request_proto"] == "HTTP/2.0"
    assert record["ssl_protocol"] == "TLSv1.3"
    assert record["target_port_list"] == "2600:1f18:abc:de00::17:8080"


@pytest.mark.parametrize(
    ("client", "ip", "port"),
    [
        ("::1:443", "::1", 443),
        ("::ffff:198.51.100.7:1024", "::ffff:198.51.100.7", 1024),
        ("fe80::1ff:fe23:4567:890a:65535", "fe80::1ff:fe23:4567:890a", 65535),
        ("2001:db8:::8443", "2001:db8::", 8443),
    ],
)
def test_unbracketed_ipv6_clients(client: str, ip: str, port: int) -> None:
    record = parse_line(HTTP.replace("203.0.113.24:51234", client))
    assert (record["client_ip"], record["client_port"]) == (ip, port)


@pytest.mark.parametrize(
    ("line", "elb_status", "target_ip", "target_port", "times"),
    [
        (NO_TARGET_503, 503, None, None, (-1.0, -1.0, -1.0)),
        (CLIENT_CLOSED_460, 460, "10.20.1.17", 8080, (0.0, -1.0, -1.0)),
    ],
    ids=["503-no-target", "460-client-closed"],
)
def test_requests_not_answered_by_a_target(
    line: str, elb_status: int, target_ip: str | None, target_port: int | None, times: tuple[float, ...]
) -> None:
    """The ALB answered itself: elb_status_code carries the error, target_status_code is None, -1 stays -1.0."""
    record = parse_line(line)

    assert record["elb_status_code"] == elb_status
    assert record["target_status_code"] is None
    assert (record["target_ip"], record["target_port"]) == (target_ip, target_port)
    assert (
        record["request_processing_time"],
        record["target_processing_time"],
        record["response_processing_time"],
    ) == times
    assert record["target_status_code_list"] is None


def test_no_target_entry_keeps_the_rest() -> None:
    record = parse_line(NO_TARGET_503)
    assert record["target_port_list"] is None
    assert record["target_group_arn"] == TG_WEB
    assert record["received_bytes"] == 220
    assert record["sent_bytes"] == 345
    assert record["request_url"] == "https://shop.example.org:443/checkout"


def test_waf_blocked_request() -> None:
    record = parse_line(WAF_BLOCKED)
    assert subset(
        record,
        {
            "elb_status_code": 0,
            "target_status_code": 0,
            "target_ip": 0,
            "target_port": 0,
            "actions_executed": 0,
            "target_group_arn": 0,
            "matched_rule_priority": 0,
            "user_agent": 0,
            "request_url": 0,
            "request_processing_time": 0,
        },
    ) == {
        "elb_status_code": 403,
        "target_status_code": None,
        "target_ip": None,
        "target_port": None,
        "actions_executed": "waf",
        "target_group_arn": None,
        "matched_rule_priority": None,
        "user_agent": "sqlmap/1.8.2",
        "request_url": "https://shop.example.org:443/wp-login.php?redirect=%3Cscript%3E",
        "request_processing_time": -1.0,
    }


def test_redirect() -> None:
    record = parse_line(REDIRECT)
    assert record["actions_executed"] == "redirect"
    assert record["redirect_url"] == "https://shop.example.org:443/cart?id=9"
    assert record["elb_status_code"] == 301
    assert record["target_status_code"] is None
    assert (record["target_ip"], record["target_port"]) == (None, None)
    assert record["target_group_arn"] is None
    assert record["matched_rule_priority"] == "1"


def test_fixed_response() -> None:
    record = parse_line(FIXED_RESPONSE)
    assert record["actions_executed"] == "fixed-response"
    assert record["elb_status_code"] == 404
    assert record["target_status_code"] is None
    assert record["target_ip"] is None
    assert record["redirect_url"] is None
    assert record["matched_rule_priority"] == "5"


def test_lambda_target() -> None:
    """A Lambda target has no address (`-`) but does return a status."""
    record = parse_line(LAMBDA_OK)
    assert (record["target_ip"], record["target_port"]) == (None, None)
    assert record["elb_status_code"] == 200
    assert record["target_status_code"] == "200"
    assert record["target_processing_time"] == 0.118
    assert record["target_group_arn"] == TG_FN
    assert record["lambda_error_reason"] is None
    assert record["target_port_list"] is None


def test_failed_lambda() -> None:
    record = parse_line(LAMBDA_FAILED)
    assert record["lambda_error_reason"] == "LambdaUnhandled"
    assert record["elb_status_code"] == 502
    assert record["target_status_code"] is None
    assert record["target_ip"] is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            GRPCS,
            {
                "type": "grpcs",
                "request_verb": "POST",
                "request_url": "https://grpc.example.org:443/inventory.v1.Stock/Reserve",
                "request_proto": "HTTP/2.0",
                "user_agent": "grpc-go/1.64.0",
                "target_port": 50051,
                "domain_name": "grpc.example.org",
                "matched_rule_priority": "20",
            },
        ),
        (
            WS,
            {
                "type": "ws",
                "elb_status_code": 101,
                "target_status_code": "101",
                "user_agent": None,
                "ssl_cipher": None,
                "request_url": "http://chat.example.org:80/socket",
                "received_bytes": 218,
                "sent_bytes": 587,
            },
        ),
        (
            WSS,
            {
                "type": "wss",
                "elb_status_code": 101,
                "target_status_code": "101",
                "user_agent": None,
                "ssl_protocol": "TLSv1.2",
                "chosen_cert_arn": CERT,
                "target_status_code_list": "101",
                "sent_bytes": 786,
            },
        ),
    ],
    ids=["grpcs", "ws", "wss"],
)
def test_connection_types(line: str, expected: dict[str, object]) -> None:
    assert subset(parse_line(line), expected) == expected


# --------------------------------------------------------------------------------------------------
# The request line.


@pytest.mark.parametrize(
    ("request_line", "verb", "url", "proto"),
    [
        ("- - -", None, None, None),
        ("GET /only-a-path", "GET", "/only-a-path", None),
        ("garbage-without-spaces", "garbage-without-spaces", None, None),
        # Seen in real logs (not in AWS's examples) for bytes that are not HTTP: no verb, "-" glued to
        # the URL, and an empty version after the last space.
        ("- http://203.0.113.9:80- ", None, "http://203.0.113.9:80-", None),
        ("GET http://shop.example.org:80/a b HTTP/1.1", "GET", "http://shop.example.org:80/a b", "HTTP/1.1"),
    ],
    ids=["dashes", "two-parts", "one-word", "alb-garbage", "space-in-uri"],
)
def test_malformed_request_lines_do_not_fail_the_entry(
    request_line: str, verb: str | None, url: str | None, proto: str | None
) -> None:
    record = parse_line(with_request(request_line))

    assert (record["request_verb"], record["request_url"], record["request_proto"]) == (verb, url, proto)
    assert record["user_agent"] == HTTP_FIELDS["user_agent"], "the following fields are unaffected"
    assert record["conn_trace_id"] == HTTP_FIELDS["conn_trace_id"]


def test_a_quoted_dash_request_is_all_none() -> None:
    record = parse_line(with_request("-"))
    assert (record["request_verb"], record["request_url"], record["request_proto"]) == (None, None, None)


# --------------------------------------------------------------------------------------------------
# Quoting and missing values.


def test_escaped_quotes_and_backslashes_in_user_agent_and_url() -> None:
    line = HTTP.replace(
        '"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"',
        r'"Mozilla/5.0 \"evil\" C:\\temp\\x ua"',
    )
    line = with_request(r"GET http://shop.example.org:80/search?q=\"drop%20table\"&p=a\\b HTTP/1.1", line)

    record = parse_line(line)

    assert record["user_agent"] == 'Mozilla/5.0 "evil" C:\\temp\\x ua'
    assert record["request_url"] == 'http://shop.example.org:80/search?q="drop%20table"&p=a\\b'
    assert record["request_verb"] == "GET"
    assert record["request_proto"] == "HTTP/1.1"
    assert record["ssl_cipher"] is None
    assert record["conn_trace_id"] == HTTP_FIELDS["conn_trace_id"]


def test_a_user_agent_ending_in_an_escaped_backslash() -> None:
    line = HTTP.replace(
        '"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"', r'"tail\\"'
    )
    record = parse_line(line)
    assert record["user_agent"] == "tail\\"
    assert record["ssl_cipher"] is None
    assert record["target_group_arn"] == TG_WEB


def test_empty_quoted_user_agent_is_an_empty_string() -> None:
    line = HTTP.replace('"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"', '""')
    assert parse_line(line)["user_agent"] == ""


def test_quoted_and_bare_dash_both_mean_none() -> None:
    tokens = tokens_of(HTTP)
    names = [
        "type",
        "time",
        "elb",
        "client",
        "target",
        "rpt",
        "tpt",
        "rspt",
        "elb_status_code",
        "target_status_code",
        "received_bytes",
        "sent_bytes",
        "request",
        "user_agent",
        "ssl_cipher",
        "ssl_protocol",
        "target_group_arn",
        "trace_id",
        "domain_name",
        "chosen_cert_arn",
        "matched_rule_priority",
        "request_creation_time",
        "actions_executed",
        "redirect_url",
        "lambda_error_reason",
        "target_port_list",
        "target_status_code_list",
        "classification",
        "classification_reason",
        "conn_trace_id",
        "transformed_host",
        "transformed_uri",
        "request_transform_status",
    ]
    assert len(tokens) == len(names)
    position = {name: i for i, name in enumerate(names)}
    swapped = list(tokens)
    # Quoted where AWS writes bare, bare where AWS writes quoted.
    for name in ("ssl_cipher", "ssl_protocol", "conn_trace_id", "target_status_code"):
        swapped[position[name]] = '"-"'
    for name in ("domain_name", "chosen_cert_arn", "redirect_url", "classification", "transformed_uri"):
        swapped[position[name]] = "-"
    swapped[position["user_agent"]] = '"-"'
    swapped[position["trace_id"]] = "-"

    record = parse_line(" ".join(swapped))

    for name in (
        "ssl_cipher",
        "ssl_protocol",
        "conn_trace_id",
        "target_status_code",
        "domain_name",
        "chosen_cert_arn",
        "redirect_url",
        "classification",
        "transformed_uri",
        "user_agent",
        "trace_id",
    ):
        assert record[name] is None, name
    assert record["elb_status_code"] == 200


def test_values_that_merely_contain_a_dash_are_kept() -> None:
    line = HTTP.replace('"-" "-" 3 ', '"--" "- " 3 ', 1)
    record = parse_line(line)
    assert record["domain_name"] == "--"
    assert record["chosen_cert_arn"] == "- "


def test_unquoted_list_fields_are_accepted() -> None:
    line = HTTP.replace('"10.20.1.17:8080" "200"', "10.20.1.17:8080 200")
    record = parse_line(line)
    assert record["target_port_list"] == "10.20.1.17:8080"
    assert record["target_status_code_list"] == "200"
    assert record["classification"] is None
    assert record["conn_trace_id"] == HTTP_FIELDS["conn_trace_id"]


def test_several_targets_in_the_lists() -> None:
    line = HTTP.replace('"10.20.1.17:8080" "200"', '"10.20.1.17:8080 10.20.1.18:8080" "502 200"')
    record = parse_line(line)
    assert record["target_port_list"] == "10.20.1.17:8080 10.20.1.18:8080"
    assert record["target_status_code_list"] == "502 200"


@pytest.mark.parametrize(
    ("classification", "reason", "elb_status", "target", "target_status"),
    [
        ("Ambiguous", "UndefinedContentLengthSemantics", "200", "10.20.1.17:8080", "200"),
        ("Severe", "BothTeClPresent", "400", "-", "-"),
        ("Acceptable", "NonCompliantHeader", "200", "10.20.1.17:8080", "200"),
    ],
)
def test_desync_classification(
    classification: str, reason: str, elb_status: str, target: str, target_status: str
) -> None:
    """Desync mitigation: the classification and its reason; a Severe request is answered by the ALB."""
    line = HTTP.replace('"200" "-" "-" TID_', f'"200" "{classification}" "{reason}" TID_')
    line = line.replace(
        " 10.20.1.17:8080 0.001 0.047 0.000 200 200 ",
        f" {target} 0.001 0.047 0.000 {elb_status} {target_status} ",
    )

    record = parse_line(line)

    assert record["classification"] == classification
    assert record["classification_reason"] == reason
    assert record["elb_status_code"] == int(elb_status)
    assert record["target_status_code"] == (None if target_status == "-" else target_status)
    assert record["conn_trace_id"] == HTTP_FIELDS["conn_trace_id"]


# --------------------------------------------------------------------------------------------------
# Older and newer formats.


def test_fields_aws_adds_later_go_to_additional_fields() -> None:
    line = HTTP.rstrip("\n") + r' "next-feature" 17 "with \"quote\" inside"' + "\n"

    record = parse_line(line)

    assert record["additional_fields"] == ["next-feature", "17", 'with "quote" inside']
    assert {k: v for k, v in record.items() if k != "additional_fields"} == HTTP_FIELDS


def test_a_dash_among_additional_fields_follows_the_missing_value_convention() -> None:
    record = parse_line(HTTP.rstrip("\n") + ' "x" - "-"')
    assert record["additional_fields"] == ["x", None, None]


@pytest.mark.parametrize(
    ("last", "count"),
    [
        ("chosen_cert_arn", 20),  # the 2016/2017 format
        ("matched_rule_priority", 21),
        ("lambda_error_reason", 25),  # 2018: actions, redirect, Lambda error
        ("target_status_code_list", 27),
        ("classification_reason", 29),  # 2020: desync classification
        ("conn_trace_id", 30),  # before the transform fields
        ("request", 13),  # the least we accept
    ],
)
def test_older_shorter_entries_leave_later_columns_none(last: str, count: int) -> None:
    tokens = tokens_of(HTTP)[:count]

    record = parse_line(" ".join(tokens) + "\n")

    assert "additional_fields" not in record
    assert list(record) == list(FIELD_NAMES)
    last_column = "request_proto" if last == "request" else last
    cut = FIELD_NAMES.index(last_column) + 1
    assert {name: record[name] for name in FIELD_NAMES[:cut]} == {
        name: HTTP_FIELDS[name] for name in FIELD_NAMES[:cut]
    }
    assert all(record[name] is None for name in FIELD_NAMES[cut:])


# --------------------------------------------------------------------------------------------------
# Lines that are not entries.


def _replace_token(index: int, value: str) -> str:
    tokens = tokens_of(HTTP)
    tokens[index] = value
    return " ".join(tokens)


@pytest.mark.parametrize(
    "line",
    [
        pytest.param("", id="empty"),
        pytest.param("\n", id="newline"),
        pytest.param("\r\n", id="crlf"),
        pytest.param("   \t  \n", id="whitespace"),
        pytest.param(b"", id="empty-bytes"),
        pytest.param(HTTP[: HTTP.index("Gecko")], id="cut-inside-user-agent"),
        pytest.param(HTTP.rstrip("\n")[:-2], id="cut-inside-last-quote"),
        pytest.param(HTTP.replace('"forward"', '"forward'), id="unterminated-middle-quote"),
        pytest.param(" ".join(tokens_of(HTTP)[:12]), id="12-fields"),
        pytest.param(" ".join(tokens_of(HTTP)[:5]), id="5-fields"),
        pytest.param("just some words\n", id="prose"),
        pytest.param(_replace_token(10, "lots"), id="received-bytes-word"),
        pytest.param(_replace_token(11, "12x"), id="sent-bytes-suffix"),
        pytest.param(_replace_token(11, "1.5"), id="sent-bytes-fraction"),
        pytest.param(_replace_token(8, "OK"), id="elb-status-word"),
        pytest.param(_replace_token(5, "fast"), id="request-time-word"),
        pytest.param(_replace_token(3, "203.0.113.24"), id="client-without-port"),
        pytest.param(_replace_token(3, "203.0.113.24:http"), id="client-port-word"),
        pytest.param(_replace_token(3, "203.0.113.24:"), id="client-empty-port"),
        pytest.param(_replace_token(3, ":51234"), id="client-empty-address"),
        pytest.param(_replace_token(3, "-"), id="client-dash"),
        pytest.param(_replace_token(3, "client"), id="client-word"),
        pytest.param(_replace_token(4, "10.20.1.17:x"), id="target-port-word"),
        pytest.param(_replace_token(4, "10.20.1.17"), id="target-without-port"),
    ],
)
def test_lines_that_cannot_be_entries_raise_line_error(line: str | bytes) -> None:
    with pytest.raises(LineError) as caught:
        parse_line(line)
    assert str(caught.value), "a short reason"
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("index", "value"),
    [(10, "1_000"), (8, "2_00"), (5, "nan"), (6, "inf"), (11, "0x10")],
    ids=["bytes-underscore", "status-underscore", "time-nan", "time-inf", "bytes-hex"],
)
def test_numbers_must_be_plain_decimals(index: int, value: str) -> None:
    """Python's int()/float() accept `1_000`, `nan`, `inf`; a log entry never holds them."""
    with pytest.raises(LineError):
        parse_line(_replace_token(index, value))


def test_text_with_a_lone_surrogate_raises_line_error() -> None:
    with pytest.raises(LineError):
        parse_line("http \ud800 x")


# --------------------------------------------------------------------------------------------------
# Properties: entries generated from the grammar round-trip; nothing but LineError escapes.

_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")),
    max_size=30,
)
_WORD = st.text(alphabet=string.ascii_letters + string.digits + "._/=:,+-", min_size=1, max_size=20).filter(
    lambda s: s != "-" and not s.startswith('"')
)
_URL_CHARS = "".join(ch for ch in string.printable if not ch.isspace()) + "é€"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _missing_or(value: str | None) -> str | None:
    """A value as parsed back: a bare or quoted `-` is missing."""
    return None if value is None or value == "-" else value


@st.composite
def _address(draw: st.DrawFn) -> tuple[str, str, int]:
    ip = draw(st.ip_addresses())
    port = draw(st.integers(0, 65535))
    text = str(ip)
    return f"{text}:{port}", text, port


@st.composite
def _quoted(draw: st.DrawFn, value: st.SearchStrategy[str]) -> tuple[str, str | None]:
    """(token, expected) for a quoted text field, `"-"` sometimes."""
    if draw(st.integers(0, 4)) == 0:
        return '"-"', None
    text = draw(value)
    return f'"{_escape(text)}"', _missing_or(text)


@st.composite
def _bare(draw: st.DrawFn, value: st.SearchStrategy[str]) -> tuple[str, str | None]:
    if draw(st.integers(0, 4)) == 0:
        return "-", None
    text = draw(value)
    return text, text


@st.composite
def _time(draw: st.DrawFn) -> tuple[str, float]:
    if draw(st.booleans()):
        text = draw(st.sampled_from(["-1", "-1.000"]))
    else:
        text = f"{draw(st.integers(0, 10**6)) / 1000:.3f}"
    return text, float(text)


@st.composite
def entries(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A well-formed entry and the record it should parse to."""
    tokens: list[str] = []
    expected: dict[str, Any] = {}

    def put(name: str, token: str, value: Any) -> None:
        tokens.append(token)
        expected[name] = value

    kind = draw(st.sampled_from(["http", "https", "h2", "grpcs", "ws", "wss"]))
    put("type", kind, kind)
    moment = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(microseconds=draw(st.integers(0, 10**14)))
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    put("time", stamp, stamp)
    elb = f"app/{draw(st.from_regex(r'[a-z][a-z0-9-]{0,20}', fullmatch=True))}/{draw(st.integers(0, 2**64 - 1)):016x}"
    put("elb", elb, elb)

    client, client_ip, client_port = draw(_address())
    tokens.append(client)
    expected["client_ip"], expected["client_port"] = client_ip, client_port
    if draw(st.booleans()):
        target, target_ip, target_port = draw(_address())
        tokens.append(target)
        expected["target_ip"], expected["target_port"] = target_ip, target_port
    else:
        tokens.append("-")
        expected["target_ip"] = expected["target_port"] = None

    for name in ("request_processing_time", "target_processing_time", "response_processing_time"):
        text, value = draw(_time())
        put(name, text, value)
    if draw(st.integers(0, 9)) == 0:
        put("elb_status_code", "-", None)
    else:
        status = draw(st.integers(100, 599))
        put("elb_status_code", str(status), status)
    target_status = draw(st.one_of(st.just("-"), st.integers(100, 599).map(str)))
    put("target_status_code", target_status, _missing_or(target_status))
    for name in ("received_bytes", "sent_bytes"):
        count = draw(st.integers(0, 2**40))
        put(name, str(count), count)

    if draw(st.integers(0, 5)) == 0:
        tokens.append('"- - -"')
        expected["request_verb"] = expected["request_url"] = expected["request_proto"] = None
    else:
        verb = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS", "PRI", "PROPFIND"]))
        url = draw(st.text(alphabet=_URL_CHARS, min_size=2, max_size=40).filter(lambda s: s != "-"))
        proto = draw(st.sampled_from(["HTTP/1.0", "HTTP/1.1", "HTTP/2.0"]))
        tokens.append(f'"{verb} {_escape(url)} {proto}"')
        expected["request_verb"], expected["request_url"], expected["request_proto"] = verb, url, proto

    def quoted(name: str, value: st.SearchStrategy[str] = _TEXT) -> None:
        token, parsed = draw(_quoted(value))
        put(name, token, parsed)

    def bare(name: str, value: st.SearchStrategy[str] = _WORD) -> None:
        token, parsed = draw(_bare(value))
        put(name, token, parsed)

    quoted("user_agent")
    bare("ssl_cipher")
    bare("ssl_protocol", st.sampled_from(["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]))
    bare("target_group_arn")
    quoted("trace_id", _WORD)
    quoted("domain_name")
    quoted("chosen_cert_arn", _WORD)
    bare("matched_rule_priority", st.integers(0, 50000).map(str))
    bare("request_creation_time", st.just(stamp))
    quoted(
        "actions_executed", st.sampled_from(["forward", "waf,forward", "redirect", "fixed-response", "waf"])
    )
    quoted("redirect_url")
    quoted(
        "lambda_error_reason",
        st.sampled_from(["LambdaUnhandled", "LambdaInvalidResponse", "LambdaThrottling"]),
    )
    if draw(st.booleans()):
        quoted(
            "target_port_list", st.lists(_address().map(lambda a: a[0]), min_size=1, max_size=3).map(" ".join)
        )
    else:
        bare("target_port_list", _address().map(lambda a: a[0]))
    quoted(
        "target_status_code_list",
        st.lists(st.integers(100, 599).map(str), min_size=1, max_size=3).map(" ".join),
    )
    quoted("classification", st.sampled_from(["Acceptable", "Ambiguous", "Severe"]))
    quoted("classification_reason", st.sampled_from(["AmbiguousUri", "BadHeader", "SpaceInUri"]))
    bare("conn_trace_id", st.from_regex(r"TID_[0-9a-f]{32}", fullmatch=True))
    quoted("transformed_host")
    quoted("transformed_uri")
    quoted("request_transform_status", _WORD)

    # Either an older (shorter) entry or a newer one with fields we do not know yet.
    shape = draw(st.sampled_from(["modern", "older", "newer"]))
    if shape == "older":
        keep = draw(st.integers(13, len(tokens) - 1))
        tokens = tokens[:keep]
        first_missing = _column_after_token(keep)
        for name in FIELD_NAMES[first_missing:]:
            expected[name] = None
    elif shape == "newer":
        extra = draw(
            st.lists(
                st.one_of(
                    _TEXT.filter(lambda s: s != "-").map(lambda s: (f'"{_escape(s)}"', s)),
                    _WORD.map(lambda s: (s, s)),
                ),
                min_size=1,
                max_size=3,
            )
        )
        tokens += [token for token, _ in extra]
        expected["additional_fields"] = [value for _, value in extra]

    ending = draw(st.sampled_from(["", "\n", "\r\n"]))
    return " ".join(tokens) + ending, expected


def _column_after_token(count: int) -> int:
    """Index in FIELD_NAMES of the first column not covered by the first `count` tokens."""
    # client, target and request tokens hold 2, 2 and 3 columns.
    widths = [1, 1, 1, 2, 2] + [1] * 7 + [3] + [1] * 20
    return sum(widths[:count])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries(), st.booleans())
def test_generated_entries_round_trip(entry: tuple[str, dict[str, Any]], as_bytes: bool) -> None:
    line, expected = entry

    record = parse_line(line.encode() if as_bytes else line)

    assert record == expected
    for name in ("client_port", "received_bytes", "sent_bytes"):
        assert type(record[name]) is int
    for name in ("request_processing_time", "target_processing_time", "response_processing_time"):
        assert type(record[name]) is float


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_nothing_but_line_error(data: bytes) -> None:
    try:
        record = parse_line(data)
    except LineError:
        return
    assert set(FIELD_NAMES) <= set(record)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec=None), max_size=200))
def test_arbitrary_text_raises_nothing_but_line_error(text: str) -> None:
    with contextlib.suppress(LineError):
        parse_line(text)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from([HTTP, HTTPS, IPV6, WAF_BLOCKED, LAMBDA_FAILED, WSS]),
    st.lists(
        st.tuples(
            st.integers(0, 600),
            st.integers(0, 8),
            st.sampled_from(['"', "\\", " ", "-", ":", "x", "9", "\xff"]),
        ),
        max_size=4,
    ),
)
def test_damaged_entries_raise_nothing_but_line_error(line: str, edits: list[tuple[int, int, str]]) -> None:
    """Given a real entry with characters cut out or inserted (a torn or tampered line), parsing either
    succeeds or raises LineError."""
    text = line
    for at, cut, insert in edits:
        at %= len(text) + 1
        text = text[:at] + insert + text[at + cut :]
    with contextlib.suppress(LineError):
        parse_line(text)
